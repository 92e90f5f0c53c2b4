//! 2-D max and average pooling on the CPU: direct loops, parallel over the `n * c` planes.
//!
//! PyTorch semantics: no ceil mode, max pooling pads with `-inf` (NaN wins, as in PyTorch),
//! average pooling counts the padding in its divisor (`count_include_pad = true`).

use rayon::prelude::*;

use crate::Result;
use crate::backend::BackendBase;
use crate::cpu::Cpu;
use crate::cpu::alloc::zeroed;
use crate::ops::pool::{Pool2dSpec, PoolKernels};

impl PoolKernels for Cpu {
    fn max_pool2d(&self, x: &Vec<f32>, spec: &Pool2dSpec) -> Result<(Vec<f32>, Vec<f32>)> {
        Cpu::check_len("max_pool2d", x, spec.n * spec.c * spec.h * spec.w)?;
        Ok(max_pool2d_forward(x, spec))
    }
    fn max_pool2d_backward(
        &self,
        grad_out: &Vec<f32>,
        argmax: &Vec<f32>,
        spec: &Pool2dSpec,
    ) -> Result<Vec<f32>> {
        let out: usize = spec.output_shape().iter().product();
        Cpu::check_len("max_pool2d grad", grad_out, out)?;
        Cpu::check_len("max_pool2d argmax", argmax, out)?;
        Ok(max_pool2d_backward(grad_out, argmax, spec))
    }
    fn avg_pool2d(&self, x: &Vec<f32>, spec: &Pool2dSpec) -> Result<Vec<f32>> {
        Cpu::check_len("avg_pool2d", x, spec.n * spec.c * spec.h * spec.w)?;
        Ok(avg_pool2d_forward(x, spec))
    }
    fn avg_pool2d_backward(&self, grad_out: &Vec<f32>, spec: &Pool2dSpec) -> Result<Vec<f32>> {
        let out: usize = spec.output_shape().iter().product();
        Cpu::check_len("avg_pool2d grad", grad_out, out)?;
        Ok(avg_pool2d_backward(grad_out, spec))
    }
}

/// Outputs per rayon task, at least (small planes are grouped).
const MIN_TASK: usize = 4096;

/// The window of one output row (or column): the in-bounds input range `[lo, hi)` and the
/// window length clipped to the padded extent (PyTorch's divisor with `count_include_pad`).
#[derive(Debug, Clone, Copy)]
struct Window {
    lo: usize,
    hi: usize,
    padded_len: usize,
}

/// The windows of the `out` outputs along one axis.
fn windows(out: usize, size: usize, k: usize, stride: usize, pad: usize) -> Vec<Window> {
    (0..out)
        .map(|o| {
            let start = (o * stride) as isize - pad as isize;
            let end_padded = (start + k as isize).min((size + pad) as isize);
            let lo = (start.max(0) as usize).min(size);
            let hi = (end_padded.max(0) as usize).clamp(lo, size);
            Window {
                lo,
                hi,
                padded_len: (end_padded - start).max(0) as usize,
            }
        })
        .collect()
}

/// Geometry of one call: windows along both axes and plane sizes.
struct Planes {
    rows: Vec<Window>,
    cols: Vec<Window>,
    w: usize,
    /// Input and output elements per plane.
    hw: usize,
    out: usize,
}

impl Planes {
    fn new(s: &Pool2dSpec) -> Planes {
        let (oh, ow) = (s.out_h(), s.out_w());
        Planes {
            rows: windows(oh, s.h, s.kernel.0, s.stride.0, s.padding.0),
            cols: windows(ow, s.w, s.kernel.1, s.stride.1, s.padding.1),
            w: s.w,
            hw: s.h * s.w,
            out: oh * ow,
        }
    }
    /// Planes per rayon task.
    fn min_len(&self) -> usize {
        (MIN_TASK / self.out.max(1)).max(1)
    }
    /// Calls `f(output index, row window, column window)` for every output of a plane.
    #[inline(always)]
    fn for_each(&self, mut f: impl FnMut(usize, &Window, &Window)) {
        let ow = self.cols.len();
        for (oy, wy) in self.rows.iter().enumerate() {
            for (ox, wx) in self.cols.iter().enumerate() {
                f(oy * ow + ox, wy, wx);
            }
        }
    }
}

fn check(s: &Pool2dSpec, len: usize, want: usize, what: &str) {
    assert_eq!(
        len, want,
        "pool2d: {what} length {len} does not match {s:?}"
    );
}

