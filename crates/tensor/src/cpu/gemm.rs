//! TEMPORARY: replaced by the tuned GEMM module.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GemmImpl {
    MatrixMultiply,
    Gemm,
}

pub fn default_impl() -> GemmImpl {
    GemmImpl::MatrixMultiply
}

#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    _imp: GemmImpl,
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
    _parallel: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |r: usize, cc: usize, s: (usize, usize)| {
        (r.saturating_sub(1)) * s.0 + (cc.saturating_sub(1)) * s.1
    };
    assert!(k == 0 || last(m, k, a_strides) < a.len());
    assert!(k == 0 || last(k, n, b_strides) < b.len());
    assert!(last(m, n, c_strides) < c.len());
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            a_strides.0 as isize,
            a_strides.1 as isize,
            b.as_ptr(),
            b_strides.0 as isize,
            b_strides.1 as isize,
            beta,
            c.as_mut_ptr(),
            c_strides.0 as isize,
            c_strides.1 as isize,
        );
    }
}
