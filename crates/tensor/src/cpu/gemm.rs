//! Single-precision matrix product behind a safe, strided interface, backed by either the
//! `matrixmultiply` crate or the `gemm` crate.
//!
//! Every operand is described by `(row_stride, col_stride)` in elements, so transposes are only
//! swapped strides. All bounds are checked once per call (O(1)), the output strides are checked
//! for aliasing, and the unsafe library calls happen only after those checks.

use std::sync::atomic::{AtomicU8, Ordering};

/// Which GEMM library computes [`sgemm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GemmImpl {
    /// The `matrixmultiply` crate. Its threading is global (the `threading` feature and
    /// `MATMUL_NUM_THREADS`), so `parallel = false` cannot stop it from using its own thread
    /// pool inside rayon tasks.
    MatrixMultiply,
    /// The `gemm` crate (rayon when `parallel`; AVX-512 kernels when the CPU has them).
    Gemm,
}

impl GemmImpl {
    /// Both implementations, for benches and tests.
    pub const ALL: [GemmImpl; 2] = [GemmImpl::MatrixMultiply, GemmImpl::Gemm];

    /// Parses `matrixmultiply` / `gemm` (case-insensitive; `mm` is accepted too).
    pub fn parse(s: &str) -> Option<GemmImpl> {
        match s.trim().to_ascii_lowercase().as_str() {
            "matrixmultiply" | "mm" => Some(GemmImpl::MatrixMultiply),
            "gemm" => Some(GemmImpl::Gemm),
            _ => None,
        }
    }

    /// Short name, as accepted by [`GemmImpl::parse`].
    pub fn name(self) -> &'static str {
        match self {
            GemmImpl::MatrixMultiply => "matrixmultiply",
            GemmImpl::Gemm => "gemm",
        }
    }
}

/// The implementation measured fastest on the development machine (2-core AMD EPYC, AVX2
/// without AVX-512, see `benches/conv.rs`): the 512x13824 · 13824x256 product runs at about
/// 135-165 GFLOP/s with `gemm` against 115-135 with `matrixmultiply`, and im2col convolutions
/// are about 1.5x faster on `gemm`.
const FASTEST: GemmImpl = GemmImpl::Gemm;

const UNSET: u8 = 0;
const MM: u8 = 1;
const GEMM: u8 = 2;

static DEFAULT: AtomicU8 = AtomicU8::new(UNSET);

fn encode(imp: GemmImpl) -> u8 {
    match imp {
        GemmImpl::MatrixMultiply => MM,
        GemmImpl::Gemm => GEMM,
    }
}

/// The process-wide GEMM choice: the last [`set_default_impl`], else the environment variable
/// `KILN_GEMM=matrixmultiply|gemm`, else the implementation benchmarked fastest here.
pub fn default_impl() -> GemmImpl {
    match DEFAULT.load(Ordering::Relaxed) {
        MM => GemmImpl::MatrixMultiply,
        GEMM => GemmImpl::Gemm,
        _ => {
            let imp = std::env::var("KILN_GEMM")
                .ok()
                .and_then(|s| GemmImpl::parse(&s))
                .unwrap_or(FASTEST);
            // Keep a concurrent `set_default_impl` if one won the race.
            let _ =
                DEFAULT.compare_exchange(UNSET, encode(imp), Ordering::Relaxed, Ordering::Relaxed);
            imp
        }
    }
}

/// Overrides the process-wide GEMM choice returned by [`default_impl`].
pub fn set_default_impl(imp: GemmImpl) {
    DEFAULT.store(encode(imp), Ordering::Relaxed);
}

/// Largest offset `(rows - 1) * rs + (cols - 1) * cs` touched by a `rows x cols` operand,
/// asserting that it lies inside a buffer of `len` elements. Requires `rows, cols > 0`.
fn check_operand(name: &str, rows: usize, cols: usize, (rs, cs): (usize, usize), len: usize) {
    let last = (rows - 1)
        .checked_mul(rs)
        .and_then(|r| (cols - 1).checked_mul(cs).and_then(|c| r.checked_add(c)));
    assert!(
        matches!(last, Some(l) if l < len),
        "sgemm: operand {name} ({rows} x {cols}, strides ({rs}, {cs})) exceeds its buffer of {len}"
    );
    assert!(
        rs <= isize::MAX as usize && cs <= isize::MAX as usize,
        "sgemm: operand {name} strides do not fit in isize"
    );
}

