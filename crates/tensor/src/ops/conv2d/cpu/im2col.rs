//! The portable convolution engine: im2col + a GEMM library, per image.
//!
//! The image is zero-padded once (when the convolution pads), then unfolded chunk by chunk
//! into `cols` `[K, pc]` (`K = c_in*kh*kw` taps, `pc` output pixels, the whole image unless
//! that exceeds [`CHUNK_BYTES`]): each row holds one tap over the chunk's pixels, written as
//! contiguous runs.
//! - forward: `y[:, chunk] = W[c_out, K] · cols` (+ bias, preloaded into `y`);
//! - backward input: `cols = Wᵀ · dy[:, chunk]`, scattered back with col2im;
//! - backward weight: `dW += dy[:, chunk] · colsᵀ`.
//!
//! A 1x1, stride-1, unpadded convolution skips the unfolding: the image is the GEMM operand.

use crate::cpu::gemm::{GemmImpl, sgemm};
use crate::ops::conv2d::Conv2dSpec;

/// Per-image geometry derived from a [`Conv2dSpec`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Geom {
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    ph: usize,
    pw: usize,
    dh: usize,
    dw: usize,
    oh: usize,
    ow: usize,
}

impl Geom {
    pub(super) fn new(s: &Conv2dSpec) -> Geom {
        Geom {
            c_in: s.c_in,
            h: s.h,
            w: s.w,
            c_out: s.c_out,
            kh: s.kh,
            kw: s.kw,
            sh: s.stride.0,
            sw: s.stride.1,
            ph: s.padding.0,
            pw: s.padding.1,
            dh: s.dilation.0,
            dw: s.dilation.1,
            oh: s.out_h(),
            ow: s.out_w(),
        }
    }
    /// Rows of `cols`: `c_in * kh * kw`.
    pub(super) fn k(&self) -> usize {
        self.c_in * self.kh * self.kw
    }
    /// Output pixels per channel.
    pub(super) fn p(&self) -> usize {
        self.oh * self.ow
    }
    pub(super) fn in_len(&self) -> usize {
        self.c_in * self.h * self.w
    }
    pub(super) fn out_len(&self) -> usize {
        self.c_out * self.p()
    }
    /// 1x1, stride 1, no padding: `cols` is the image itself.
    pub(super) fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.ph == 0 && self.pw == 0
    }
    fn is_padded(&self) -> bool {
        self.ph > 0 || self.pw > 0
    }
    /// Height and width of the zero-padded image.
    fn padded(&self) -> (usize, usize) {
        (self.h + 2 * self.ph, self.w + 2 * self.pw)
    }
}

/// A run of `len` output pixels on one output row: its offset `off` within the chunk and the
/// padded-image offset `base` of its first pixel's top-left tap.
#[derive(Debug, Clone, Copy)]
struct Segment {
    off: usize,
    len: usize,
    base: usize,
}

/// A range `[p0, p1)` of output pixels unfolded at once, split into output-row segments.
#[derive(Debug, Clone)]
pub(super) struct Chunk {
    p0: usize,
    p1: usize,
    segs: Vec<Segment>,
}

/// Everything the unfolding needs, computed once per call: the padded-image offset of each
/// `cols` row (tap) and the pixel chunks.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    g: Geom,
    taps: Vec<usize>,
    pub(super) chunks: Vec<Chunk>,
}

/// Bytes of `cols` per chunk. Whole images of CIFAR-sized layers fit (measured fastest with
/// the GEMM libraries, whose blocking handles the cache); chunking bounds the buffer for big
/// images. Unit tests use tiny chunks so that the chunking paths are exercised.
const CHUNK_BYTES: usize = if cfg!(test) { 2048 } else { 4 << 20 };

impl Plan {
    pub(super) fn new(g: &Geom) -> Plan {
        let (hp, wp) = g.padded();
        let mut taps = Vec::with_capacity(g.k());
        for ci in 0..g.c_in {
            for ky in 0..g.kh {
                for kx in 0..g.kw {
                    taps.push(ci * hp * wp + ky * g.dh * wp + kx * g.dw);
                }
            }
        }
        let p = g.p();
        let max = (CHUNK_BYTES / 4 / g.k().max(1)).max(8);
        let len = if p <= max {
            p
        } else {
            p.div_ceil(p.div_ceil(max)).next_multiple_of(8)
        };
        let chunks = (0..p)
            .step_by(len.max(1))
            .map(|p0| {
                let p1 = (p0 + len).min(p);
                let mut segs = Vec::new();
                let mut q = p0;
                while q < p1 {
                    let (oy, ox) = (q / g.ow, q % g.ow);
                    let n = (g.ow - ox).min(p1 - q);
                    segs.push(Segment {
                        off: q - p0,
                        len: n,
                        base: oy * g.sh * wp + ox * g.sw,
                    });
                    q += n;
                }
                Chunk { p0, p1, segs }
            })
            .collect();
        Plan {
            g: *g,
            taps,
            chunks,
        }
    }
}

