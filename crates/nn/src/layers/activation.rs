//! Parameter-free layers: `ReLU` and `Flatten`.

use kiln_tensor::{Backend, Tensor};

use crate::{Context, Module, Result, TensorKind};

/// `max(x, 0)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReLU;

impl<B: Backend> Module<B> for ReLU {
    fn forward(&mut self, x: &Tensor<B>, _ctx: &mut Context) -> Result<Tensor<B>> {
        Ok(x.relu()?)
    }
    fn visit(&self, _f: &mut dyn FnMut(&str, &Tensor<B>, TensorKind)) {}
    fn visit_mut(&mut self, _f: &mut dyn FnMut(&str, &mut Tensor<B>, TensorKind)) {}
}

/// Flattens every dimension after the batch into one (`nn.Flatten()`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Flatten;

impl<B: Backend> Module<B> for Flatten {
    fn forward(&mut self, x: &Tensor<B>, _ctx: &mut Context) -> Result<Tensor<B>> {
        Ok(x.flatten_from(1)?)
    }
    fn visit(&self, _f: &mut dyn FnMut(&str, &Tensor<B>, TensorKind)) {}
    fn visit_mut(&mut self, _f: &mut dyn FnMut(&str, &mut Tensor<B>, TensorKind)) {}
}
