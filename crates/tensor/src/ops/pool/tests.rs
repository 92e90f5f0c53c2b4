//! Pooling kernels against a direct f64 reference (proptest) and against PyTorch (fixture).

use super::Pool2dSpec;
use super::cpu::*;
use crate::ops::test_fixtures::{OpsFixture, SplitMix, f64s, rel_err};
use proptest::prelude::*;

/// In-bounds input rows/cols `[lo, hi)` of window `o`, and PyTorch's padded window length.
fn bounds(o: usize, stride: usize, pad: usize, k: usize, size: usize) -> (isize, isize, isize) {
    let start = (o * stride) as isize - pad as isize;
    let end = (start + k as isize).min((size + pad) as isize);
    (start.max(0), end.min(size as isize), end - start)
}

/// Direct max pooling in f64: `(out, argmax, dx)` for upstream gradient `g`.
fn max_reference(x: &[f32], g: &[f32], s: &Pool2dSpec) -> (Vec<f64>, Vec<usize>, Vec<f64>) {
    let (oh, ow, hw) = (s.out_h(), s.out_w(), s.h * s.w);
    let (mut out, mut arg, mut dx) = (vec![], vec![], vec![0.0f64; x.len()]);
    for p in 0..s.n * s.c {
        for oy in 0..oh {
            for ox in 0..ow {
                let (y0, y1, _) = bounds(oy, s.stride.0, s.padding.0, s.kernel.0, s.h);
                let (x0, x1, _) = bounds(ox, s.stride.1, s.padding.1, s.kernel.1, s.w);
                let (mut best, mut bi) = (f64::NEG_INFINITY, usize::MAX);
                for iy in y0..y1 {
                    for ix in x0..x1 {
                        let i = iy as usize * s.w + ix as usize;
                        if x[p * hw + i] as f64 > best {
                            best = x[p * hw + i] as f64;
                            bi = i;
                        }
                    }
                }
                assert!(bi != usize::MAX, "window of only padding");
                dx[p * hw + bi] += g[(p * oh + oy) * ow + ox] as f64;
                out.push(best);
                arg.push(bi);
            }
        }
    }
    (out, arg, dx)
}

/// Direct average pooling (padding counted) in f64: `(out, dx)` for upstream gradient `g`.
fn avg_reference(x: &[f32], g: &[f32], s: &Pool2dSpec) -> (Vec<f64>, Vec<f64>) {
    let (oh, ow, hw) = (s.out_h(), s.out_w(), s.h * s.w);
    let (mut out, mut dx) = (vec![], vec![0.0f64; x.len()]);
    for p in 0..s.n * s.c {
        for oy in 0..oh {
            for ox in 0..ow {
                let (y0, y1, ny) = bounds(oy, s.stride.0, s.padding.0, s.kernel.0, s.h);
                let (x0, x1, nx) = bounds(ox, s.stride.1, s.padding.1, s.kernel.1, s.w);
                let div = (ny * nx) as f64;
                let gv = g[(p * oh + oy) * ow + ox] as f64 / div;
                let mut sum = 0.0;
                for iy in y0..y1 {
                    for ix in x0..x1 {
                        let i = p * hw + iy as usize * s.w + ix as usize;
                        sum += x[i] as f64;
                        dx[i] += gv;
                    }
                }
                out.push(sum / div);
            }
        }
    }
    (out, dx)
}

