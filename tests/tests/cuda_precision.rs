//! The GPU's `Precision` setting: TF32 is the default; convolutions (forward with bias, the
//! fused conv2d_relu, both gradients; every engine) against an f64 reference at relative L2
//! error 1e-3 under TF32 and 1e-4 under F32, on ConfigNet's shapes and odd ones; TF32 results
//! really are TF32 (tensor cores) and F32 ones f32, also after `ConvEngine::Auto` chose engines
//! for the other precision; the weight gradient is bit-identical between runs; matmuls follow
//! the setting. Needs an NVIDIA GPU: run with --ignored (except the check of the f64 reference
//! against the CPU backend). The GPU tests change device-wide settings, so each holds `LOCK`.
#![cfg(feature = "cuda")]

use std::sync::{Mutex, MutexGuard, OnceLock};

use kiln_tensor::cuda::ConvEngine;
use kiln_tensor::{Conv2dOptions, Conv2dSpec, Cpu, Cuda, Precision, Tensor};
use kiln_tests::{eval_with_grads, loss_weights, rel_err};

static LOCK: Mutex<()> = Mutex::new(());

/// The device and the precision it had when it was opened (before any test changed it).
fn device() -> (Cuda, Precision) {
    static DEV: OnceLock<(Cuda, Precision)> = OnceLock::new();
    DEV.get_or_init(|| {
        let dev = Cuda::new(0).unwrap_or_else(|e| {
            panic!("this test needs an NVIDIA GPU (run it with --ignored on a GPU machine): {e}")
        });
        let p = dev.precision();
        (dev, p)
    })
    .clone()
}

fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// `n` values in `[lo, hi)` from `seed`.
fn values(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    (0..n as u64)
        .map(|i| lo + (hi - lo) * kiln_tensor::rng::uniform01(seed ^ 0x7f32, i))
        .collect()
}

