//! Quick GFLOP/s table of the CPU convolution kernels on ConfigNet(48/96/256)'s four
//! convolutions at batch 512 (forward, backward-input, backward-weight), for every
//! algorithm, and of the 512x13824 · 13824x256 GEMM for both GEMM libraries.
//!
//! `cargo run --release -p kiln-nn --example conv_gflops [-- REPS [fused|matrixmultiply|gemm]]`
//! - `CPU_TIME=1`: process CPU time divided by the thread count instead of wall time
//!   (steadier when other processes share the cores);
//! - `REUSE=1`: write into buffers allocated once (`*_into`) instead of a fresh `Vec` per
//!   call, which removes the kernel's zeroing of fresh pages from the timings;
//! - `RETAIN=1`: call `cpu::alloc::retain_freed_memory()` first (fresh `Vec`s then reuse
//!   the heap's already-mapped pages).

use kiln_nn::ConfigNetConfig;
use kiln_tensor::cpu::gemm::{GemmImpl, sgemm};
use kiln_tensor::ops::conv2d::cpu::{
    ConvAlgo, conv2d_backward_input_into, conv2d_backward_input_with, conv2d_backward_weight_into,
    conv2d_backward_weight_with, conv2d_forward_into, conv2d_forward_with,
};
use kiln_tensor::ops::pool::PoolKernels;
use kiln_tensor::{Cpu, Pool2dSpec};
use std::hint::black_box;
use std::time::Instant;

const BATCH: usize = 512;

fn data(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32
                / (1u32 << 24) as f32
                - 0.5
        })
        .collect()
}

/// CPU seconds (user + system, all threads) used by this process, from /proc (Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
}

