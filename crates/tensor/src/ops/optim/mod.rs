//! Fused optimizer updates, in place on a parameter's storage.

use crate::backend::BackendBase;
use crate::{Backend, Result, Tensor, TensorError};

pub(crate) mod cpu;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;

/// Hyperparameters of one fused Adam/AdamW step (`step` counts from 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    pub lr: f32,
    /// The betas are f64 as PyTorch's Python floats: `1 - 0.999` formed from an f32 beta is
    /// 1.3e-5 off `0.001`, and so would be every second moment.
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f32,
    pub weight_decay: f32,
    /// AdamW: decay the weights directly instead of adding `wd * p` to the gradient.
    pub decoupled: bool,
    pub step: u64,
}

/// The f32 scalars of one Adam step, formed in f64 on the host as PyTorch's single-tensor
/// Adam forms them from Python floats (shared by the CPU and CUDA kernels).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdamScalars {
    pub beta1: f32,
    pub one_minus_beta1: f32,
    pub beta2: f32,
    pub one_minus_beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub decoupled: bool,
    /// AdamW's weight factor `1 - lr * weight_decay`.
    pub decay: f32,
    /// `lr / (1 - beta1^t)`.
    pub step_size: f32,
    /// `sqrt(1 - beta2^t)`.
    pub bc2_sqrt: f32,
}

impl AdamStep {
    pub(crate) fn scalars(&self) -> AdamScalars {
        let t = self.step.max(1) as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        AdamScalars {
            beta1: self.beta1 as f32,
            one_minus_beta1: (1.0 - self.beta1) as f32,
            beta2: self.beta2 as f32,
            one_minus_beta2: (1.0 - self.beta2) as f32,
            eps: self.eps,
            weight_decay: self.weight_decay,
            decoupled: self.decoupled,
            decay: (1.0 - self.lr as f64 * self.weight_decay as f64) as f32,
            step_size: (self.lr as f64 / bc1) as f32,
            bc2_sqrt: bc2.sqrt() as f32,
        }
    }
}

/// Hyperparameters of one fused SGD step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdStep {
    pub lr: f32,
    pub momentum: f32,
    pub dampening: f32,
    pub weight_decay: f32,
    pub nesterov: bool,
    /// First step: the momentum buffer is initialised with the gradient (PyTorch).
    pub first: bool,
}

/// The fused optimizer updates of a device (in place).
pub trait OptimKernels: BackendBase {
    fn adam_step(
        &self,
        param: &mut Self::Storage,
        grad: &Self::Storage,
        m: &mut Self::Storage,
        v: &mut Self::Storage,
        hp: &AdamStep,
    ) -> Result<()>;
    fn sgd_step(
        &self,
        param: &mut Self::Storage,
        grad: &Self::Storage,
        momentum_buf: &mut Self::Storage,
        hp: &SgdStep,
    ) -> Result<()>;
}

fn check<B: Backend>(op: &'static str, p: &Tensor<B>, others: &[&Tensor<B>]) -> Result<()> {
    for o in others {
        if o.shape() != p.shape() {
            return Err(TensorError::ShapeMismatch {
                op,
                lhs: p.shape().to_vec(),
                rhs: o.shape().to_vec(),
            });
        }
    }
    Ok(())
}

impl<B: Backend> Tensor<B> {
    /// One Adam/AdamW step on this parameter, updating the moment buffers `m` and `v`.
    pub fn adam_step_(
        &mut self,
        grad: &Tensor<B>,
        m: &mut Tensor<B>,
        v: &mut Tensor<B>,
        hp: &AdamStep,
    ) -> Result<()> {
        check("adam_step", self, &[grad, m, v])?;
        let dev = self.device().clone();
        let g = grad.dense_storage()?;
        let (ms, vs) = (m.storage_mut()?, v.storage_mut()?);
        dev.adam_step(self.storage_mut()?, &g, ms, vs, hp)
    }

    /// One SGD step on this parameter, updating the momentum buffer.
    pub fn sgd_step_(
        &mut self,
        grad: &Tensor<B>,
        momentum_buf: &mut Tensor<B>,
        hp: &SgdStep,
    ) -> Result<()> {
        check("sgd_step", self, &[grad, momentum_buf])?;
        let dev = self.device().clone();
        let g = grad.dense_storage()?;
        dev.sgd_step(self.storage_mut()?, &g, momentum_buf.storage_mut()?, hp)
    }
}
