//! 2-D convolution on the CPU, parallel over the batch (one image per rayon task, reused
//! per-thread buffers, single-threaded GEMM inside).
//!
//! Two engines compute the per-image work:
//! - [`ConvAlgo::Fused`] (`fused.rs`): implicit GEMM over shifted windows of a
//!   phase-split copy of the image, with AVX2/FMA micro-kernels; no im2col buffer, col2im
//!   fused into the backward-input store. The default where the CPU has AVX2 and FMA.
//! - [`ConvAlgo::Im2col`] (`im2col.rs`): im2col + a GEMM library; portable.
//!
//! A 1x1, stride-1, unpadded convolution always goes straight to the GEMM library.
//!
//! The `*_into` variants write into a caller-provided buffer (every element is overwritten),
//! so a caller that recycles buffers avoids the page faults of fresh large allocations.

mod avx2;
mod fused;
mod im2col;

use rayon::prelude::*;

use crate::Result;
use crate::backend::BackendBase;
use crate::cpu::Cpu;
use crate::cpu::alloc::zeroed;
use crate::cpu::gemm::{GemmImpl, default_impl};
use crate::ops::conv2d::{Conv2dSpec, ConvKernels};
use fused::Fused;
use im2col::{Geom, Plan};

impl ConvKernels for Cpu {
    fn conv2d(
        &self,
        x: &Vec<f32>,
        weight: &Vec<f32>,
        bias: Option<&Vec<f32>>,
        spec: &Conv2dSpec,
    ) -> Result<Vec<f32>> {
        check_forward(x, weight, spec)?;
        Ok(conv2d_forward(x, weight, bias.map(|b| b.as_slice()), spec))
    }
    fn conv2d_relu(
        &self,
        x: &Vec<f32>,
        weight: &Vec<f32>,
        bias: Option<&Vec<f32>>,
        spec: &Conv2dSpec,
    ) -> Result<Vec<f32>> {
        check_forward(x, weight, spec)?;
        Ok(conv2d_relu_forward(
            x,
            weight,
            bias.map(|b| b.as_slice()),
            spec,
        ))
    }
    fn conv2d_backward_input(
        &self,
        grad_out: &Vec<f32>,
        weight: &Vec<f32>,
        spec: &Conv2dSpec,
    ) -> Result<Vec<f32>> {
        Cpu::check_len(
            "conv2d grad",
            grad_out,
            spec.output_shape().iter().product(),
        )?;
        Cpu::check_len(
            "conv2d weight",
            weight,
            spec.weight_shape().iter().product(),
        )?;
        Ok(conv2d_backward_input(grad_out, weight, spec))
    }
    fn conv2d_backward_weight(
        &self,
        x: &Vec<f32>,
        grad_out: &Vec<f32>,
        spec: &Conv2dSpec,
    ) -> Result<Vec<f32>> {
        Cpu::check_len(
            "conv2d grad",
            grad_out,
            spec.output_shape().iter().product(),
        )?;
        Cpu::check_len("conv2d input", x, spec.input_shape().iter().product())?;
        Ok(conv2d_backward_weight(x, grad_out, spec))
    }
}

fn check_forward(x: &Vec<f32>, weight: &Vec<f32>, spec: &Conv2dSpec) -> Result<()> {
    Cpu::check_len("conv2d input", x, spec.input_shape().iter().product())?;
    Cpu::check_len(
        "conv2d weight",
        weight,
        spec.weight_shape().iter().product(),
    )
}

/// How the CPU convolution computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConvAlgo {
    /// Shifted-window implicit GEMM with AVX2/FMA kernels (falls back to
    /// `Im2col(default_impl())` on CPUs without them).
    Fused,
    /// im2col + the given GEMM library.
    Im2col(GemmImpl),
}

/// The algorithm the plain entry points use: `KILN_CONV=im2col` selects
/// `Im2col(default_impl())`; otherwise `Fused`.
pub fn default_algo() -> ConvAlgo {
    match std::env::var("KILN_CONV") {
        Ok(v) if v.eq_ignore_ascii_case("im2col") => ConvAlgo::Im2col(default_impl()),
        _ => ConvAlgo::Fused,
    }
}

/// The engine one call runs on.
enum Engine {
    Fused(Fused),
    Im2col(GemmImpl, Plan),
}

impl Engine {
    fn new(algo: ConvAlgo, s: &Conv2dSpec) -> Engine {
        let g = Geom::new(s);
        let fused = match algo {
            ConvAlgo::Fused if !g.is_pointwise() => Fused::new(s),
            _ => None,
        };
        match (fused, algo) {
            (Some(f), _) => Engine::Fused(f),
            (None, ConvAlgo::Im2col(imp)) => Engine::Im2col(imp, Plan::new(&g)),
            (None, ConvAlgo::Fused) => Engine::Im2col(default_impl(), Plan::new(&g)),
        }
    }
}

