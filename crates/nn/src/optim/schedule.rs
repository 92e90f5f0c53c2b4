//! Learning-rate schedules as pure functions of the optimizer step, equal to PyTorch's
//! schedulers (checked against `tests/fixtures/recipes/schedules.json`).
//!
//! [`LrSchedule::lr_at`] gives the lr for the update of step `s` (0-based, counted over the
//! whole run), so a resumed run needs only its step count. With `S` steps per epoch, `E`
//! epochs and `W` warm-up epochs, the schedule advances once per `u` steps: `u = S` for
//! [`Interval::Step`] (PyTorch: `scheduler.step()` after every batch) and `u = 1` for
//! [`Interval::Epoch`] (after every epoch; the lr of step `s` is then that of epoch `s / S`).
//! In PyTorch terms, with `n = (E − W)·u` scheduler steps after the warm-up:
//!
//! - constant: no scheduler;
//! - step: `StepLR(step_size = step_epochs·u, gamma)` (the lr drops at the same epoch
//!   boundaries for either interval, as `StepLR(step_epochs)` stepped per epoch);
//! - cosine: `CosineAnnealingLR(T_max = n, eta_min)`;
//! - one-cycle: `OneCycleLR(max_lr = base_lr, total_steps = E·S, pct_start, 'cos',
//!   div_factor, final_div_factor, three_phase=False, cycle_momentum=False)`, per step only
//!   and without a separate warm-up (its first phase is the warm-up);
//! - a warm-up of `W > 0` epochs wraps the above as `SequentialLR([LinearLR(start_factor,
//!   end_factor=1, total_iters=W·u), main], milestones=[W·u])` (constant: `LinearLR` alone).
//!
//! Past the last step of the run the lr stays at the last step's value.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// How often the schedule's value changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    /// After every epoch (torchvision's reference recipes).
    Epoch,
    /// After every optimizer step (timm's `t_in_epochs=False`, Hugging Face, `OneCycleLR`).
    #[default]
    Step,
}

/// The shape of the schedule after the warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScheduleKind {
    /// The base lr throughout.
    Constant,
    /// The lr times `gamma` every `step_epochs` epochs (`StepLR`).
    Step { step_epochs: u64, gamma: f32 },
    /// Half a cosine from the base lr down to `eta_min` (`CosineAnnealingLR`).
    Cosine { eta_min: f32 },
    /// Cosine up from `base_lr / div_factor` to `base_lr` over the first `pct_start` of the
    /// steps, then down to `base_lr / (div_factor · final_div_factor)` (`OneCycleLR`).
    OneCycle {
        pct_start: f32,
        div_factor: f32,
        final_div_factor: f32,
    },
}

/// A learning-rate schedule: an optional linear warm-up, then a [`ScheduleKind`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    pub kind: ScheduleKind,
    /// Epochs of linear warm-up before `kind` starts (0: none).
    pub warmup_epochs: u64,
    /// The warm-up starts at `warmup_start_factor · base_lr` (`LinearLR`'s `start_factor`).
    pub warmup_start_factor: f32,
    pub interval: Interval,
}

/// The warm-up's default start factor (torchvision's `lr_warmup_decay`).
pub const DEFAULT_WARMUP_START_FACTOR: f32 = 0.01;