/// Asserts that distinct `(i, j)` of a `rows x cols` output map to distinct offsets, which the
/// libraries (and their threads) need to write without data races.
fn check_no_alias(rows: usize, cols: usize, (rs, cs): (usize, usize)) {
    // A dimension of extent 1 never contributes an offset; with two live dimensions, the
    // larger stride must step over the whole span of the smaller one.
    let ok = match (rows > 1, cols > 1) {
        (false, false) => true,
        (true, false) => rs >= 1,
        (false, true) => cs >= 1,
        (true, true) => {
            let ((extent, small), large) = if rs <= cs {
                ((rows, rs), cs)
            } else {
                ((cols, cs), rs)
            };
            small >= 1 && extent.checked_mul(small).is_some_and(|span| large >= span)
        }
    };
    assert!(
        ok,
        "sgemm: output strides ({rs}, {cs}) make elements of a {rows} x {cols} matrix alias"
    );
}

/// `c = alpha * a·b + beta * c`, with `a` `m x k`, `b` `k x n` and `c` `m x n`, each given by
/// `(row_stride, col_stride)` in elements. When `beta == 0`, `c` is not read (NaNs in it do not
/// propagate). `parallel` lets the library use several threads; pass `false` when the caller
/// already runs one product per thread.
///
/// # Panics
///
/// When an operand's largest touched offset lies outside its slice, or the strides of `c`
/// would make two of its elements alias.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    imp: GemmImpl,
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: &[f32],
    a_strides: (usize, usize),
    b: &[f32],
    b_strides: (usize, usize),
    beta: f32,
    c: &mut [f32],
    c_strides: (usize, usize),
    parallel: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    check_operand("c", m, n, c_strides, c.len());
    check_no_alias(m, n, c_strides);
    if k == 0 {
        scale_output(m, n, beta, c, c_strides);
        return;
    }
    check_operand("a", m, k, a_strides, a.len());
    check_operand("b", k, n, b_strides, b.len());
    let (ars, acs) = (a_strides.0 as isize, a_strides.1 as isize);
    let (brs, bcs) = (b_strides.0 as isize, b_strides.1 as isize);
    let (crs, ccs) = (c_strides.0 as isize, c_strides.1 as isize);
    match imp {
        GemmImpl::MatrixMultiply => {
            // matrixmultiply decides its own threading (crate feature + MATMUL_NUM_THREADS);
            // `parallel` cannot be honoured per call.
            let _ = parallel;
            // SAFETY: every offset the product touches was bounds-checked above against the
            // slices' lengths, `c` is exclusively borrowed and its elements do not alias, and
            // with beta == 0 matrixmultiply does not read `c`.
            unsafe {
                matrixmultiply::sgemm(
                    m,
                    k,
                    n,
                    alpha,
                    a.as_ptr(),
                    ars,
                    acs,
                    b.as_ptr(),
                    brs,
                    bcs,
                    beta,
                    c.as_mut_ptr(),
                    crs,
                    ccs,
                );
            }
        }
        GemmImpl::Gemm => {
            let par = if parallel {
                gemm::Parallelism::Rayon(0)
            } else {
                gemm::Parallelism::None
            };
            // The gemm crate computes dst = alpha_g * dst + beta_g * lhs·rhs: its alpha scales
            // the destination and its beta the product, the reverse of BLAS.
            // SAFETY: as above; `read_dst == false` makes the crate ignore the old `c`.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    c.as_mut_ptr(),
                    ccs,
                    crs,
                    beta != 0.0,
                    a.as_ptr(),
                    acs,
                    ars,
                    b.as_ptr(),
                    bcs,
                    brs,
                    beta,
                    alpha,
                    false,
                    false,
                    false,
                    par,
                );
            }
        }
    }
}

/// `c = beta * c` (an empty inner dimension); `beta == 0` writes zeros without reading.
fn scale_output(m: usize, n: usize, beta: f32, c: &mut [f32], (rs, cs): (usize, usize)) {
    for i in 0..m {
        for j in 0..n {
            let v = &mut c[i * rs + j * cs];
            *v = if beta == 0.0 { 0.0 } else { beta * *v };
        }
    }
}
