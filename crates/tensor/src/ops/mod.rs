//! Tensor operations, one module per op family. Each module holds the public functions, their
//! docs and their backward rules; device kernels live beside them (`cpu.rs`) or in the backend.

pub mod batch_norm;
pub mod conv2d;
pub mod cross_entropy;
pub mod dropout;
pub mod elementwise;
pub mod matmul;
pub mod optim;
pub mod pool;
pub mod reduce;
pub mod shape;
#[cfg(test)]
pub(crate) mod test_fixtures;