fn spec_strategy() -> impl Strategy<Value = Pool2dSpec> {
    (
        (1usize..=3, 1usize..=6, 1usize..=12, 1usize..=12),
        (1usize..=5, 1usize..=5, 1usize..=3, 1usize..=3),
    )
        .prop_flat_map(|(dims, (kh, kw, sh, sw))| {
            (Just(dims), Just((kh, kw, sh, sw)), 0..=kh / 2, 0..=kw / 2)
        })
        .prop_map(|((n, c, h, w), (kh, kw, sh, sw), ph, pw)| Pool2dSpec {
            n,
            c,
            h,
            w,
            kernel: (kh, kw),
            stride: (sh, sw),
            padding: (ph, pw),
        })
        .prop_filter("no output", |s| s.out_h() > 0 && s.out_w() > 0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn max_pool_matches_direct_reference(s in spec_strategy(), seed in any::<u64>()) {
        let mut rng = SplitMix(seed);
        let x = rng.vec(s.n * s.c * s.h * s.w);
        let g = rng.vec(s.n * s.c * s.out_h() * s.out_w());
        let (out_ref, arg_ref, dx_ref) = max_reference(&x, &g, &s);
        let (out, arg) = max_pool2d_forward(&x, &s);
        let e = rel_err(&out, &out_ref);
        prop_assert!(e <= 1e-5, "forward rel err {e} for {s:?}");
        let arg_got: Vec<usize> = arg.iter().map(|&a| a as usize).collect();
        prop_assert_eq!(arg_got, arg_ref, "argmax for {:?}", s);
        let dx = max_pool2d_backward(&g, &arg, &s);
        let e = rel_err(&dx, &dx_ref);
        prop_assert!(e <= 1e-5, "backward rel err {e} for {s:?}");
    }

    #[test]
    fn avg_pool_matches_direct_reference(s in spec_strategy(), seed in any::<u64>()) {
        let mut rng = SplitMix(seed);
        let x = rng.vec(s.n * s.c * s.h * s.w);
        let g = rng.vec(s.n * s.c * s.out_h() * s.out_w());
        let (out_ref, dx_ref) = avg_reference(&x, &g, &s);
        let e = rel_err(&avg_pool2d_forward(&x, &s), &out_ref);
        prop_assert!(e <= 1e-5, "forward rel err {e} for {s:?}");
        let e = rel_err(&avg_pool2d_backward(&g, &s), &dx_ref);
        prop_assert!(e <= 1e-5, "backward rel err {e} for {s:?}");
    }
}

fn pool(n: usize, c: usize, h: usize, w: usize, k: usize, stride: usize, pad: usize) -> Pool2dSpec {
    Pool2dSpec {
        n,
        c,
        h,
        w,
        kernel: (k, k),
        stride: (stride, stride),
        padding: (pad, pad),
    }
}

#[test]
fn max_pool_propagates_nan_and_ignores_bad_argmax() {
    let s = pool(1, 1, 2, 2, 2, 2, 0);
    let (out, arg) = max_pool2d_forward(&[1.0, f32::NAN, 3.0, 2.0], &s);
    assert!(out[0].is_nan());
    assert_eq!(arg, vec![1.0]);
    // Out-of-plane, negative and NaN indices are dropped rather than panicking.
    for bad in [4.0, -1.0, f32::NAN] {
        assert_eq!(max_pool2d_backward(&[1.0], &[bad], &s), vec![0.0; 4]);
    }
}

#[test]
fn zero_output_gives_empty_or_zero_results() {
    let s = pool(2, 3, 2, 2, 3, 1, 0);
    assert_eq!(s.out_h(), 0);
    let x = vec![1.0; 24];
    let (out, arg) = max_pool2d_forward(&x, &s);
    assert!(out.is_empty() && arg.is_empty());
    assert!(avg_pool2d_forward(&x, &s).is_empty());
    assert_eq!(max_pool2d_backward(&[], &[], &s), vec![0.0; 24]);
    assert_eq!(avg_pool2d_backward(&[], &s), vec![0.0; 24]);
    let zero_stride = Pool2dSpec {
        stride: (0, 0),
        ..pool(1, 1, 4, 4, 2, 1, 0)
    };
    assert!(avg_pool2d_forward(&[0.0; 16], &zero_stride).is_empty());
}

#[test]
fn pytorch_parity() {
    let Some(fx) = OpsFixture::load("pooling PyTorch parity") else {
        return;
    };
    let mut checked = 0;
    for op in ["max_pool2d", "avg_pool2d"] {
        let cases = fx.cases(op);
        assert!(!cases.is_empty(), "no {op} case in meta.json");
        for case in &cases {
            let (xs, x) = fx.tensor(case, "x");
            let s = Pool2dSpec {
                n: xs[0],
                c: xs[1],
                h: xs[2],
                w: xs[3],
                kernel: fx.pair(case, "kernel", 0),
                stride: fx.pair(case, "stride", 0),
                padding: fx.pair(case, "padding", 0),
            };
            let (os, out_ref) = fx.tensor(case, "out");
            assert_eq!(os[..], s.output_shape(), "{case}: output shape");
            let (_, g) = fx.tensor(case, "grad_out");
            let (_, gx) = fx.tensor(case, "grad_x");
            let (out, dx) = if op == "max_pool2d" {
                let (out, arg) = max_pool2d_forward(x, &s);
                (out, max_pool2d_backward(g, &arg, &s))
            } else {
                (avg_pool2d_forward(x, &s), avg_pool2d_backward(g, &s))
            };
            let e = rel_err(&out, &f64s(out_ref));
            assert!(e <= 1e-4, "{case} forward rel err {e}");
            let e = rel_err(&dx, &f64s(gx));
            assert!(e <= 1e-4, "{case} grad_x rel err {e}");
            checked += 1;
        }
    }
    println!("pooling PyTorch parity: {checked} cases checked");
}
