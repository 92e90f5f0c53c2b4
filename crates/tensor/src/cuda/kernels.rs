//! Kernel sources, their NVRTC compilation (once per process and architecture, to CUBIN for the
//! device's own `sm_XY` so that a driver older than NVRTC never sees PTX it cannot read), and
//! the launch helpers.

use std::collections::HashMap;
use std::ffi::{CString, c_char};
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::{CudaContext, CudaFunction, LaunchConfig, PushKernelArg};
use cudarc::nvrtc::{Ptx, result as nvrtc, sys as nvrtc_sys};

use super::device::{DeviceInner, backend_err};
use crate::Result;

use super::strided::Dims;
use crate::ops;

/// Definitions shared by every source (prepended before compiling).
const PRELUDE: &str = include_str!("prelude.cu");

/// The tensor-core and cp.async wrappers (prepended after the prelude).
const TENSOR_CORE: &str = include_str!("tensor_core.cu");

/// One kernel source: its file name, its text and the names of the kernels it defines (each
/// op family's `cuda.rs` declares its own; names of per-op kernels come from the op types).
pub(crate) struct Source {
    pub file: &'static str,
    pub code: &'static str,
    pub kernels: fn() -> Vec<&'static str>,
}

/// The storage's own kernels (fills, strided gathers).
const MEMORY: Source = Source {
    file: "memory.cu",
    code: include_str!("memory.cu"),
    kernels: || vec!["copy_strided_u32", "copy_strided_u64", "fill_f32"],
};

/// Every source: one line per op family with CUDA kernels.
pub(crate) const SOURCES: [Source; 11] = [
    MEMORY,
    ops::elementwise::cuda::SOURCE,
    ops::reduce::cuda::SOURCE,
    ops::conv2d::cuda::IM2COL_SOURCE,
    ops::conv2d::cuda::IMPLICIT_SOURCE,
    ops::conv2d::cuda::TENSOR_CORE_SOURCE,
    ops::pool::cuda::SOURCE,
    ops::batch_norm::cuda::SOURCE,
    ops::cross_entropy::cuda::SOURCE,
    ops::random::cuda::SOURCE,
    ops::optim::cuda::SOURCE,
];

/// Threads per block of the 1-D kernels.
pub(crate) const BLOCK: u32 = 256;

/// A compiled module: CUBIN for the device's architecture, or PTX for the driver to JIT when
/// NVRTC does not know the device's architecture.
#[derive(Clone)]
pub(crate) enum Image {
    Cubin(Vec<u8>),
    Ptx(String),
}

/// How the sources were compiled for one architecture.
struct Compiled {
    /// (source file, image, names of its kernels)
    modules: Vec<(&'static str, Image, Vec<&'static str>)>,
}

/// Compiled sources by compute capability.
type Cache = Mutex<HashMap<(i32, i32), Arc<Compiled>>>;

/// The process-wide cache of compiled sources.
fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The architectures this NVRTC can compile for (e.g. 75, 80, 90, 100, 120).
fn supported_archs() -> std::result::Result<Vec<i32>, String> {
    let mut n: i32 = 0;
    // SAFETY: plain out-parameter calls into libnvrtc, whose presence the caller checked.
    unsafe {
        nvrtc_sys::nvrtcGetNumSupportedArchs(&mut n)
            .result()
            .map_err(|e| format!("nvrtcGetNumSupportedArchs: {e}"))?;
        let mut archs = vec![0i32; n.max(0) as usize];
        if n > 0 {
            nvrtc_sys::nvrtcGetSupportedArchs(archs.as_mut_ptr())
                .result()
                .map_err(|e| format!("nvrtcGetSupportedArchs: {e}"))?;
        }
        Ok(archs)
    }
}

