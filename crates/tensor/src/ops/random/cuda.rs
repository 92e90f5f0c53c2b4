//! CUDA random fills (random.cu): element i from the counter-based generator at (seed, i),
//! bit for bit the CPU's numbers.

use crate::Result;
use crate::cuda::kernels::{Arg, Source, cfg_1d};
use crate::cuda::{Cuda, CudaStorage};
use crate::ops::random::RandomKernels;

pub(crate) const SOURCE: Source = Source {
    file: "random.cu",
    code: include_str!("random.cu"),
    kernels: || vec!["rand_uniform", "rand_normal"],
};

impl RandomKernels for Cuda {
    fn rand_uniform(&self, len: usize, low: f32, high: f32, seed: u64) -> Result<CudaStorage> {
        fill_random(self, "rand_uniform", len, low, high, seed)
    }
    fn rand_normal(&self, len: usize, mean: f32, std: f32, seed: u64) -> Result<CudaStorage> {
        fill_random(self, "rand_normal", len, mean, std, seed)
    }
}

fn fill_random(
    dev: &Cuda,
    kernel: &'static str,
    len: usize,
    a: f32,
    b: f32,
    seed: u64,
) -> Result<CudaStorage> {
    let out = dev.alloc(len)?;
    let args = [
        Arg::Ptr(out.ptr()),
        Arg::U64(len as u64),
        Arg::F32(a),
        Arg::F32(b),
        Arg::U64(seed),
    ];
    dev.inner().launch(kernel, cfg_1d(len), &args)?;
    Ok(out)
}
