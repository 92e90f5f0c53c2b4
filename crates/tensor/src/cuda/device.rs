//! Device setup: library presence checks (cudarc panics when a library it needs cannot be
//! opened, so we look first), context, stream, cuBLAS handle, loaded kernels and the memory
//! pool, shared by every handle of the same ordinal in the process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use cudarc::cublas::{CudaBlas, sys as cublas_sys};
use cudarc::driver::{CudaContext, CudaStream, DriverError, result as drv, sys as drv_sys};

use super::kernels::Kernels;
use super::memory::{CudaStorage, Pool};
use super::profile::{self, KernelProfile};
use crate::ops::conv2d::ConvEngine;
use crate::ops::conv2d::cuda::ConvChoices;
use crate::{Precision, Result, TensorError};

pub(crate) const MISSING_DRIVER: &str = "cannot load libcuda.so (the NVIDIA driver library): \
     install the NVIDIA driver (580 or newer for CUDA 13)";
pub(crate) const MISSING_NVRTC: &str = "cannot load libnvrtc.so.13 (CUDA 13 NVRTC, which \
     compiles Kiln's kernels): put a folder holding libnvrtc.so.13 and \
     libnvrtc-builtins.so.13.0 on LD_LIBRARY_PATH (PyTorch's site-packages/nvidia/cu13/lib \
     has them)";
pub(crate) const MISSING_CUBLAS: &str = "cannot load libcublas.so.13 (CUDA 13 cuBLAS): put a \
     folder holding libcublas.so.13 and libcublasLt.so.13 on LD_LIBRARY_PATH (PyTorch's \
     site-packages/nvidia/cu13/lib has them)";

/// Default largest im2col buffer of a convolution chunk: 2^26 f32 = 256 MiB.
pub(crate) const DEFAULT_CONV_WORKSPACE: usize = 1 << 26;

/// A `TensorError::Backend` of the CUDA backend.
pub(crate) fn backend_err(msg: impl Into<String>) -> TensorError {
    TensorError::Backend {
        backend: "cuda",
        msg: msg.into(),
    }
}

/// Maps a driver error with what was being done.
pub(crate) fn drv_err(what: &str) -> impl Fn(DriverError) -> TensorError + '_ {
    move |e| backend_err(format!("{what}: {e}"))
}

/// True when libnvrtc can be opened.
pub(crate) fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the candidate names.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// The libraries the backend needs that cannot be opened, as messages.
pub(crate) fn missing_libraries() -> Vec<&'static str> {
    let mut missing = Vec::new();
    // SAFETY: these only try to dlopen the candidate library names.
    unsafe {
        if !cudarc::driver::sys::is_culib_present() {
            missing.push(MISSING_DRIVER);
        }
        if !cudarc::nvrtc::sys::is_culib_present() {
            missing.push(MISSING_NVRTC);
        }
        if !cudarc::cublas::sys::is_culib_present() {
            missing.push(MISSING_CUBLAS);
        }
    }
    missing
}

/// Number of CUDA devices the driver sees (0 when there is no driver or no GPU).
pub(crate) fn device_count() -> Result<usize> {
    // SAFETY: only tries to dlopen the candidate names.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(backend_err(MISSING_DRIVER));
    }
    match CudaContext::device_count() {
        Ok(n) => Ok(n.max(0) as usize),
        Err(e) if e.0 == drv_sys::CUresult::CUDA_ERROR_NO_DEVICE => Ok(0),
        Err(e) => Err(backend_err(format!(
            "the NVIDIA driver could not be initialised ({e}); check nvidia-smi"
        ))),
    }
}

