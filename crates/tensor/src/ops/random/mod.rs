//! Random fills from a counter-based generator ([`crate::rng`]): element `i` depends only on
//! `(seed, i)`, so every backend produces the same numbers.

use crate::backend::BackendBase;
use crate::{Backend, Result, Tensor};

pub(crate) mod cpu;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;

/// The random-fill kernels of a device.
pub trait RandomKernels: BackendBase {
    /// Uniform values in `[low, high)`.
    fn rand_uniform(&self, len: usize, low: f32, high: f32, seed: u64) -> Result<Self::Storage>;
    /// Normal values (Box-Muller over the same generator).
    fn rand_normal(&self, len: usize, mean: f32, std: f32, seed: u64) -> Result<Self::Storage>;
}

impl<B: Backend> Tensor<B> {
    /// Uniform in `[low, high)`; the same seed gives the same values on every backend.
    pub fn rand_uniform(
        shape: &[usize],
        low: f32,
        high: f32,
        seed: u64,
        device: &B,
    ) -> Result<Self> {
        let n = shape.iter().product();
        Self::from_storage(device.rand_uniform(n, low, high, seed)?, shape, device)
    }
    /// Normal; the same seed gives the same values on every backend.
    pub fn rand_normal(
        shape: &[usize],
        mean: f32,
        std: f32,
        seed: u64,
        device: &B,
    ) -> Result<Self> {
        let n = shape.iter().product();
        Self::from_storage(device.rand_normal(n, mean, std, seed)?, shape, device)
    }
}
