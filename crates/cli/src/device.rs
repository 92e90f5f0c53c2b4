//! Picks the backend once. Everything below the command is generic over `B: Backend`; this is
//! the only place that names a concrete backend.

use clap::ValueEnum;
use kiln_tensor::{Backend, Cpu};

use crate::args::{Common, PrecisionArg};
use crate::{CliError, Result};

/// `--device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceKind {
    Cpu,
    Cuda,
}

/// A command body that runs on any backend.
pub trait Job {
    type Output;
    fn run<B: Backend>(self, dev: &B) -> Result<Self::Output>;
}

/// Runs `job` on the chosen device, at the chosen precision.
pub fn dispatch<J: Job>(
    kind: DeviceKind,
    precision: Option<PrecisionArg>,
    job: J,
) -> Result<J::Output> {
    match kind {
        DeviceKind::Cpu => {
            if precision == Some(PrecisionArg::Tf32) {
                eprintln!("note: --precision tf32 is a GPU setting; the CPU computes in f32");
            }
            job.run(&Cpu)
        }
        DeviceKind::Cuda => run_cuda(precision, job),
    }
}

#[cfg(feature = "cuda")]
fn run_cuda<J: Job>(precision: Option<PrecisionArg>, job: J) -> Result<J::Output> {
    let dev = kiln_tensor::Cuda::new(0)?;
    match precision {
        Some(PrecisionArg::F32) => dev.set_precision(kiln_tensor::Precision::F32)?,
        Some(PrecisionArg::Tf32) => dev.set_precision(kiln_tensor::Precision::Tf32)?,
        None => {}
    }
    job.run(&dev)
}

#[cfg(not(feature = "cuda"))]
fn run_cuda<J: Job>(_precision: Option<PrecisionArg>, _job: J) -> Result<J::Output> {
    Err(CliError::Usage(
        "this kiln was built without CUDA support: rebuild with `cargo build --release -p kiln-cli --features cuda`, or use --device cpu".into(),
    ))
}

/// Sets the number of compute threads (rayon's global pool); `None` keeps one per core.
pub fn set_threads(threads: Option<usize>) -> Result<()> {
    if let Some(n) = threads {
        if n == 0 {
            return Err(CliError::Usage("--threads must be at least 1".into()));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| CliError::Usage(format!("cannot set --threads {n}: {e}")))?;
    }
    Ok(())
}

/// What a run records of its device: the kind, and the precision it computes in (the CPU
/// always in f32; CUDA in tf32 unless `--precision f32`).
pub fn device_info<B: Backend>(dev: &B, _c: &Common) -> kiln_train::DeviceInfo {
    kiln_train::DeviceInfo {
        kind: B::KIND.to_string(),
        precision: dev.precision().name().to_string(),
    }
}
