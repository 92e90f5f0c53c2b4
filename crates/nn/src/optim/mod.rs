//! Optimizers: SGD (momentum, Nesterov, weight decay), Adam and AdamW, and learning-rate
//! schedules. The learning rate can change between steps, and the state can be saved and
//! restored.

mod adam;
mod config;
pub mod schedule;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use config::OptimizerConfig;
pub use schedule::{Interval, LrSchedule, ScheduleError, ScheduleKind};
pub use sgd::{Sgd, SgdConfig};

use kiln_tensor::{Backend, GradStore, Tensor};

use crate::{Module, Result, TensorKind};

/// The state of an optimizer on the host: step count and named buffers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OptimizerState {
    /// "adam", "adamw" or "sgd".
    pub kind: String,
    pub step: u64,
    pub lr: f32,
    /// (name, shape, values), e.g. `exp_avg.conv1.weight`.
    pub buffers: Vec<(String, Vec<usize>, Vec<f32>)>,
}

/// Updates a module's parameters from their gradients.
pub trait Optimizer<B: Backend> {
    /// One update of every parameter that has a gradient in `grads`.
    fn step(&mut self, model: &mut dyn Module<B>, grads: &GradStore<B>) -> Result<()>;
    fn learning_rate(&self) -> f32;
    fn set_learning_rate(&mut self, lr: f32);
    /// A copy of the state on the host.
    fn state(&self) -> Result<OptimizerState>;
    /// Restores a state saved by [`Optimizer::state`].
    fn load_state(&mut self, state: &OptimizerState) -> Result<()>;
}

/// Calls `f(name, parameter, gradient)` for every parameter that has a gradient in `grads`,
/// stopping at the first error (parameters without a gradient are left alone, as in PyTorch).
pub(crate) fn for_each_param_with_grad<B: Backend>(
    model: &mut dyn Module<B>,
    grads: &GradStore<B>,
    mut f: impl FnMut(&str, &mut Tensor<B>, &Tensor<B>) -> Result<()>,
) -> Result<()> {
    let mut result = Ok(());
    model.visit_mut(&mut |name, p, kind| {
        if kind != TensorKind::Parameter || result.is_err() {
            return;
        }
        if let Some(g) = grads.get(p) {
            result = f(name, p, g);
        }
    });
    result
}
