//! CPU fills from the counter-based generator of [`crate::rng`].

use rayon::prelude::*;

use crate::cpu::Cpu;
use crate::ops::random::RandomKernels;
use crate::{Result, rng};

impl RandomKernels for Cpu {
    fn rand_uniform(&self, len: usize, low: f32, high: f32, seed: u64) -> Result<Vec<f32>> {
        Ok(uniform(len, low, high, seed))
    }
    fn rand_normal(&self, len: usize, mean: f32, std: f32, seed: u64) -> Result<Vec<f32>> {
        Ok(normal(len, mean, std, seed))
    }
}

fn uniform(len: usize, low: f32, high: f32, seed: u64) -> Vec<f32> {
    (0..len)
        .into_par_iter()
        .with_min_len(4096)
        .map(|i| low + (high - low) * rng::uniform01(seed, i as u64))
        .collect()
}

fn normal(len: usize, mean: f32, std: f32, seed: u64) -> Vec<f32> {
    (0..len)
        .into_par_iter()
        .with_min_len(4096)
        .map(|i| mean + std * rng::standard_normal(seed, i as u64))
        .collect()
}
