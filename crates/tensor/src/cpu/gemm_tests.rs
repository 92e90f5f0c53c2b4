//! Both GEMM implementations against a naive f64 product, over random shapes, strides,
//! transposes and scalars.

use super::gemm::*;
use crate::ops::test_fixtures::{SplitMix, rel_err};
use proptest::prelude::*;

/// A `rows x cols` operand stored row- or column-major with a padded leading dimension.
struct Operand {
    data: Vec<f32>,
    strides: (usize, usize),
}

fn operand(
    rng: &mut SplitMix,
    rows: usize,
    cols: usize,
    transposed: bool,
    pad: usize,
    fill: Option<f32>,
) -> Operand {
    let (strides, len) = if transposed {
        let ld = rows + pad;
        ((1, ld), ld * cols)
    } else {
        let ld = cols + pad;
        ((ld, 1), ld * rows)
    };
    let data = match fill {
        Some(v) => vec![v; len],
        None => rng.vec(len),
    };
    Operand { data, strides }
}

fn at(o: &Operand, i: usize, j: usize) -> f32 {
    o.data[i * o.strides.0 + j * o.strides.1]
}

#[allow(clippy::too_many_arguments)]
fn check(
    imp: GemmImpl,
    m: usize,
    k: usize,
    n: usize,
    trans: [bool; 3],
    pads: [usize; 3],
    alpha: f32,
    beta: f32,
    parallel: bool,
    seed: u64,
) {
    let mut rng = SplitMix(seed);
    let a = operand(&mut rng, m, k, trans[0], pads[0], None);
    let b = operand(&mut rng, k, n, trans[1], pads[1], None);
    // With beta == 0 the old c must not be read: fill it with NaN.
    let mut c = operand(
        &mut rng,
        m,
        n,
        trans[2],
        pads[2],
        (beta == 0.0).then_some(f32::NAN),
    );
    let mut want = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let dot: f64 = (0..k)
                .map(|p| at(&a, i, p) as f64 * at(&b, p, j) as f64)
                .sum();
            let old = if beta == 0.0 {
                0.0
            } else {
                at(&c, i, j) as f64
            };
            want.push(alpha as f64 * dot + beta as f64 * old);
        }
    }
    let padding_before: Vec<(usize, f32)> = c.data.iter().copied().enumerate().collect();
    sgemm(
        imp,
        m,
        k,
        n,
        alpha,
        &a.data,
        a.strides,
        &b.data,
        b.strides,
        beta,
        &mut c.data,
        c.strides,
        parallel,
    );
    let mut got = Vec::with_capacity(m * n);
    let mut touched = vec![false; c.data.len()];
    for i in 0..m {
        for j in 0..n {
            got.push(at(&c, i, j));
            touched[i * c.strides.0 + j * c.strides.1] = true;
        }
    }
    let e = rel_err(&got, &want);
    assert!(
        e <= 1e-5,
        "{imp:?} m={m} k={k} n={n} trans={trans:?} pads={pads:?} alpha={alpha} beta={beta}: rel err {e}"
    );
    // Elements outside the matrix (leading-dimension padding) are left alone.
    for (idx, old) in padding_before {
        if !touched[idx] {
            assert!(
                c.data[idx].to_bits() == old.to_bits(),
                "{imp:?} wrote outside the matrix at {idx}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn sgemm_matches_naive(
        (m, k, n) in (1usize..40, 0usize..40, 1usize..40),
        trans in any::<[bool; 3]>(),
        pads in proptest::array::uniform3(0usize..3),
        alpha in prop_oneof![Just(1.0f32), -2.0f32..2.0],
        beta in prop_oneof![Just(0.0f32), Just(1.0f32), -2.0f32..2.0],
        parallel in any::<bool>(),
        seed in any::<u64>(),
    ) {
        for imp in GemmImpl::ALL {
            check(imp, m, k, n, trans, pads, alpha, beta, parallel, seed);
        }
    }
}

#[test]
fn sgemm_large_blocked_shapes() {
    // Larger than the libraries' cache blocks in every dimension.
    for imp in GemmImpl::ALL {
        for trans in [
            [false, false, false],
            [true, true, true],
            [false, true, true],
        ] {
            check(imp, 301, 517, 129, trans, [1, 0, 2], 0.5, 1.0, true, 3);
            check(imp, 97, 300, 270, trans, [0, 0, 0], 1.0, 0.0, false, 4);
        }
    }
}

#[test]
fn empty_dimensions_do_nothing_or_scale() {
    for imp in GemmImpl::ALL {
        let mut c = vec![1.0, 2.0, 3.0, 4.0];
        sgemm(
            imp,
            0,
            3,
            2,
            1.0,
            &[],
            (3, 1),
            &[0.0; 6],
            (2, 1),
            0.0,
            &mut c,
            (2, 1),
            false,
        );
        assert_eq!(c, vec![1.0, 2.0, 3.0, 4.0]);
        sgemm(
            imp,
            2,
            0,
            2,
            1.0,
            &[],
            (0, 1),
            &[],
            (2, 1),
            2.0,
            &mut c,
            (2, 1),
            false,
        );
        assert_eq!(c, vec![2.0, 4.0, 6.0, 8.0]);
        c.fill(f32::NAN);
        sgemm(
            imp,
            2,
            0,
            2,
            1.0,
            &[],
            (0, 1),
            &[],
            (2, 1),
            0.0,
            &mut c,
            (2, 1),
            false,
        );
        assert_eq!(c, vec![0.0; 4]);
    }
}

#[test]
#[should_panic(expected = "exceeds its buffer")]
fn out_of_bounds_operand_panics() {
    let mut c = vec![0.0; 4];
    sgemm(
        GemmImpl::Gemm,
        2,
        2,
        2,
        1.0,
        &[0.0; 3],
        (2, 1),
        &[0.0; 4],
        (2, 1),
        0.0,
        &mut c,
        (2, 1),
        false,
    );
}

#[test]
#[should_panic(expected = "alias")]
fn aliasing_output_panics() {
    let mut c = vec![0.0; 4];
    sgemm(
        GemmImpl::MatrixMultiply,
        2,
        2,
        2,
        1.0,
        &[0.0; 4],
        (2, 1),
        &[0.0; 4],
        (2, 1),
        0.0,
        &mut c,
        (1, 1),
        false,
    );
}

#[test]
fn impl_choice_round_trips() {
    assert_eq!(
        GemmImpl::parse("MatrixMultiply"),
        Some(GemmImpl::MatrixMultiply)
    );
    assert_eq!(GemmImpl::parse(" gemm "), Some(GemmImpl::Gemm));
    assert_eq!(GemmImpl::parse("blas"), None);
    for imp in GemmImpl::ALL {
        assert_eq!(GemmImpl::parse(imp.name()), Some(imp));
    }
    let before = default_impl();
    set_default_impl(GemmImpl::MatrixMultiply);
    assert_eq!(default_impl(), GemmImpl::MatrixMultiply);
    set_default_impl(GemmImpl::Gemm);
    assert_eq!(default_impl(), GemmImpl::Gemm);
    set_default_impl(before);
}
