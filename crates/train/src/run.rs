//! A training run in a folder: `run.json` (what the run is), after every epoch the history,
//! the best and the last weights (each knowing its model) and one checkpoint, all written to a
//! temporary name and renamed; resumption where the last checkpoint left off, only for the
//! same run (its epochs excepted); optionally TensorBoard event files.

use std::path::{Path, PathBuf};

use kiln_data::Normalize;
use kiln_nn::state_dict::{self, WeightsMeta, save_weights};
use kiln_nn::{Model, Optimizer};
use kiln_tensor::Backend;

use crate::callbacks::{Callbacks, EpochEnd, StepInfo};
use crate::checkpoint::{self, CheckpointState};
use crate::fit::{FitOptions, FitState, fit};
use crate::history::{self, EpochRecord};
use crate::tensorboard::SummaryWriter;
use crate::{FitData, Result, RunConfig, TrainError};

/// File names inside a run folder.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
pub const BEST_FILE: &str = "best.safetensors";
pub const LAST_FILE: &str = "last.safetensors";
pub const CONFIG_FILE: &str = "run.json";

/// How to run a [`train_run`].
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Continue from the folder's checkpoint (the same run, more epochs allowed).
    pub resume: bool,
    /// How the fit runs (its normalisation is recorded in the weights).
    pub fit: FitOptions,
    /// Also write TensorBoard event files of every epoch's figures into this folder.
    pub tensorboard: Option<PathBuf>,
}

/// What a run achieved.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run_dir: PathBuf,
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights are in `best.safetensors`.
    pub best: Option<EpochRecord>,
    pub stopped_early: bool,
    /// All epochs done (or stopped early): nothing left to resume.
    pub finished: bool,
}

/// The metadata of a run's weights files.
fn weights_meta<B: Backend>(
    model: &Model<B>,
    data: &FitData,
    normalize: &Normalize,
) -> WeightsMeta {
    // one value per channel (a normalisation given once applies to every channel)
    let c = model.input_shape()[0];
    let per_channel = |v: &[f32]| {
        if v.len() == 1 {
            vec![v[0]; c]
        } else {
            v.to_vec()
        }
    };
    WeightsMeta {
        architecture: model.architecture().clone(),
        input: model.input_shape(),
        class_names: data.train.class_names().to_vec(),
        mean: per_channel(normalize.mean()),
        std: per_channel(normalize.std()),
        made_by: crate::config::made_by(),
    }
}

/// Writes the run's files after every epoch, then passes everything on to the caller's
/// callbacks.
struct RunFiles<'a, B: Backend> {
    dir: &'a Path,
    config: &'a RunConfig,
    meta: WeightsMeta,
    tensorboard: Option<SummaryWriter>,
    inner: &'a mut dyn Callbacks<B>,
}

impl<B: Backend> Callbacks<B> for RunFiles<'_, B> {
    fn pass_start(&mut self, name: &str, steps: usize) {
        self.inner.pass_start(name, steps);
    }
    fn step(&mut self, info: &StepInfo) {
        self.inner.step(info);
    }
    fn pass_end(&mut self) {
        self.inner.pass_end();
    }
    fn epoch_end(&mut self, end: &EpochEnd<'_, B>) -> Result<()> {
        // order: the weights first, the checkpoint last, so that a run killed in between
        // redoes this epoch and writes the same files again
        history::write(self.dir, &end.state.history)?;
        if end.record.improved {
            save_weights(end.model, &self.meta, &self.dir.join(BEST_FILE))?;
        }
        save_weights(end.model, &self.meta, &self.dir.join(LAST_FILE))?;
        let os = end.optimizer.state()?;
        let state = CheckpointState {
            config: self.config.clone(),
            fit: end.state.clone(),
            optimizer_kind: os.kind,
            optimizer_step: os.step,
            optimizer_lr: os.lr,
        };
        checkpoint::save(
            &self.dir.join(CHECKPOINT_FILE),
            end.model,
            end.optimizer,
            &state,
        )?;
        if let Some(tb) = &mut self.tensorboard {
            let r = end.record;
            let step = r.epoch as u64;
            let mut scalars = vec![
                ("loss/train", r.train_loss),
                ("loss/test", r.test_loss),
                ("accuracy/train", r.train_accuracy),
                ("accuracy/test", r.test_accuracy),
                ("lr", r.lr as f64),
                ("images_per_sec/train", r.train_images_per_sec),
            ];
            if let (Some(l), Some(a)) = (r.val_loss, r.val_accuracy) {
                scalars.push(("loss/validation", l));
                scalars.push(("accuracy/validation", a));
            }
            for (tag, v) in scalars {
                tb.add_scalar(tag, v, step)?;
            }
            tb.flush()?;
        }
        self.inner.epoch_end(end)
    }
}

