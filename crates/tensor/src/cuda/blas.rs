//! Row-major GEMM on cuBLAS (column-major) through the transpose trick: the engine under the
//! matmul and convolution kernels.

use std::os::raw::c_int;

use cudarc::cublas::{result as cublas, sys as cublas_sys};

use super::device::{DeviceInner, backend_err};
use crate::Result;

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
