//! Parallel loops over f32 slices (rayon above a size threshold) and the strided gather that
//! makes a view dense. Shared by the CPU kernels of every op family.

use rayon::prelude::*;

use crate::Layout;

/// Below this many elements a kernel runs on one thread.
pub(crate) const PAR_MIN: usize = 1 << 15;
const CHUNK: usize = 1 << 13;

/// Applies `f` to every element of `x` into a new vector, in parallel when large.
pub(crate) fn map(x: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    if x.len() < PAR_MIN {
        out.iter_mut().zip(x).for_each(|(o, &v)| *o = f(v));
    } else {
        out.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(o, x)| o.iter_mut().zip(x).for_each(|(o, &v)| *o = f(v)));
    }
    out
}

/// Zips two equally long slices through `f`, in parallel when large.
pub(crate) fn zip_map(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    let mut out = vec![0.0; a.len()];
    if a.len() < PAR_MIN {
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = f(x, y);
        }
    } else {
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
            .for_each(|(o, (a, b))| {
                for ((o, &x), &y) in o.iter_mut().zip(a).zip(b) {
                    *o = f(x, y);
                }
            });
    }
    out
}

/// Gathers a strided view into a dense vector.
pub(crate) fn gather(src: &[f32], layout: &Layout) -> Vec<f32> {
    if layout.is_contiguous() {
        let o = layout.offset();
        return src[o..o + layout.numel()].to_vec();
    }
    let n = layout.numel();
    let r = layout.rank();
    if n >= PAR_MIN && r >= 2 {
        // split over the first dimension: each slice is gathered by its own task
        let d0 = layout.shape()[0];
        let s0 = layout.strides()[0];
        let rest = Layout::new(
            layout.shape()[1..].to_vec(),
            layout.strides()[1..].to_vec(),
            0,
        );
        let per = n / d0.max(1);
        let mut out = vec![0.0; n];
        out.par_chunks_mut(per.max(1))
            .enumerate()
            .for_each(|(i, o)| {
                let base = layout.offset() + i * s0;
                let mut k = 0;
                rest.for_each_offset(|j| {
                    o[k] = src[base + j];
                    k += 1;
                });
            });
        return out;
    }
    let mut out = Vec::with_capacity(n);
    layout.for_each_offset(|i| out.push(src[i]));
    out
}
