//! An optimizer as plain data (what a run records): which one, and its hyperparameters.

use kiln_tensor::Backend;
use serde::{Deserialize, Serialize};

use super::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use crate::{NnError, Result};

/// Which optimizer, with PyTorch's meaning for every field.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// `torch.optim.Adam(lr, weight_decay)` (the decay added to the gradient).
    Adam { lr: f32, weight_decay: f32 },
    /// `torch.optim.AdamW(lr, weight_decay)` (decoupled decay).
    AdamW { lr: f32, weight_decay: f32 },
    /// `torch.optim.SGD(lr, momentum, nesterov, weight_decay)`.
    Sgd {
        lr: f32,
        momentum: f32,
        nesterov: bool,
        weight_decay: f32,
    },
}

impl OptimizerConfig {
    /// The walkthrough's Adam at `lr`.
    pub fn adam(lr: f32) -> Self {
        OptimizerConfig::Adam {
            lr,
            weight_decay: 0.0,
        }
    }

    /// The base learning rate.
    pub fn lr(&self) -> f32 {
        match *self {
            OptimizerConfig::Adam { lr, .. }
            | OptimizerConfig::AdamW { lr, .. }
            | OptimizerConfig::Sgd { lr, .. } => lr,
        }
    }

    /// The same optimizer with another base learning rate.
    pub fn with_lr(mut self, new: f32) -> Self {
        match &mut self {
            OptimizerConfig::Adam { lr, .. }
            | OptimizerConfig::AdamW { lr, .. }
            | OptimizerConfig::Sgd { lr, .. } => *lr = new,
        }
        self
    }

    /// "adam", "adamw" or "sgd" (the names optimizer states carry).
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerConfig::Adam { .. } => "adam",
            OptimizerConfig::AdamW { .. } => "adamw",
            OptimizerConfig::Sgd { .. } => "sgd",
        }
    }

    /// "Adam(lr 0.001)", "SGD(lr 0.1, momentum 0.9, nesterov, weight decay 0.0005)".
    pub fn describe(&self) -> String {
        let wd = |w: f32| {
            if w == 0.0 {
                String::new()
            } else {
                format!(", weight decay {w}")
            }
        };
        match *self {
            OptimizerConfig::Adam { lr, weight_decay } => {
                format!("Adam(lr {lr}{})", wd(weight_decay))
            }
            OptimizerConfig::AdamW { lr, weight_decay } => {
                format!("AdamW(lr {lr}{})", wd(weight_decay))
            }
            OptimizerConfig::Sgd {
                lr,
                momentum,
                nesterov,
                weight_decay,
            } => format!(
                "SGD(lr {lr}, momentum {momentum}{}{})",
                if nesterov { ", nesterov" } else { "" },
                wd(weight_decay)
            ),
        }
    }

    /// Checks every value (the same checks as [`OptimizerConfig::build`], without a device).
    pub fn validate(&self) -> Result<()> {
        self.build(&kiln_tensor::Cpu).map(|_| ())
    }

    /// Checks every value, then makes the optimizer.
    pub fn build<B: Backend>(&self, dev: &B) -> Result<Box<dyn Optimizer<B>>> {
        let bad = |what: &str, v: f32| {
            Err(NnError::Optimizer(format!(
                "the optimizer's {what} must be a non-negative number, got {v}"
            )))
        };
        let lr = self.lr();
        if !(lr.is_finite() && lr > 0.0) {
            return Err(NnError::Optimizer(format!(
                "the learning rate must be positive, got {lr}"
            )));
        }
        Ok(match *self {
            OptimizerConfig::Adam { lr, weight_decay }
            | OptimizerConfig::AdamW { lr, weight_decay } => {
                if !(weight_decay.is_finite() && weight_decay >= 0.0) {
                    return bad("weight decay", weight_decay);
                }
                let decoupled = matches!(self, OptimizerConfig::AdamW { .. });
                Box::new(Adam::new(
                    AdamConfig {
                        lr,
                        weight_decay,
                        decoupled,
                        ..AdamConfig::default()
                    },
                    dev,
                ))
            }
            OptimizerConfig::Sgd {
                lr,
                momentum,
                nesterov,
                weight_decay,
            } => {
                if !(momentum.is_finite() && (0.0..1.0).contains(&momentum)) {
                    return Err(NnError::Optimizer(format!(
                        "SGD's momentum must be in [0, 1), got {momentum}"
                    )));
                }
                if !(weight_decay.is_finite() && weight_decay >= 0.0) {
                    return bad("weight decay", weight_decay);
                }
                if nesterov && momentum == 0.0 {
                    return Err(NnError::Optimizer(
                        "Nesterov momentum needs a momentum above 0".into(),
                    ));
                }
                Box::new(Sgd::new(
                    SgdConfig {
                        lr,
                        momentum,
                        dampening: 0.0,
                        weight_decay,
                        nesterov,
                    },
                    dev,
                )?)
            }
        })
    }
}
