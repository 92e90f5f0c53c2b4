//! Training runs: resumption, safe checkpoints, non-finite losses, real data.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::{options, run, tiny_data, tiny_fit_data, tiny_run};
use kiln_nn::state_dict::{self, read_safetensors};
use kiln_nn::{Adam, Architecture, ConfigNetConfig, Model, OptimizerConfig};
use kiln_tensor::Cpu;
use kiln_train::checkpoint;
use kiln_train::run::{BEST_FILE, CHECKPOINT_FILE, LAST_FILE};
use kiln_train::{EpochRecord, FitData, RunConfig, RunOptions, TrainConfig, TrainError};

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
    let data = tiny_fit_data(192, 64);
    let cfg = tiny_run(2, &data);
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let straight = run(a.path(), &cfg, &data, &options(false, None)).unwrap();
    assert_eq!(straight.history.len(), 2);
    assert!(straight.finished);

    let half = run(b.path(), &cfg, &data, &options(false, Some(1))).unwrap();
    assert_eq!(half.history.len(), 1);
    assert!(!half.finished);
    // a second fresh start in the same folder is refused (it would overwrite the run)
    let e = run(b.path(), &cfg, &data, &options(false, None)).unwrap_err();
    assert!(matches!(e, TrainError::RunExists { .. }), "{e}");
    let rest = run(b.path(), &cfg, &data, &options(true, None)).unwrap();
    assert_eq!(rest.history.len(), 2);
    let figures = |h: &[EpochRecord]| -> Vec<EpochRecord> {
        h.iter()
            .map(|r| EpochRecord {
                seconds: 0.0,
                train_images_per_sec: 0.0,
                ..r.clone()
            })
            .collect()
    };
    assert_eq!(figures(&straight.history), figures(&rest.history));
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
    for f in ["history.jsonl", "history.csv", "run.json", BEST_FILE] {
        assert!(b.path().join(f).exists(), "{f} written");
    }
    // the weights know their network
    let w = kiln_nn::state_dict::read_weights(&b.path().join(BEST_FILE)).unwrap();
    let meta = w.meta.unwrap();
    assert_eq!(
        meta.architecture, cfg.model,
        "ConfigNet for 32x32 images and 10 classes"
    );
    assert_eq!(meta.class_names, data.train.class_names());
}

#[test]
fn a_resumed_run_must_be_the_same_run_and_every_difference_is_named() {
    let data = tiny_fit_data(96, 32);
    let cfg = tiny_run(2, &data);
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &cfg, &data, &options(false, Some(1))).unwrap();
    // other data (the built-in set drawn with another seed), another lr, other augmentation
    let other = FitData {
        train: tiny_data(96, 9),
        ..data.clone()
    };
    let mut changed = tiny_run(3, &other);
    changed.train.optimizer = OptimizerConfig::adam(0.5);
    changed.train.augment = kiln_data::Augmentation::walkthrough();
    let e = run(dir.path(), &changed, &other, &options(true, None)).unwrap_err();
    let msg = e.to_string();
    let TrainError::RunMismatch { differences, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(differences.len(), 4, "{msg}");
    assert!(
        msg.contains("optimizer: Adam(lr 0.002) → Adam(lr 0.5)"),
        "{msg}"
    );
    assert!(msg.contains("augmentation: none → rotation 20°"), "{msg}");
    assert!(
        msg.contains("training images:") && msg.contains("seed 1)"),
        "{msg}"
    );
    assert!(!msg.contains("epochs"), "more epochs is allowed: {msg}");
    // more epochs of the same run is fine
    let more = tiny_run(3, &data);
    let out = run(dir.path(), &more, &data, &options(true, None)).unwrap();
    assert_eq!(out.history.len(), 3);
}

#[test]
fn a_checkpoint_write_that_fails_halfway_leaves_the_previous_one_loadable() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_fit_data(64, 32);
    let cfg = tiny_run(1, &data);
    let out = run(dir.path(), &cfg, &data, &options(false, None)).unwrap();
    assert!(out.finished);
    let path = dir.path().join(CHECKPOINT_FILE);
    let before = std::fs::read(&path).unwrap();

    let mut model = Model::new(&cfg.model, [3, 32, 32], 10, 99, &Cpu).unwrap();
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
    let mut again = Model::new(&cfg.model, [3, 32, 32], 10, 5, &Cpu).unwrap();
    let st = checkpoint::load(&path, &mut again, &mut opt).unwrap();
    assert_eq!(st.fit.epochs_done, 1);
}

