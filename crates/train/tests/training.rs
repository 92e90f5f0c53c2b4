//! Training runs: resumption, safe checkpoints, non-finite losses, real data.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::{tiny_data, tiny_run};
use kiln_nn::state_dict::{self, read_safetensors};
use kiln_nn::{Adam, ConfigNet, ConfigNetConfig};
use kiln_tensor::Cpu;
use kiln_train::checkpoint;
use kiln_train::run::{BEST_FILE, CHECKPOINT_FILE, LAST_FILE};
use kiln_train::{FitOptions, RunConfig, TrainConfig, TrainError, fit};

fn bits(path: &std::path::Path) -> Vec<(String, Vec<u32>)> {
    read_safetensors(path)
        .unwrap()
        .0
        .into_iter()
        .map(|(k, (_, v))| (k, v.iter().map(|x| x.to_bits()).collect()))
        .collect()
}

#[test]
fn two_epochs_straight_equal_one_epoch_a_stop_and_a_resumed_second() {
    let (train, test) = (tiny_data(192, 1), tiny_data(64, 2));
    let cfg = tiny_run(2);
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let straight = fit(
        a.path(),
        &cfg,
        train.clone(),
        test.clone(),
        &Cpu,
        &FitOptions::default(),
    )
    .unwrap();
    assert_eq!(straight.history.len(), 2);
    assert!(straight.finished);

    let first = FitOptions {
        max_epochs_this_call: Some(1),
        ..FitOptions::default()
    };
    let half = fit(b.path(), &cfg, train.clone(), test.clone(), &Cpu, &first).unwrap();
    assert_eq!(half.history.len(), 1);
    assert!(!half.finished);
    // a second fresh start in the same folder is refused (it would overwrite the run)
    let e = fit(
        b.path(),
        &cfg,
        train.clone(),
        test.clone(),
        &Cpu,
        &FitOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("--resume"), "{e}");
    let resume = FitOptions {
        resume: true,
        ..FitOptions::default()
    };
    let rest = fit(b.path(), &cfg, train, test, &Cpu, &resume).unwrap();
    assert_eq!(rest.history.len(), 2);
    assert_eq!(straight.history[1].test_loss, rest.history[1].test_loss);
    assert_eq!(
        bits(&a.path().join(LAST_FILE)),
        bits(&b.path().join(LAST_FILE)),
        "identical weights"
    );
    assert_eq!(
        bits(&a.path().join(CHECKPOINT_FILE)),
        bits(&b.path().join(CHECKPOINT_FILE)),
        "identical optimizer state"
    );
    for f in ["history.jsonl", "history.csv", "config.json", BEST_FILE] {
        assert!(b.path().join(f).exists(), "{f} written");
    }
}

#[test]
fn a_checkpoint_write_that_fails_halfway_leaves_the_previous_one_loadable() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_run(1);
    let out = fit(
        dir.path(),
        &cfg,
        tiny_data(64, 1),
        tiny_data(32, 2),
        &Cpu,
        &FitOptions::default(),
    )
    .unwrap();
    assert!(out.finished);
    let path = dir.path().join(CHECKPOINT_FILE);
    let before = std::fs::read(&path).unwrap();

    let mut model = ConfigNet::new(cfg.model, 99, &Cpu).unwrap();
    let mut opt = Adam::new(Default::default(), &Cpu);
    let state = checkpoint::load(&path, &mut model, &mut opt).unwrap();
    let e = checkpoint::save_with(&path, &model, &opt, &state, |f, bytes| {
        use std::io::Write;
        f.write_all(&bytes[..bytes.len() / 2])?;
        Err(std::io::Error::other("disk full (injected)"))
    })
    .unwrap_err();
    assert!(e.to_string().contains("injected"), "{e}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "previous checkpoint untouched"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let mut again = ConfigNet::new(cfg.model, 5, &Cpu).unwrap();
    let st = checkpoint::load(&path, &mut again, &mut opt).unwrap();
    assert_eq!(st.epochs_done, 1);
}

#[test]
fn a_non_finite_loss_stops_with_the_epoch_and_batch_and_keeps_the_best_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_run(1);
    let (train, test) = (tiny_data(128, 1), tiny_data(32, 2));
    fit(
        dir.path(),
        &cfg,
        train.clone(),
        test.clone(),
        &Cpu,
        &FitOptions::default(),
    )
    .unwrap();
    let best_before = std::fs::read(dir.path().join(BEST_FILE)).unwrap();
    cfg.train.epochs = 2;
    cfg.train.lr = 1e30;
    let e = fit(
        dir.path(),
        &cfg,
        train,
        test,
        &Cpu,
        &FitOptions {
            resume: true,
            ..Default::default()
        },
    )
    .unwrap_err();
    match &e {
        TrainError::NonFiniteLoss { epoch, batch, .. } => {
            assert_eq!(*epoch, 2);
            assert!(*batch >= 1);
        }
        other => panic!("expected a non-finite loss error, got {other}"),
    }
    assert!(e.to_string().contains("epoch 2"), "{e}");
    assert_eq!(
        std::fs::read(dir.path().join(BEST_FILE)).unwrap(),
        best_before
    );
    let mut m = ConfigNet::new(tiny_run(1).model, 0, &Cpu).unwrap();
    state_dict::load(&mut m, &dir.path().join(BEST_FILE)).unwrap();
}