fn check(s: &Conv2dSpec, len: usize, want: usize, what: &str) {
    assert_eq!(
        len, want,
        "conv2d: {what} length {len} does not match {s:?}"
    );
}

/// Forward convolution: `x` `[n, c_in, h, w]`, `w` `[c_out, c_in, kh, kw]`, optional `bias`
/// `[c_out]`; returns `[n, c_out, out_h, out_w]` (empty when the output has no pixels).
///
/// # Panics
///
/// When a slice length does not match the spec.
pub fn conv2d_forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, s: &Conv2dSpec) -> Vec<f32> {
    conv2d_forward_with(default_algo(), x, w, bias, s)
}

/// [`conv2d_forward`] with an explicit algorithm.
pub fn conv2d_forward_with(
    algo: ConvAlgo,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    s: &Conv2dSpec,
) -> Vec<f32> {
    forward_alloc(algo, x, w, bias, s, false)
}

/// `max(conv2d(x, w, bias), 0)`: [`conv2d_forward`] with the ReLU applied to each image's
/// output right after it is computed, while it is still in cache (no separate pass).
pub fn conv2d_relu_forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, s: &Conv2dSpec) -> Vec<f32> {
    forward_alloc(default_algo(), x, w, bias, s, true)
}

fn forward_alloc(
    algo: ConvAlgo,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    s: &Conv2dSpec,
    relu: bool,
) -> Vec<f32> {
    let mut y = zeroed(s.n * s.c_out * s.out_h() * s.out_w());
    forward_into(algo, x, w, bias, s, &mut y, relu);
    y
}

/// [`conv2d_forward_with`] into `y` `[n, c_out, out_h, out_w]`.
///
/// # Panics
///
/// When a slice length does not match the spec.
pub fn conv2d_forward_into(
    algo: ConvAlgo,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    s: &Conv2dSpec,
    y: &mut [f32],
) {
    forward_into(algo, x, w, bias, s, y, false)
}

/// The ReLU of f32::max: 0 for NaN too, as the CPU's unary ReLU.
fn relu_in_place(y: &mut [f32]) {
    y.iter_mut().for_each(|v| *v = v.max(0.0));
}

fn forward_into(
    algo: ConvAlgo,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    s: &Conv2dSpec,
    y: &mut [f32],
    relu: bool,
) {
    let g = Geom::new(s);
    let (in_len, out_len, k, p) = (g.in_len(), g.out_len(), g.k(), g.p());
    check(s, x.len(), s.n * in_len, "input");
    check(s, w.len(), s.c_out * k, "weight");
    check(s, y.len(), s.n * out_len, "output");
    if let Some(b) = bias {
        check(s, b.len(), s.c_out, "bias");
    }
    if y.is_empty() {
        return;
    }
    if in_len == 0 || k == 0 {
        // No tap reads an input value: the output is the bias.
        for (row, co) in y.chunks_exact_mut(p).zip((0..s.c_out).cycle()) {
            row.fill(bias.map_or(0.0, |b| b[co]));
        }
        if relu {
            relu_in_place(y);
        }
        return;
    }
    let pairs = y.par_chunks_mut(out_len).zip(x.par_chunks(in_len));
    match Engine::new(algo, s) {
        Engine::Fused(f) => {
            let wp = f.pack_forward(w);
            pairs.for_each_init(
                || f.scratch(),
                |sc, (yi, xi)| {
                    f.forward(sc, xi, &wp, bias, yi);
                    if relu {
                        relu_in_place(yi);
                    }
                },
            );
        }
        Engine::Im2col(imp, plan) => {
            pairs.for_each_init(im2col::Scratch::default, |sc, (yi, xi)| {
                im2col::forward(imp, &plan, sc, xi, w, bias, yi);
                if relu {
                    relu_in_place(yi);
                }
            });
        }
    }
}

/// Gradient of the convolution with respect to its input: `grad_out` `[n, c_out, oh, ow]`,
/// `w` `[c_out, c_in, kh, kw]`; returns `[n, c_in, h, w]`.
///
/// # Panics
///
/// When a slice length does not match the spec.
pub fn conv2d_backward_input(grad_out: &[f32], w: &[f32], s: &Conv2dSpec) -> Vec<f32> {
    conv2d_backward_input_with(default_algo(), grad_out, w, s)
}

/// [`conv2d_backward_input`] with an explicit algorithm.
pub fn conv2d_backward_input_with(
    algo: ConvAlgo,
    grad_out: &[f32],
    w: &[f32],
    s: &Conv2dSpec,
) -> Vec<f32> {
    let mut dx = zeroed(s.n * s.c_in * s.h * s.w);
    conv2d_backward_input_into(algo, grad_out, w, s, &mut dx);
    dx
}

