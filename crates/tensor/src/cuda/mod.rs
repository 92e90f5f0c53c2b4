//! The CUDA backend (cargo feature `cuda`): cuBLAS GEMMs, convolutions (implicit GEMM, on
//! tensor cores or in f32, or im2col + cuBLAS, chosen per geometry) and kernels compiled at run
//! time by NVRTC, on top of cudarc with dynamically loaded libraries.
//!
//! - [`Cuda::new`] never panics: it checks that libcuda, libnvrtc and libcublas can be opened
//!   (cudarc itself panics when they cannot) and that the GPU exists, and otherwise returns a
//!   [`TensorError::Backend`] that says what is missing and what to do.
//! - Kernels (the `.cu` files beside this module) are compiled once per process by NVRTC to
//!   CUBIN for the device's own architecture (so a driver older than NVRTC never has to read
//!   newer PTX), with `--fmad=false` so float arithmetic rounds like the CPU backend: the RNG
//!   fills and the optimizer steps give the CPU's numbers bit for bit.
//! - Buffers come from a caching pool (see `memory.rs`): no driver allocation per op once the
//!   training loop has warmed up. Everything runs in order on one stream; only
//!   [`Backend::copy_to_host`] and [`Backend::synchronize`] wait for the GPU.
//! - Matrix products and convolutions run in [`Precision::Tf32`] by default (TF32 tensor cores,
//!   f32 sums: ~1e-3 relative error, as PyTorch's convolutions); [`Cuda::set_precision`] or the
//!   environment variable `KILN_PRECISION=f32` choose full f32, the CPU backend's numbers to
//!   ~1e-6. Everything else is f32 either way.
//! - An invalid cross-entropy label (not an integer in `0..k`) is never used as an index: that
//!   row's loss and gradients become NaN, and the next `copy_to_host` or `synchronize` returns an
//!   `InvalidArgument` error naming the sample and label (checking on the host before the
//!   kernel would cost a device-to-host copy and a wait per loss).

pub(crate) mod blas;
pub(crate) mod device;
pub(crate) mod kernels;
mod memory;
mod profile;
mod resources;
pub(crate) mod strided;

use std::sync::Arc;
use std::sync::atomic::Ordering;

pub use crate::ops::conv2d::ConvEngine;
pub use kernels::compile_kernels;
pub use memory::CudaStorage;
pub use resources::{KernelResources, kernel_resources};

use crate::backend::BackendBase;
use crate::{Layout, Precision, Result, TensorError};
use device::{DeviceInner, backend_err, drv_err};
use kernels::{Arg, cfg_1d};
use strided::{check_reach, strided_dims};

/// Counters of a device's memory pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryStats {
    /// Bytes held by live storages (rounded up to their size classes).
    pub in_use_bytes: usize,
    /// Bytes kept in the pool's free lists for reuse.
    pub cached_bytes: usize,
    /// Buffers requested from the driver since the device was opened; constant once a
    /// training loop has warmed up.
    pub driver_allocations: usize,
}

/// A CUDA device. Cheap to clone; every handle of the same ordinal shares one context, stream,
/// cuBLAS handle, kernel set and memory pool.
#[derive(Clone)]
pub struct Cuda {
    inner: Arc<DeviceInner>,
}

impl std::fmt::Debug for Cuda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cuda({:?})", self.inner)
    }
}

impl Cuda {
    /// Opens GPU `ordinal` (0 for the first). Returns an error, never panics, when the NVIDIA
    /// driver, CUDA 13's NVRTC or cuBLAS cannot be loaded, when there is no such GPU, when the
    /// kernels cannot be compiled, or when `KILN_PRECISION` is neither `f32` nor `tf32`. The first call in a process compiles the kernels (about
    /// a second); later calls for the same ordinal return the same device.
    pub fn new(ordinal: usize) -> Result<Cuda> {
        match std::panic::catch_unwind(|| device::open(ordinal)) {
            Ok(r) => r.map(|inner| Cuda { inner }),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                Err(TensorError::DeviceUnavailable {
                    device: format!("CUDA device {ordinal}"),
                    reason: format!("initialising it failed inside the CUDA libraries: {what}"),
                })
            }
        }
    }

    /// Number of CUDA devices the driver sees (0 when there is no GPU); an error when the
    /// driver library cannot be loaded.
    pub fn device_count() -> Result<usize> {
        std::panic::catch_unwind(device::device_count)
            .unwrap_or_else(|_| Err(backend_err("querying the CUDA devices panicked")))
    }

    /// True when [`Cuda::new`] can be expected to succeed for device 0 (libraries present and
    /// at least one GPU).
    pub fn is_available() -> bool {
        device::missing_libraries().is_empty() && Cuda::device_count().is_ok_and(|n| n > 0)
    }

    /// The device's ordinal.
    pub fn ordinal(&self) -> usize {
        self.inner.ordinal
    }

    /// The device's name, e.g. "NVIDIA H100 80GB HBM3".
    pub fn device_name(&self) -> &str {
        &self.inner.name
    }

    /// Compute capability `(major, minor)`, e.g. (9, 0) for an H100.
    pub fn compute_capability(&self) -> (i32, i32) {
        self.inner.cc
    }

    /// Sets how matrix products and convolutions compute: [`Precision::Tf32`] (the default,
    /// or `KILN_PRECISION`) uses TF32 tensor cores in cuBLAS and the convolution kernels;
    /// [`Precision::F32`] keeps full f32 (cuBLAS pedantic math, the f32 convolution kernels).
    /// Applies to every handle of this device, from the next op on; the convolution engines
    /// [`ConvEngine::Auto`] times are chosen per precision and never mixed.
    pub fn set_precision(&self, precision: Precision) -> Result<()> {
        self.inner.set_precision(precision)
    }

    /// The precision of matrix products and convolutions.
    pub fn precision(&self) -> Precision {
        self.inner.precision()
    }

    /// Sets the largest im2col buffer a convolution uses, in f32 values (default 2^26, i.e.
    /// 256 MiB); larger batches are processed in chunks of images that fit. Smaller values
    /// save memory at some speed.
    pub fn set_conv_workspace(&self, values: usize) {
        self.inner
            .conv_workspace
            .store(values.max(1), Ordering::Relaxed);
    }

    pub(crate) fn conv_workspace(&self) -> usize {
        self.inner.conv_workspace.load(Ordering::Relaxed)
    }

    /// Chooses how convolutions run (default [`ConvEngine::Auto`], or `KILN_CUDA_CONV`).
    /// Applies to every handle of this device.
    pub fn set_conv_engine(&self, engine: ConvEngine) {
        self.inner
            .conv_engine
            .store(engine.code(), Ordering::Relaxed);
    }

    /// The convolution engine setting.
    pub fn conv_engine(&self) -> ConvEngine {
        ConvEngine::from_code(self.inner.conv_engine.load(Ordering::Relaxed))
    }

    /// The memory pool's counters.
    pub fn memory_stats(&self) -> MemoryStats {
        let pool = &self.inner.pool;
        MemoryStats {
            in_use_bytes: pool.in_use_bytes(),
            cached_bytes: pool.cached_bytes(),
            driver_allocations: pool.driver_allocations(),
        }
    }

    /// Returns the pool's cached buffers to the driver (after waiting for the GPU).
    pub fn empty_cache(&self) -> Result<()> {
        self.inner.sync()?;
        self.inner.pool.release_cached();
        Ok(())
    }

    pub(crate) fn inner(&self) -> &DeviceInner {
        &self.inner
    }
}