#[test]
fn fine_tuning_starts_from_a_weights_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_run(1);
    let w = dir.path().join("w.safetensors");
    let source = ConfigNet::new(cfg.model, 77, &Cpu).unwrap();
    state_dict::save(&source, &w).unwrap();
    let ft = RunConfig {
        init_from: Some(w.clone()),
        train: TrainConfig {
            lr: 1e-12,
            ..cfg.train.clone()
        },
        ..cfg
    };
    fit(
        &dir.path().join("run"),
        &ft,
        tiny_data(64, 1),
        tiny_data(32, 2),
        &Cpu,
        &FitOptions::default(),
    )
    .unwrap();
    // with a negligible learning rate the weights stay those of the file, not a fresh init
    let a = read_safetensors(&w).unwrap().0;
    let b = read_safetensors(&dir.path().join("run").join(LAST_FILE))
        .unwrap()
        .0;
    let (_, wa) = &a["conv1.weight"];
    let (_, wb) = &b["conv1.weight"];
    let diff = wa
        .iter()
        .zip(wb)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(diff < 1e-6, "{diff}");
}

fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("KILN_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    if dir.join("cifar-10-batches-bin").exists() || dir.join("data_batch_1.bin").exists() {
        Some(dir)
    } else {
        kiln_tensor::testing::skip(
            kiln_tensor::testing::Need::Data,
            "real-data training",
            &format!("{} has no CIFAR-10 (set KILN_DATA)", dir.display()),
        );
        None
    }
}

#[test]
fn a_small_confignet_learns_real_cifar10_in_one_epoch() {
    let Some(dir) = data_dir() else { return };
    let train = Arc::new(
        kiln_data::load(&dir, kiln_data::Split::Train)
            .unwrap()
            .first(10_000),
    );
    let test = Arc::new(
        kiln_data::load(&dir, kiln_data::Split::Test)
            .unwrap()
            .first(2_000),
    );
    let cfg = RunConfig {
        model: ConfigNetConfig::new(16, 32, 64, 0.1),
        train: TrainConfig {
            epochs: 1,
            batch_size: 64,
            lr: 1e-3,
            seed: 1,
            workers: 2,
            ..TrainConfig::default()
        },
        init_from: None,
    };
    let out_dir = tempfile::tempdir().unwrap();
    let t = std::time::Instant::now();
    let out = fit(
        out_dir.path(),
        &cfg,
        train,
        test,
        &Cpu,
        &FitOptions::default(),
    )
    .unwrap();
    let acc = out.history[0].test_accuracy;
    println!(
        "ConfigNet 16/32/64, 1 epoch on 10,000 real images: test accuracy {:.1}% on 2,000 ({:.1} s)",
        100.0 * acc,
        t.elapsed().as_secs_f64()
    );
    assert!(acc >= 0.35, "test accuracy {acc}");
}

#[test]
fn checkpoint_parse_reads_what_save_wrote_and_every_damage_is_an_error() {
    use kiln_nn::Optimizer;
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_run(1);
    fit(
        dir.path(),
        &cfg,
        tiny_data(64, 1),
        tiny_data(32, 2),
        &Cpu,
        &FitOptions::default(),
    )
    .unwrap();
    let path = dir.path().join(CHECKPOINT_FILE);
    let bytes = std::fs::read(&path).unwrap();
    let c = checkpoint::parse(&bytes, &path).unwrap();
    // the same state, weights and optimizer state as load puts into a model
    let mut model = ConfigNet::new(cfg.model, 99, &Cpu).unwrap();
    let mut opt = Adam::new(Default::default(), &Cpu);
    let state = checkpoint::load(&path, &mut model, &mut opt).unwrap();
    assert_eq!(c.state, state);
    let weights: std::collections::BTreeMap<_, _> = state_dict::state_dict(&model)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, (v.shape, v.data)))
        .collect();
    assert_eq!(c.model, weights);
    let mut os = opt.state().unwrap();
    let mut parsed = c.optimizer.clone();
    os.buffers.sort_by(|a, b| a.0.cmp(&b.0));
    parsed.buffers.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(parsed, os);
    // every truncation is an error naming the file, never a panic
    for cut in (0..bytes.len()).step_by(97) {
        let err = checkpoint::parse(&bytes[..cut], &path).unwrap_err();
        assert!(err.to_string().contains(CHECKPOINT_FILE), "{err}");
    }
    // a safetensors file without run state, and run state that is not JSON
    let weights = std::fs::read(dir.path().join(LAST_FILE)).unwrap();
    let err = checkpoint::parse(&weights, &path).unwrap_err();
    assert!(err.to_string().contains("no run state"), "{err}");
    let text = String::from_utf8_lossy(&bytes);
    // (the run state is JSON inside the header's JSON: renaming a field keeps both valid)
    let at = text.find("epochs_done").unwrap();
    let mut broken = bytes.clone();
    broken[at] = b'E';
    let err = checkpoint::parse(&broken, &path).unwrap_err();
    assert!(err.to_string().contains("unreadable run state"), "{err}");
}
