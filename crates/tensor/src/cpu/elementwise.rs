//! CPU elementwise kernels.

use rayon::prelude::*;

use crate::Layout;
use crate::spec::{BinaryOp, UnaryOp};

/// Below this many elements a kernel runs on one thread.
pub(crate) const PAR_MIN: usize = 1 << 15;
const CHUNK: usize = 1 << 13;

#[inline]
pub(crate) fn unary_fn(op: UnaryOp) -> impl Fn(f32) -> f32 + Sync {
    move |x: f32| match op {
        UnaryOp::Neg => -x,
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Sqr => x * x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Relu => x.max(0.0),
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        UnaryOp::Recip => 1.0 / x,
        UnaryOp::Affine { mul, add } => x * mul + add,
        UnaryOp::Powf(e) => x.powf(e),
        UnaryOp::Step => {
            if x > 0.0 {
                1.0
            } else {
                0.0
            }
        }
    }
}

#[inline]
fn binary_fn(op: BinaryOp) -> impl Fn(f32, f32) -> f32 + Sync {
    move |a: f32, b: f32| match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Max => a.max(b),
        BinaryOp::Min => a.min(b),
    }
}

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

pub(crate) fn unary(op: UnaryOp, x: &[f32]) -> Vec<f32> {
    map(x, unary_fn(op))
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

fn dense_slice<'a>(src: &'a [f32], layout: &Layout) -> Option<&'a [f32]> {
    let o = layout.offset();
    (layout.is_contiguous() && !layout.strides().contains(&0) || layout.numel() <= 1)
        .then(|| &src[o..o + layout.numel()])
}

pub(crate) fn binary(op: BinaryOp, a: &[f32], al: &Layout, b: &[f32], bl: &Layout) -> Vec<f32> {
    let f = binary_fn(op);
    match (dense_slice(a, al), dense_slice(b, bl)) {
        (Some(a), Some(b)) => zip_map(a, b, f),
        (Some(a), None) => zip_map(a, &gather(b, bl), f),
        (None, Some(b)) => zip_map(&gather(a, al), b, f),
        (None, None) => zip_map(&gather(a, al), &gather(b, bl), f),
    }
}

/// `x` where `mask > 0`, else 0, times `scale`.
pub(crate) fn masked_scale(x: &[f32], mask: &[f32], scale: f32) -> Vec<f32> {
    zip_map(x, mask, move |x, m| if m > 0.0 { x * scale } else { 0.0 })
}
