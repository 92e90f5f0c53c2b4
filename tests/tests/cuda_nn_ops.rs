//! CPU against CUDA for the network ops on random geometries, forward and backward through
//! the Tensor API and autograd: conv2d and the fused conv2d_relu (both engines: im2col +
//! cuBLAS, chunked, and implicit GEMM; in `Precision::F32`, see `kiln_tests::gpu`), max/avg
//! pooling, batch norm (1-D and 2-D, training and evaluation) and the fused
//! cross-entropy, including what an invalid label does on the GPU. Needs an NVIDIA GPU: run
//! with --ignored.
#![cfg(feature = "cuda")]

use kiln_tensor::cuda::ConvEngine;
use kiln_tensor::{Backend, Conv2dOptions, Pool2dOptions, Result, Tensor, TensorError, out_size};
use kiln_tests::{assert_close, both, gpu};
use proptest::prelude::*;

const TOL: f64 = 1e-4;

fn input(shape: &[usize], seed: u64, lo: f32, hi: f32) -> (Vec<usize>, Vec<f32>) {
    let n: usize = shape.iter().product();
    let v = (0..n as u64)
        .map(|i| lo + (hi - lo) * kiln_tensor::rng::uniform01(seed ^ 0xc0ffee, i))
        .collect();
    (shape.to_vec(), v)
}

/// Class indices in `0..k` as f32.
fn labels(n: usize, k: usize, seed: u64) -> Vec<f32> {
    (0..n as u64)
        .map(|i| (kiln_tensor::rng::hash64(seed, i) % k as u64) as f32)
        .collect()
}

#[derive(Debug, Clone, Copy)]
struct ConvCase {
    n: usize,
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    k: (usize, usize),
    opts: Conv2dOptions,
    bias: bool,
}

fn conv_case() -> impl Strategy<Value = ConvCase> {
    (
        (1usize..4, 1usize..5, 3usize..11, 3usize..11, 1usize..5),
        (
            1usize..4,
            1usize..4,
            1usize..4,
            1usize..4,
            0usize..3,
            0usize..3,
        ),
        (1usize..3, 1usize..3, any::<bool>()),
    )
        .prop_map(
            |((n, c_in, h, w, c_out), (kh, kw, sh, sw, ph, pw), (dh, dw, bias))| ConvCase {
                n,
                c_in,
                h,
                w,
                c_out,
                k: (kh, kw),
                opts: Conv2dOptions {
                    stride: (sh, sw),
                    padding: (ph, pw),
                    dilation: (dh, dw),
                },
                bias,
            },
        )
        .prop_filter("the kernel fits the input", |c| {
            out_size(
                c.h,
                c.k.0,
                c.opts.stride.0,
                c.opts.padding.0,
                c.opts.dilation.0,
            ) > 0
                && out_size(
                    c.w,
                    c.k.1,
                    c.opts.stride.1,
                    c.opts.padding.1,
                    c.opts.dilation.1,
                ) > 0
        })
}

fn conv_inputs(c: &ConvCase, seed: u64) -> Vec<(Vec<usize>, Vec<f32>)> {
    let mut v = vec![
        input(&[c.n, c.c_in, c.h, c.w], seed, -1.0, 1.0),
        input(&[c.c_out, c.c_in, c.k.0, c.k.1], seed + 1, -0.5, 0.5),
    ];
    if c.bias {
        v.push(input(&[c.c_out], seed + 2, -0.5, 0.5));
    }
    v
}

fn conv<B: Backend>(xs: &[Tensor<B>], opts: Conv2dOptions) -> Result<Tensor<B>> {
    xs[0].conv2d(&xs[1], xs.get(2), opts)
}

fn pool<B: Backend>(x: &Tensor<B>, max: bool, opts: Pool2dOptions) -> Result<Tensor<B>> {
    if max {
        x.max_pool2d(opts)
    } else {
        x.avg_pool2d(opts)
    }
}

/// Batch norm with batch statistics (`train`) or with the given running statistics (inputs 3
/// and 4, detached).
fn batch_norm<B: Backend>(xs: &[Tensor<B>], train: bool) -> Result<Tensor<B>> {
    if train {
        return Ok(xs[0].batch_norm(&xs[1], &xs[2], None, 1e-5)?.y);
    }
    let (m, v) = (xs[3].detach(), xs[4].detach());
    Ok(xs[0].batch_norm(&xs[1], &xs[2], Some((&m, &v)), 1e-5)?.y)
}

fn bn_inputs(shape: &[usize], seed: u64) -> Vec<(Vec<usize>, Vec<f32>)> {
    let c = shape[1];
    vec![
        input(shape, seed, -2.0, 3.0),
        input(&[c], seed + 1, 0.5, 1.5),
        input(&[c], seed + 2, -0.5, 0.5),
        input(&[c], seed + 3, -0.5, 0.5),
        input(&[c], seed + 4, 0.5, 2.0),
    ]
}

