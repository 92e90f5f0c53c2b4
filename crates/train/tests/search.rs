//! Grid search: completion, report, reusing a trial only when all of it is the same, shards
//! and collect.

mod common;

use common::{options, tiny_data, tiny_fit_data, tiny_run};
use kiln_tensor::Cpu;
use kiln_train::FitData;
use kiln_train::search::{SearchSpace, Shard, collect, run_trial};

fn space() -> SearchSpace {
    SearchSpace {
        c1: vec![2, 4],
        l1: vec![8, 16],
        ..SearchSpace::default()
    }
}

#[test]
fn a_2x2_grid_completes_reports_reuses_finished_trials_and_shards_merge() {
    let data = tiny_fit_data(96, 32);
    let base = tiny_run(1, &data);
    let trials = space().trials(&base).unwrap();
    assert_eq!(trials.len(), 4);
    let whole = tempfile::tempdir().unwrap();
    let opts = options(true, None);
    for t in &trials {
        let (_, reused) = run_trial(whole.path(), t, &data, &Cpu, &opts, &mut ()).unwrap();
        assert!(!reused);
    }
    let report = collect(whole.path(), &trials).unwrap();
    let table = report.table();
    println!("{table}");
    assert!(table.contains("accuracy") && table.contains("best (lowest test loss)"));
    assert_eq!(
        table
            .lines()
            .filter(|l| l.trim_start().starts_with(char::is_numeric))
            .count(),
        4
    );
    report.write(whole.path()).unwrap();
    assert!(whole.path().join("report.csv").exists() && whole.path().join("report.json").exists());
    let best = report.best.clone().unwrap();
    assert!(report.results.iter().all(|r| r.loss >= best.loss));
    let trial_dir = whole.path().join("trials").join(&best.name);
    assert!(trial_dir.join("best.safetensors").exists());

    // a second invocation reuses every finished trial: no checkpoint is rewritten
    let stamp = |p: &std::path::Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let ck = trial_dir.join("checkpoint.safetensors");
    let before = stamp(&ck);
    for t in &trials {
        let (_, reused) = run_trial(whole.path(), t, &data, &Cpu, &opts, &mut ()).unwrap();
        assert!(reused);
    }
    assert_eq!(stamp(&ck), before);

    // the same grid on other data is other trials: nothing is reused or reported from the old
    let other = FitData {
        train: tiny_data(96, 7),
        ..data.clone()
    };
    let other_trials = space().trials(&tiny_run(1, &other)).unwrap();
    assert!(
        other_trials
            .iter()
            .zip(&trials)
            .all(|(a, b)| a.name != b.name)
    );
    let (_, reused) =
        run_trial(whole.path(), &other_trials[0], &other, &Cpu, &opts, &mut ()).unwrap();
    assert!(!reused, "another data set is another trial");
    let r = collect(whole.path(), &other_trials).unwrap();
    assert_eq!(r.results.len(), 1, "only this grid's finished trial");
    // and with augmentation, another again
    let mut aug = tiny_run(1, &data);
    aug.train.augment = kiln_data::Augmentation::walkthrough();
    let aug_trials = space().trials(&aug).unwrap();
    assert!(
        aug_trials
            .iter()
            .zip(&trials)
            .all(|(a, b)| a.name != b.name)
    );

    // two shards plus collect give the same report
    let sharded = tempfile::tempdir().unwrap();
    for i in 0..2 {
        let shard = Shard::parse(&format!("{i}/2")).unwrap();
        for t in trials.iter().filter(|t| shard.includes(t.index)) {
            run_trial(sharded.path(), t, &data, &Cpu, &opts, &mut ()).unwrap();
        }
    }
    let merged = collect(sharded.path(), &trials).unwrap();
    let strip = |rep: &kiln_train::search::SearchReport| {
        rep.results
            .iter()
            .map(|r| (r.name.clone(), r.test_loss, r.test_accuracy, r.best_epoch))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&merged), strip(&report));
    assert_eq!(merged.best.unwrap().name, best.name);
}

#[test]
fn shards_and_spaces_are_parsed_with_clear_errors() {
    assert_eq!(Shard::parse("1/4").unwrap(), Shard { index: 1, count: 4 });
    assert!(
        Shard::parse("4/4")
            .unwrap_err()
            .to_string()
            .contains("0 <= i < N")
    );
    assert!(Shard::parse("x").is_err());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("space.toml");
    std::fs::write(&p, "c1 = [16, 32]\nlr = [0.001]\n").unwrap();
    let s = SearchSpace::from_file(&p).unwrap();
    assert_eq!(s.c1, vec![16, 32]);
    let data = tiny_fit_data(8, 8);
    assert_eq!(s.trials(&tiny_run(1, &data)).unwrap().len(), 2);
    std::fs::write(&p, "c7 = [1]\n").unwrap();
    assert!(
        SearchSpace::from_file(&p)
            .unwrap_err()
            .to_string()
            .contains("c7")
    );
    // ConfigNet's settings do not vary another network
    let mut resnet = tiny_run(1, &data);
    resnet.model = kiln_nn::model::builtin("resnet9-half").unwrap();
    assert!(
        s.trials(&resnet)
            .unwrap_err()
            .to_string()
            .contains("ConfigNet")
    );
}