/// What to compile for a device of compute capability `cc`: `(architecture, cubin?)`.
fn target_for(cc: (i32, i32)) -> std::result::Result<(i32, bool), String> {
    let want = cc.0 * 10 + cc.1;
    let archs = supported_archs()?;
    if archs.contains(&want) {
        return Ok((want, true));
    }
    match archs.iter().copied().filter(|&a| a <= want).max() {
        // a CUBIN for sm_XY runs on sm_XZ with Z >= Y
        Some(a) if a / 10 == cc.0 => Ok((a, true)),
        // a newer GPU than this NVRTC knows: PTX of the newest architecture, JIT-compiled by
        // the (then necessarily newer) driver
        Some(a) => Ok((a, false)),
        None => Err(format!(
            "this NVRTC supports architectures {archs:?}, none of which runs on a compute \
             capability {}.{} GPU",
            cc.0, cc.1
        )),
    }
}

/// Compiles one source to CUBIN (`sm_XY`) or PTX (`compute_XY`).
fn compile_one(
    name: &str,
    src: &str,
    arch: i32,
    cubin: bool,
) -> std::result::Result<Image, String> {
    compile_with_log(name, src, arch, cubin, false).map(|(image, _)| image)
}

/// As [`compile_one`], with ptxas's resource report (`--ptxas-options=-v`) in the returned log
/// when `verbose`.
pub(crate) fn compile_with_log(
    name: &str,
    src: &str,
    arch: i32,
    cubin: bool,
    verbose: bool,
) -> std::result::Result<(Image, String), String> {
    let full = format!("{PRELUDE}\n{TENSOR_CORE}\n{src}");
    let c_src = CString::new(full).map_err(|e| e.to_string())?;
    let c_name = CString::new(name).map_err(|e| e.to_string())?;
    let prog = nvrtc::create_program(&c_src, Some(&c_name)).map_err(|e| format!("{name}: {e}"))?;
    let target = if cubin {
        format!("--gpu-architecture=sm_{arch}")
    } else {
        format!("--gpu-architecture=compute_{arch}")
    };
    let mut opts = vec![
        target,
        "--fmad=false".to_string(),
        "--std=c++17".to_string(),
    ];
    if verbose {
        opts.push("--ptxas-options=-v".to_string());
    }
    // SAFETY: `prog` was created above and is destroyed exactly once below.
    unsafe {
        let compiled = nvrtc::compile_program(prog, &opts);
        let log = nvrtc::get_program_log(prog)
            .map(|l| c_chars_to_string(&l))
            .unwrap_or_default();
        let out = match compiled {
            Err(e) => Err(format!("{name} ({}): {e}\n{log}", opts.join(" "))),
            Ok(()) if cubin => get_cubin(prog).map(Image::Cubin),
            Ok(()) => nvrtc::get_ptx(prog)
                .map(|p| Image::Ptx(c_chars_to_string(&p)))
                .map_err(|e| format!("{name}: nvrtcGetPTX: {e}")),
        };
        let _ = nvrtc::destroy_program(prog);
        out.map(|image| (image, log))
    }
}

fn c_chars_to_string(v: &[c_char]) -> String {
    let bytes: Vec<u8> = v.iter().map(|&c| c as u8).take_while(|&b| b != 0).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// # Safety
/// `prog` must be a successfully compiled, live NVRTC program.
unsafe fn get_cubin(prog: nvrtc_sys::nvrtcProgram) -> std::result::Result<Vec<u8>, String> {
    let mut size = 0usize;
    // SAFETY: the caller guarantees `prog`; the buffer has the size NVRTC reported.
    unsafe {
        nvrtc_sys::nvrtcGetCUBINSize(prog, &mut size)
            .result()
            .map_err(|e| format!("nvrtcGetCUBINSize: {e}"))?;
        let mut buf = vec![0u8; size];
        nvrtc_sys::nvrtcGetCUBIN(prog, buf.as_mut_ptr() as *mut c_char)
            .result()
            .map_err(|e| format!("nvrtcGetCUBIN: {e}"))?;
        Ok(buf)
    }
}

/// Compiles every source for compute capability `cc` (once per process; later calls hit the
/// cache).
fn compiled_for(cc: (i32, i32)) -> std::result::Result<Arc<Compiled>, String> {
    let mut cache = cache().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = cache.get(&cc) {
        return Ok(c.clone());
    }
    let (arch, cubin) = target_for(cc)?;
    // the sources are independent programs: compile them in parallel
    let images: Vec<std::result::Result<Image, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = SOURCES
            .iter()
            .map(|src| scope.spawn(move || compile_one(src.file, src.code, arch, cubin)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("the NVRTC compile thread panicked".into()))
            })
            .collect()
    });
    let mut modules = Vec::with_capacity(SOURCES.len());
    for (src, image) in SOURCES.iter().zip(images) {
        modules.push((src.file, image?, (src.kernels)()));
    }
    let compiled = Arc::new(Compiled { modules });
    cache.insert(cc, compiled.clone());
    Ok(compiled)
}

