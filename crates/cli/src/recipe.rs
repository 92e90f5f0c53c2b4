//! From the recipe flags to a [`TrainConfig`]: a named recipe first, then every flag given.

use kiln_data::Augmentation;
use kiln_nn::{Architecture, LrSchedule, ModelFile, OptimizerConfig, model::builtin};
use kiln_train::TrainConfig;

use crate::args::{AugmentArg, ModelArgs, OptimizerArg, RecipeArg, RecipeArgs, ScheduleArg};
use crate::{CliError, Result};

/// The flags of one run that are single values (a grid search lists them instead).
#[derive(Debug, Clone, Copy, Default)]
pub struct RunValues {
    pub epochs: Option<usize>,
    pub lr: Option<f32>,
    pub batch_size: Option<usize>,
    pub early_stop: Option<usize>,
}

/// A named recipe's values, before the flags.
struct Defaults {
    optimizer: OptimizerArg,
    lr: f32,
    epochs: usize,
    batch_size: usize,
    schedule: ScheduleArg,
    label_smoothing: f32,
    augment: Augmentation,
    val_split: Option<f64>,
    tta: bool,
}

fn defaults(recipe: RecipeArg, synthetic: bool) -> Defaults {
    match recipe {
        RecipeArg::Walkthrough => Defaults {
            optimizer: OptimizerArg::Adam,
            lr: 1e-3,
            epochs: if synthetic { 3 } else { 10 },
            batch_size: if synthetic { 64 } else { 512 },
            schedule: ScheduleArg::Constant,
            label_smoothing: 0.0,
            augment: Augmentation::NONE,
            val_split: None,
            tta: false,
        },
        RecipeArg::Modern => Defaults {
            optimizer: OptimizerArg::Adamw,
            lr: 2e-3,
            epochs: if synthetic { 3 } else { 40 },
            batch_size: if synthetic { 64 } else { 256 },
            schedule: ScheduleArg::Onecycle,
            label_smoothing: 0.1,
            augment: Augmentation::crop_flip(8),
            val_split: Some(0.05),
            tta: true,
        },
    }
}

/// The training configuration the flags describe.
pub fn train_config(
    r: &RecipeArgs,
    v: RunValues,
    seed: u64,
    synthetic: bool,
) -> Result<TrainConfig> {
    let d = defaults(r.recipe, synthetic);
    let opt = d.optimizer;
    let lr = v.lr.unwrap_or(d.lr);
    let mut augment = d.augment;
    let weight_decay = r.weight_decay.unwrap_or(match r.optimizer.unwrap_or(opt) {
        OptimizerArg::Adamw => 0.05,
        OptimizerArg::Sgd => 5e-4,
        OptimizerArg::Adam => 0.0,
    });
    let optimizer = match r.optimizer.unwrap_or(opt) {
        OptimizerArg::Adam => OptimizerConfig::Adam { lr, weight_decay },
        OptimizerArg::Adamw => OptimizerConfig::AdamW { lr, weight_decay },
        OptimizerArg::Sgd => OptimizerConfig::Sgd {
            lr,
            momentum: r.momentum.unwrap_or(0.9),
            nesterov: r.nesterov,
            weight_decay,
        },
    };
    if r.nesterov && !matches!(optimizer, OptimizerConfig::Sgd { .. }) {
        return Err(CliError::Usage(
            "--nesterov is a setting of --optimizer sgd".into(),
        ));
    }
    if r.momentum.is_some() && !matches!(optimizer, OptimizerConfig::Sgd { .. }) {
        return Err(CliError::Usage(
            "--momentum is a setting of --optimizer sgd".into(),
        ));
    }
    let mut schedule = match r.schedule.unwrap_or(d.schedule) {
        ScheduleArg::Constant => LrSchedule::constant(),
        ScheduleArg::Step => LrSchedule::step(r.step_epochs, r.gamma),
        ScheduleArg::Cosine => LrSchedule::cosine(0.0),
        ScheduleArg::Onecycle => LrSchedule::one_cycle(),
    };
    if let Some(w) = r.warmup_epochs {
        schedule = schedule.with_warmup(w);
    }
    if let Some(a) = r.augment {
        augment = match a {
            AugmentArg::Walkthrough => Augmentation::walkthrough(),
            AugmentArg::CropFlip => Augmentation::crop_flip(0),
            AugmentArg::None => Augmentation::NONE,
        };
    }
    if let Some(c) = r.cutout {
        augment.cutout = c;
    }
    let cfg = TrainConfig {
        epochs: v.epochs.unwrap_or(d.epochs),
        batch_size: v.batch_size.unwrap_or(d.batch_size),
        seed,
        optimizer,
        schedule,
        label_smoothing: r.label_smoothing.unwrap_or(d.label_smoothing),
        augment,
        early_stop: v.early_stop,
        min_delta: 0.0,
        flip_tta: r.tta || d.tta,
        val_split: r.val_split.or(d.val_split),
    };
    Ok(cfg)
}

/// The architecture `--model` names: a built-in network (ConfigNet with its flags) or a
/// model file.
pub fn architecture(name: &str, m: Option<&ModelArgs>) -> Result<Architecture> {
    let given = m.is_some_and(|m| {
        m.c1.is_some()
            || m.c2.is_some()
            || m.l1.is_some()
            || m.d1.is_some()
            || m.conv1_kernel.is_some()
    });
    if let Some(arch) = builtin(name) {
        return match (arch, m) {
            (Architecture::ConfigNet(c), Some(m)) => {
                Ok(Architecture::ConfigNet(kiln_nn::ConfigNetConfig {
                    c1: m.c1.unwrap_or(c.c1),
                    c2: m.c2.unwrap_or(c.c2),
                    l1: m.l1.unwrap_or(c.l1),
                    d1: m.d1.unwrap_or(c.d1),
                    conv1_kernel: m.conv1_kernel.unwrap_or(c.conv1_kernel),
                    ..c
                }))
            }
            (_, _) if given => Err(CliError::Usage(format!(
                "--c1/--c2/--l1/--d1/--conv1-kernel shape a ConfigNet, not --model {name}"
            ))),
            (arch, _) => Ok(arch),
        };
    }
    if given {
        return Err(CliError::Usage(format!(
            "--c1/--c2/--l1/--d1/--conv1-kernel shape a ConfigNet, not the model file {name}"
        )));
    }
    let path = std::path::Path::new(name);
    if !path.exists() {
        return Err(CliError::Usage(format!(
            "--model {name}: neither a built-in network ({}) nor an existing model file",
            kiln_nn::model::BUILTIN_NAMES.join(", ")
        )));
    }
    let f = ModelFile::read(path)?;
    Ok(Architecture::Layers {
        name: f.name.unwrap_or_else(|| name.to_string()),
        layers: f.layers,
    })
}
