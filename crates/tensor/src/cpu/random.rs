//! CPU fills from the counter-based generator of [`crate::rng`].

use rayon::prelude::*;

use crate::rng;

pub(crate) fn uniform(len: usize, low: f32, high: f32, seed: u64) -> Vec<f32> {
    (0..len)
        .into_par_iter()
        .with_min_len(4096)
        .map(|i| low + (high - low) * rng::uniform01(seed, i as u64))
        .collect()
}

pub(crate) fn normal(len: usize, mean: f32, std: f32, seed: u64) -> Vec<f32> {
    (0..len)
        .into_par_iter()
        .with_min_len(4096)
        .map(|i| mean + std * rng::standard_normal(seed, i as u64))
        .collect()
}
