//! The backend contract: a device's storage and memory moves ([`BackendBase`]), plus one
//! kernel trait per op family, each declared beside its op in `ops/<family>/mod.rs` and
//! implemented in that folder's `cpu.rs` and `cuda.rs`. [`Backend`] is all of them together;
//! it is the only bound the rest of Kiln writes.
//!
//! Storage belongs to the backend; shapes, strides and offsets (the [`Layout`]) belong to the
//! tensor. Except where a method takes a layout, storages passed to kernels are contiguous and
//! row-major with exactly the number of elements the accompanying spec describes. Backward
//! passes are kernels too, so that each device can make them fast.

use crate::ops::batch_norm::BatchNormKernels;
use crate::ops::conv2d::ConvKernels;
use crate::ops::cross_entropy::CrossEntropyKernels;
use crate::ops::elementwise::ElementwiseKernels;
use crate::ops::matmul::MatmulKernels;
use crate::ops::optim::OptimKernels;
use crate::ops::pool::PoolKernels;
use crate::ops::random::RandomKernels;
use crate::ops::reduce::ReduceKernels;
use crate::{Layout, Result, TensorError};

/// A compute device: its storage type and the moves of memory every op needs. Implementations
/// are cheap handles (`Clone`), f32 only.
pub trait BackendBase: Clone + Send + Sync + std::fmt::Debug + 'static {
    /// A device buffer of f32.
    type Storage: Clone + Send + Sync + std::fmt::Debug;
    /// The kind of device, for messages ("cpu", "cuda").
    const KIND: &'static str;

    /// Short name for messages ("cpu", "cuda:0").
    fn name(&self) -> String;
    /// Number of f32 elements in a storage.
    fn len(storage: &Self::Storage) -> usize;
    /// Waits until queued work on the device is done (no-op on CPU).
    fn synchronize(&self) -> Result<()>;

    fn copy_from_host(&self, data: &[f32]) -> Result<Self::Storage>;
    fn copy_to_host(&self, storage: &Self::Storage) -> Result<Vec<f32>>;
    fn full(&self, len: usize, value: f32) -> Result<Self::Storage>;
    /// Gathers a strided view into a new contiguous storage of `layout.numel()` elements.
    fn copy_strided(&self, src: &Self::Storage, layout: &Layout) -> Result<Self::Storage>;

    /// The precision of the device's matrix products and convolutions (the CPU's is f32).
    fn precision(&self) -> crate::Precision {
        crate::Precision::F32
    }

    /// An error unless `storage` holds exactly `expected` values: the argument check every
    /// kernel makes before it indexes a buffer.
    fn check_len(op: &str, storage: &Self::Storage, expected: usize) -> Result<()> {
        let len = Self::len(storage);
        if len == expected {
            Ok(())
        } else {
            Err(TensorError::Backend {
                backend: Self::KIND,
                msg: format!("{op}: buffer of {len} values where {expected} were expected"),
            })
        }
    }
}

/// Everything a device implements: its storage and every op family's kernels.
pub trait Backend:
    BackendBase
    + ElementwiseKernels
    + ReduceKernels
    + MatmulKernels
    + ConvKernels
    + PoolKernels
    + BatchNormKernels
    + CrossEntropyKernels
    + RandomKernels
    + OptimKernels
{
}

impl<T> Backend for T where
    T: BackendBase
        + ElementwiseKernels
        + ReduceKernels
        + MatmulKernels
        + ConvKernels
        + PoolKernels
        + BatchNormKernels
        + CrossEntropyKernels
        + RandomKernels
        + OptimKernels
{
}