fn spec(
    n: usize,
    (c_in, c_out): (usize, usize),
    (h, w): (usize, usize),
    (kh, kw): (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
) -> Conv2dSpec {
    Conv2dSpec {
        n,
        c_in,
        h,
        w,
        c_out,
        kh,
        kw,
        stride,
        padding,
        dilation,
    }
}

/// ConfigNet(48/96/256)'s four convolutions at a small batch, then odd geometries: channels not
/// multiples of the tiles, padding, strides, dilation, K not a multiple of 8, more than 9 taps,
/// 1x1 with phases no tap reaches; and last one too wide for the tensor-core kernels' shared
/// memory (the GEMM engine takes it under TF32 too). With whether the tensor-core kernels run it.
fn cases() -> Vec<(Conv2dSpec, bool)> {
    vec![
        (
            spec(4, (3, 48), (32, 32), (3, 3), (1, 1), (0, 0), (1, 1)),
            true,
        ),
        (
            spec(4, (48, 48), (30, 30), (3, 3), (1, 1), (0, 0), (1, 1)),
            true,
        ),
        (
            spec(4, (48, 96), (28, 28), (3, 3), (1, 1), (0, 0), (1, 1)),
            true,
        ),
        (
            spec(4, (96, 96), (26, 26), (3, 3), (2, 2), (0, 0), (1, 1)),
            true,
        ),
        (
            spec(3, (5, 50), (9, 7), (3, 3), (1, 1), (1, 1), (1, 1)),
            true,
        ),
        (
            spec(2, (13, 7), (11, 10), (5, 5), (2, 2), (2, 1), (1, 1)),
            true,
        ),
        (
            spec(2, (9, 20), (13, 12), (3, 3), (2, 3), (1, 2), (2, 3)),
            true,
        ),
        (
            spec(1, (70, 100), (6, 5), (3, 2), (2, 1), (1, 1), (2, 1)),
            true,
        ),
        (
            spec(2, (17, 3), (9, 8), (1, 1), (2, 3), (0, 0), (1, 1)),
            true,
        ),
        (
            spec(1, (4, 4), (16, 600), (15, 15), (1, 1), (7, 7), (1, 1)),
            false,
        ),
    ]
}

/// f64 reference of `sum(f(conv(x, w) + b) · dy)`: the output f(z) and the gradients of x, w
/// and b, f the ReLU when `relu`.
fn reference(
    s: &Conv2dSpec,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    dy: &[f32],
    relu: bool,
) -> [Vec<f32>; 4] {
    let (oh, ow) = (s.out_h(), s.out_w());
    let mut z = vec![0f64; s.n * s.c_out * oh * ow];
    let taps = |o: usize, f: &mut dyn FnMut(usize, usize)| {
        // f(x index, w index) for every tap of output index o that lands inside x
        let (ox, rest) = (o % ow, o / ow);
        let (oy, rest) = (rest % oh, rest / oh);
        let (co, img) = (rest % s.c_out, rest / s.c_out);
        for c in 0..s.c_in {
            for ky in 0..s.kh {
                let iy = (oy * s.stride.0 + ky * s.dilation.0) as isize - s.padding.0 as isize;
                if iy < 0 || iy >= s.h as isize {
                    continue;
                }
                for kx in 0..s.kw {
                    let ix = (ox * s.stride.1 + kx * s.dilation.1) as isize - s.padding.1 as isize;
                    if ix < 0 || ix >= s.w as isize {
                        continue;
                    }
                    let xi = ((img * s.c_in + c) * s.h + iy as usize) * s.w + ix as usize;
                    f(xi, ((co * s.c_in + c) * s.kh + ky) * s.kw + kx);
                }
            }
        }
    };
    for (o, zo) in z.iter_mut().enumerate() {
        let mut acc = b[(o / (oh * ow)) % s.c_out] as f64;
        taps(o, &mut |xi, wi| acc += x[xi] as f64 * w[wi] as f64);
        *zo = acc;
    }
    let (mut dx, mut dw, mut db) = (
        vec![0f64; x.len()],
        vec![0f64; w.len()],
        vec![0f64; s.c_out],
    );
    for (o, &zo) in z.iter().enumerate() {
        let g = if relu && zo <= 0.0 { 0.0 } else { dy[o] as f64 };
        db[(o / (oh * ow)) % s.c_out] += g;
        taps(o, &mut |xi, wi| {
            dx[xi] += w[wi] as f64 * g;
            dw[wi] += x[xi] as f64 * g;
        });
    }
    let y: Vec<f64> = z
        .iter()
        .map(|&v| if relu { v.max(0.0) } else { v })
        .collect();
    [y, dx, dw, db].map(|v| v.into_iter().map(|e| e as f32).collect())
}

/// One convolution to check: its inputs and the f64 reference's output and gradients.
struct Problem {
    s: Conv2dSpec,
    relu: bool,
    inputs: Vec<(Vec<usize>, Vec<f32>)>,
    want: [Vec<f32>; 4],
}

impl Problem {
    fn new(s: Conv2dSpec, relu: bool, seed: u64) -> Problem {
        let inputs = vec![
            (
                s.input_shape().to_vec(),
                values(s.n * s.c_in * s.h * s.w, seed, -1.0, 1.0),
            ),
            (
                s.weight_shape().to_vec(),
                values(s.c_out * s.c_in * s.kh * s.kw, seed + 1, -0.5, 0.5),
            ),
            (vec![s.c_out], values(s.c_out, seed + 2, -0.5, 0.5)),
        ];
        // the upstream gradient eval_with_grads uses
        let dy = loss_weights(s.n * s.c_out * s.out_h() * s.out_w(), 99);
        let want = reference(&s, &inputs[0].1, &inputs[1].1, &inputs[2].1, &dy, relu);
        Problem {
            s,
            relu,
            inputs,
            want,
        }
    }

    /// Relative L2 errors of the GPU's output and x, w, b gradients against the reference.
    fn errors(&self, dev: &Cuda) -> [f64; 4] {
        let opts = Conv2dOptions {
            stride: self.s.stride,
            padding: self.s.padding,
            dilation: self.s.dilation,
        };
        let got = eval_with_grads(dev, &self.inputs, |xs| {
            if self.relu {
                xs[0].conv2d_relu(&xs[1], Some(&xs[2]), opts)
            } else {
                xs[0].conv2d(&xs[1], Some(&xs[2]), opts)
            }
        })
        .expect("the GPU convolution runs");
        [
            rel_err(&got.out, &self.want[0]),
            rel_err(&got.grads[0], &self.want[1]),
            rel_err(&got.grads[1], &self.want[2]),
            rel_err(&got.grads[2], &self.want[3]),
        ]
    }
}

#[test]
fn the_f64_reference_matches_the_cpu_backend() {
    // no GPU needed: the reference the GPU tests trust, against Kiln's own (f32) CPU kernels
    for (i, (s, _)) in cases().iter().enumerate() {
        for relu in [false, true] {
            let p = Problem::new(*s, relu, 10 + i as u64);
            let got = eval_with_grads(&Cpu, &p.inputs, |xs| {
                let opts = Conv2dOptions {
                    stride: s.stride,
                    padding: s.padding,
                    dilation: s.dilation,
                };
                if relu {
                    xs[0].conv2d_relu(&xs[1], Some(&xs[2]), opts)
                } else {
                    xs[0].conv2d(&xs[1], Some(&xs[2]), opts)
                }
            })
            .unwrap();
            let outs = [&got.out, &got.grads[0], &got.grads[1], &got.grads[2]];
            for (k, (g, w)) in outs.iter().zip(&p.want).enumerate() {
                let e = rel_err(g, w);
                assert!(e <= 1e-5, "{s:?} relu={relu} output/gradient {k}: {e:.1e}");
            }
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
fn tf32_is_the_default() {
    let _guard = lock();
    let (dev, initial) = device();
    let want = match std::env::var("KILN_PRECISION") {
        Ok(v) => v.parse().expect("KILN_PRECISION is f32 or tf32"),
        Err(_) => Precision::Tf32,
    };
    assert_eq!(initial, want);
    for p in Precision::ALL {
        dev.set_precision(p).unwrap();
        assert_eq!(dev.precision(), p);
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
fn convolutions_match_f64_in_each_precision_and_engine() {
    // and the implicit engine under TF32 really is the tensor-core one: its products are off
    // by ~1e-4, more than the 1e-5 that f32 ones never reach
    let _guard = lock();
    let (dev, _) = device();
    let mut failures = Vec::new();
    for (i, (s, tensor_cores)) in cases().iter().enumerate() {
        let problems = [false, true].map(|relu| Problem::new(*s, relu, 10 + i as u64));
        for precision in Precision::ALL {
            dev.set_precision(precision).unwrap();
            let tol = match precision {
                Precision::F32 => 1e-4,
                Precision::Tf32 => 1e-3,
            };
            for engine in [ConvEngine::Gemm, ConvEngine::Implicit, ConvEngine::Auto] {
                dev.set_conv_engine(engine);
                for problem in &problems {
                    let (relu, e) = (problem.relu, problem.errors(&dev));
                    println!(
                        "{precision} {engine:?} relu={relu} {s:?}: out {:.1e} dx {:.1e} dw {:.1e} db {:.1e}",
                        e[0], e[1], e[2], e[3]
                    );
                    let tf32_kernels = precision == Precision::Tf32
                        && engine == ConvEngine::Implicit
                        && *tensor_cores
                        && dev.compute_capability().0 >= 8;
                    if !e.iter().all(|&v| v <= tol)
                        || (tf32_kernels && !e[..3].iter().all(|&v| v > 1e-5))
                    {
                        failures.push(format!("{precision} {engine:?} relu={relu} {s:?}: {e:?}"));
                    }
                }
            }
        }
    }
    dev.set_conv_engine(ConvEngine::Auto);
    dev.set_precision(Precision::F32).unwrap();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
#[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
fn auto_never_mixes_precisions() {
    // f32 products are off by ~1e-7 relative, TF32 ones by ~1e-4: F32 results stay below 1e-5
    // also after Auto chose its engines for the same geometries under TF32 (and the reverse)
    let _guard = lock();
    let (dev, _) = device();
    dev.set_conv_engine(ConvEngine::Auto);
    let problems: Vec<Problem> = cases()[1..4]
        .iter()
        .enumerate()
        .map(|(i, c)| Problem::new(c.0, false, 40 + i as u64))
        .collect();
    for order in [
        [Precision::Tf32, Precision::F32],
        [Precision::F32, Precision::Tf32],
    ] {
        for _ in 0..2 {
            for p in order {
                dev.set_precision(p).unwrap();
                for problem in &problems {
                    let (s, e) = (problem.s, problem.errors(&dev));
                    println!("{p} Auto {s:?}: {e:?}");
                    let tol = if p == Precision::F32 { 1e-5 } else { 1e-3 };
                    assert!(e.iter().all(|&v| v <= tol), "{p} {s:?}: {e:?}");
                }
            }
        }
    }
    dev.set_precision(Precision::F32).unwrap();
}

#[test]
#[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
fn weight_gradients_are_bit_identical_between_runs() {
    let _guard = lock();
    let (dev, _) = device();
    let s = spec(64, (48, 48), (30, 30), (3, 3), (1, 1), (0, 0), (1, 1));
    let x = Tensor::from_slice(
        &values(s.n * 48 * 900, 3, -1.0, 1.0),
        &s.input_shape(),
        &dev,
    )
    .unwrap();
    let w = Tensor::from_slice(&values(48 * 48 * 9, 4, -0.5, 0.5), &s.weight_shape(), &dev)
        .unwrap()
        .set_requires_grad(true);
    let dy = Tensor::from_slice(&loss_weights(s.n * 48 * 784, 5), &s.output_shape(), &dev).unwrap();
    for precision in Precision::ALL {
        dev.set_precision(precision).unwrap();
        for engine in [ConvEngine::Gemm, ConvEngine::Implicit] {
            dev.set_conv_engine(engine);
            let run = || {
                let y = x.conv2d(&w, None, Conv2dOptions::default()).unwrap();
                let g = y.mul(&dy).unwrap().sum_all().unwrap().backward().unwrap();
                g.get(&w).unwrap().to_vec().unwrap()
            };
            let (a, b) = (run(), run());
            let same = a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits());
            assert!(
                same,
                "{precision} {engine:?}: the weight gradient differs between runs"
            );
        }
    }
    dev.set_conv_engine(ConvEngine::Auto);
    dev.set_precision(Precision::F32).unwrap();
}

#[test]
#[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
fn matmuls_follow_the_precision() {
    let _guard = lock();
    let (dev, _) = device();
    let n = 512;
    let a = Tensor::rand_uniform(&[n, n], -1.0, 1.0, 1, &Cpu).unwrap();
    let b = Tensor::rand_uniform(&[n, n], -1.0, 1.0, 2, &Cpu).unwrap();
    let want = a.matmul(&b).unwrap().to_vec().unwrap();
    let (ag, bg) = (a.to_device(&dev).unwrap(), b.to_device(&dev).unwrap());
    dev.set_precision(Precision::F32).unwrap();
    let full = rel_err(&ag.matmul(&bg).unwrap().to_vec().unwrap(), &want);
    dev.set_precision(Precision::Tf32).unwrap();
    let tf32 = rel_err(&ag.matmul(&bg).unwrap().to_vec().unwrap(), &want);
    dev.set_precision(Precision::F32).unwrap();
    println!("matmul {n}x{n}: relative error f32 {full:.2e}, tf32 {tf32:.2e}");
    assert!(full <= 1e-5, "f32: {full:.2e}");
    assert!(tf32 > 1e-5 && tf32 <= 1e-2, "tf32: {tf32:.2e}");
}

#[test]
#[ignore = "needs an NVIDIA GPU: a timing table, run with --ignored --nocapture on a GPU machine"]
fn confignet_conv_throughput() {
    // ConfigNet(48/96/256)'s convolutions at batch 512: milliseconds and TFLOP/s of each pass
    // for each precision and engine (the engine Auto keeps is the faster of the two)
    use kiln_tensor::BackendBase;
    use kiln_tensor::ops::conv2d::ConvKernels;
    let _guard = lock();
    let (dev, _) = device();
    let layers = [
        (
            "conv1",
            spec(512, (3, 48), (32, 32), (3, 3), (1, 1), (0, 0), (1, 1)),
        ),
        (
            "conv2",
            spec(512, (48, 48), (30, 30), (3, 3), (1, 1), (0, 0), (1, 1)),
        ),
        (
            "conv3",
            spec(512, (48, 96), (28, 28), (3, 3), (1, 1), (0, 0), (1, 1)),
        ),
        (
            "conv4",
            spec(512, (96, 96), (26, 26), (3, 3), (2, 2), (0, 0), (1, 1)),
        ),
    ];
    let reps = 20;
    for (name, s) in layers {
        let x = dev
            .copy_from_host(&values(s.n * s.c_in * s.h * s.w, 1, -1.0, 1.0))
            .unwrap();
        let w = dev
            .copy_from_host(&values(s.c_out * s.c_in * 9, 2, -0.5, 0.5))
            .unwrap();
        let b = dev.copy_from_host(&values(s.c_out, 3, -0.5, 0.5)).unwrap();
        let dy = dev
            .copy_from_host(&values(s.n * s.c_out * s.out_h() * s.out_w(), 4, -1.0, 1.0))
            .unwrap();
        let flops = s.forward_flops();
        for precision in Precision::ALL {
            dev.set_precision(precision).unwrap();
            for engine in [ConvEngine::Gemm, ConvEngine::Implicit] {
                dev.set_conv_engine(engine);
                let time = |f: &dyn Fn()| {
                    f();
                    dev.synchronize().unwrap();
                    let start = std::time::Instant::now();
                    for _ in 0..reps {
                        f();
                    }
                    dev.synchronize().unwrap();
                    start.elapsed().as_secs_f64() / reps as f64
                };
                let passes = [
                    time(&|| drop(dev.conv2d_relu(&x, &w, Some(&b), &s).unwrap())),
                    time(&|| drop(dev.conv2d_backward_input(&dy, &w, &s).unwrap())),
                    time(&|| drop(dev.conv2d_backward_weight(&x, &dy, &s).unwrap())),
                ];
                let cells: Vec<String> = passes
                    .iter()
                    .map(|t| format!("{:7.3} ms {:6.1} TFLOP/s", t * 1e3, flops / t / 1e12))
                    .collect();
                println!(
                    "{name} {precision:>4} {engine:<8?} fwd+bias+relu {} | bwd-in {} | bwd-w {}",
                    cells[0], cells[1], cells[2]
                );
            }
        }
    }
    dev.set_conv_engine(ConvEngine::Auto);
    dev.set_precision(Precision::F32).unwrap();
}
