//! Fused softmax + cross-entropy (mean reduction, optional label smoothing).

use crate::backend::BackendBase;
use crate::{Backend, Result, Tensor, TensorError};

pub(crate) mod cpu;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;

/// The fused softmax-cross-entropy kernels of a device.
pub trait CrossEntropyKernels: BackendBase {
    /// Mean softmax cross-entropy of `logits [n, k]` against class indices (as f32), with
    /// label smoothing. Returns the loss (one element) and the softmax probabilities.
    fn softmax_cross_entropy(
        &self,
        logits: &Self::Storage,
        labels: &Self::Storage,
        n: usize,
        k: usize,
        smoothing: f32,
    ) -> Result<(Self::Storage, Self::Storage)>;
    /// `grad_loss * (probs - target) / n`, where `grad_loss` is the loss's one-element gradient.
    fn softmax_cross_entropy_backward(
        &self,
        probs: &Self::Storage,
        labels: &Self::Storage,
        grad_loss: &Self::Storage,
        n: usize,
        k: usize,
        smoothing: f32,
    ) -> Result<Self::Storage>;
}

impl<B: Backend> Tensor<B> {
    /// Mean cross-entropy of logits `[n, k]` against class indices `[n]` (stored as f32).
    /// `smoothing` mixes the one-hot target with the uniform distribution, as PyTorch's
    /// `label_smoothing`.
    pub fn cross_entropy(&self, labels: &Tensor<B>, smoothing: f32) -> Result<Tensor<B>> {
        let (n, k) = match *self.shape() {
            [n, k] if n > 0 && k > 0 => (n, k),
            _ => {
                return Err(TensorError::invalid(
                    "cross_entropy",
                    format!("logits must be [batch, classes], got {:?}", self.shape()),
                ));
            }
        };
        if labels.shape() != [n] {
            return Err(TensorError::ShapeMismatch {
                op: "cross_entropy (logits vs labels)",
                lhs: self.shape().to_vec(),
                rhs: labels.shape().to_vec(),
            });
        }
        if !(0.0..1.0).contains(&smoothing) {
            return Err(TensorError::invalid(
                "cross_entropy",
                format!("label smoothing must be in [0, 1), got {smoothing}"),
            ));
        }
        let dev = self.device();
        let ls = self.dense_storage()?;
        let ys = labels.dense_storage()?;
        let (loss, probs) = dev.softmax_cross_entropy(&ls, &ys, n, k, smoothing)?;
        Tensor::from_op(loss, &[], dev, "cross_entropy", &[self], move |g| {
            let dev = g.device();
            let gs = g.dense_storage()?;
            let s = dev.softmax_cross_entropy_backward(&probs, &ys, &gs, n, k, smoothing)?;
            Ok(vec![Some(Tensor::from_storage(s, &[n, k], dev)?)])
        })
    }
}