fn cross_entropy<B: Backend>(logits: &Tensor<B>, y: &[f32], smoothing: f32) -> Result<Tensor<B>> {
    let labels = Tensor::from_slice(y, &[y.len()], logits.device())?;
    logits.cross_entropy(&labels, smoothing)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    #[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
    fn conv2d_matches(c in conv_case(), seed in any::<u64>()) {
        // each engine in turn (Auto is left to whatever the timing picks elsewhere)
        let inputs = conv_inputs(&c, seed);
        for engine in [ConvEngine::Gemm, ConvEngine::Implicit] {
            gpu().set_conv_engine(engine);
            let (cpu, on_gpu) = both!(inputs, |xs| conv(xs, c.opts));
            assert_close(&format!("conv2d {engine:?} {c:?}"), &on_gpu, &cpu, TOL);
            // the ReLU fused into the engine's epilogue
            let (cpu, on_gpu) = both!(inputs, |xs| xs[0].conv2d_relu(&xs[1], xs.get(2), c.opts));
            assert_close(&format!("conv2d_relu {engine:?} {c:?}"), &on_gpu, &cpu, TOL);
        }
        gpu().set_conv_engine(ConvEngine::Auto);
    }

    #[test]
    #[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
    fn pools_match(
        (n, c, h, w) in (1usize..4, 1usize..4, 2usize..11, 2usize..11),
        (kh, kw, sh, sw) in (1usize..4, 1usize..4, 1usize..4, 1usize..4),
        (pad_h, pad_w, max) in (any::<bool>(), any::<bool>(), any::<bool>()),
        seed in any::<u64>(),
    ) {
        let padding = (if pad_h { kh / 2 } else { 0 }, if pad_w { kw / 2 } else { 0 });
        prop_assume!(out_size(h, kh, sh, padding.0, 1) > 0 && out_size(w, kw, sw, padding.1, 1) > 0);
        let opts = Pool2dOptions { kernel: (kh, kw), stride: (sh, sw), padding };
        let inputs = [input(&[n, c, h, w], seed, -2.0, 2.0)];
        let (cpu, gpu) = both!(inputs, |xs| pool(&xs[0], max, opts));
        assert_close(&format!("pool max={max} {opts:?}"), &gpu, &cpu, TOL);
    }

    #[test]
    #[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
    fn batch_norms_match(n in 2usize..9, c in 1usize..6, side in prop::sample::select(vec![0usize, 1, 3, 9]), train in any::<bool>(), seed in any::<u64>()) {
        let shape = if side == 0 { vec![n, c] } else { vec![n, c, side, side] };
        let inputs = bn_inputs(&shape, seed);
        let (cpu, gpu) = both!(inputs, |xs| batch_norm(xs, train));
        assert_close(&format!("batch_norm {shape:?} train={train}"), &gpu, &cpu, TOL);
    }

    #[test]
    #[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
    fn cross_entropy_matches(n in 1usize..40, k in 1usize..40, smoothing in prop::sample::select(vec![0.0f32, 0.1, 0.3]), seed in any::<u64>()) {
        let y = labels(n, k, seed);
        let inputs = [input(&[n, k], seed, -4.0, 4.0)];
        let (cpu, gpu) = both!(inputs, |xs| cross_entropy(&xs[0], &y, smoothing));
        assert_close("cross_entropy", &gpu, &cpu, TOL);
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
fn wide_convolutions_match_with_every_engine() {
    // several tiles of the implicit kernels in every direction (channels over 48, pixels over
    // 128, taps over 128), a stride-2 transposed gather, and the engine picked by timing
    let dev = gpu();
    let cases = [(1, 1), (2, 2)].map(|(sh, sw)| ConvCase {
        n: 3,
        c_in: 50,
        h: 13,
        w: 11,
        c_out: 100,
        k: (3, 3),
        opts: Conv2dOptions {
            stride: (sh, sw),
            padding: (1, 0),
            dilation: (1, 1),
        },
        bias: true,
    });
    for c in cases {
        let inputs = conv_inputs(&c, 5);
        for engine in [ConvEngine::Gemm, ConvEngine::Implicit, ConvEngine::Auto] {
            dev.set_conv_engine(engine);
            let (cpu, on_gpu) = both!(inputs, |xs| conv(xs, c.opts));
            assert_close(&format!("conv2d {engine:?} {c:?}"), &on_gpu, &cpu, TOL);
        }
    }
    dev.set_conv_engine(ConvEngine::Auto);
}

#[test]
#[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
fn convolutions_split_into_chunks_agree() {
    // a tiny workspace forces one image per chunk (and beta = 1 accumulation of the weight
    // gradient across chunks); the default puts the whole batch in one chunk
    let dev = gpu();
    let c = ConvCase {
        n: 5,
        c_in: 3,
        h: 12,
        w: 11,
        c_out: 4,
        k: (3, 3),
        opts: Conv2dOptions {
            stride: (2, 1),
            padding: (1, 1),
            dilation: (1, 2),
        },
        bias: true,
    };
    let inputs = conv_inputs(&c, 11);
    dev.set_conv_engine(ConvEngine::Gemm);
    let (cpu, whole) = both!(inputs, |xs| conv(xs, c.opts));
    dev.set_conv_workspace(1);
    let (_, chunked) = both!(inputs, |xs| conv(xs, c.opts));
    dev.set_conv_workspace(1 << 26);
    dev.set_conv_engine(ConvEngine::Auto);
    assert_close("conv2d (one chunk)", &whole, &cpu, TOL);
    assert_close("conv2d (chunk per image)", &chunked, &cpu, TOL);
}

#[test]
#[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
fn wide_batch_norms_and_large_cross_entropy_match() {
    // BatchNorm1d with many features uses one thread per channel; a 2-D one with large planes
    // takes the nested loop; k > 32 classes makes every lane loop
    for shape in [
        vec![64, 700],
        vec![3, 300],
        vec![4, 3, 16, 16],
        vec![2, 130],
    ] {
        for train in [true, false] {
            let inputs = bn_inputs(&shape, 5);
            let (cpu, gpu) = both!(inputs, |xs| batch_norm(xs, train));
            assert_close(
                &format!("batch_norm {shape:?} train={train}"),
                &gpu,
                &cpu,
                TOL,
            );
        }
    }
    for (n, k) in [(1000, 10), (37, 300), (3, 1)] {
        let y = labels(n, k, 9);
        let inputs = [input(&[n, k], 4, -6.0, 6.0)];
        let (cpu, gpu) = both!(inputs, |xs| cross_entropy(&xs[0], &y, 0.1));
        assert_close(&format!("cross_entropy n={n} k={k}"), &gpu, &cpu, TOL);
    }
}

/// Batch mean and biased variance of a training-mode batch norm.
fn batch_stats<B: Backend>(dev: &B, shape: &[usize], x: &[f32]) -> Result<(Vec<f32>, Vec<f32>)> {
    let c = shape[1];
    let x = Tensor::from_slice(x, shape, dev)?;
    let r = x.batch_norm(
        &Tensor::ones(&[c], dev)?,
        &Tensor::zeros(&[c], dev)?,
        None,
        1e-5,
    )?;
    let (m, v) = (
        r.batch_mean.expect("training"),
        r.batch_var.expect("training"),
    );
    Ok((m.to_vec()?, v.to_vec()?))
}

#[test]
#[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
fn batch_statistics_match() {
    for shape in [vec![8, 5, 6, 6], vec![16, 200]] {
        let (shape, x) = input(&shape, 1, -1.0, 4.0);
        let cpu = batch_stats(&kiln_tensor::Cpu, &shape, &x).unwrap();
        let gpu = batch_stats(&gpu(), &shape, &x).unwrap();
        assert!(
            kiln_tests::rel_err(&gpu.0, &cpu.0) <= 1e-6,
            "mean {shape:?}"
        );
        assert!(kiln_tests::rel_err(&gpu.1, &cpu.1) <= 1e-6, "var {shape:?}");
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
fn an_invalid_label_is_reported_not_used() {
    let dev = gpu();
    let logits = Tensor::from_slice(&input(&[4, 10], 3, -1.0, 1.0).1, &[4, 10], &dev)
        .unwrap()
        .set_requires_grad(true);
    for bad in [10.0f32, -1.0, 2.5, f32::NAN, 1e30] {
        let y = [1.0, 2.0, bad, 3.0];
        let loss = cross_entropy(&logits, &y, 0.0).unwrap();
        let err = loss.to_scalar().expect_err("the bad label is reported");
        let msg = err.to_string();
        println!("label {bad}: {msg}");
        assert!(matches!(err, TensorError::InvalidArgument { .. }), "{msg}");
        assert!(
            msg.contains("of sample 2") && msg.contains("0..10"),
            "{msg}"
        );
        // the backward pass reports it too, with NaN gradients for that row only
        let g = loss.backward().unwrap();
        let grad = g.get(&logits).unwrap();
        assert!(grad.to_vec().is_err());
        let values = grad.to_vec().unwrap();
        assert!(values[20..30].iter().all(|v| v.is_nan()));
        assert!(
            values[..20]
                .iter()
                .chain(&values[30..])
                .all(|v| v.is_finite())
        );
    }
    // the device is still usable and the flag was cleared
    let loss = cross_entropy(&logits, &[1.0, 2.0, 3.0, 4.0], 0.0).unwrap();
    assert!(loss.to_scalar().unwrap().is_finite());
}
