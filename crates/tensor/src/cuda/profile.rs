//! Opt-in per-kernel timing: with `KILN_CUDA_PROFILE=1`, every kernel launch and cuBLAS call
//! waits for the GPU before and after, and its time is added to a table by name, printed to
//! standard error when the device is closed. The waits serialise host and GPU, so whole-step
//! times are slower under profiling; the table shows where GPU time goes, and the gap between
//! the table's total and an unprofiled step shows what the host adds.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use super::device::drv_err;
use cudarc::driver::CudaStream;

use crate::Result;

/// Whether `KILN_CUDA_PROFILE=1` is set (read once).
pub(crate) fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("KILN_CUDA_PROFILE").is_ok_and(|v| v.trim() == "1"))
}

/// Calls and total seconds per kernel name.
#[derive(Default)]
pub(crate) struct KernelProfile {
    table: Mutex<HashMap<String, (u64, f64)>>,
}

impl KernelProfile {
    /// Runs `f` between two waits for `stream` and records its time under `name`.
    pub(crate) fn time<T>(
        &self,
        stream: &CudaStream,
        name: &str,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        stream.synchronize().map_err(drv_err("profiling"))?;
        let start = Instant::now();
        let out = f()?;
        stream.synchronize().map_err(drv_err("profiling"))?;
        let secs = start.elapsed().as_secs_f64();
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let entry = table.entry(name.to_string()).or_default();
        entry.0 += 1;
        entry.1 += secs;
        Ok(out)
    }

    /// The table, slowest first, as text.
    pub(crate) fn report(&self) -> String {
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows: Vec<_> = table.iter().collect();
        rows.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
        let total: f64 = rows.iter().map(|r| r.1.1).sum();
        let mut out = format!(
            "CUDA kernel profile (KILN_CUDA_PROFILE=1): {:.1} ms in {} kinds of call\n{:<28} {:>8} {:>11} {:>10} {:>6}\n",
            total * 1e3,
            rows.len(),
            "kernel",
            "calls",
            "total ms",
            "mean us",
            "%"
        );
        for (name, (calls, secs)) in rows {
            out += &format!(
                "{name:<28} {calls:>8} {:>11.2} {:>10.1} {:>6.1}\n",
                secs * 1e3,
                secs * 1e6 / (*calls).max(1) as f64,
                100.0 * secs / total.max(1e-12)
            );
        }
        out
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }
}
