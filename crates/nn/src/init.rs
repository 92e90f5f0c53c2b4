//! PyTorch's default initialisation, from a seed.

use kiln_tensor::{Backend, Tensor};

use crate::Result;

/// `kaiming_uniform_(w, a=√5)`, PyTorch's default for conv and linear weights: uniform in
/// `±1/√fan_in` (gain √(2/(1+a²)) times √(3/fan_in)).
pub fn kaiming_uniform<B: Backend>(
    shape: &[usize],
    fan_in: usize,
    seed: u64,
    dev: &B,
) -> Result<Tensor<B>> {
    let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
    Ok(Tensor::rand_uniform(shape, -bound, bound, seed, dev)?)
}

/// PyTorch's default bias: uniform in `±1/√fan_in`.
pub fn bias_uniform<B: Backend>(
    len: usize,
    fan_in: usize,
    seed: u64,
    dev: &B,
) -> Result<Tensor<B>> {
    kaiming_uniform(&[len], fan_in, seed, dev)
}

/// Derives the seed of the `index`-th parameter of a model from the model's seed.
pub fn sub_seed(seed: u64, index: u64) -> u64 {
    kiln_tensor::rng::hash64(seed ^ 0x6b69_6c6e, index)
}
