//! Row-major GEMM on cuBLAS (column-major) through the transpose trick, and the backend's
//! strided (batched) matmul.

use std::os::raw::c_int;

use cudarc::cublas::{result as cublas, sys as cublas_sys};

use super::device::{DeviceInner, backend_err};
use super::memory::CudaStorage;
use crate::spec::{MatOperand, MatmulSpec};
use crate::{Layout, Result};

/// One GEMM operand: the logical row-major matrix `op(X)` of a product. With `trans == false`
/// the matrix is stored row-major with row stride `ld`; with `trans == true` its transpose is
/// (i.e. the matrix is column-major with column stride `ld`). `stride` separates batch items.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Operand {
    pub ptr: u64,
    pub ld: usize,
    pub stride: i64,
    pub trans: bool,
}

/// The row-major output: row stride `ld`, batch stride `stride`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    pub ptr: u64,
    pub ld: usize,
    pub stride: i64,
}

fn as_int(v: usize, what: &str) -> Result<c_int> {
    c_int::try_from(v).map_err(|_| {
        backend_err(format!(
            "{what} = {v} exceeds cuBLAS's 32-bit limit; split the operation"
        ))
    })
}

/// `C[b] = A[b] · B[b] + beta · C[b]` for `b < batch`, all row-major, `A` m×k, `B` k×n.
///
/// cuBLAS is column-major, and a row-major matrix is its transpose in column-major order, so
/// this computes `Cᵀ = Bᵀ · Aᵀ`: B goes first.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    dev: &DeviceInner,
    m: usize,
    n: usize,
    k: usize,
    a: Operand,
    b: Operand,
    c: Output,
    batch: usize,
    beta: f32,
) -> Result<()> {
    if m == 0 || n == 0 || batch == 0 {
        return Ok(());
    }
    let (mi, ni, ki) = (as_int(m, "m")?, as_int(n, "n")?, as_int(k, "k")?);
    let lda = as_int(a.ld.max(1), "lda")?;
    let ldb = as_int(b.ld.max(1), "ldb")?;
    let ldc = as_int(c.ld.max(1), "ldc")?;
    if super::profile::enabled() {
        let name = format!("cublas sgemm {m}x{n}x{k} b{batch}");
        return dev.profile.time(&dev.stream, &name, || {
            sgemm(dev, (mi, ni, ki), (lda, ldb, ldc), a, b, c, batch, beta)
        });
    }
    sgemm(dev, (mi, ni, ki), (lda, ldb, ldc), a, b, c, batch, beta)
}

#[allow(clippy::too_many_arguments)]
fn sgemm(
    dev: &DeviceInner,
    (mi, ni, ki): (i32, i32, i32),
    (lda, ldb, ldc): (i32, i32, i32),
    a: Operand,
    b: Operand,
    c: Output,
    batch: usize,
    beta: f32,
) -> Result<()> {
    let op = |t: bool| {
        if t {
            cublas_sys::cublasOperation_t::CUBLAS_OP_T
        } else {
            cublas_sys::cublasOperation_t::CUBLAS_OP_N
        }
    };
    let alpha = 1.0f32;
    let blas = dev.blas();
    dev.bind()?;
    let handle = *blas.handle();
    // SAFETY: the callers pass pointers into live device buffers large enough for the given
    // dimensions, leading dimensions and batch strides; alpha and beta are host values.
    let r = unsafe {
        if batch == 1 {
            cublas::sgemm(
                handle,
                op(b.trans),
                op(a.trans),
                ni,
                mi,
                ki,
                &alpha,
                b.ptr as *const f32,
                ldb,
                a.ptr as *const f32,
                lda,
                &beta,
                c.ptr as *mut f32,
                ldc,
            )
        } else {
            cublas::sgemm_strided_batched(
                handle,
                op(b.trans),
                op(a.trans),
                ni,
                mi,
                ki,
                &alpha,
                b.ptr as *const f32,
                ldb,
                b.stride,
                a.ptr as *const f32,
                lda,
                a.stride,
                &beta,
                c.ptr as *mut f32,
                ldc,
                c.stride,
                as_int(batch, "batch")?,
            )
        }
    };
    r.map_err(|e| {
        backend_err(format!(
            "cuBLAS sgemm ({mi}x{ki} · {ki}x{ni}, batch {batch}): {e}"
        ))
    })
}

