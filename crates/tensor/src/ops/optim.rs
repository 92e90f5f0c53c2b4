//! Fused optimizer updates, in place on a parameter's storage.

use crate::spec::{AdamStep, SgdStep};
use crate::{Backend, Result, Tensor, TensorError};

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
