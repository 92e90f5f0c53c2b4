//! Tensor operations, one module per op family.
//!
//! A family with device kernels is a folder: `mod.rs` holds its public `Tensor` methods, their
//! backward rules, its geometry types and its kernel trait (the part of the backend contract
//! it needs); `cpu.rs` and `cuda.rs` implement that trait for each device; the `.cu` file holds
//! its CUDA kernels; `tests.rs` its tests. A family built from other ops (dropout, shape
//! views) is a single file.

pub mod batch_norm;
pub mod conv2d;
pub mod cross_entropy;
pub mod dropout;
pub mod elementwise;
pub mod matmul;
pub mod optim;
pub mod pool;
pub mod random;
pub mod reduce;
pub mod shape;
#[cfg(test)]
pub(crate) mod test_fixtures;

/// `floor((size + 2 pad - dil (k - 1) - 1) / stride) + 1`, or 0 when the window never fits.
pub fn out_size(size: usize, k: usize, stride: usize, pad: usize, dil: usize) -> usize {
    let span = dil * (k.max(1) - 1) + 1;
    let padded = size + 2 * pad;
    if padded < span || stride == 0 {
        0
    } else {
        (padded - span) / stride + 1
    }
}
