//! Strided views as kernel arguments: merging dimensions, the `Dims` struct the kernels read,
//! and checks that a view stays inside its buffer.

use cudarc::driver::DeviceRepr;

use crate::cuda::device::backend_err;
use crate::cuda::memory::CudaStorage;
use crate::{Layout, Result};

/// Most dimensions a strided kernel handles after merging (see `Dims` in prelude.cu).
pub(crate) const MAX_DIMS: usize = 8;

/// Shape and strides of up to two strided operands; mirrors `struct Dims` of prelude.cu.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Dims {
    pub ndim: i64,
    pub shape: [i64; MAX_DIMS],
    pub stride_a: [i64; MAX_DIMS],
    pub stride_b: [i64; MAX_DIMS],
    pub offset_a: i64,
    pub offset_b: i64,
}

// SAFETY: plain-old-data with the C layout of `struct Dims` (every field 8 bytes).
unsafe impl DeviceRepr for Dims {}

/// Largest storage offset a (non-empty) layout reaches.
fn last_offset(l: &Layout) -> usize {
    l.offset()
        + l.shape()
            .iter()
            .zip(l.strides())
            .map(|(&d, &s)| (d.max(1) - 1) * s)
            .sum::<usize>()
}

pub(crate) fn check_reach(op: &str, st: &CudaStorage, l: &Layout) -> Result<usize> {
    let last = last_offset(l);
    if last < st.len() {
        Ok(last)
    } else {
        Err(backend_err(format!(
            "{op}: view {:?} (strides {:?}, offset {}) reaches element {last} of a buffer of {}",
            l.shape(),
            l.strides(),
            l.offset(),
            st.len()
        )))
    }
}

/// Merges dimensions that are laid out contiguously in every operand and drops size-1 ones,
/// so the strided kernels do as few divisions as possible. Returns a rank of at least 1.
pub(crate) fn coalesce(shape: &[usize], strides: &[&[usize]]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut out_shape: Vec<usize> = Vec::new();
    let mut out_strides: Vec<Vec<usize>> = vec![Vec::new(); strides.len()];
    for (d, &size) in shape.iter().enumerate() {
        if size == 1 {
            continue;
        }
        let mergeable = !out_shape.is_empty()
            && strides
                .iter()
                .zip(&out_strides)
                .all(|(s, o)| o.last() == Some(&(s[d] * size)));
        if mergeable {
            if let Some(last) = out_shape.last_mut() {
                *last *= size;
            }
            for (s, o) in strides.iter().zip(out_strides.iter_mut()) {
                if let Some(last) = o.last_mut() {
                    *last = s[d];
                }
            }
        } else {
            out_shape.push(size);
            for (s, o) in strides.iter().zip(out_strides.iter_mut()) {
                o.push(s[d]);
            }
        }
    }
    if out_shape.is_empty() {
        out_shape.push(1);
        for o in out_strides.iter_mut() {
            o.push(0);
        }
    }
    (out_shape, out_strides)
}

/// Kernel arguments for up to two strided operands; `true` when 32-bit indexing suffices.
pub(crate) fn strided_dims(
    op: &str,
    shape: &[usize],
    strides: &[&[usize]],
    offsets: &[usize],
    reach: usize,
) -> Result<(Dims, bool)> {
    let (shape, strides) = coalesce(shape, strides);
    if shape.len() > MAX_DIMS {
        return Err(backend_err(format!(
            "{op}: a view with {} non-mergeable dimensions (at most {MAX_DIMS})",
            shape.len()
        )));
    }
    let mut d = Dims {
        ndim: shape.len() as i64,
        ..Dims::default()
    };
    for (i, &s) in shape.iter().enumerate() {
        d.shape[i] = s as i64;
        d.stride_a[i] = strides[0][i] as i64;
        d.stride_b[i] = strides.get(1).map_or(0, |st| st[i] as i64);
    }
    d.offset_a = offsets[0] as i64;
    d.offset_b = offsets.get(1).copied().unwrap_or(0) as i64;
    let n: usize = shape.iter().product();
    let small = n <= u32::MAX as usize && reach <= u32::MAX as usize;
    Ok((d, small))
}

#[cfg(test)]
mod tests {
    use super::coalesce;

    #[test]
    fn coalescing_merges_contiguous_runs() {
        // a dense [2, 3, 4] collapses to one dimension
        let (s, st) = coalesce(&[2, 3, 4], &[&[12, 4, 1]]);
        assert_eq!((s, st), (vec![24], vec![vec![1]]));
        // a transposed [3, 2] stays 2-D
        let (s, st) = coalesce(&[3, 2], &[&[1, 3]]);
        assert_eq!((s, st), (vec![3, 2], vec![vec![1, 3]]));
        // broadcasting a row over [4, 5] against a dense operand
        let (s, st) = coalesce(&[4, 5], &[&[5, 1], &[0, 1]]);
        assert_eq!((s, st), (vec![4, 5], vec![vec![5, 1], vec![0, 1]]));
        // size-1 dimensions vanish; a scalar becomes [1] with stride 0
        let (s, st) = coalesce(&[1, 1], &[&[7, 9]]);
        assert_eq!((s, st), (vec![1], vec![vec![0]]));
        let (s, _) = coalesce(&[2, 1, 3], &[&[3, 100, 1]]);
        assert_eq!(s, vec![6]);
    }
}