#[test]
fn a_non_finite_loss_stops_with_the_epoch_and_batch_and_keeps_the_best_weights() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_fit_data(128, 32);
    let mut cfg = tiny_run(2, &data);
    cfg.train.optimizer = OptimizerConfig::adam(1e30);
    let e = run(dir.path(), &cfg, &data, &options(false, None)).unwrap_err();
    match &e {
        TrainError::NonFiniteLoss { epoch, batch, .. } => {
            assert_eq!(*epoch, 1);
            assert!(*batch >= 2, "the first step is finite: {batch}");
        }
        other => panic!("expected a non-finite loss error, got {other}"),
    }
    assert!(e.to_string().contains("epoch 1"), "{e}");
}

#[test]
fn fine_tuning_starts_from_a_weights_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_fit_data(64, 32);
    let cfg = tiny_run(1, &data);
    let w = dir.path().join("w.safetensors");
    let source = Model::new(&cfg.model, [3, 32, 32], 10, 77, &Cpu).unwrap();
    state_dict::save(&source, &w).unwrap();
    let ft = RunConfig {
        init_from: Some(kiln_train::InitFrom {
            path: w.clone(),
            sha256: kiln_train::run::file_sha256(&w).unwrap(),
        }),
        train: TrainConfig {
            optimizer: OptimizerConfig::adam(1e-12),
            ..cfg.train.clone()
        },
        ..cfg
    };
    run(&dir.path().join("run"), &ft, &data, &options(false, None)).unwrap();
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

#[test]
fn a_validation_split_picks_the_best_epoch_and_the_schedule_sets_every_steps_lr() {
    let full = tiny_data(200, 1);
    let (t, v) = full.split_validation(0.25, 4).unwrap();
    let data = FitData {
        train: Arc::new(t),
        validation: Some(Arc::new(v)),
        test: tiny_data(40, 2),
    };
    let mut cfg = tiny_run(3, &data);
    cfg.train.schedule = kiln_nn::LrSchedule::cosine(0.0);
    cfg.train.val_split = Some(0.25);
    let dir = tempfile::tempdir().unwrap();
    let tb = dir.path().join("tb");
    let opts = RunOptions {
        tensorboard: Some(tb.clone()),
        ..options(false, None)
    };
    let out = run(&dir.path().join("run"), &cfg, &data, &opts).unwrap();
    let h = &out.history;
    assert!(
        h.iter()
            .all(|r| r.val_loss.is_some() && r.val_accuracy.is_some())
    );
    let best = out.best.unwrap();
    let lowest = h
        .iter()
        .map(|r| r.val_loss.unwrap())
        .fold(f64::INFINITY, f64::min);
    assert_eq!(best.val_loss, Some(lowest), "best by validation loss");
    // cosine to 0 over 3 epochs of 5 steps: the last step's lr is the schedule's value
    let steps = data.train.len().div_ceil(32) as u64;
    let want = cfg
        .train
        .schedule
        .lr_at(2e-3, 3 * steps - 1, steps, 3)
        .unwrap();
    assert_eq!(h[2].lr, want);
    assert!(h[0].lr > h[1].lr && h[1].lr > h[2].lr, "{h:?}");
    let events: Vec<_> = std::fs::read_dir(&tb).unwrap().collect();
    assert_eq!(events.len(), 1, "one event file");
}

