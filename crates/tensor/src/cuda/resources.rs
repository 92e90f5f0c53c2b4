//! ptxas's resource report of every kernel (registers, spills), compiled with NVRTC without a
//! GPU: how the tests check that no kernel spills.

use super::device::backend_err;
use super::kernels::{SOURCES, compile_with_log};
use crate::Result;

/// What ptxas reports for one kernel compiled to an architecture's machine code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelResources {
    pub kernel: String,
    pub registers: u32,
    /// Bytes of registers spilled to local memory (stores).
    pub spill_bytes: u32,
    /// Bytes of the stack frame.
    pub stack_bytes: u32,
}

/// Compiles every kernel source for `sm_<major><minor>` (no GPU needed) with ptxas's resource
/// report and returns each kernel's registers and spills: the check that no kernel spills.
pub fn kernel_resources(major: i32, minor: i32) -> Result<Vec<KernelResources>> {
    if !super::device::nvrtc_present() {
        return Err(backend_err(super::device::MISSING_NVRTC));
    }
    let arch = major * 10 + minor;
    let logs: Vec<std::result::Result<String, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = SOURCES
            .iter()
            .map(|src| {
                scope.spawn(move || {
                    compile_with_log(src.file, src.code, arch, true, true).map(|(_, log)| log)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("the NVRTC compile thread panicked".into()))
            })
            .collect()
    });
    let mut out = Vec::new();
    for log in logs {
        out.extend(parse_ptxas_report(&log.map_err(backend_err)?));
    }
    Ok(out)
}

/// The kernels of a `--ptxas-options=-v` log: "Function properties for K", then its stack and
/// spill line, then "Used N registers".
fn parse_ptxas_report(log: &str) -> Vec<KernelResources> {
    let number_before = |line: &str, word: &str| -> u32 {
        let Some(at) = line.find(word) else { return 0 };
        line[..at]
            .split_whitespace()
            .last()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let mut out: Vec<KernelResources> = Vec::new();
    for line in log.lines() {
        if let Some(rest) = line.split("Function properties for ").nth(1) {
            out.push(KernelResources {
                kernel: rest.trim().to_string(),
                registers: 0,
                spill_bytes: 0,
                stack_bytes: 0,
            });
        } else if let Some(k) = out.last_mut() {
            if line.contains("spill stores") {
                k.spill_bytes = number_before(line, "bytes spill stores");
                k.stack_bytes = number_before(line, "bytes stack frame");
            } else if line.contains("Used") && line.contains("registers") {
                k.registers = number_before(line, "registers");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptxas_reports_are_parsed() {
        let log = "ptxas info    : Compiling entry function 'k1' for 'sm_90'\n\
                   ptxas info    : Function properties for k1\n\
                   ptxas         .     8 bytes stack frame, 4 bytes spill stores, 4 bytes spill loads\n\
                   ptxas info    : Used 155 registers, used 1 barriers\n\
                   ptxas info    : Function properties for k2\n\
                   ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n\
                   ptxas info    : Used 32 registers, used 0 barriers\n";
        let r = parse_ptxas_report(log);
        assert_eq!(r.len(), 2);
        assert_eq!(
            (
                r[0].kernel.as_str(),
                r[0].registers,
                r[0].spill_bytes,
                r[0].stack_bytes
            ),
            ("k1", 155, 4, 8)
        );
        assert_eq!(
            (r[1].kernel.as_str(), r[1].registers, r[1].spill_bytes),
            ("k2", 32, 0)
        );
    }
}