/// How cuBLAS can read a `rows × cols` matrix with strides `(rs, cs)` directly:
/// `Some((trans, ld))`, or `None` when it must be gathered first.
pub(crate) fn classify(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<(bool, usize)> {
    if (cols == 1 || cs == 1) && (rows == 1 || rs >= cols) {
        let ld = if rows == 1 { cols.max(1) } else { rs };
        return Some((false, ld));
    }
    if (rows == 1 || rs == 1) && (cols == 1 || cs >= rows) {
        let ld = if cols == 1 { rows.max(1) } else { cs };
        return Some((true, ld));
    }
    None
}

/// Largest element offset a strided operand touches.
fn last_offset(o: &MatOperand, batch: usize, rows: usize, cols: usize) -> usize {
    o.offset
        + (batch.max(1) - 1) * o.batch_stride
        + (rows.max(1) - 1) * o.row_stride
        + (cols.max(1) - 1) * o.col_stride
}

/// A GEMM operand for one side of a matmul, gathering it into a dense buffer when cuBLAS
/// cannot read its strides (the buffer is returned so that it lives until the launch).
fn operand(
    dev: &super::Cuda,
    s: &CudaStorage,
    o: &MatOperand,
    batch: usize,
    rows: usize,
    cols: usize,
) -> Result<(Operand, Option<CudaStorage>)> {
    let bs = if batch > 1 { o.batch_stride } else { 0 };
    if let Some((trans, ld)) = classify(rows, cols, o.row_stride, o.col_stride)
        && ld <= i32::MAX as usize
        && bs <= i64::MAX as usize
    {
        let op = Operand {
            ptr: s.ptr_at(o.offset),
            ld,
            stride: bs as i64,
            trans,
        };
        return Ok((op, None));
    }
    let layout = Layout::new(
        vec![batch, rows, cols],
        vec![bs, o.row_stride, o.col_stride],
        o.offset,
    );
    let dense = dev.gather(s, &layout)?;
    let op = Operand {
        ptr: dense.ptr(),
        ld: cols.max(1),
        stride: (rows * cols) as i64,
        trans: false,
    };
    Ok((op, Some(dense)))
}

/// The backend's matmul: `out[b] = lhs[b] · rhs[b]`, `out` dense `[batch, m, n]`.
pub(crate) fn matmul(
    dev: &super::Cuda,
    lhs: &CudaStorage,
    rhs: &CudaStorage,
    s: &MatmulSpec,
) -> Result<CudaStorage> {
    let out = dev.alloc(s.batch * s.m * s.n)?;
    if out.is_empty() {
        return Ok(out);
    }
    if s.k == 0 {
        dev.fill(&out, 0.0)?;
        return Ok(out);
    }
    for (name, st, o, rows, cols) in [
        ("lhs", lhs, &s.lhs, s.m, s.k),
        ("rhs", rhs, &s.rhs, s.k, s.n),
    ] {
        let last = last_offset(o, s.batch, rows, cols);
        if last >= st.len() {
            return Err(backend_err(format!(
                "matmul: {name} reaches element {last} of a buffer of {}",
                st.len()
            )));
        }
    }
    let (a, _a_hold) = operand(dev, lhs, &s.lhs, s.batch, s.m, s.k)?;
    let (b, _b_hold) = operand(dev, rhs, &s.rhs, s.batch, s.k, s.n)?;
    let c = Output {
        ptr: out.ptr(),
        ld: s.n,
        stride: (s.m * s.n) as i64,
    };
    gemm(dev.inner(), s.m, s.n, s.k, a, b, c, s.batch, 0.0)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::classify;

    #[test]
    fn operands_are_classified() {
        // dense row-major 3x4
        assert_eq!(classify(3, 4, 4, 1), Some((false, 4)));
        // its transpose view (4x3 with strides (1, 4)) is column-major
        assert_eq!(classify(4, 3, 1, 4), Some((true, 4)));
        // a padded row-major view (row stride 10)
        assert_eq!(classify(3, 4, 10, 1), Some((false, 10)));
        // single row / column with odd strides
        assert_eq!(classify(1, 5, 99, 1), Some((false, 5)));
        assert_eq!(classify(5, 1, 7, 3), Some((false, 7)));
        // broadcast rows (stride 0) and overlapping strides must be gathered
        assert_eq!(classify(3, 4, 0, 1), None);
        assert_eq!(classify(3, 4, 2, 1), None);
        assert_eq!(classify(3, 4, 8, 2), None);
    }
}
