//! What the CUDA backend does on any machine, GPU or not: `Cuda::new` never panics and
//! explains what is missing; the kernel sources compile with the machine's NVRTC when it has
//! one (no GPU needed for that).
#![cfg(feature = "cuda")]

use kiln_tensor::Cuda;

#[test]
fn new_explains_instead_of_panicking() {
    let result = std::panic::catch_unwind(|| Cuda::new(0)).expect("Cuda::new must not panic");
    match result {
        Err(e) => {
            let msg = e.to_string();
            println!("Cuda::new(0) on this machine: {msg}");
            assert!(
                matches!(e, kiln_tensor::TensorError::DeviceUnavailable { .. }),
                "a typed error the command line can add its hint to: {e:?}"
            );
            assert!(msg.starts_with("CUDA device 0 is unavailable:"), "{msg}");
            assert!(!Cuda::is_available());
            // what the message names is what is missing
            if Cuda::device_count().is_err() {
                assert!(msg.contains("libcuda"), "{msg}");
            }
        }
        Ok(dev) => {
            println!("Cuda::new(0): {dev:?}");
            assert!(Cuda::is_available());
            let count = Cuda::device_count().expect("a driver that opened a GPU counts it");
            let e = Cuda::new(count).expect_err("there is no GPU past the last one");
            assert!(e.to_string().contains(&format!("device {count}")), "{e}");
        }
    }
}

#[test]
fn device_count_never_panics() {
    let r = std::panic::catch_unwind(Cuda::device_count).expect("no panic");
    println!("device_count: {r:?}");
}

#[test]
fn kernels_compile_with_nvrtc() {
    // sm_90 (H100), sm_80 (A100), sm_86, sm_120 (Blackwell), sm_75 (Turing: the tensor-core
    // kernels compile to stubs there), and an architecture newer than any NVRTC knows
    // (compiled to PTX for the driver to JIT)
    for (major, minor) in [(9, 0), (8, 0), (8, 6), (12, 0), (7, 5), (15, 0)] {
        match kiln_tensor::cuda::compile_kernels(major, minor) {
            Ok(n) => {
                println!("sm_{major}{minor}: {n} kernels compiled");
                assert!(n >= 32, "expected every kernel, got {n}");
            }
            Err(e) if e.to_string().contains("libnvrtc") => {
                kiln_tensor::testing::skip(
                    kiln_tensor::testing::Need::Nvrtc,
                    "compiling the CUDA kernels",
                    &format!("libnvrtc cannot be loaded ({e})"),
                );
                return;
            }
            Err(e) => panic!("sm_{major}{minor}: {e}"),
        }
    }
}

#[test]
fn no_kernel_spills_registers() {
    // ptxas's resource report for the architectures Kiln targets: registers per thread and
    // spills (a spill in a hot loop costs local-memory traffic)
    for (major, minor) in [(9, 0), (8, 0), (8, 6), (12, 0)] {
        let report = match kiln_tensor::cuda::kernel_resources(major, minor) {
            Ok(r) => r,
            Err(e) if e.to_string().contains("libnvrtc") => {
                kiln_tensor::testing::skip(
                    kiln_tensor::testing::Need::Gpu,
                    "ptxas resource report",
                    &format!("libnvrtc cannot be loaded ({e})"),
                );
                return;
            }
            Err(e) => panic!("sm_{major}{minor}: {e}"),
        };
        assert!(
            report.len() >= 32,
            "sm_{major}{minor}: {} kernels reported",
            report.len()
        );
        for k in &report {
            if k.kernel.starts_with("conv_") {
                println!(
                    "sm_{major}{minor} {:<24} {:>3} registers, {} bytes spilled, {} bytes stack",
                    k.kernel, k.registers, k.spill_bytes, k.stack_bytes
                );
            }
        }
        let spilling: Vec<_> = report.iter().filter(|k| k.spill_bytes > 0).collect();
        assert!(
            spilling.is_empty(),
            "sm_{major}{minor}: kernels spill: {spilling:?}"
        );
    }
}
