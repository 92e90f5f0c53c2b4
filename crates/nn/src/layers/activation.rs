//! Parameter-free layers: `ReLU`, `GELU` and `Flatten`.

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

/// `x Φ(x)`, PyTorch's exact `nn.GELU()`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GELU;

impl<B: Backend> Module<B> for GELU {
    fn forward(&mut self, x: &Tensor<B>, _ctx: &mut Context) -> Result<Tensor<B>> {
        Ok(x.gelu()?)
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
