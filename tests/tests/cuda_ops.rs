//! CPU against CUDA, op by op on random shapes, forward and backward through the Tensor API
//! and autograd: elementwise ops with broadcasting and strided views, reductions, matmul,
//! random fills, dropout and the fused optimizers. Needs an NVIDIA GPU: run with --ignored.
#![cfg(feature = "cuda")]

use kiln_tensor::{AdamStep, Backend, Cpu, Result, SgdStep, Tensor};
use kiln_tests::{assert_close, both, gpu, max_abs_diff, rel_err};
use proptest::prelude::*;

const TOL: f64 = 1e-4;

/// `n` values in `[lo, hi)` from `seed` (host side, the same everywhere).
fn values(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    (0..n as u64)
        .map(|i| lo + (hi - lo) * kiln_tensor::rng::uniform01(seed ^ 0x5eed, i))
        .collect()
}

fn input(shape: &[usize], seed: u64, lo: f32, hi: f32) -> (Vec<usize>, Vec<f32>) {
    (shape.to_vec(), values(shape.iter().product(), seed, lo, hi))
}

const UNARY: [&str; 13] = [
    "neg", "exp", "log", "sqrt", "sqr", "abs", "relu", "tanh", "sigmoid", "recip", "affine",
    "powf", "step",
];

fn unary<B: Backend>(op: usize, x: &Tensor<B>) -> Result<Tensor<B>> {
    match op {
        0 => x.neg(),
        1 => x.exp(),
        2 => x.log(),
        3 => x.sqrt(),
        4 => x.sqr(),
        5 => x.abs(),
        6 => x.relu(),
        7 => x.tanh(),
        8 => x.sigmoid(),
        9 => x.recip(),
        10 => x.affine(-1.5, 0.25),
        11 => x.powf(1.7),
        _ => x.step(),
    }
}

fn binary<B: Backend>(op: usize, a: &Tensor<B>, b: &Tensor<B>) -> Result<Tensor<B>> {
    match op {
        0 => a.add(b),
        1 => a.sub(b),
        2 => a.mul(b),
        3 => a.div(b),
        4 => a.maximum(b),
        _ => a.minimum(b),
    }
}