/// Everything one CUDA device needs, shared by all `Cuda` handles of its ordinal.
pub(crate) struct DeviceInner {
    pub(crate) ordinal: usize,
    pub(crate) name: String,
    pub(crate) cc: (i32, i32),
    pub(crate) sm_count: u32,
    /// Largest dynamic shared memory a block may opt in to, in bytes.
    pub(crate) smem_optin: usize,
    pub(crate) kernels: Kernels,
    pub(crate) blas: Mutex<CudaBlas>,
    /// The `Precision` code of matrix products and convolutions.
    pub(crate) precision: AtomicU8,
    /// Largest im2col buffer of a convolution chunk, in f32 values.
    pub(crate) conv_workspace: AtomicUsize,
    /// The convolution engine (`ConvEngine` code), and what `Auto` picked per geometry.
    pub(crate) conv_engine: AtomicU8,
    conv_choices: Mutex<ConvChoices>,
    pub(crate) pool: Arc<Pool>,
    /// `[row + 1, label bits, k, 0]` of the first invalid cross-entropy label (see
    /// cross_entropy.cu); all zero when none.
    pub(crate) label_flag: CudaStorage,
    /// Set when a cross-entropy kernel ran since the flag was last read.
    pub(crate) label_check_pending: AtomicBool,
    /// Per-kernel times when `KILN_CUDA_PROFILE=1` (see profile.rs).
    pub(crate) profile: KernelProfile,
    pub(crate) stream: Arc<CudaStream>,
    pub(crate) ctx: Arc<CudaContext>,
}

impl Drop for DeviceInner {
    fn drop(&mut self) {
        if profile::enabled() && !self.profile.is_empty() {
            eprint!("{}", self.profile.report());
        }
    }
}

impl std::fmt::Debug for DeviceInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cuda:{} ({}, sm_{}{})",
            self.ordinal, self.name, self.cc.0, self.cc.1
        )
    }
}

fn registry() -> &'static Mutex<HashMap<usize, Weak<DeviceInner>>> {
    static DEVICES: OnceLock<Mutex<HashMap<usize, Weak<DeviceInner>>>> = OnceLock::new();
    DEVICES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The shared state of device `ordinal`, created on first use.
pub(crate) fn open(ordinal: usize) -> Result<Arc<DeviceInner>> {
    let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(dev) = reg.get(&ordinal).and_then(Weak::upgrade) {
        return Ok(dev);
    }
    let unavailable = |reason: String| TensorError::DeviceUnavailable {
        device: format!("CUDA device {ordinal}"),
        reason,
    };
    let missing = missing_libraries();
    if !missing.is_empty() {
        return Err(unavailable(missing.join("; ")));
    }
    let count = device_count().map_err(|e| unavailable(e.to_string()))?;
    if count == 0 {
        return Err(unavailable(
            "no CUDA device found (the NVIDIA driver sees 0 GPUs)".into(),
        ));
    }
    if ordinal >= count {
        return Err(unavailable(format!(
            "the driver sees only {count} GPU(s) (0..{})",
            count - 1
        )));
    }
    let dev = Arc::new(create(ordinal)?);
    reg.insert(ordinal, Arc::downgrade(&dev));
    Ok(dev)
}