/// Compiles every kernel source with NVRTC for a GPU of compute capability `major.minor`,
/// without needing a GPU (only libnvrtc). Returns the number of kernels compiled. Used to check
/// a machine's NVRTC and the sources themselves.
pub fn compile_kernels(major: i32, minor: i32) -> Result<usize> {
    if !super::device::nvrtc_present() {
        return Err(backend_err(super::device::MISSING_NVRTC));
    }
    let compiled = compiled_for((major, minor)).map_err(backend_err)?;
    Ok(compiled.modules.iter().map(|m| m.2.len()).sum())
}

/// The loaded kernels of one device.
pub(crate) struct Kernels {
    functions: HashMap<&'static str, CudaFunction>,
}

impl Kernels {
    /// Compiles (or takes from the cache) and loads every kernel into `ctx`; the kernels with
    /// dynamic shared memory may use up to `smem_optin` bytes of it.
    pub(crate) fn load(ctx: &Arc<CudaContext>, cc: (i32, i32), smem_optin: usize) -> Result<Self> {
        let compiled = compiled_for(cc).map_err(|e| {
            backend_err(format!("compiling the CUDA kernels with NVRTC failed: {e}"))
        })?;
        let mut functions = HashMap::new();
        for (name, image, kernels) in &compiled.modules {
            let ptx = match image {
                Image::Cubin(bytes) => Ptx::from_binary(bytes.clone()),
                Image::Ptx(src) => Ptx::from_src(src.clone()),
            };
            let module = ctx
                .load_module(ptx)
                .map_err(|e| backend_err(format!("loading kernel module {name}: {e}")))?;
            for k in kernels {
                let f = module
                    .load_function(k)
                    .map_err(|e| backend_err(format!("loading kernel {k} of {name}: {e}")))?;
                if ops::conv2d::cuda::DYNAMIC_SMEM_KERNELS.contains(k) {
                    let attr = cudarc::driver::sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES;
                    f.set_attribute(attr, smem_optin.min(i32::MAX as usize) as i32)
                        .map_err(|e| backend_err(format!("allowing {k} its shared memory: {e}")))?;
                }
                functions.insert(*k, f);
            }
        }
        Ok(Kernels { functions })
    }

    pub(crate) fn get(&self, name: &str) -> Result<&CudaFunction> {
        self.functions
            .get(name)
            .ok_or_else(|| backend_err(format!("kernel {name} is not loaded")))
    }
}

/// One kernel argument. The variant must match the C parameter type exactly: `Ptr`/`U64` for
/// pointers and `u64`, `I64` for `i64`, `I32` for `int`, `F32` for `float`.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Ptr(u64),
    U64(u64),
    I64(i64),
    I32(i32),
    F32(f32),
    Dims(Box<Dims>),
}

/// A 1-D grid-stride configuration for `n` elements (at most 65 536 blocks; kernels loop).
pub(crate) fn cfg_1d(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(BLOCK as usize).clamp(1, 1 << 16) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// A configuration with an explicit grid and block.
pub(crate) fn cfg(grid: (u32, u32, u32), block: u32) -> LaunchConfig {
    cfg_smem(grid, block, 0)
}

/// As [`cfg`] with `bytes` of dynamic shared memory per block.
pub(crate) fn cfg_smem(grid: (u32, u32, u32), block: u32, bytes: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: grid,
        block_dim: (block, 1, 1),
        shared_mem_bytes: bytes,
    }
}

