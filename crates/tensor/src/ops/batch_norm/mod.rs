//! Batch normalisation over `[n, c]` (BatchNorm1d) or `[n, c, h, w]` (BatchNorm2d).

use crate::backend::BackendBase;
use crate::{Backend, Result, Tensor, TensorError};

pub(crate) mod cpu;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;

/// Batch-norm geometry: `x` is `[n, c, spatial]` (spatial = 1 for BatchNorm1d on `[n, c]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormSpec {
    pub n: usize,
    pub c: usize,
    pub spatial: usize,
    pub eps: f32,
}

/// Which statistics a batch-norm forward normalises with.
#[derive(Debug, Clone, Copy)]
pub enum BatchNormStats<'a, S> {
    /// Statistics of this batch (training).
    Batch,
    /// Given running mean and (unbiased) running variance (evaluation).
    Running { mean: &'a S, var: &'a S },
}

/// Outputs of a batch-norm forward: `y`, the mean and the biased variance used to normalise.
pub struct BatchNormOutput<S> {
    pub y: S,
    pub mean: S,
    pub var: S,
}

/// The batch-norm kernels of a device.
pub trait BatchNormKernels: BackendBase {
    fn batch_norm(
        &self,
        x: &Self::Storage,
        gamma: &Self::Storage,
        beta: &Self::Storage,
        stats: BatchNormStats<'_, Self::Storage>,
        spec: &BatchNormSpec,
    ) -> Result<BatchNormOutput<Self::Storage>>;
    /// Returns `(grad_x, grad_gamma, grad_beta)`. With `batch_stats` the gradient flows through
    /// the batch mean and variance (training); otherwise `mean`/`var` are constants.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_backward(
        &self,
        x: &Self::Storage,
        gamma: &Self::Storage,
        mean: &Self::Storage,
        var: &Self::Storage,
        grad_y: &Self::Storage,
        batch_stats: bool,
        spec: &BatchNormSpec,
    ) -> Result<(Self::Storage, Self::Storage, Self::Storage)>;
}

/// Output of [`Tensor::batch_norm`]: `y`, and in training the batch mean and biased variance
/// (for the caller's running statistics).
pub struct BatchNormResult<B: Backend> {
    pub y: Tensor<B>,
    pub batch_mean: Option<Tensor<B>>,
    pub batch_var: Option<Tensor<B>>,
}

impl<B: Backend> Tensor<B> {
    /// Normalises each channel: with this batch's statistics when `running` is `None`
    /// (training), else with the given running mean and variance (evaluation).
    pub fn batch_norm(
        &self,
        gamma: &Tensor<B>,
        beta: &Tensor<B>,
        running: Option<(&Tensor<B>, &Tensor<B>)>,
        eps: f32,
    ) -> Result<BatchNormResult<B>> {
        let (n, c, spatial) = match *self.shape() {
            [n, c] => (n, c, 1),
            [n, c, h, w] => (n, c, h * w),
            _ => {
                return Err(TensorError::invalid(
                    "batch_norm",
                    format!("expected [n, c] or [n, c, h, w], got {:?}", self.shape()),
                ));
            }
        };
        for (name, t) in [("weight", gamma), ("bias", beta)] {
            if t.shape() != [c] {
                return Err(TensorError::ShapeMismatch {
                    op: if name == "weight" {
                        "batch_norm weight"
                    } else {
                        "batch_norm bias"
                    },
                    lhs: t.shape().to_vec(),
                    rhs: vec![c],
                });
            }
        }
        if running.is_none() && n * spatial < 2 {
            return Err(TensorError::invalid(
                "batch_norm",
                "training needs more than one value per channel (batch of 1?)",
            ));
        }
        let spec = BatchNormSpec { n, c, spatial, eps };
        let dev = self.device();
        let xs = self.dense_storage()?;
        let (gs, bs) = (gamma.dense_storage()?, beta.dense_storage()?);
        let running_dense = match running {
            Some((m, v)) => Some((m.dense_storage()?, v.dense_storage()?)),
            None => None,
        };
        let stats = match &running_dense {
            Some((m, v)) => BatchNormStats::Running {
                mean: &**m,
                var: &**v,
            },
            None => BatchNormStats::Batch,
        };
        let out = dev.batch_norm(&xs, &gs, &bs, stats, &spec)?;
        let training = running.is_none();
        let mean = Tensor::from_storage(out.mean, &[c], dev)?;
        let var = Tensor::from_storage(out.var, &[c], dev)?;
        let (x, g_saved) = (self.detach(), gamma.detach());
        let (m_saved, v_saved) = (mean.clone(), var.clone());
        let y = Tensor::from_op(
            out.y,
            self.shape(),
            dev,
            "batch_norm",
            &[self, gamma, beta],
            move |g| {
                let dev = g.device();
                let (xs, gms) = (x.dense_storage()?, g_saved.dense_storage()?);
                let gys = g.dense_storage()?;
                let (dx, dg, db) = dev.batch_norm_backward(
                    &xs,
                    &gms,
                    m_saved.storage(),
                    v_saved.storage(),
                    &gys,
                    training,
                    &spec,
                )?;
                Ok(vec![
                    Some(Tensor::from_storage(dx, x.shape(), dev)?),
                    Some(Tensor::from_storage(dg, &[spec.c], dev)?),
                    Some(Tensor::from_storage(db, &[spec.c], dev)?),
                ])
            },
        )?;
        Ok(BatchNormResult {
            y,
            batch_mean: training.then_some(mean),
            batch_var: training.then_some(var),
        })
    }
}
