//! `BatchNorm1d` / `BatchNorm2d`: PyTorch's batch normalisation (eps 1e-5, momentum 0.1,
//! affine, running statistics with the unbiased variance, `num_batches_tracked`).

use kiln_tensor::{Backend, Tensor, no_grad};

use crate::{Context, Module, NnError, Result, TensorKind};

/// Batch normalisation over the channel axis of `[n, c]` or `[n, c, h, w]`.
pub struct BatchNorm<B: Backend> {
    pub weight: Tensor<B>,
    pub bias: Tensor<B>,
    pub running_mean: Tensor<B>,
    pub running_var: Tensor<B>,
    /// Batches seen in training mode (an int64 in the state dict).
    pub num_batches_tracked: Tensor<B>,
    pub eps: f32,
    pub momentum: f32,
    spatial_rank: usize,
}

/// Batch norm over `[n, c]`.
pub type BatchNorm1d<B> = BatchNorm<B>;
/// Batch norm over `[n, c, h, w]`.
pub type BatchNorm2d<B> = BatchNorm<B>;

impl<B: Backend> BatchNorm<B> {
    fn with_rank(features: usize, spatial_rank: usize, dev: &B) -> Result<Self> {
        Ok(BatchNorm {
            weight: Tensor::ones(&[features], dev)?.set_requires_grad(true),
            bias: Tensor::zeros(&[features], dev)?.set_requires_grad(true),
            running_mean: Tensor::zeros(&[features], dev)?,
            running_var: Tensor::ones(&[features], dev)?,
            num_batches_tracked: Tensor::zeros(&[], dev)?,
            eps: 1e-5,
            momentum: 0.1,
            spatial_rank,
        })
    }
    /// `nn.BatchNorm1d(features)` for `[n, c]` inputs.
    pub fn new_1d(features: usize, dev: &B) -> Result<Self> {
        Self::with_rank(features, 0, dev)
    }
    /// `nn.BatchNorm2d(channels)` for `[n, c, h, w]` inputs.
    pub fn new_2d(channels: usize, dev: &B) -> Result<Self> {
        Self::with_rank(channels, 2, dev)
    }
}

impl<B: Backend> Module<B> for BatchNorm<B> {
    fn forward(&mut self, x: &Tensor<B>, ctx: &mut Context) -> Result<Tensor<B>> {
        if x.rank() != 2 + self.spatial_rank {
            return Err(NnError::Config(format!(
                "BatchNorm{}d expects a {}-D input, got shape {:?}",
                self.spatial_rank.max(1),
                2 + self.spatial_rank,
                x.shape()
            )));
        }
        if !ctx.is_training() {
            let r = x.batch_norm(
                &self.weight,
                &self.bias,
                Some((&self.running_mean, &self.running_var)),
                self.eps,
            )?;
            return Ok(r.y);
        }
        let r = x.batch_norm(&self.weight, &self.bias, None, self.eps)?;
        let (Some(mean), Some(var)) = (r.batch_mean, r.batch_var) else {
            return Ok(r.y);
        };
        let count = (x.numel() / x.shape()[1]) as f32;
        let m = self.momentum;
        no_grad(|| -> Result<()> {
            self.running_mean = self.running_mean.scale(1.0 - m)?.add(&mean.scale(m)?)?;
            let unbiased = var.scale(count / (count - 1.0))?;
            self.running_var = self.running_var.scale(1.0 - m)?.add(&unbiased.scale(m)?)?;
            self.num_batches_tracked = self.num_batches_tracked.add_scalar(1.0)?;
            Ok(())
        })?;
        Ok(r.y)
    }
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B>, TensorKind)) {
        f("weight", &self.weight, TensorKind::Parameter);
        f("bias", &self.bias, TensorKind::Parameter);
        f("running_mean", &self.running_mean, TensorKind::Buffer);
        f("running_var", &self.running_var, TensorKind::Buffer);
        f(
            "num_batches_tracked",
            &self.num_batches_tracked,
            TensorKind::Counter,
        );
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B>, TensorKind)) {
        f("weight", &mut self.weight, TensorKind::Parameter);
        f("bias", &mut self.bias, TensorKind::Parameter);
        f("running_mean", &mut self.running_mean, TensorKind::Buffer);
        f("running_var", &mut self.running_var, TensorKind::Buffer);
        f(
            "num_batches_tracked",
            &mut self.num_batches_tracked,
            TensorKind::Counter,
        );
    }
}