/// A shape and a version of it with some dimensions set to 1 and some leading ones dropped
/// (numpy broadcasting).
fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    (
        prop::collection::vec(1usize..5, 1..=4),
        prop::collection::vec(any::<bool>(), 4),
        0usize..3,
    )
        .prop_map(|(shape, ones, drop)| {
            let mut small: Vec<usize> = shape
                .iter()
                .zip(&ones)
                .map(|(&d, &one)| if one { 1 } else { d })
                .collect();
            let drop = drop.min(small.len() - 1);
            small.drain(..drop);
            (shape, small)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    #[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
    fn unary_ops_match(op in 0usize..13, shape in prop::collection::vec(1usize..6, 1..=4), seed in any::<u64>()) {
        // log, sqrt, recip and powf need positive inputs
        let (lo, hi) = if [2, 3, 9, 11].contains(&op) { (0.25, 3.0) } else { (-3.0, 3.0) };
        let inputs = [input(&shape, seed, lo, hi)];
        let (cpu, gpu) = both!(inputs, |xs| unary(op, &xs[0]));
        assert_close(UNARY[op], &gpu, &cpu, TOL);
    }

    #[test]
    #[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
    fn binary_ops_broadcast(op in 0usize..6, (big, small) in broadcast_pair(), swap in any::<bool>(), seed in any::<u64>()) {
        let (a, b) = if swap { (small, big) } else { (big, small) };
        let inputs = [input(&a, seed, -2.0, 2.0), input(&b, seed + 1, 0.5, 2.0)];
        let (cpu, gpu) = both!(inputs, |xs| binary(op, &xs[0], &xs[1]));
        assert_close("binary", &gpu, &cpu, TOL);
    }

    #[test]
    #[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
    fn binary_ops_on_transposed_views(op in 0usize..6, m in 1usize..7, n in 1usize..7, seed in any::<u64>()) {
        // lhs is a transposed (strided) view, rhs a broadcast row
        let inputs = [input(&[n, m], seed, -2.0, 2.0), input(&[1, n], seed + 1, 0.5, 2.0)];
        let (cpu, gpu) = both!(inputs, |xs| binary(op, &xs[0].t()?, &xs[1]));
        assert_close("binary (views)", &gpu, &cpu, TOL);
    }

    #[test]
    #[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
    fn permuted_copies_match(shape in prop::collection::vec(1usize..5, 2..=5), rot in 1usize..5, seed in any::<u64>()) {
        let r = shape.len();
        let perm: Vec<usize> = (0..r).map(|i| (i + rot) % r).collect();
        let inputs = [input(&shape, seed, -1.0, 1.0)];
        let (cpu, gpu) = both!(inputs, |xs| xs[0].permute(&perm)?.contiguous()?.scale(2.0));
        assert_close("permute + contiguous", &gpu, &cpu, 0.0);
    }

    #[test]
    #[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
    fn reductions_match(shape in prop::collection::vec(1usize..6, 1..=4), mask in 1u8..16, keep in any::<bool>(), op in 0usize..4, seed in any::<u64>()) {
        let r = shape.len();
        let mut axes: Vec<usize> = (0..r).filter(|a| mask & (1 << a) != 0).collect();
        if axes.is_empty() {
            axes.push(r - 1);
        }
        let inputs = [input(&shape, seed, -3.0, 3.0)];
        let (cpu, gpu) = both!(inputs, |xs| match op {
            0 => xs[0].sum(&axes, keep),
            1 => xs[0].mean(&axes, keep),
            2 => xs[0].max(&axes, keep),
            _ => xs[0].argmax(axes[0]),
        });
        assert_close("reduction", &gpu, &cpu, TOL);
    }

    #[test]
    #[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
    fn matmuls_match(b in 1usize..4, m in 1usize..9, k in 1usize..9, n in 1usize..9, variant in 0usize..5, seed in any::<u64>()) {
        let tol = TOL;
        let (cpu, gpu) = match variant {
            // plain 2-D
            0 => { let i = [input(&[m, k], seed, -1.0, 1.0), input(&[k, n], seed + 1, -1.0, 1.0)];
                   both!(i, |xs| xs[0].matmul(&xs[1])) }
            // transposed operands (column-major for cuBLAS)
            1 => { let i = [input(&[k, m], seed, -1.0, 1.0), input(&[n, k], seed + 1, -1.0, 1.0)];
                   both!(i, |xs| xs[0].t()?.matmul(&xs[1].t()?)) }
            // batched, rhs transposed per batch
            2 => { let i = [input(&[b, m, k], seed, -1.0, 1.0), input(&[b, n, k], seed + 1, -1.0, 1.0)];
                   both!(i, |xs| xs[0].matmul(&xs[1].transpose(1, 2)?)) }
            // batched with a permuted lhs (row stride b·k > k)
            3 => { let i = [input(&[m, b, k], seed, -1.0, 1.0), input(&[b, k, n], seed + 1, -1.0, 1.0)];
                   both!(i, |xs| xs[0].permute(&[1, 0, 2])?.matmul(&xs[1])) }
            // a broadcast lhs (row stride 0): gathered before cuBLAS, plus linear()
            _ => { let i = [input(&[1, k], seed, -1.0, 1.0), input(&[n, k], seed + 1, -1.0, 1.0), input(&[n], seed + 2, -1.0, 1.0)];
                   both!(i, |xs| xs[0].broadcast_as(&[m, k])?.linear(&xs[1], Some(&xs[2]))) }
        };
        assert_close("matmul", &gpu, &cpu, tol);
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
fn long_rows_use_the_split_sum() {
    // few long rows take reduce_sum_partial/final; a long column sum goes through a copy
    for shape in [vec![3, 40_000], vec![40_000, 3], vec![1, 300_001]] {
        let inputs = [input(&shape, 7, -1.0, 1.0)];
        let (cpu, gpu) = both!(inputs, |xs| xs[0].sum(&[0], false)?.sum_all());
        assert_close("split sum", &gpu, &cpu, 1e-5);
        let (cpu, gpu) = both!(inputs, |xs| xs[0].sum(&[1], false));
        assert_close("row sums", &gpu, &cpu, 1e-5);
        let (cpu, gpu) = both!(inputs, |xs| xs[0].max(&[1], false));
        assert_close("row max", &gpu, &cpu, 0.0);
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
fn random_fills_are_the_cpus_numbers() {
    let dev = gpu();
    for seed in [0u64, 1, 42, 0xDEAD_BEEF, u64::MAX] {
        for len in [1usize, 1000, 100_003] {
            let c = Tensor::rand_uniform(&[len], -3.0, 5.0, seed, &Cpu).unwrap();
            let g = Tensor::rand_uniform(&[len], -3.0, 5.0, seed, &dev).unwrap();
            let (c, g) = (c.to_vec().unwrap(), g.to_vec().unwrap());
            let same = c.iter().zip(&g).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "uniform seed {seed} len {len}: not bit-identical");

            let c = Tensor::rand_normal(&[len], 0.5, 2.0, seed, &Cpu).unwrap();
            let g = Tensor::rand_normal(&[len], 0.5, 2.0, seed, &dev).unwrap();
            let (c, g) = (c.to_vec().unwrap(), g.to_vec().unwrap());
            let exact = c
                .iter()
                .zip(&g)
                .filter(|(a, b)| a.to_bits() == b.to_bits())
                .count();
            // Box-Muller's log/cos in double may differ in the last double bit between libm
            // and CUDA; after rounding to f32 that shows up at most as 1 ulp, very rarely
            for (a, b) in c.iter().zip(&g) {
                assert!(
                    (a - b).abs() <= 1.5 * f32::EPSILON * a.abs().max(1.0),
                    "{a} vs {b}"
                );
            }
            println!("normal seed {seed} len {len}: {exact}/{len} bit-identical");
            assert!(exact * 1000 >= len * 999, "too many normal values differ");
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
fn dropout_masks_match() {
    let inputs = [input(&[4, 7, 9], 3, -1.0, 1.0)];
    for p in [0.1f32, 0.5, 0.9] {
        let (cpu, gpu) = both!(inputs, |xs| xs[0].dropout(p, 1234));
        assert_close("dropout", &gpu, &cpu, 0.0);
    }
}

fn optimizer_run<B: Backend>(
    dev: &B,
    adam: Option<AdamStep>,
    sgd: Option<SgdStep>,
) -> Vec<Vec<f32>> {
    let n = 10_007;
    let mut p = Tensor::from_slice(&values(n, 1, -1.0, 1.0), &[n], dev).unwrap();
    let mut m = Tensor::zeros(&[n], dev).unwrap();
    let mut v = Tensor::zeros(&[n], dev).unwrap();
    let shared = p.clone(); // makes the first update copy the storage (Clone on the device)
    for step in 1..=3u64 {
        let g = Tensor::from_slice(&values(n, 10 + step, -0.1, 0.1), &[n], dev).unwrap();
        if let Some(mut hp) = adam {
            hp.step = step;
            p.adam_step_(&g, &mut m, &mut v, &hp).unwrap();
        }
        if let Some(mut hp) = sgd {
            hp.first = step == 1;
            p.sgd_step_(&g, &mut m, &hp).unwrap();
        }
    }
    [p, m, v, shared]
        .iter()
        .map(|t| t.to_vec().unwrap())
        .collect()
}

#[test]
#[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
fn fused_optimizers_match_bit_for_bit() {
    let dev = gpu();
    let adam = |wd: f32, decoupled: bool| AdamStep {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: wd,
        decoupled,
        step: 1,
    };
    let sgd = |momentum: f32, dampening: f32, wd: f32, nesterov: bool| SgdStep {
        lr: 0.05,
        momentum,
        dampening,
        weight_decay: wd,
        nesterov,
        first: true,
    };
    let cases = [
        (Some(adam(0.0, false)), None),
        (Some(adam(0.01, false)), None),
        (Some(adam(0.01, true)), None),
        (None, Some(sgd(0.0, 0.0, 0.0, false))),
        (None, Some(sgd(0.9, 0.0, 1e-4, false))),
        (None, Some(sgd(0.9, 0.1, 0.0, true))),
    ];
    for (a, s) in cases {
        let c = optimizer_run(&Cpu, a, s);
        let g = optimizer_run(&dev, a, s);
        for (i, (gv, cv)) in g.iter().zip(&c).enumerate() {
            let exact = gv.iter().zip(cv).all(|(x, y)| x.to_bits() == y.to_bits());
            println!(
                "{a:?} {s:?} buffer {i}: bit-identical {exact}, max diff {:.1e}",
                max_abs_diff(gv, cv)
            );
            assert!(rel_err(gv, cv) <= 1e-6, "optimizer buffer {i} differs");
        }
        // the untouched clone kept the original values
        assert_eq!(g[3], values(10_007, 1, -1.0, 1.0));
    }
}
