//! `fit`: a whole training run in a folder, with early stopping, best weights, a checkpoint
//! after every epoch, and resumption where the last checkpoint left off.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_data::{Compose, DataLoader, Dataset, LoaderConfig, Transform};
use kiln_nn::{Adam, AdamConfig, ConfigNet, Optimizer, state_dict};
use kiln_tensor::Backend;

use crate::checkpoint::{self, CheckpointState};
use crate::early_stopping::{EarlyStopping, EarlyStoppingStrategy, Verdict};
use crate::history::{self, EpochRecord};
use crate::trainer::{evaluate, train_epoch};
use crate::{Result, RunConfig, TrainError, progress};

/// File names inside a run folder.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
pub const BEST_FILE: &str = "best.safetensors";
pub const LAST_FILE: &str = "last.safetensors";
pub const CONFIG_FILE: &str = "config.json";

/// How to run `fit`.
#[derive(Debug, Clone, Default)]
pub struct FitOptions {
    /// Continue from the folder's checkpoint.
    pub resume: bool,
    /// Show progress bars.
    pub progress: bool,
    /// Stop (as if killed) after this many epochs of this invocation; for tests and time limits.
    pub max_epochs_this_call: Option<usize>,
}

/// What a run achieved.
#[derive(Debug, Clone)]
pub struct FitOutcome {
    pub run_dir: PathBuf,
    pub history: Vec<EpochRecord>,
    /// Epoch (from 1) with the lowest test loss.
    pub best_epoch: usize,
    pub best_test_loss: f64,
    pub best_test_accuracy: f64,
    pub stopped_early: bool,
    /// All epochs done (or stopped early): nothing left to resume.
    pub finished: bool,
}

fn outcome(run_dir: &Path, state: &CheckpointState) -> FitOutcome {
    let best = state
        .history
        .iter()
        .filter(|r| r.improved)
        .min_by(|a, b| a.test_loss.total_cmp(&b.test_loss))
        .or_else(|| state.history.last());
    FitOutcome {
        run_dir: run_dir.to_path_buf(),
        history: state.history.clone(),
        best_epoch: best.map_or(0, |r| r.epoch),
        best_test_loss: best.map_or(f64::NAN, |r| r.test_loss),
        best_test_accuracy: best.map_or(f64::NAN, |r| r.test_accuracy),
        stopped_early: state.stopped_early,
        finished: state.stopped_early || state.epochs_done >= state.config.train.epochs,
    }
}

/// The training transform of a run: the walkthrough's augmentation or plain normalisation.
pub fn train_transform(augment: bool) -> Arc<dyn Transform> {
    Arc::new(if augment {
        Compose::cifar_train()
    } else {
        Compose::cifar_eval()
    })
}

