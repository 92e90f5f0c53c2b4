//! Conv2d kernels against a direct f64 reference (proptest) and against PyTorch (fixture).

use super::Conv2dSpec;
use super::cpu::*;
use crate::cpu::gemm::GemmImpl;
use crate::ops::test_fixtures::{OpsFixture, SplitMix, f64s, rel_err};
use proptest::prelude::*;

/// Every algorithm: the fused engine and im2col with each GEMM library.
const ALGOS: [ConvAlgo; 3] = [
    ConvAlgo::Fused,
    ConvAlgo::Im2col(GemmImpl::MatrixMultiply),
    ConvAlgo::Im2col(GemmImpl::Gemm),
];

/// Direct f64 convolution and its exact gradients for upstream gradient `g`:
/// returns `(y, dx, dw)`.
fn reference(
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    g: &[f32],
    s: &Conv2dSpec,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (oh, ow) = (s.out_h(), s.out_w());
    let mut y = vec![0.0f64; s.n * s.c_out * oh * ow];
    let mut dx = vec![0.0f64; x.len()];
    let mut dw = vec![0.0f64; w.len()];
    for n in 0..s.n {
        for co in 0..s.c_out {
            for oy in 0..oh {
                for ox in 0..ow {
                    let yi = ((n * s.c_out + co) * oh + oy) * ow + ox;
                    let mut acc = b.map_or(0.0, |b| b[co] as f64);
                    for ci in 0..s.c_in {
                        for ky in 0..s.kh {
                            for kx in 0..s.kw {
                                let iy = (oy * s.stride.0 + ky * s.dilation.0) as isize
                                    - s.padding.0 as isize;
                                let ix = (ox * s.stride.1 + kx * s.dilation.1) as isize
                                    - s.padding.1 as isize;
                                if iy < 0 || ix < 0 || iy >= s.h as isize || ix >= s.w as isize {
                                    continue;
                                }
                                let xi =
                                    ((n * s.c_in + ci) * s.h + iy as usize) * s.w + ix as usize;
                                let wi = ((co * s.c_in + ci) * s.kh + ky) * s.kw + kx;
                                acc += x[xi] as f64 * w[wi] as f64;
                                dx[xi] += g[yi] as f64 * w[wi] as f64;
                                dw[wi] += g[yi] as f64 * x[xi] as f64;
                            }
                        }
                    }
                    y[yi] = acc;
                }
            }
        }
    }
    (y, dx, dw)
}

fn spec_strategy() -> impl Strategy<Value = Conv2dSpec> {
    (
        (1usize..=3, 1usize..=6, 1usize..=6),
        (1usize..=12, 1usize..=12, 1usize..=5, 1usize..=5),
        (
            1usize..=3,
            1usize..=3,
            0usize..=2,
            0usize..=2,
            1usize..=2,
            1usize..=2,
        ),
    )
        .prop_map(
            |((n, c_in, c_out), (h, w, kh, kw), (sh, sw, ph, pw, dh, dw))| Conv2dSpec {
                n,
                c_in,
                h,
                w,
                c_out,
                kh,
                kw,
                stride: (sh, sw),
                padding: (ph, pw),
                dilation: (dh, dw),
            },
        )
        .prop_filter("no output", |s| s.out_h() > 0 && s.out_w() > 0)
}