/// A schedule that cannot run with the given settings.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ScheduleError {
    #[error("learning-rate schedule: {what} is {value}, expected {expected}")]
    Invalid {
        what: &'static str,
        value: f32,
        expected: &'static str,
    },
    #[error(
        "learning-rate schedule: a run of {epochs} epochs of {steps_per_epoch} steps has no step to schedule"
    )]
    EmptyRun { epochs: u64, steps_per_epoch: u64 },
    #[error("learning-rate schedule: the step decay's interval is 0 epochs, expected at least 1")]
    ZeroStepEpochs,
    #[error(
        "learning-rate schedule: a warm-up of {warmup_epochs} epochs leaves none of the {epochs} epochs for the schedule after it; the warm-up must be shorter than the run"
    )]
    WarmupTooLong { warmup_epochs: u64, epochs: u64 },
    #[error(
        "learning-rate schedule: one-cycle has its own warm-up (its first pct_start of the steps) and cannot follow a linear warm-up ({warmup_epochs} epochs asked)"
    )]
    OneCycleWarmup { warmup_epochs: u64 },
    #[error("learning-rate schedule: one-cycle changes the lr every step, not every epoch")]
    OneCyclePerEpoch,
    #[error(
        "learning-rate schedule: one-cycle over {total_steps} steps with pct_start {pct_start} has a rising phase of {rising} steps, expected more than 1 (more steps or a larger pct_start)"
    )]
    OneCycleTooShort {
        total_steps: u64,
        pct_start: f32,
        rising: f64,
    },
}

impl LrSchedule {
    fn new(kind: ScheduleKind) -> Self {
        LrSchedule {
            kind,
            warmup_epochs: 0,
            warmup_start_factor: DEFAULT_WARMUP_START_FACTOR,
            interval: Interval::Step,
        }
    }
    /// The base lr throughout.
    pub fn constant() -> Self {
        Self::new(ScheduleKind::Constant)
    }
    /// `StepLR`: the lr times `gamma` every `step_epochs` epochs.
    pub fn step(step_epochs: u64, gamma: f32) -> Self {
        Self::new(ScheduleKind::Step { step_epochs, gamma })
    }
    /// `CosineAnnealingLR` down to `eta_min`, updated every step.
    pub fn cosine(eta_min: f32) -> Self {
        Self::new(ScheduleKind::Cosine { eta_min })
    }
    /// `OneCycleLR` with PyTorch's defaults (pct_start 0.3, div_factor 25, final_div_factor 1e4);
    /// the base lr is its `max_lr`.
    pub fn one_cycle() -> Self {
        Self::new(ScheduleKind::OneCycle {
            pct_start: 0.3,
            div_factor: 25.0,
            final_div_factor: 1e4,
        })
    }
    /// The same schedule after a linear warm-up of `epochs` epochs.
    pub fn with_warmup(mut self, epochs: u64) -> Self {
        self.warmup_epochs = epochs;
        self
    }
    /// The same schedule advancing every epoch or every step.
    pub fn with_interval(mut self, interval: Interval) -> Self {
        self.interval = interval;
        self
    }

    /// Checks that the schedule can run `epochs` epochs of `steps_per_epoch` steps from
    /// `base_lr`.
    pub fn validate(
        &self,
        base_lr: f32,
        steps_per_epoch: u64,
        epochs: u64,
    ) -> Result<(), ScheduleError> {
        let invalid = |what, value, expected| {
            Err(ScheduleError::Invalid {
                what,
                value,
                expected,
            })
        };
        if !(base_lr.is_finite() && base_lr > 0.0) {
            return invalid("the base learning rate", base_lr, "a positive number");
        }
        if epochs == 0 || steps_per_epoch == 0 {
            return Err(ScheduleError::EmptyRun {
                epochs,
                steps_per_epoch,
            });
        }
        if self.warmup_epochs > 0 {
            let f = self.warmup_start_factor;
            if !(f > 0.0 && f <= 1.0) {
                return invalid("the warm-up start factor", f, "in (0, 1]");
            }
            if self.warmup_epochs >= epochs {
                return Err(ScheduleError::WarmupTooLong {
                    warmup_epochs: self.warmup_epochs,
                    epochs,
                });
            }
        }
        match self.kind {
            ScheduleKind::Constant => {}
            ScheduleKind::Step { step_epochs, gamma } => {
                if step_epochs == 0 {
                    return Err(ScheduleError::ZeroStepEpochs);
                }
                if !(gamma.is_finite() && gamma > 0.0) {
                    return invalid("the step decay's gamma", gamma, "a positive number");
                }
            }
            ScheduleKind::Cosine { eta_min } => {
                if !(eta_min >= 0.0 && eta_min <= base_lr) {
                    return invalid(
                        "the cosine's minimum lr (eta_min)",
                        eta_min,
                        "between 0 and the base learning rate",
                    );
                }
            }
            ScheduleKind::OneCycle {
                pct_start,
                div_factor,
                final_div_factor,
            } => {
                if self.warmup_epochs > 0 {
                    return Err(ScheduleError::OneCycleWarmup {
                        warmup_epochs: self.warmup_epochs,
                    });
                }
                if self.interval != Interval::Step {
                    return Err(ScheduleError::OneCyclePerEpoch);
                }
                if !(pct_start > 0.0 && pct_start < 1.0) {
                    return invalid("one-cycle's pct_start", pct_start, "in (0, 1)");
                }
                if !(div_factor.is_finite() && div_factor > 0.0) {
                    return invalid("one-cycle's div_factor", div_factor, "a positive number");
                }
                if !(final_div_factor.is_finite() && final_div_factor > 0.0) {
                    return invalid(
                        "one-cycle's final_div_factor",
                        final_div_factor,
                        "a positive number",
                    );
                }
                let total_steps = epochs * steps_per_epoch;
                let rising = pct_start as f64 * total_steps as f64 - 1.0;
                if rising <= 0.0 {
                    return Err(ScheduleError::OneCycleTooShort {
                        total_steps,
                        pct_start,
                        rising,
                    });
                }
            }
        }
        Ok(())
    }

