//! How a training loop reports to whoever watches it: every pass (an epoch's training, an
//! evaluation) and its batches, for progress bars; and every finished epoch, with the model
//! and optimizer as they stand, for saving, logging or stopping. `()` watches nothing.

use kiln_nn::{Module, Optimizer};
use kiln_tensor::Backend;

use crate::Result;
use crate::early_stopping::Verdict;
use crate::fit::FitState;
use crate::history::EpochRecord;

/// Progress within a pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepInfo {
    /// Batches done (from 1) of `steps`.
    pub step: usize,
    pub steps: usize,
    /// Running means over the pass so far (accuracy 0 during evaluation).
    pub loss: f64,
    pub accuracy: f64,
    pub images_per_sec: f64,
    pub lr: f32,
}

/// The end of an epoch.
pub struct EpochEnd<'a, B: Backend> {
    pub record: &'a EpochRecord,
    pub verdict: Verdict,
    /// The run's state after this epoch (what a checkpoint saves).
    pub state: &'a FitState,
    pub model: &'a dyn Module<B>,
    pub optimizer: &'a dyn Optimizer<B>,
}

/// What a training loop calls; every method does nothing unless overridden.
pub trait Callbacks<B: Backend> {
    /// A pass of `steps` batches begins ("epoch 3/10", "validation", "test").
    fn pass_start(&mut self, _name: &str, _steps: usize) {}
    fn step(&mut self, _info: &StepInfo) {}
    fn pass_end(&mut self) {}
    /// An epoch ended: save, log, or return an error to stop the run.
    fn epoch_end(&mut self, _end: &EpochEnd<'_, B>) -> Result<()> {
        Ok(())
    }
}

impl<B: Backend> Callbacks<B> for () {}