/// Checks every algorithm on `s` (random data from `seed`) against [`reference`]; the
/// `_into` variants get outputs pre-filled with NaN, which must all be overwritten.
fn check_all(s: &Conv2dSpec, seed: u64, with_bias: bool) -> Result<(), TestCaseError> {
    let mut rng = SplitMix(seed);
    let x = rng.vec(s.n * s.c_in * s.h * s.w);
    let w = rng.vec(s.c_out * s.c_in * s.kh * s.kw);
    let b = rng.vec(s.c_out);
    let g = rng.vec(s.n * s.c_out * s.out_h() * s.out_w());
    let bias = with_bias.then_some(&b[..]);
    let (y_ref, dx_ref, dw_ref) = reference(&x, &w, bias, &g, s);
    for algo in ALGOS {
        let y = conv2d_forward_with(algo, &x, &w, bias, s);
        let e = rel_err(&y, &y_ref);
        prop_assert!(e <= 1e-5, "{algo:?} forward rel err {e} for {s:?}");
        let dx = conv2d_backward_input_with(algo, &g, &w, s);
        let e = rel_err(&dx, &dx_ref);
        prop_assert!(e <= 1e-5, "{algo:?} backward input rel err {e} for {s:?}");
        let dw = conv2d_backward_weight_with(algo, &x, &g, s);
        let e = rel_err(&dw, &dw_ref);
        prop_assert!(e <= 1e-5, "{algo:?} backward weight rel err {e} for {s:?}");

        let mut out = vec![f32::NAN; y.len()];
        conv2d_forward_into(algo, &x, &w, bias, s, &mut out);
        prop_assert!(out == y, "{algo:?} forward_into differs for {s:?}");
        let mut out = vec![f32::NAN; dx.len()];
        conv2d_backward_input_into(algo, &g, &w, s, &mut out);
        prop_assert!(out == dx, "{algo:?} backward_input_into differs for {s:?}");
        let mut out = vec![f32::NAN; dw.len()];
        conv2d_backward_weight_into(algo, &x, &g, s, &mut out);
        prop_assert!(out == dw, "{algo:?} backward_weight_into differs for {s:?}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn conv2d_matches_direct_reference(s in spec_strategy(), seed in any::<u64>(), with_bias in any::<bool>()) {
        check_all(&s, seed, with_bias)?;
    }
}

fn spec2(
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

fn spec(
    n: usize,
    c_in: usize,
    hw: usize,
    c_out: usize,
    k: usize,
    stride: usize,
    pad: usize,
) -> Conv2dSpec {
    spec2(
        n,
        (c_in, c_out),
        (hw, hw),
        (k, k),
        (stride, stride),
        (pad, pad),
        (1, 1),
    )
}

#[test]
fn larger_shapes_match_reference() {
    // Channel counts that are and are not multiples of the kernels' 6/8/16 tiles, tap counts
    // that are not multiples of 6, reductions longer than one k-block, odd widths under
    // stride 2, stride 3, mixed padding and dilation, and the 1x1 shortcut.
    let shapes = [
        spec(3, 7, 9, 5, 1, 1, 0),
        spec(2, 20, 17, 33, 3, 1, 1),
        spec(2, 48, 14, 40, 3, 2, 0),
        spec(1, 48, 30, 48, 3, 1, 0),
        spec(2, 40, 13, 17, 3, 2, 0),
        spec2(2, (13, 22), (11, 9), (3, 3), (2, 2), (1, 1), (1, 1)),
        spec2(1, (9, 17), (20, 21), (2, 4), (1, 3), (1, 2), (2, 1)),
        spec2(2, (5, 8), (16, 19), (5, 3), (3, 2), (2, 1), (1, 2)),
        spec2(1, (31, 9), (12, 8), (1, 1), (2, 1), (0, 0), (1, 1)),
    ];
    for (i, s) in shapes.iter().enumerate() {
        check_all(s, 7 + i as u64, i % 2 == 0).unwrap();
    }
}

#[test]
fn zero_output_gives_empty_or_zero_results() {
    let s = spec(2, 3, 2, 4, 5, 1, 0);
    assert_eq!(s.out_h(), 0);
    let x = vec![1.0; 2 * 3 * 4];
    let w = vec![1.0; 4 * 3 * 25];
    assert!(conv2d_forward(&x, &w, None, &s).is_empty());
    assert_eq!(conv2d_backward_input(&[], &w, &s), vec![0.0; x.len()]);
    assert_eq!(conv2d_backward_weight(&x, &[], &s), vec![0.0; w.len()]);
    let mut empty_batch = spec(0, 3, 4, 4, 3, 1, 0);
    assert!(conv2d_forward(&[], &w[..4 * 27], None, &empty_batch).is_empty());
    assert_eq!(
        conv2d_backward_weight(&[], &[], &empty_batch),
        vec![0.0; 4 * 27]
    );
    empty_batch.stride = (0, 0);
    assert!(conv2d_forward(&[], &w[..4 * 27], None, &empty_batch).is_empty());
}

#[test]
fn output_of_only_padding_is_the_bias() {
    // One input pixel, padding 2, stride 3: both output rows sit in the padding.
    let s = Conv2dSpec {
        n: 1,
        c_in: 1,
        h: 1,
        w: 1,
        c_out: 2,
        kh: 1,
        kw: 1,
        stride: (3, 3),
        padding: (2, 2),
        dilation: (1, 1),
    };
    assert_eq!((s.out_h(), s.out_w()), (2, 2));
    let y = conv2d_forward(&[5.0], &[1.0, 1.0], Some(&[0.5, -1.0]), &s);
    assert_eq!(y, vec![0.5, 0.5, 0.5, 0.5, -1.0, -1.0, -1.0, -1.0]);
}

#[test]
fn pytorch_parity() {
    let Some(fx) = OpsFixture::load("conv2d PyTorch parity") else {
        return;
    };
    let cases = fx.cases("conv2d");
    assert!(!cases.is_empty(), "no conv2d case in meta.json");
    for case in &cases {
        let (xs, x) = fx.tensor(case, "x");
        let (ws, w) = fx.tensor(case, "w");
        let (_, b) = fx.tensor(case, "b");
        let s = Conv2dSpec {
            n: xs[0],
            c_in: xs[1],
            h: xs[2],
            w: xs[3],
            c_out: ws[0],
            kh: ws[2],
            kw: ws[3],
            stride: fx.pair(case, "stride", 1),
            padding: fx.pair(case, "padding", 0),
            dilation: fx.pair(case, "dilation", 1),
        };
        assert_eq!(
            fx.pair(case, "kernel", ws[2]),
            (ws[2], ws[3]),
            "{case}: kernel vs weight shape"
        );
        let (os, out) = fx.tensor(case, "out");
        assert_eq!(os[..], s.output_shape(), "{case}: output shape");
        let (_, g) = fx.tensor(case, "grad_out");
        let (_, gx) = fx.tensor(case, "grad_x");
        let (_, gw) = fx.tensor(case, "grad_w");
        let (_, gb) = fx.tensor(case, "grad_b");
        for algo in ALGOS {
            let y = conv2d_forward_with(algo, x, w, Some(b), &s);
            let e = rel_err(&y, &f64s(out));
            assert!(e <= 1e-4, "{case} {algo:?} forward rel err {e}");
            let dx = conv2d_backward_input_with(algo, g, w, &s);
            let e = rel_err(&dx, &f64s(gx));
            assert!(e <= 1e-4, "{case} {algo:?} grad_x rel err {e}");
            let dw = conv2d_backward_weight_with(algo, x, g, &s);
            let e = rel_err(&dw, &f64s(gw));
            assert!(e <= 1e-4, "{case} {algo:?} grad_w rel err {e}");
        }
        let plane = s.out_h() * s.out_w();
        let mut db = vec![0.0f32; s.c_out];
        for (i, chunk) in g.chunks_exact(plane).enumerate() {
            db[i % s.c_out] += chunk.iter().sum::<f32>();
        }
        let e = rel_err(&db, &f64s(gb));
        assert!(e <= 1e-4, "{case} grad_b rel err {e}");
    }
    println!("conv2d PyTorch parity: {} cases checked", cases.len());
}