impl BackendBase for Cuda {
    type Storage = CudaStorage;
    const KIND: &'static str = "cuda";

    fn name(&self) -> String {
        format!("cuda:{}", self.inner.ordinal)
    }
    fn len(storage: &CudaStorage) -> usize {
        storage.len()
    }
    fn precision(&self) -> crate::Precision {
        self.inner.precision()
    }
    fn synchronize(&self) -> Result<()> {
        self.inner.sync()
    }

    fn copy_from_host(&self, data: &[f32]) -> Result<CudaStorage> {
        let out = self.alloc(data.len())?;
        if !data.is_empty() {
            self.inner.bind()?;
            // SAFETY: `out` holds data.len() values; a copy from pageable host memory stages
            // the source before returning, so `data` may be freed afterwards.
            unsafe {
                cudarc::driver::result::memcpy_htod_async(
                    out.ptr(),
                    data,
                    self.inner.stream.cu_stream(),
                )
            }
            .map_err(drv_err("copying to the GPU"))?;
        }
        Ok(out)
    }
    fn copy_to_host(&self, storage: &CudaStorage) -> Result<Vec<f32>> {
        let mut v = vec![0f32; storage.len()];
        if !v.is_empty() {
            self.inner.bind()?;
            // SAFETY: `v` holds storage.len() values; we wait for the stream before reading.
            unsafe {
                cudarc::driver::result::memcpy_dtoh_async(
                    &mut v,
                    storage.ptr(),
                    self.inner.stream.cu_stream(),
                )
            }
            .map_err(drv_err("copying from the GPU"))?;
        }
        self.inner.sync()?;
        Ok(v)
    }
    fn full(&self, len: usize, value: f32) -> Result<CudaStorage> {
        let out = self.alloc(len)?;
        self.fill(&out, value)?;
        Ok(out)
    }
    fn copy_strided(&self, src: &CudaStorage, layout: &Layout) -> Result<CudaStorage> {
        let n = layout.numel();
        let out = self.alloc(n)?;
        if n == 0 {
            return Ok(out);
        }
        let reach = check_reach("copy_strided", src, layout)?;
        if layout.is_contiguous() {
            let dev = self.inner();
            dev.bind()?;
            // SAFETY: `src` holds elements offset..offset + n (checked), `out` holds n.
            unsafe {
                cudarc::driver::result::memcpy_dtod_async(
                    out.ptr(),
                    src.ptr_at(layout.offset()),
                    n * 4,
                    dev.stream.cu_stream(),
                )
            }
            .map_err(drv_err("copying a device buffer"))?;
            return Ok(out);
        }
        let (dims, small) = strided_dims(
            "copy_strided",
            layout.shape(),
            &[layout.strides()],
            &[layout.offset()],
            reach,
        )?;
        let name = if small {
            "copy_strided_u32"
        } else {
            "copy_strided_u64"
        };
        let args = [
            Arg::Ptr(out.ptr()),
            Arg::Ptr(src.ptr()),
            Arg::U64(n as u64),
            Arg::Dims(Box::new(dims)),
        ];
        self.inner().launch(name, cfg_1d(n), &args)?;
        Ok(out)
    }
}

impl Cuda {
    /// A pooled buffer of `len` values (contents undefined).
    pub(crate) fn alloc(&self, len: usize) -> Result<CudaStorage> {
        self.inner().pool.alloc(len)
    }

    pub(crate) fn fill(&self, out: &CudaStorage, value: f32) -> Result<()> {
        let n = out.len();
        let args = [Arg::Ptr(out.ptr()), Arg::U64(n as u64), Arg::F32(value)];
        self.inner().launch("fill_f32", cfg_1d(n), &args)
    }
}