/// Trains the run `cfg` on `data` in `run_dir` (see the module's docs).
pub fn train_run<B: Backend>(
    run_dir: &Path,
    cfg: &RunConfig,
    data: &FitData,
    dev: &B,
    opts: &RunOptions,
    cb: &mut dyn Callbacks<B>,
) -> Result<RunOutcome> {
    let t = &cfg.train;
    let classes = data.train.num_classes();
    let mut model = Model::new(&cfg.model, data.train.image_shape(), classes, t.seed, dev)?;
    let mut opt: Box<dyn Optimizer<B>> = t.optimizer.build(dev)?;
    std::fs::create_dir_all(run_dir).map_err(crate::error::io_err(run_dir))?;
    remove_stale_temporaries(run_dir);
    let ckpt_path = run_dir.join(CHECKPOINT_FILE);
    let mut state = if opts.resume && ckpt_path.exists() {
        let ckpt = checkpoint::read(&ckpt_path)?;
        let differences = ckpt.state.config.differences(cfg);
        if !differences.is_empty() {
            return Err(TrainError::RunMismatch {
                dir: run_dir.to_path_buf(),
                differences,
            });
        }
        ckpt.restore(&ckpt_path, &mut model, opt.as_mut())?.fit
    } else {
        if ckpt_path.exists() {
            return Err(TrainError::RunExists {
                dir: run_dir.to_path_buf(),
            });
        }
        if let Some(init) = &cfg.init_from {
            let w = state_dict::read_weights(&init.path)?;
            state_dict::load_tensors(&mut model, &w.tensors, &init.path.display().to_string())?;
        }
        FitState::new(t)
    };
    let json = serde_json::to_string_pretty(cfg).map_err(|e| TrainError::Config(e.to_string()))?;
    state_dict::write_atomic(&run_dir.join(CONFIG_FILE), json.as_bytes())?;
    let tensorboard = match &opts.tensorboard {
        Some(dir) => Some(SummaryWriter::create(dir)?),
        None => None,
    };
    let mut files = RunFiles {
        dir: run_dir,
        config: cfg,
        meta: weights_meta(&model, data, &opts.fit.normalize),
        tensorboard,
        inner: cb,
    };
    fit(
        &mut model,
        opt.as_mut(),
        data,
        t,
        &mut state,
        dev,
        &opts.fit,
        &mut files,
    )?;
    Ok(RunOutcome {
        run_dir: run_dir.to_path_buf(),
        history: state.history.clone(),
        best: state.best().cloned(),
        stopped_early: state.stopped_early,
        finished: state.finished(t.epochs),
    })
}

/// Removes the temporary files of writes a killed process left (`.name.pid.tmp`): the files
/// they were for are intact, and they would only pile up.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The SHA-256 (hex) of a file's bytes, as [`crate::InitFrom`] records it.
pub fn file_sha256(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).map_err(crate::error::io_err(path))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Reads the run configuration of a run folder.
pub fn read_run_config(run_dir: &Path) -> Result<RunConfig> {
    let path = run_dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(crate::error::io_err(&path))?;
    serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
        path,
        reason: format!(
            "unreadable run configuration ({e}); was it written by another version of Kiln?"
        ),
    })
}