/// Max pooling: returns `(out, argmax)`, both `[n, c, out_h, out_w]`; `argmax` is the flat
/// index of the maximum within its input `h * w` plane, as an f32 (`-1` for a window that
/// covers only padding, whose output is `-inf`). Empty when the output has no pixels.
///
/// # Panics
///
/// When `x.len()` does not match the spec.
pub(crate) fn max_pool2d_forward(x: &[f32], s: &Pool2dSpec) -> (Vec<f32>, Vec<f32>) {
    check(s, x.len(), s.n * s.c * s.h * s.w, "input");
    let pl = Planes::new(s);
    let mut out = zeroed(s.n * s.c * pl.out);
    let mut arg = zeroed(out.len());
    if out.is_empty() {
        return (out, arg);
    }
    if pl.hw == 0 {
        // Only padding under every window.
        out.fill(f32::NEG_INFINITY);
        arg.fill(-1.0);
        return (out, arg);
    }
    out.par_chunks_mut(pl.out)
        .zip(arg.par_chunks_mut(pl.out))
        .zip(x.par_chunks(pl.hw))
        .with_min_len(pl.min_len())
        .for_each(|((o, a), plane)| {
            pl.for_each(|i, wy, wx| {
                let mut best = f32::NEG_INFINITY;
                let mut best_i = if wy.lo < wy.hi && wx.lo < wx.hi {
                    (wy.lo * pl.w + wx.lo) as isize
                } else {
                    -1
                };
                for iy in wy.lo..wy.hi {
                    let row = &plane[iy * pl.w + wx.lo..iy * pl.w + wx.hi];
                    let base = (iy * pl.w + wx.lo) as isize;
                    for (j, &v) in row.iter().enumerate() {
                        // Branch-free select (random data defeats the branch predictor).
                        let take = v > best || v.is_nan();
                        best = if take { v } else { best };
                        best_i = if take { base + j as isize } else { best_i };
                    }
                }
                o[i] = best;
                a[i] = best_i as f32;
            });
        });
    (out, arg)
}

/// Gradient of max pooling: routes each `grad_out` element to the input position recorded in
/// `argmax` (positions outside the plane are ignored). Returns `[n, c, h, w]`.
///
/// # Panics
///
/// When a slice length does not match the spec.
pub(crate) fn max_pool2d_backward(grad_out: &[f32], argmax: &[f32], s: &Pool2dSpec) -> Vec<f32> {
    let pl = Planes::new(s);
    check(s, grad_out.len(), s.n * s.c * pl.out, "grad_out");
    check(s, argmax.len(), s.n * s.c * pl.out, "argmax");
    let mut dx = zeroed(s.n * s.c * pl.hw);
    if dx.is_empty() || pl.out == 0 {
        return dx;
    }
    let hw = pl.hw;
    dx.par_chunks_mut(hw)
        .zip(grad_out.par_chunks(pl.out).zip(argmax.par_chunks(pl.out)))
        .with_min_len(pl.min_len())
        .for_each(|(d, (g, a))| {
            for (&gv, &av) in g.iter().zip(a) {
                // `as usize` saturates negatives and NaN to 0; reject them explicitly.
                if av >= 0.0 && (av as usize) < hw {
                    d[av as usize] += gv;
                }
            }
        });
    dx
}

/// Average pooling (padding counted in the divisor): returns `[n, c, out_h, out_w]`, empty when
/// the output has no pixels.
///
/// # Panics
///
/// When `x.len()` does not match the spec.
pub(crate) fn avg_pool2d_forward(x: &[f32], s: &Pool2dSpec) -> Vec<f32> {
    check(s, x.len(), s.n * s.c * s.h * s.w, "input");
    let pl = Planes::new(s);
    let mut out = zeroed(s.n * s.c * pl.out);
    if out.is_empty() || pl.hw == 0 {
        return out;
    }
    out.par_chunks_mut(pl.out)
        .zip(x.par_chunks(pl.hw))
        .with_min_len(pl.min_len())
        .for_each(|(o, plane)| {
            pl.for_each(|i, wy, wx| {
                let mut sum = 0.0f32;
                for iy in wy.lo..wy.hi {
                    sum += plane[iy * pl.w + wx.lo..iy * pl.w + wx.hi]
                        .iter()
                        .sum::<f32>();
                }
                o[i] = sum / (wy.padded_len * wx.padded_len) as f32;
            });
        });
    out
}

/// Gradient of average pooling: spreads each `grad_out` element evenly over its window
/// (padding included in the divisor). Returns `[n, c, h, w]`.
///
/// # Panics
///
/// When `grad_out.len()` does not match the spec.
pub(crate) fn avg_pool2d_backward(grad_out: &[f32], s: &Pool2dSpec) -> Vec<f32> {
    let pl = Planes::new(s);
    check(s, grad_out.len(), s.n * s.c * pl.out, "grad_out");
    let mut dx = zeroed(s.n * s.c * pl.hw);
    if dx.is_empty() || pl.out == 0 {
        return dx;
    }
    dx.par_chunks_mut(pl.hw)
        .zip(grad_out.par_chunks(pl.out))
        .with_min_len(pl.min_len())
        .for_each(|(d, g)| {
            pl.for_each(|i, wy, wx| {
                let v = g[i] / (wy.padded_len * wx.padded_len) as f32;
                for iy in wy.lo..wy.hi {
                    for dv in &mut d[iy * pl.w + wx.lo..iy * pl.w + wx.hi] {
                        *dv += v;
                    }
                }
            });
        });
    dx
}
