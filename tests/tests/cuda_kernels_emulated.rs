//! Kiln's CUDA kernel sources, run on the CPU: tests/cuda_emu/shim.h stands in for the CUDA
//! features they use (blocks of fibers, barriers for __syncthreads and warp shuffles, scalar
//! stand-ins for the tensor-core mma, cvt.rna.tf32 and cp.async),
//! and tests/cuda_emu/check.cpp runs every kernel with the Rust host code's launch shapes
//! against naive references. This checks the kernels' logic on machines without a GPU (it
//! needs only a C++20 compiler); the GPU tests check the real thing. The random generator's
//! values are also compared with `kiln_tensor::rng`, bit for bit.

use std::path::PathBuf;
use std::process::Command;

use kiln_tensor::testing::{Need, skip};

fn sources() -> Option<PathBuf> {
    [
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cuda_emu"),
        PathBuf::from("tests/cuda_emu"),
    ]
    .into_iter()
    .find(|d| d.join("check.cpp").exists())
}

#[test]
fn cuda_kernels_pass_on_the_cpu_emulator() {
    let Some(dir) = sources() else {
        skip(
            Need::Cxx,
            "emulated CUDA kernels",
            "tests/cuda_emu is absent",
        );
        return;
    };
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kiln_cuda_emu_check");
    let mut cmd = Command::new(&cxx);
    cmd.args(["-std=c++20", "-O1", "-pthread", "-ffp-contract=off"]);
    if cfg!(target_arch = "x86_64") {
        // the emulator's fibers switch stacks by hand, which CET shadow stacks (on by default
        // in some distributions' compilers) forbid; with them it falls back to ucontext, 9x slower
        cmd.arg("-fcf-protection=none");
    }
    let build = cmd.arg("-o").arg(&exe).arg(dir.join("check.cpp")).output();
    let build = match build {
        Ok(b) => b,
        Err(e) => {
            skip(
                Need::Cxx,
                "emulated CUDA kernels",
                &format!("{cxx} cannot run ({e})"),
            );
            return;
        }
    };
    let stderr = String::from_utf8_lossy(&build.stderr);
    if !build.status.success() {
        if stderr.contains("<barrier>") || stderr.contains("atomic_ref") {
            skip(
                Need::Cxx,
                "emulated CUDA kernels",
                &format!("{cxx} lacks C++20 <barrier>"),
            );
            return;
        }
        panic!("compiling the kernels for the CPU emulator failed:\n{stderr}");
    }
    let run = Command::new(&exe).output().expect("the emulator runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let mut rng_checked = 0;
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("rng ") else {
            if !line.starts_with("  index") {
                println!("{line}");
            }
            continue;
        };
        let v: Vec<u64> = rest
            .split_whitespace()
            .map(|t| {
                t.parse::<i64>()
                    .map(|x| x as u64)
                    .or_else(|_| t.parse::<u64>())
            })
            .collect::<Result<_, _>>()
            .expect("numbers");
        let (seed, index) = (v[0], v[1]);
        assert_eq!(
            v[2],
            kiln_tensor::rng::hash64(seed, index),
            "hash64({seed}, {index})"
        );
        let u = kiln_tensor::rng::uniform01(seed, index).to_bits();
        assert_eq!(v[3] as u32, u, "uniform01({seed}, {index})");
        let z = kiln_tensor::rng::standard_normal(seed, index).to_bits();
        assert_eq!(v[4] as u32, z, "standard_normal({seed}, {index})");
        rng_checked += 1;
    }
    assert!(
        rng_checked >= 30,
        "the emulator printed the generator's values"
    );
    assert!(
        run.status.success(),
        "emulated kernels failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
}