/// [`conv2d_backward_input_with`] into `dx` `[n, c_in, h, w]`.
///
/// # Panics
///
/// When a slice length does not match the spec.
pub fn conv2d_backward_input_into(
    algo: ConvAlgo,
    grad_out: &[f32],
    w: &[f32],
    s: &Conv2dSpec,
    dx: &mut [f32],
) {
    let g = Geom::new(s);
    let (in_len, out_len, k) = (g.in_len(), g.out_len(), g.k());
    check(s, grad_out.len(), s.n * out_len, "grad_out");
    check(s, w.len(), s.c_out * k, "weight");
    check(s, dx.len(), s.n * in_len, "grad_input");
    if dx.is_empty() {
        return;
    }
    if out_len == 0 || k == 0 {
        dx.fill(0.0);
        return;
    }
    let pairs = dx.par_chunks_mut(in_len).zip(grad_out.par_chunks(out_len));
    match Engine::new(algo, s) {
        Engine::Fused(f) => {
            let wq = f.pack_backward(w);
            pairs.for_each_init(
                || f.scratch(),
                |sc, (dxi, gi)| f.backward_input(sc, gi, &wq, dxi),
            );
        }
        Engine::Im2col(imp, plan) => {
            pairs.for_each_init(im2col::Scratch::default, |sc, (dxi, gi)| {
                im2col::backward_input(imp, &plan, sc, gi, w, dxi)
            });
        }
    }
}

/// Gradient of the convolution with respect to its weight (the bias gradient is not included):
/// `x` `[n, c_in, h, w]`, `grad_out` `[n, c_out, oh, ow]`; returns `[c_out, c_in, kh, kw]`.
///
/// # Panics
///
/// When a slice length does not match the spec.
pub fn conv2d_backward_weight(x: &[f32], grad_out: &[f32], s: &Conv2dSpec) -> Vec<f32> {
    conv2d_backward_weight_with(default_algo(), x, grad_out, s)
}

/// [`conv2d_backward_weight`] with an explicit algorithm.
pub fn conv2d_backward_weight_with(
    algo: ConvAlgo,
    x: &[f32],
    grad_out: &[f32],
    s: &Conv2dSpec,
) -> Vec<f32> {
    let mut dw = vec![0.0; s.c_out * s.c_in * s.kh * s.kw];
    conv2d_backward_weight_into(algo, x, grad_out, s, &mut dw);
    dw
}

/// Sums per-task partial gradients.
fn add_into(mut a: Vec<f32>, b: Vec<f32>) -> Vec<f32> {
    a.iter_mut().zip(&b).for_each(|(x, y)| *x += *y);
    a
}

/// [`conv2d_backward_weight_with`] into `dw` `[c_out, c_in, kh, kw]`.
///
/// # Panics
///
/// When a slice length does not match the spec.
pub fn conv2d_backward_weight_into(
    algo: ConvAlgo,
    x: &[f32],
    grad_out: &[f32],
    s: &Conv2dSpec,
    dw: &mut [f32],
) {
    let g = Geom::new(s);
    let (in_len, out_len, k) = (g.in_len(), g.out_len(), g.k());
    check(s, x.len(), s.n * in_len, "input");
    check(s, grad_out.len(), s.n * out_len, "grad_out");
    check(s, dw.len(), s.c_out * k, "grad_weight");
    if dw.is_empty() || out_len == 0 || in_len == 0 || s.n == 0 {
        dw.fill(0.0);
        return;
    }
    // The batch is cut into a fixed number of contiguous groups whatever the thread count or
    // the scheduling, and the groups' partial sums are added in order: the weight gradient is
    // the same on every run (training from a seed is reproducible).
    let per = s.n.div_ceil(WEIGHT_GROUPS.min(s.n));
    let groups = x
        .par_chunks(per * in_len)
        .zip(grad_out.par_chunks(per * out_len));
    match Engine::new(algo, s) {
        Engine::Fused(f) => {
            let parts: Vec<Vec<f32>> = groups
                .map(|(xg, gg)| {
                    let (mut sc, mut acc) = (f.scratch(), f.weight_acc());
                    for (xi, gi) in xg.chunks(in_len).zip(gg.chunks(out_len)) {
                        f.backward_weight(&mut sc, xi, gi, &mut acc);
                    }
                    acc
                })
                .collect();
            let acc = parts
                .into_iter()
                .reduce(add_into)
                .unwrap_or_else(|| f.weight_acc());
            f.finish_weight(&acc, dw);
        }
        Engine::Im2col(imp, plan) => {
            let parts: Vec<Vec<f32>> = groups
                .map(|(xg, gg)| {
                    let (mut sc, mut part) = (im2col::Scratch::default(), vec![0.0; dw.len()]);
                    for (xi, gi) in xg.chunks(in_len).zip(gg.chunks(out_len)) {
                        im2col::backward_weight(imp, &plan, &mut sc, xi, gi, &mut part);
                    }
                    part
                })
                .collect();
            let sum = parts
                .into_iter()
                .reduce(add_into)
                .unwrap_or_else(|| vec![0.0; dw.len()]);
            dw.copy_from_slice(&sum);
        }
    }
}

/// Number of batch groups whose weight-gradient partial sums are added in a fixed order.
const WEIGHT_GROUPS: usize = 8;