    /// The lr for the update of step `step` (0-based over the whole run) of a run of `epochs`
    /// epochs of `steps_per_epoch` steps starting from `base_lr`. Computed in f64, as
    /// PyTorch's schedulers compute in Python floats.
    pub fn lr_at(
        &self,
        base_lr: f32,
        step: u64,
        steps_per_epoch: u64,
        epochs: u64,
    ) -> Result<f32, ScheduleError> {
        self.validate(base_lr, steps_per_epoch, epochs)?;
        let base = base_lr as f64;
        // u: steps per scheduler step; t: scheduler steps taken before this update.
        let (u, t) = match self.interval {
            Interval::Step => (steps_per_epoch, step),
            Interval::Epoch => (1, step / steps_per_epoch),
        };
        let total = epochs * u;
        let t = t.min(total - 1);
        let warm = self.warmup_epochs * u;
        if t < warm {
            let f = self.warmup_start_factor as f64;
            return Ok((base * (f + (1.0 - f) * t as f64 / warm as f64)) as f32);
        }
        let (t, n) = ((t - warm) as f64, (total - warm) as f64);
        let lr = match self.kind {
            ScheduleKind::Constant => base,
            ScheduleKind::Step { step_epochs, gamma } => {
                let drops = (t as u64 / (step_epochs * u)).min(i32::MAX as u64) as i32;
                base * (gamma as f64).powi(drops)
            }
            ScheduleKind::Cosine { eta_min } => {
                let eta = eta_min as f64;
                eta + (base - eta) * (1.0 + (std::f64::consts::PI * t / n).cos()) / 2.0
            }
            ScheduleKind::OneCycle {
                pct_start,
                div_factor,
                final_div_factor,
            } => {
                let initial = base / div_factor as f64;
                let min = initial / final_div_factor as f64;
                // Phase ends as OneCycleLR's: the rise ends at pct_start·n − 1, the fall at n − 1.
                let end_rise = pct_start as f64 * n - 1.0;
                if t <= end_rise {
                    cos_anneal(initial, base, t / end_rise)
                } else {
                    cos_anneal(base, min, (t - end_rise) / (n - 1.0 - end_rise))
                }
            }
        };
        Ok(lr as f32)
    }
}

/// From `start` at `pct = 0` to `end` at `pct = 1` along half a cosine (`_annealing_cos`).
fn cos_anneal(start: f64, end: f64, pct: f64) -> f64 {
    end + (start - end) / 2.0 * ((std::f64::consts::PI * pct).cos() + 1.0)
}
