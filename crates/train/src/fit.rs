//! `fit`: trains any [`Module`] with any [`Optimizer`] for the epochs a [`TrainConfig`] asks,
//! evaluating after every epoch (validation, if any, then test), with early stopping on the
//! monitored loss, and a callback per epoch. Resuming is `fit` on a restored [`FitState`]: the
//! random streams are counter-based (seed, epoch, step) and the schedule a function of the step,
//! so the state below is all that a continued run needs besides the weights and the
//! optimizer's moments.

use std::sync::Arc;

use kiln_data::{DataLoader, LoaderConfig, Normalize};
use kiln_nn::{Context, Module, Optimizer};
use kiln_tensor::{Backend, Tensor, no_grad};
use serde::{Deserialize, Serialize};

use crate::callbacks::{Callbacks, EpochEnd};
use crate::early_stopping::{EarlyStopping, EarlyStoppingStrategy, Verdict};
use crate::history::EpochRecord;
use crate::trainer::{EpochPlan, EvalOptions, evaluate, train_epoch};
use crate::{FitData, Result, TrainConfig, TrainError};

/// Where a run stands: what a checkpoint saves besides the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitState {
    /// Epochs finished (the next epoch to run, counting from 0).
    pub epochs_done: usize,
    pub early_stopping: EarlyStopping,
    pub history: Vec<EpochRecord>,
    pub stopped_early: bool,
}

impl FitState {
    /// The state before the first epoch.
    pub fn new(cfg: &TrainConfig) -> Self {
        FitState {
            epochs_done: 0,
            early_stopping: EarlyStopping::new(cfg.early_stop.unwrap_or(usize::MAX), cfg.min_delta),
            history: Vec::new(),
            stopped_early: false,
        }
    }

    /// Whether nothing is left to do for `epochs` epochs.
    pub fn finished(&self, epochs: usize) -> bool {
        self.stopped_early || self.epochs_done >= epochs
    }

    /// The epoch (from 1) whose weights are the best so far, with its record.
    pub fn best(&self) -> Option<&EpochRecord> {
        self.history
            .iter()
            .filter(|r| r.improved)
            .min_by(|a, b| a.monitored_loss().total_cmp(&b.monitored_loss()))
    }
}

/// How a fit runs besides its recipe.
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// How images are normalised before the network (CIFAR's mean 0.5, std 0.5 by default).
    pub normalize: Normalize,
    /// Loader worker threads.
    pub workers: usize,
    /// Images per evaluation batch.
    pub eval_batch_size: usize,
    /// Stop (as if interrupted) after this many epochs of this call.
    pub max_epochs_this_call: Option<usize>,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            normalize: Normalize::half(),
            workers: 2,
            eval_batch_size: 512,
            max_epochs_this_call: None,
        }
    }
}

/// Checks everything that can be checked before the first step: the settings, the data, and
/// that the model gives one output per class for the data's images.
pub fn check_fit<B: Backend>(
    model: &mut dyn Module<B>,
    data: &FitData,
    cfg: &TrainConfig,
    dev: &B,
) -> Result<()> {
    let bad = |m: String| Err(TrainError::Config(m));
    if cfg.epochs == 0 || cfg.batch_size == 0 {
        return bad(format!(
            "epochs and batch size must be at least 1 (got {} epochs, batch {})",
            cfg.epochs, cfg.batch_size
        ));
    }
    if !(0.0..1.0).contains(&cfg.label_smoothing) {
        return bad(format!(
            "label smoothing must be in [0, 1), got {}",
            cfg.label_smoothing
        ));
    }
    for (name, d) in [("training", Some(&data.train)), ("test", Some(&data.test))]
        .into_iter()
        .chain([("validation", data.validation.as_ref())])
    {
        let Some(d) = d else { continue };
        if d.is_empty() {
            return bad(format!("the {name} set has no images"));
        }
        if d.image_shape() != data.train.image_shape()
            || d.class_names() != data.train.class_names()
        {
            return bad(format!(
                "the {name} set's images ({:?}, {} classes) differ from the training set's ({:?}, {} classes)",
                d.image_shape(),
                d.num_classes(),
                data.train.image_shape(),
                data.train.num_classes()
            ));
        }
    }
    let steps = data.train.len().div_ceil(cfg.batch_size) as u64;
    cfg.schedule
        .validate(cfg.optimizer.lr(), steps, cfg.epochs as u64)
        .map_err(kiln_nn::NnError::from)?;
    // one image through the model: the right input shape, one output per class
    let [c, h, w] = data.train.image_shape();
    let x = Tensor::zeros(&[1, c, h, w], dev)?;
    let out = no_grad(|| model.forward(&x, &mut Context::eval()))?;
    let k = data.train.num_classes();
    if out.shape() != [1, k] {
        return Err(TrainError::ClassCount {
            outputs: out.numel(),
            classes: k,
        });
    }
    Ok(())
}

