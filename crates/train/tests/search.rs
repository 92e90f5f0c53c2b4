//! Grid search: completion, report, skipping finished trials, shards and collect.

mod common;

use common::{tiny_data, tiny_run};
use kiln_tensor::Cpu;
use kiln_train::search::{SearchSpace, Shard, collect, run_search};

fn space() -> SearchSpace {
    SearchSpace {
        c1: vec![2, 4],
        l1: vec![8, 16],
        ..SearchSpace::default()
    }
}

#[test]
fn a_2x2_grid_completes_reports_skips_finished_trials_and_shards_merge() {
    let (train, test) = (tiny_data(96, 1), tiny_data(32, 2));
    let base = tiny_run(1);
    let whole = tempfile::tempdir().unwrap();
    let r = run_search(
        whole.path(),
        &space(),
        &base,
        train.clone(),
        test.clone(),
        &Cpu,
        Shard::ALL,
        false,
    )
    .unwrap();
    assert_eq!(r.len(), 4);
    let report = collect(whole.path()).unwrap();
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
    assert!(report.results.iter().all(|r| r.test_loss >= best.test_loss));
    assert!(
        whole
            .path()
            .join("trials")
            .join(&best.name)
            .join("best.safetensors")
            .exists()
    );

    // a second invocation skips every finished trial: no checkpoint is rewritten
    let stamp = |p: &std::path::Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let ck = whole
        .path()
        .join("trials")
        .join(&best.name)
        .join("checkpoint.safetensors");
    let before = stamp(&ck);
    let again = run_search(
        whole.path(),
        &space(),
        &base,
        train.clone(),
        test.clone(),
        &Cpu,
        Shard::ALL,
        false,
    )
    .unwrap();
    assert_eq!(again, r);
    assert_eq!(stamp(&ck), before);

    // two shards plus collect give the same report
    let sharded = tempfile::tempdir().unwrap();
    for i in 0..2 {
        let shard = Shard::parse(&format!("{i}/2")).unwrap();
        let part = run_search(
            sharded.path(),
            &space(),
            &base,
            train.clone(),
            test.clone(),
            &Cpu,
            shard,
            false,
        )
        .unwrap();
        assert_eq!(part.len(), 2);
    }
    let merged = collect(sharded.path()).unwrap();
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
    assert_eq!(s.trials(&tiny_run(1)).len(), 2);
    std::fs::write(&p, "c7 = [1]\n").unwrap();
    assert!(
        SearchSpace::from_file(&p)
            .unwrap_err()
            .to_string()
            .contains("c7")
    );
}