/// Trains `cfg` on `train`, testing on `test` after every epoch, in `run_dir`.
pub fn fit<B: Backend>(
    run_dir: &Path,
    cfg: &RunConfig,
    train: Arc<Dataset>,
    test: Arc<Dataset>,
    dev: &B,
    opts: &FitOptions,
) -> Result<FitOutcome> {
    let t = &cfg.train;
    if t.batch_size == 0 || t.epochs == 0 {
        return Err(TrainError::Config(
            "epochs and batch size must be at least 1".into(),
        ));
    }
    if !(t.lr.is_finite() && t.lr > 0.0) {
        return Err(TrainError::Config(format!(
            "the learning rate must be positive, got {}",
            t.lr
        )));
    }
    std::fs::create_dir_all(run_dir).map_err(crate::error::io_err(run_dir))?;
    let ckpt_path = run_dir.join(CHECKPOINT_FILE);
    let mut model = ConfigNet::new(cfg.model, t.seed, dev)?;
    let mut opt = Adam::new(
        AdamConfig {
            lr: t.lr,
            ..AdamConfig::default()
        },
        dev,
    );
    let mut state = if opts.resume && ckpt_path.exists() {
        let st = checkpoint::load(&ckpt_path, &mut model, &mut opt)?;
        if st.config.model != cfg.model
            || st.config.train.batch_size != t.batch_size
            || st.config.train.seed != t.seed
        {
            return Err(TrainError::Checkpoint {
                path: ckpt_path,
                reason: "it was made with another model, batch size or seed than this run asks for"
                    .into(),
            });
        }
        let mut st = st;
        st.config.train.epochs = t.epochs; // allow extending a finished run
        st
    } else {
        if ckpt_path.exists() {
            return Err(TrainError::RunExists {
                dir: run_dir.to_path_buf(),
            });
        }
        if let Some(w) = &cfg.init_from {
            state_dict::load(&mut model, w)?;
        }
        CheckpointState {
            epochs_done: 0,
            config: cfg.clone(),
            early_stopping: EarlyStopping::new(t.early_stop.unwrap_or(usize::MAX), t.min_delta),
            history: Vec::new(),
            optimizer_kind: "adam".into(),
            optimizer_step: 0,
            optimizer_lr: t.lr,
            stopped_early: false,
        }
    };
    opt.set_learning_rate(t.lr);
    let json = serde_json::to_string_pretty(cfg).map_err(|e| TrainError::Config(e.to_string()))?;
    state_dict::write_atomic(&run_dir.join(CONFIG_FILE), json.as_bytes())?;

    let loader_cfg = LoaderConfig {
        batch_size: t.batch_size,
        shuffle: true,
        drop_last: false,
        seed: t.seed,
        workers: t.workers,
        prefetch: 4,
    };
    let loader = DataLoader::new(train, loader_cfg, train_transform(t.augment))?;
    let mut epochs_this_call = 0;
    while state.epochs_done < t.epochs && !state.stopped_early {
        if opts
            .max_epochs_this_call
            .is_some_and(|m| epochs_this_call >= m)
        {
            break;
        }
        let epoch = state.epochs_done;
        let bar = progress::bar(
            loader.num_batches() as u64,
            &format!("epoch {}/{}", epoch + 1, t.epochs),
            opts.progress,
        );
        let stats = train_epoch(
            &mut model,
            &mut opt,
            &loader,
            epoch,
            t.seed,
            t.label_smoothing,
            dev,
            &bar,
        )?;
        bar.finish_and_clear();
        let bar = progress::bar(0, "test", opts.progress);
        let ev = evaluate(
            &mut model,
            &test,
            t.batch_size.max(256),
            t.workers,
            dev,
            &bar,
        )?;
        bar.finish_and_clear();
        let verdict = state.early_stopping.update(ev.loss);
        let improved = verdict == Verdict::Improved;
        if improved {
            state_dict::save(&model, &run_dir.join(BEST_FILE))?;
        }
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: stats.loss,
            train_accuracy: stats.accuracy,
            test_loss: ev.loss,
            test_accuracy: ev.accuracy,
            lr: opt.learning_rate(),
            seconds: stats.seconds,
            train_images_per_sec: stats.images_per_sec(),
            improved,
        };
        if opts.progress {
            eprintln!(
                "epoch {:>3}/{}: train loss {:.4} acc {:5.1}% | test loss {:.4} acc {:5.1}% | {:.0} img/s{}",
                record.epoch,
                t.epochs,
                record.train_loss,
                100.0 * record.train_accuracy,
                record.test_loss,
                100.0 * record.test_accuracy,
                record.train_images_per_sec,
                if improved {
                    " | best so far, saved"
                } else {
                    ""
                }
            );
            if t.verbose && t.early_stop.is_some() {
                match verdict {
                    Verdict::NoImprovement { count, patience } => {
                        eprintln!("early stop counter: {count}/{patience}")
                    }
                    Verdict::Stop => eprintln!(
                        "early stopping: no improvement for {} epochs",
                        state.early_stopping.patience
                    ),
                    Verdict::Improved => {}
                }
            }
        }
        state.history.push(record);
        state.epochs_done += 1;
        state.stopped_early = verdict == Verdict::Stop;
        let os = opt.state()?;
        state.optimizer_step = os.step;
        state.optimizer_lr = os.lr;
        history::write(run_dir, &state.history)?;
        state_dict::save(&model, &run_dir.join(LAST_FILE))?;
        checkpoint::save(&ckpt_path, &model, &opt, &state)?;
        epochs_this_call += 1;
    }
    Ok(outcome(run_dir, &state))
}