fn create(ordinal: usize) -> Result<DeviceInner> {
    let ctx = CudaContext::new(ordinal).map_err(drv_err("creating the CUDA context"))?;
    // One stream, so cudarc's per-buffer events are not needed: turn them off before anything
    // is allocated (they would cost two events per buffer and records at every launch).
    // SAFETY: no buffer of this context exists yet, and all work goes to one stream.
    unsafe { ctx.disable_event_tracking() };
    let stream = ctx.default_stream();
    let name = ctx.name().unwrap_or_else(|_| "unknown GPU".into());
    let cc = ctx
        .compute_capability()
        .map_err(drv_err("querying the compute capability"))?;
    let sm_count = ctx
        .attribute(drv_sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
        .map_err(drv_err("querying the multiprocessor count"))?
        .max(1) as u32;
    let smem_optin = ctx
        .attribute(
            drv_sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
        )
        .map_err(drv_err("querying the shared memory per block"))?
        .max(0) as usize;
    let precision = precision_from_env()?;
    let kernels = Kernels::load(&ctx, cc, smem_optin)?;
    let blas = CudaBlas::new(stream.clone())
        .map_err(|e| backend_err(format!("creating the cuBLAS handle: {e}")))?;
    set_math_mode(&blas, precision)?;
    let pool = Pool::new(ctx.clone(), stream.clone());
    let label_flag = pool.alloc(4)?;
    ctx.bind_to_thread()
        .map_err(drv_err("binding the CUDA context"))?;
    // SAFETY: the flag buffer holds 4 f32 = 16 bytes.
    unsafe { drv::memset_d8_async(label_flag.ptr(), 0, 16, stream.cu_stream()) }
        .map_err(drv_err("clearing the label flag"))?;
    Ok(DeviceInner {
        ordinal,
        name,
        cc,
        sm_count,
        smem_optin,
        kernels,
        blas: Mutex::new(blas),
        precision: AtomicU8::new(precision.code()),
        conv_workspace: AtomicUsize::new(DEFAULT_CONV_WORKSPACE),
        conv_engine: AtomicU8::new(ConvEngine::from_env().code()),
        conv_choices: Mutex::new(ConvChoices::new()),
        pool,
        label_flag,
        label_check_pending: AtomicBool::new(false),
        profile: KernelProfile::default(),
        stream,
        ctx,
    })
}

/// The precision a new device starts with: `KILN_PRECISION` (`f32` or `tf32`), else TF32.
fn precision_from_env() -> Result<Precision> {
    match std::env::var("KILN_PRECISION") {
        Ok(v) => v.parse().map_err(|_| {
            TensorError::invalid(
                "KILN_PRECISION",
                format!("the environment variable is {v:?}; set it to f32 or tf32, or unset it"),
            )
        }),
        Err(_) => Ok(Precision::Tf32),
    }
}

/// cuBLAS math mode: TF32 tensor cores, or pedantic f32 (no reduced-precision shortcut).
pub(crate) fn set_math_mode(blas: &CudaBlas, precision: Precision) -> Result<()> {
    let mode = match precision {
        Precision::Tf32 => cublas_sys::cublasMath_t::CUBLAS_TF32_TENSOR_OP_MATH,
        Precision::F32 => cublas_sys::cublasMath_t::CUBLAS_PEDANTIC_MATH,
    };
    // SAFETY: the handle is live for the lifetime of `blas`.
    unsafe { cublas_sys::cublasSetMathMode(*blas.handle(), mode) }
        .result()
        .map_err(|e| backend_err(format!("setting the cuBLAS math mode: {e}")))
}

impl DeviceInner {
    /// Makes this device's context current on the calling thread (needed before raw driver
    /// and cuBLAS calls; cudarc's own calls do it themselves).
    pub(crate) fn bind(&self) -> Result<()> {
        self.ctx
            .bind_to_thread()
            .map_err(drv_err("binding the CUDA context"))
    }

    /// The engines `ConvEngine::Auto` picked so far.
    pub(crate) fn conv_choices(&self) -> MutexGuard<'_, ConvChoices> {
        self.conv_choices.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn blas(&self) -> MutexGuard<'_, CudaBlas> {
        self.blas.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the stream, then reports an invalid cross-entropy label seen by a kernel.
    pub(crate) fn sync(&self) -> Result<()> {
        self.stream
            .synchronize()
            .map_err(drv_err("waiting for the GPU"))?;
        self.check_label_flag()
    }

    fn check_label_flag(&self) -> Result<()> {
        if !self.label_check_pending.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        self.bind()?;
        let mut flag = [0f32; 4];
        // SAFETY: the flag buffer holds 4 values; the copy completes before we read `flag`
        // (device-to-pageable copies return when done, and we synchronise anyway).
        unsafe {
            drv::memcpy_dtoh_async(&mut flag, self.label_flag.ptr(), self.stream.cu_stream())
        }
        .map_err(drv_err("reading the label flag"))?;
        self.stream
            .synchronize()
            .map_err(drv_err("waiting for the GPU"))?;
        let row = flag[0].to_bits() as i32;
        if row == 0 {
            return Ok(());
        }
        // SAFETY: as above, 16 bytes.
        unsafe { drv::memset_d8_async(self.label_flag.ptr(), 0, 16, self.stream.cu_stream()) }
            .map_err(drv_err("clearing the label flag"))?;
        let label = f32::from_bits(flag[1].to_bits());
        let k = flag[2].to_bits() as i32;
        Err(TensorError::InvalidArgument {
            op: "cross_entropy",
            msg: format!(
                "label {label} of sample {} is not a class index in 0..{k} (found by the GPU \
                 kernel; that loss and its gradients are NaN)",
                row - 1
            ),
        })
    }

    /// Sets the precision of matrix products and convolutions (and cuBLAS's math mode).
    pub(crate) fn set_precision(&self, precision: Precision) -> Result<()> {
        let blas = self.blas();
        self.bind()?;
        set_math_mode(&blas, precision)?;
        self.precision.store(precision.code(), Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn precision(&self) -> Precision {
        Precision::from_code(self.precision.load(Ordering::Relaxed))
    }
}