/// Copies the image `x` `[c_in, h, w]` into the interior of the zero-bordered `xp`
/// `[c_in, hp, wp]` (whose border is never written, so it stays zero).
fn pad_into(g: &Geom, x: &[f32], xp: &mut [f32]) {
    let (hp, wp) = g.padded();
    for (plane, pplane) in x.chunks_exact(g.h * g.w).zip(xp.chunks_exact_mut(hp * wp)) {
        for (row, prow) in plane
            .chunks_exact(g.w)
            .zip(pplane[g.ph * wp..].chunks_exact_mut(wp))
        {
            prow[g.pw..g.pw + g.w].copy_from_slice(row);
        }
    }
}

/// Adds the interior of the padded gradient `dxp` `[c_in, hp, wp]` into `dx` `[c_in, h, w]`.
fn unpad_into(g: &Geom, dxp: &[f32], dx: &mut [f32]) {
    let (hp, wp) = g.padded();
    for (plane, pplane) in dx
        .chunks_exact_mut(g.h * g.w)
        .zip(dxp.chunks_exact(hp * wp))
    {
        for (row, prow) in plane
            .chunks_exact_mut(g.w)
            .zip(pplane[g.ph * wp..].chunks_exact(wp))
        {
            row.copy_from_slice(&prow[g.pw..g.pw + g.w]);
        }
    }
}

/// Unfolds one chunk of output pixels of the padded image `xp` into `cols`
/// `[K, p1 - p0]`, writing every element.
pub(super) fn im2col(plan: &Plan, chunk: &Chunk, xp: &[f32], cols: &mut [f32]) {
    let pc = chunk.p1 - chunk.p0;
    let sw = plan.g.sw;
    for (row, &tap) in cols.chunks_exact_mut(pc).zip(&plan.taps) {
        for seg in &chunk.segs {
            let dst = &mut row[seg.off..seg.off + seg.len];
            let src = &xp[tap + seg.base..];
            match sw {
                1 => dst.iter_mut().zip(src).for_each(|(d, s)| *d = *s),
                2 => dst
                    .iter_mut()
                    .zip(src.chunks(2))
                    .for_each(|(d, s)| *d = s[0]),
                _ => dst
                    .iter_mut()
                    .zip(src.iter().step_by(sw))
                    .for_each(|(d, s)| *d = *s),
            }
        }
    }
}

/// Adds one chunk of `cols` `[K, p1 - p0]` back into the padded image gradient `dxp`: the
/// adjoint of [`im2col`].
pub(super) fn col2im(plan: &Plan, chunk: &Chunk, cols: &[f32], dxp: &mut [f32]) {
    let pc = chunk.p1 - chunk.p0;
    let sw = plan.g.sw;
    for (row, &tap) in cols.chunks_exact(pc).zip(&plan.taps) {
        for seg in &chunk.segs {
            let src = &row[seg.off..seg.off + seg.len];
            let dst = &mut dxp[tap + seg.base..];
            match sw {
                1 => dst.iter_mut().zip(src).for_each(|(d, s)| *d += *s),
                2 => dst.chunks_mut(2).zip(src).for_each(|(d, s)| d[0] += *s),
                _ => dst
                    .iter_mut()
                    .step_by(sw)
                    .zip(src)
                    .for_each(|(d, s)| *d += *s),
            }
        }
    }
}

/// Per-thread scratch: the `cols` chunk and the padded image (or its gradient).
#[derive(Default)]
pub(super) struct Scratch {
    cols: Vec<f32>,
    padded: Vec<f32>,
}

impl Scratch {
    /// The padded copy of image `xi` (or `xi` itself when there is no padding).
    fn padded_input<'a>(&'a mut self, g: &Geom, xi: &'a [f32]) -> &'a [f32] {
        if !g.is_padded() {
            return xi;
        }
        let (hp, wp) = g.padded();
        if self.padded.len() != g.c_in * hp * wp {
            self.padded = vec![0.0; g.c_in * hp * wp];
        }
        pad_into(g, xi, &mut self.padded);
        &self.padded
    }
}

