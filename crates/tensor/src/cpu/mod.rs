//! The CPU backend: dense `Vec<f32>` storage and rayon parallelism. The kernels of each op
//! family live in its folder (`ops/<family>/cpu.rs`); this module holds the device itself and
//! what those kernels share: the GEMM engine, the parallel loops and the allocator setting.
//! It computes everything in f32: it has no [`Precision`](crate::Precision) setting (a
//! program's TF32 choice for the GPU does not change the CPU's numbers).

pub mod alloc;
pub mod gemm;
#[cfg(test)]
mod gemm_tests;
pub(crate) mod par;

use crate::backend::BackendBase;
use crate::{Layout, Result};

/// The CPU device (a handle without state).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cpu;

impl BackendBase for Cpu {
    type Storage = Vec<f32>;
    const KIND: &'static str = "cpu";

    fn name(&self) -> String {
        "cpu".into()
    }
    fn len(storage: &Vec<f32>) -> usize {
        storage.len()
    }
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
    fn copy_from_host(&self, data: &[f32]) -> Result<Vec<f32>> {
        Ok(data.to_vec())
    }
    fn copy_to_host(&self, storage: &Vec<f32>) -> Result<Vec<f32>> {
        Ok(storage.clone())
    }
    fn full(&self, len: usize, value: f32) -> Result<Vec<f32>> {
        Ok(vec![value; len])
    }
    fn copy_strided(&self, src: &Vec<f32>, layout: &Layout) -> Result<Vec<f32>> {
        Ok(par::gather(src, layout))
    }
}
