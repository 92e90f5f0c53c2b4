//! CUDA matrix products on cuBLAS: strided views go straight in when cuBLAS can read them
//! (row- or column-major with any leading dimension), others are gathered first.

use crate::backend::BackendBase;
use crate::cuda::blas::{Operand, Output, gemm};
use crate::cuda::device::backend_err;
use crate::cuda::{Cuda, CudaStorage};
use crate::ops::matmul::{MatOperand, MatmulKernels, MatmulSpec};
use crate::{Layout, Result};

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
    dev: &Cuda,
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
    let dense = dev.copy_strided(s, &layout)?;
    let op = Operand {
        ptr: dense.ptr(),
        ld: cols.max(1),
        stride: (rows * cols) as i64,
        trans: false,
    };
    Ok((op, Some(dense)))
}

impl MatmulKernels for Cuda {
    /// `out[b] = lhs[b] · rhs[b]`, `out` dense `[batch, m, n]`.
    fn matmul(&self, lhs: &CudaStorage, rhs: &CudaStorage, s: &MatmulSpec) -> Result<CudaStorage> {
        let dev = self;
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
