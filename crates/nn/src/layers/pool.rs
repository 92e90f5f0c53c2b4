//! `MaxPool2d` and `AvgPool2d` (PyTorch defaults: stride = kernel, no ceil mode, average
//! counts the padding), and global average pooling (`nn.AdaptiveAvgPool2d(1)`).

use kiln_tensor::{Backend, Pool2dOptions, Tensor};

use crate::{Context, Module, Result, TensorKind};

/// Max pooling.
#[derive(Debug, Clone, Copy)]
pub struct MaxPool2d(pub Pool2dOptions);

/// Average pooling.
#[derive(Debug, Clone, Copy)]
pub struct AvgPool2d(pub Pool2dOptions);

impl MaxPool2d {
    /// `nn.MaxPool2d(k)`: a k x k window with stride k.
    pub fn new(k: usize) -> Self {
        MaxPool2d(Pool2dOptions::square(k))
    }
}

impl AvgPool2d {
    /// `nn.AvgPool2d(k)`: a k x k window with stride k.
    pub fn new(k: usize) -> Self {
        AvgPool2d(Pool2dOptions::square(k))
    }
}

impl<B: Backend> Module<B> for MaxPool2d {
    fn forward(&mut self, x: &Tensor<B>, _ctx: &mut Context) -> Result<Tensor<B>> {
        Ok(x.max_pool2d(self.0)?)
    }
    fn visit(&self, _f: &mut dyn FnMut(&str, &Tensor<B>, TensorKind)) {}
    fn visit_mut(&mut self, _f: &mut dyn FnMut(&str, &mut Tensor<B>, TensorKind)) {}
}

impl<B: Backend> Module<B> for AvgPool2d {
    fn forward(&mut self, x: &Tensor<B>, _ctx: &mut Context) -> Result<Tensor<B>> {
        Ok(x.avg_pool2d(self.0)?)
    }
    fn visit(&self, _f: &mut dyn FnMut(&str, &Tensor<B>, TensorKind)) {}
    fn visit_mut(&mut self, _f: &mut dyn FnMut(&str, &mut Tensor<B>, TensorKind)) {}
}

/// Global average pooling, `nn.AdaptiveAvgPool2d(1)`: `[n, c, h, w]` to `[n, c, 1, 1]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GlobalAvgPool2d;

impl<B: Backend> Module<B> for GlobalAvgPool2d {
    fn forward(&mut self, x: &Tensor<B>, _ctx: &mut Context) -> Result<Tensor<B>> {
        x.dims4("global average pooling")?;
        Ok(x.mean(&[2, 3], true)?)
    }
    fn visit(&self, _f: &mut dyn FnMut(&str, &Tensor<B>, TensorKind)) {}
    fn visit_mut(&mut self, _f: &mut dyn FnMut(&str, &mut Tensor<B>, TensorKind)) {}
}