/// Trains `model` with `opt` on `data` as `cfg` says, from `state` (fresh or restored), calling
/// `cb` on the way. Stops at `cfg.epochs`, on early stopping, or when a callback fails.
#[allow(clippy::too_many_arguments)] // the model, its optimizer and the run's parts, each distinct
pub fn fit<B: Backend>(
    model: &mut dyn Module<B>,
    opt: &mut dyn Optimizer<B>,
    data: &FitData,
    cfg: &TrainConfig,
    state: &mut FitState,
    dev: &B,
    options: &FitOptions,
    cb: &mut dyn Callbacks<B>,
) -> Result<()> {
    check_fit(model, data, cfg, dev)?;
    let normalize = &options.normalize;
    let [_, h, w] = data.train.image_shape();
    let loader_cfg = LoaderConfig {
        batch_size: cfg.batch_size,
        shuffle: true,
        drop_last: false,
        seed: cfg.seed,
        workers: options.workers,
        prefetch: 4,
    };
    let transform = Arc::new(cfg.augment.compose(normalize.clone(), h, w));
    let loader = DataLoader::new(data.train.clone(), loader_cfg, transform)?;
    let eval = |name: &str| EvalOptions {
        batch_size: options.eval_batch_size,
        workers: options.workers,
        normalize: normalize.clone(),
        flip_tta: cfg.flip_tta,
        name: name.to_string(),
    };
    let mut this_call = 0;
    while !state.finished(cfg.epochs) {
        if options.max_epochs_this_call.is_some_and(|m| this_call >= m) {
            break;
        }
        let epoch = state.epochs_done;
        let plan = EpochPlan {
            loader: &loader,
            epoch,
            epochs: cfg.epochs,
            seed: cfg.seed,
            label_smoothing: cfg.label_smoothing,
            base_lr: cfg.optimizer.lr(),
            schedule: &cfg.schedule,
        };
        let stats = train_epoch(model, opt, &plan, dev, cb)?;
        let val = match &data.validation {
            Some(v) => Some(evaluate(model, v, &eval("validation"), dev, cb)?),
            None => None,
        };
        let test = evaluate(model, &data.test, &eval("test"), dev, cb)?;
        let monitored = val.as_ref().map_or(test.loss, |v| v.loss);
        let verdict = state.early_stopping.update(monitored);
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: stats.loss,
            train_accuracy: stats.accuracy,
            val_loss: val.as_ref().map(|v| v.loss),
            val_accuracy: val.as_ref().map(|v| v.accuracy),
            test_loss: test.loss,
            test_accuracy: test.accuracy,
            lr: stats.lr,
            seconds: stats.seconds,
            train_images_per_sec: stats.images_per_sec(),
            improved: verdict == Verdict::Improved,
        };
        state.history.push(record.clone());
        state.epochs_done += 1;
        state.stopped_early = verdict == Verdict::Stop;
        cb.epoch_end(&EpochEnd {
            record: &record,
            verdict,
            state,
            model,
            optimizer: opt,
        })?;
        this_call += 1;
    }
    Ok(())
}