/// Seconds per run after one warm-up: the median wall time, or with `CPU_TIME=1` the mean
/// CPU time divided by the thread count.
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    if std::env::var_os("CPU_TIME").is_some() {
        let c0 = cpu_seconds().unwrap_or(0.0);
        (0..reps).for_each(|_| f());
        let c1 = cpu_seconds().unwrap_or(0.0);
        return (c1 - c0) / reps as f64 / rayon::current_num_threads() as f64;
    }
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn name(algo: ConvAlgo) -> String {
    match algo {
        ConvAlgo::Fused => "fused (AVX2 implicit GEMM)".into(),
        ConvAlgo::Im2col(imp) => format!("im2col + {}", imp.name()),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let reps: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let all = [
        ConvAlgo::Fused,
        ConvAlgo::Im2col(GemmImpl::MatrixMultiply),
        ConvAlgo::Im2col(GemmImpl::Gemm),
    ];
    let algos: Vec<ConvAlgo> = match args.get(2).map(String::as_str) {
        Some("fused") => vec![ConvAlgo::Fused],
        Some(s) => GemmImpl::parse(s)
            .map(ConvAlgo::Im2col)
            .into_iter()
            .collect(),
        None => all.to_vec(),
    };
    let reuse = std::env::var_os("REUSE").is_some();
    if std::env::var_os("RETAIN").is_some() {
        println!(
            "retain_freed_memory: {}",
            kiln_tensor::cpu::alloc::retain_freed_memory()
        );
    }
    let clock = if std::env::var_os("CPU_TIME").is_some() {
        "CPU time / threads"
    } else {
        "wall, median"
    };
    println!(
        "threads: {}, reps: {reps} ({clock}), outputs: {}",
        rayon::current_num_threads(),
        if reuse {
            "reused (_into)"
        } else {
            "fresh Vec per call"
        }
    );
    for algo in algos {
        println!("\n== {} ==  GFLOP/s", name(algo));
        println!(
            "{:<26} {:>7} {:>7} {:>7}   {:>6}",
            "conv, batch 512", "fwd", "bwd_in", "bwd_w", "GFLOP"
        );
        let (mut flops, mut secs) = (0.0, 0.0);
        for (_, s) in ConfigNetConfig::default().conv_specs(BATCH) {
            let (ci, co, side, st) = (s.c_in, s.c_out, s.h, s.stride.0);
            let x = data(s.input_shape().iter().product(), 1);
            let w = data(s.weight_shape().iter().product(), 2);
            let b = data(co, 3);
            let g = data(s.output_shape().iter().product(), 4);
            let f = s.forward_flops();
            let (t_f, t_i, t_w) = if reuse {
                // Outputs allocated once and overwritten: no fresh-page faults.
                let mut y = vec![0.0; BATCH * co * s.out_h() * s.out_w()];
                let mut dx = vec![0.0; x.len()];
                let mut dw = vec![0.0; w.len()];
                (
                    time(reps, || {
                        conv2d_forward_into(algo, &x, &w, Some(&b), &s, &mut y)
                    }),
                    time(reps, || {
                        conv2d_backward_input_into(algo, &g, &w, &s, &mut dx)
                    }),
                    time(reps, || {
                        conv2d_backward_weight_into(algo, &x, &g, &s, &mut dw)
                    }),
                )
            } else {
                (
                    time(reps, || {
                        drop(black_box(conv2d_forward_with(algo, &x, &w, Some(&b), &s)))
                    }),
                    time(reps, || {
                        drop(black_box(conv2d_backward_input_with(algo, &g, &w, &s)))
                    }),
                    time(reps, || {
                        drop(black_box(conv2d_backward_weight_with(algo, &x, &g, &s)))
                    }),
                )
            };
            let k = s.kh;
            let label = format!("{ci}->{co} {k}x{k}/s{st} on {side}x{side}");
            let gf = |t: f64| f / t / 1e9;
            println!(
                "{label:<26} {:>7.1} {:>7.1} {:>7.1}   {:>6.2}",
                gf(t_f),
                gf(t_i),
                gf(t_w),
                f / 1e9
            );
            flops += 3.0 * f;
            secs += t_f + t_i + t_w;
        }
        println!(
            "total: {:.1} GFLOP in {:.0} ms = {:.1} GFLOP/s",
            flops / 1e9,
            secs * 1e3,
            flops / secs / 1e9
        );
    }
    let (m, k, n) = (512, 13824, 256);
    let a = data(m * k, 5);
    let bm = data(k * n, 6);
    let mut c = vec![0.0f32; m * n];
    println!();
    for imp in GemmImpl::ALL {
        let t = time(reps, || {
            sgemm(
                imp,
                m,
                k,
                n,
                1.0,
                &a,
                (k, 1),
                &bm,
                (n, 1),
                0.0,
                &mut c,
                (n, 1),
                true,
            )
        });
        println!(
            "gemm {m}x{k} · {k}x{n} ({}, parallel): {:.1} GFLOP/s",
            imp.name(),
            2.0 * (m * k * n) as f64 / t / 1e9
        );
    }
    println!();
    for (c, side, k, st, pad) in [(96, 24, 2, 2, 0), (48, 28, 3, 2, 1)] {
        let s = Pool2dSpec {
            n: BATCH,
            c,
            h: side,
            w: side,
            kernel: (k, k),
            stride: (st, st),
            padding: (pad, pad),
        };
        let x = data(BATCH * c * side * side, 7);
        let g = data(BATCH * c * s.out_h() * s.out_w(), 8);
        let (_, arg) = Cpu.max_pool2d(&x, &s).expect("pool geometry");
        let ms = |t: f64| t * 1e3;
        let t_mf = time(reps, || drop(black_box(Cpu.max_pool2d(&x, &s))));
        let t_mb = time(reps, || {
            drop(black_box(Cpu.max_pool2d_backward(&g, &arg, &s)))
        });
        let t_af = time(reps, || drop(black_box(Cpu.avg_pool2d(&x, &s))));
        let t_ab = time(reps, || drop(black_box(Cpu.avg_pool2d_backward(&g, &s))));
        println!(
            "pool {k}x{k}/s{st}/p{pad} on [{BATCH}, {c}, {side}, {side}]: max fwd {:.1} ms, bwd {:.1} ms; avg fwd {:.1} ms, bwd {:.1} ms",
            ms(t_mf),
            ms(t_mb),
            ms(t_af),
            ms(t_ab)
        );
    }
}