/// Forward of one image `xi` `[c_in, h, w]` into `yi` `[c_out, oh, ow]`.
pub(super) fn forward(
    imp: GemmImpl,
    plan: &Plan,
    sc: &mut Scratch,
    xi: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    yi: &mut [f32],
) {
    let g = &plan.g;
    let (k, p) = (g.k(), g.p());
    let beta = match bias {
        Some(b) => {
            for (row, &bv) in yi.chunks_exact_mut(p).zip(b) {
                row.fill(bv);
            }
            1.0
        }
        None => 0.0,
    };
    if g.is_pointwise() {
        sgemm(
            imp,
            g.c_out,
            k,
            p,
            1.0,
            w,
            (k, 1),
            xi,
            (p, 1),
            beta,
            yi,
            (p, 1),
            false,
        );
        return;
    }
    let mut cols = std::mem::take(&mut sc.cols);
    let xp = sc.padded_input(g, xi);
    for ch in &plan.chunks {
        let pc = ch.p1 - ch.p0;
        cols.resize(k * pc, 0.0);
        im2col(plan, ch, xp, &mut cols);
        sgemm(
            imp,
            g.c_out,
            k,
            pc,
            1.0,
            w,
            (k, 1),
            &cols,
            (pc, 1),
            beta,
            &mut yi[ch.p0..],
            (p, 1),
            false,
        );
    }
    sc.cols = cols;
}

/// Input gradient of one image: `gi` `[c_out, oh, ow]` into `dxi` `[c_in, h, w]` (zeroed).
pub(super) fn backward_input(
    imp: GemmImpl,
    plan: &Plan,
    sc: &mut Scratch,
    gi: &[f32],
    w: &[f32],
    dxi: &mut [f32],
) {
    let g = &plan.g;
    let (k, p) = (g.k(), g.p());
    if g.is_pointwise() {
        sgemm(
            imp,
            k,
            g.c_out,
            p,
            1.0,
            w,
            (1, k),
            gi,
            (p, 1),
            0.0,
            dxi,
            (p, 1),
            false,
        );
        return;
    }
    let (hp, wp) = g.padded();
    if g.is_padded() {
        sc.padded.clear();
        sc.padded.resize(g.c_in * hp * wp, 0.0);
    } else {
        dxi.fill(0.0);
    }
    let dxp: &mut [f32] = if g.is_padded() {
        &mut sc.padded
    } else {
        &mut *dxi
    };
    for ch in &plan.chunks {
        let pc = ch.p1 - ch.p0;
        sc.cols.resize(k * pc, 0.0);
        sgemm(
            imp,
            k,
            g.c_out,
            pc,
            1.0,
            w,
            (1, k),
            &gi[ch.p0..],
            (p, 1),
            0.0,
            &mut sc.cols,
            (pc, 1),
            false,
        );
        col2im(plan, ch, &sc.cols, dxp);
    }
    if g.is_padded() {
        unpad_into(g, &sc.padded, dxi);
    }
}

/// Adds the weight gradient of one image (`xi` `[c_in, h, w]`, `gi` `[c_out, oh, ow]`) into
/// `dw` `[c_out, K]`.
pub(super) fn backward_weight(
    imp: GemmImpl,
    plan: &Plan,
    sc: &mut Scratch,
    xi: &[f32],
    gi: &[f32],
    dw: &mut [f32],
) {
    let g = &plan.g;
    let (k, p) = (g.k(), g.p());
    if g.is_pointwise() {
        sgemm(
            imp,
            g.c_out,
            p,
            k,
            1.0,
            gi,
            (p, 1),
            xi,
            (1, p),
            1.0,
            dw,
            (k, 1),
            false,
        );
        return;
    }
    let mut cols = std::mem::take(&mut sc.cols);
    let xp = sc.padded_input(g, xi);
    for ch in &plan.chunks {
        let pc = ch.p1 - ch.p0;
        cols.resize(k * pc, 0.0);
        im2col(plan, ch, xp, &mut cols);
        sgemm(
            imp,
            g.c_out,
            pc,
            k,
            1.0,
            &gi[ch.p0..],
            (p, 1),
            &cols,
            (1, pc),
            1.0,
            dw,
            (k, 1),
            false,
        );
    }
    sc.cols = cols;
}