#[test]
fn fit_trains_any_module_with_any_optimizer_and_calls_back_every_epoch() {
    use kiln_nn::layers::{Flatten, Linear, Sequential};
    struct Count(usize, Vec<f64>);
    impl kiln_train::Callbacks<Cpu> for Count {
        fn epoch_end(&mut self, e: &kiln_train::EpochEnd<'_, Cpu>) -> kiln_train::Result<()> {
            self.0 += 1;
            self.1.push(e.record.train_loss);
            Ok(())
        }
    }
    let data = tiny_fit_data(128, 32);
    let mut model = Sequential::new()
        .push(Flatten)
        .push(Linear::new(3 * 32 * 32, 10, true, 1, &Cpu).unwrap());
    let mut opt = kiln_nn::Sgd::new(
        kiln_nn::SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            nesterov: true,
            ..Default::default()
        },
        &Cpu,
    )
    .unwrap();
    let cfg = TrainConfig {
        epochs: 3,
        batch_size: 32,
        optimizer: OptimizerConfig::Sgd {
            lr: 0.05,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 0.0,
        },
        ..TrainConfig::default()
    };
    let mut state = kiln_train::FitState::new(&cfg);
    let mut cb = Count(0, Vec::new());
    kiln_train::fit(
        &mut model,
        &mut opt,
        &data,
        &cfg,
        &mut state,
        &Cpu,
        &kiln_train::FitOptions::default(),
        &mut cb,
    )
    .unwrap();
    assert_eq!(cb.0, 3);
    assert!(cb.1[2] < cb.1[0], "it learns: {:?}", cb.1);
    // a model that gives the wrong number of outputs is refused before the first step
    let mut wrong = Sequential::new()
        .push(Flatten)
        .push(Linear::new(3 * 32 * 32, 4, true, 1, &Cpu).unwrap());
    let mut state = kiln_train::FitState::new(&cfg);
    let e = kiln_train::fit(
        &mut wrong,
        &mut opt,
        &data,
        &cfg,
        &mut state,
        &Cpu,
        &kiln_train::FitOptions::default(),
        &mut (),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            TrainError::ClassCount {
                outputs: 4,
                classes: 10
            }
        ),
        "{e}"
    );
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
    let data = FitData {
        train,
        validation: None,
        test,
    };
    let mut cfg = tiny_run(1, &data);
    cfg.model = Architecture::ConfigNet(ConfigNetConfig::new(16, 32, 64, 0.1));
    cfg.train.batch_size = 64;
    cfg.train.optimizer = OptimizerConfig::adam(1e-3);
    cfg.train.seed = 1;
    let out_dir = tempfile::tempdir().unwrap();
    let t = std::time::Instant::now();
    let out = run(out_dir.path(), &cfg, &data, &options(false, None)).unwrap();
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
    let data = tiny_fit_data(64, 32);
    let cfg = tiny_run(1, &data);
    run(dir.path(), &cfg, &data, &options(false, None)).unwrap();
    let path = dir.path().join(CHECKPOINT_FILE);
    let bytes = std::fs::read(&path).unwrap();
    let c = checkpoint::parse(&bytes, &path).unwrap();
    // parsed bytes restore the same state, weights and optimizer state as load
    let fresh = || {
        (
            Model::new(&cfg.model, [3, 32, 32], 10, 99, &Cpu).unwrap(),
            Adam::new(Default::default(), &Cpu),
        )
    };
    let (mut m1, mut o1) = fresh();
    let (mut m2, mut o2) = fresh();
    let loaded = checkpoint::load(&path, &mut m1, &mut o1).unwrap();
    let parsed = c.restore(&path, &mut m2, &mut o2).unwrap();
    assert_eq!(parsed, loaded);
    let weights = |m: &Model<Cpu>| -> Vec<_> {
        state_dict::state_dict(m)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.shape, v.data))
            .collect()
    };
    assert_eq!(weights(&m1), weights(&m2));
    let sorted = |o: &Adam<Cpu>| {
        let mut s = o.state().unwrap();
        s.buffers.sort_by(|a, b| a.0.cmp(&b.0));
        s
    };
    assert_eq!(sorted(&o1), sorted(&o2));
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
    // (the run state is JSON inside the header's JSON: renaming a field keeps both valid; the
    // checksum over the file's bytes refuses it first)
    let at = text.find("epochs_done").unwrap();
    let mut broken = bytes.clone();
    broken[at] = b'E';
    let err = checkpoint::parse(&broken, &path).unwrap_err();
    assert!(err.to_string().contains("is damaged"), "{err}");
}
