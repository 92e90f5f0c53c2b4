//! Criterion benches of the CPU convolution kernels: forward, backward-input and
//! backward-weight of ConfigNet(48/96/256)'s four convolutions at batch 512, for every algorithm
//! (the fused AVX2 engine, im2col + matrixmultiply, im2col + gemm), and the
//! 512x13824 · 13824x256 GEMM for both libraries. Throughput is reported in elements/s where
//! one element is one flop, so `Gelem/s` reads as GFLOP/s.
//!
//! `cargo bench -p kiln-nn --bench conv` (a few minutes; `cargo run --release -p kiln-nn --example conv_gflops` prints
//! the same table in seconds).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kiln_nn::ConfigNetConfig;
use kiln_tensor::cpu::gemm::{GemmImpl, sgemm};
use kiln_tensor::ops::conv2d::cpu::{
    ConvAlgo, conv2d_backward_input_with, conv2d_backward_weight_with, conv2d_forward_with,
};
use std::hint::black_box;
use std::time::Duration;

const BATCH: usize = 512;
const ALGOS: [ConvAlgo; 3] = [
    ConvAlgo::Fused,
    ConvAlgo::Im2col(GemmImpl::MatrixMultiply),
    ConvAlgo::Im2col(GemmImpl::Gemm),
];

fn data(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32
                / (1u32 << 24) as f32
                - 0.5
        })
        .collect()
}

fn algo_name(algo: ConvAlgo) -> String {
    match algo {
        ConvAlgo::Fused => "fused".into(),
        ConvAlgo::Im2col(imp) => format!("im2col+{}", imp.name()),
    }
}

fn convs(c: &mut Criterion) {
    for (_, s) in ConfigNetConfig::default().conv_specs(BATCH) {
        let (ci, co, side, st) = (s.c_in, s.c_out, s.h, s.stride.0);
        let x = data(s.input_shape().iter().product(), 1);
        let w = data(s.weight_shape().iter().product(), 2);
        let b = data(co, 3);
        let g = data(s.output_shape().iter().product(), 4);
        let mut group = c.benchmark_group(format!("conv{ci}to{co}_s{st}_{side}x{side}"));
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(3));
        group.throughput(Throughput::Elements(s.forward_flops() as u64));
        for algo in ALGOS {
            let name = algo_name(algo);
            group.bench_function(BenchmarkId::new("forward", &name), |bch| {
                bch.iter(|| black_box(conv2d_forward_with(algo, &x, &w, Some(&b), &s)))
            });
            group.bench_function(BenchmarkId::new("backward_input", &name), |bch| {
                bch.iter(|| black_box(conv2d_backward_input_with(algo, &g, &w, &s)))
            });
            group.bench_function(BenchmarkId::new("backward_weight", &name), |bch| {
                bch.iter(|| black_box(conv2d_backward_weight_with(algo, &x, &g, &s)))
            });
        }
        group.finish();
    }
}

fn big_gemm(c: &mut Criterion) {
    let (m, k, n) = (512, 13824, 256);
    let a = data(m * k, 5);
    let b = data(k * n, 6);
    let mut out = vec![0.0f32; m * n];
    let mut group = c.benchmark_group("gemm_512x13824x256");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(2 * (m * k * n) as u64));
    for imp in GemmImpl::ALL {
        group.bench_function(imp.name(), |bch| {
            bch.iter(|| {
                sgemm(
                    imp,
                    m,
                    k,
                    n,
                    1.0,
                    &a,
                    (k, 1),
                    &b,
                    (n, 1),
                    0.0,
                    &mut out,
                    (n, 1),
                    true,
                );
                black_box(&out);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, convs, big_gemm);
criterion_main!(benches);
