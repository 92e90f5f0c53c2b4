//! Dropout: zeroes each element with probability `p` and scales the rest by `1 / (1 - p)`.

use crate::{Backend, Result, Tensor, TensorError};

impl<B: Backend> Tensor<B> {
    /// Inverted dropout with a mask drawn from `seed` (the same seed gives the same mask on
    /// every backend). `p = 0` is the identity.
    pub fn dropout(&self, p: f32, seed: u64) -> Result<Tensor<B>> {
        if !(0.0..1.0).contains(&p) {
            return Err(TensorError::invalid(
                "dropout",
                format!("probability must be in [0, 1), got {p}"),
            ));
        }
        if p == 0.0 {
            return Ok(self.clone());
        }
        // keep where u - p > 0, i.e. with probability 1 - p
        let mask = Tensor::rand_uniform(self.shape(), -p, 1.0 - p, seed, self.device())?;
        self.masked_scale(&mask, 1.0 / (1.0 - p))
    }
}