impl DeviceInner {
    /// Queues kernel `name` on the device's stream. A grid with a zero dimension launches
    /// nothing (empty tensors).
    pub(crate) fn launch(&self, name: &str, cfg: LaunchConfig, args: &[Arg]) -> Result<()> {
        let (gx, gy, gz) = cfg.grid_dim;
        if gx == 0 || gy == 0 || gz == 0 {
            return Ok(());
        }
        if super::profile::enabled() {
            return self
                .profile
                .time(&self.stream, name, || self.launch_now(name, cfg, args));
        }
        self.launch_now(name, cfg, args)
    }

    fn launch_now(&self, name: &str, cfg: LaunchConfig, args: &[Arg]) -> Result<()> {
        let f = self.kernels.get(name)?;
        let mut b = self.stream.launch_builder(f);
        for a in args {
            match a {
                Arg::Ptr(v) | Arg::U64(v) => b.arg(v),
                Arg::I64(v) => b.arg(v),
                Arg::I32(v) => b.arg(v),
                Arg::F32(v) => b.arg(v),
                Arg::Dims(v) => b.arg(&**v),
            };
        }
        // SAFETY: every call site passes arguments matching the kernel's C signature, device
        // pointers into live buffers of the sizes the kernel indexes (checked by the callers),
        // and all work runs in order on the one stream.
        unsafe { b.launch(cfg) }
            .map(|_| ())
            .map_err(|e| backend_err(format!("launching {name}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::elementwise::{BinaryOp, UnaryOp};
    use crate::ops::reduce::ReduceOp;

    /// Whether `src` defines kernel `name`: literally, or through an op list's X-macro entry
    /// (`X(<op>, ...)` in `elementwise.cu`, whose kernels are `unary_<op>` / `binary_<op>_*`).
    fn defines(src: &str, name: &str) -> bool {
        if src.contains(&format!("__global__ void {name}(")) {
            return true;
        }
        let op = name.strip_prefix("unary_").or_else(|| {
            ["_dense", "_strided_u32", "_strided_u64"]
                .iter()
                .find_map(|suffix| name.strip_prefix("binary_")?.strip_suffix(suffix))
        });
        op.is_some_and(|op| src.contains(&format!("X({op}, ")))
    }

    #[test]
    fn every_declared_kernel_is_defined_once() {
        let mut all = Vec::new();
        for src in &SOURCES {
            let kernels = (src.kernels)();
            assert!(!kernels.is_empty(), "{} declares no kernel", src.file);
            for k in kernels {
                assert!(defines(src.code, k), "{} does not define {k}", src.file);
                all.push(k);
            }
            // every literal kernel of the file is declared
            for part in src.code.split("extern \"C\" __global__ void ").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && !name.starts_with("unary_") && !name.starts_with("binary_") {
                    assert!(
                        (src.kernels)().contains(&name.as_str()),
                        "{} defines {name} but does not declare it",
                        src.file
                    );
                }
            }
        }
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "kernel names must be unique");
    }

    #[test]
    fn per_op_kernels_are_named_after_the_ops() {
        for op in UnaryOp::ALL {
            assert_eq!(op.kernel(), format!("unary_{}", op.name()));
        }
        for op in BinaryOp::ALL {
            let n = op.name();
            assert_eq!(
                op.kernels(),
                [
                    format!("binary_{n}_dense"),
                    format!("binary_{n}_strided_u32"),
                    format!("binary_{n}_strided_u64")
                ]
                .map(|s| s)
            );
        }
        for op in ReduceOp::ALL {
            assert_eq!(op.kernel(), format!("reduce_rows_{}", op.name()));
        }
    }

    #[test]
    fn dims_has_the_c_layout() {
        assert_eq!(
            std::mem::size_of::<Dims>(),
            8 * (3 + 3 * super::super::strided::MAX_DIMS)
        );
    }
}
