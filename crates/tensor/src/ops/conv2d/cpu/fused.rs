//! The fused convolution engine: implicit GEMM over shifted windows, no im2col buffer.
//!
//! Each image is copied once into a zero-padded, phase-split buffer `xs`: for stride
//! `(sh, sw)` the padded image is split into `sh * sw` phase images (rows `≡ a mod sh`,
//! columns `≡ b mod sw`), each `hs x ws`. The output is computed on a *wide* grid of `oh`
//! rows of `ws` pixels, `q = oy * ws + ox`; then the input value a tap `k = (ci, ky, kx)` of
//! wide pixel `q` reads is simply `xs[tap[k] + q]`, so the GEMM operand "im2col" is a set of
//! shifted views of `xs`. In the forward and backward-input passes the `ws - ow` extra
//! columns per row are computed and discarded (about 7% extra work for 3x3 kernels on
//! CIFAR-sized images).
//! - forward: `y_wide[co][q] = Σ_k W[co][k] · xs[tap[k] + q]`, then compacted (+ bias);
//! - backward input: `Σ_co dy_wide[co][q] · W[co][k]` is scatter-added straight into the
//!   phase-split gradient at `tap[k] + q` (col2im fused into the GEMM's store), where
//!   `dy_wide` is zero on the extra columns, so they contribute nothing;
//! - backward weight: `dWᵀ[k][co] += Σ_p xs[tap[k] + wide(p)] · dyᵀ[p][co]` over the real
//!   output pixels `p` only (`wide(p)` maps them to the wide grid, so no extra work here).
//!
//! Reads past the last wide pixel land in a zeroed tail of `xs`; every kernel address is
//! bounded by the invariants asserted in [`Fused::new`] and the lengths asserted by the
//! per-image entry points. (One numerical corner: the extra columns of the input-gradient
//! pass multiply zeros by the weights, so a non-finite weight can put a NaN into an input
//! gradient that an exact computation would leave finite.)

use super::avx2;
use crate::ops::conv2d::Conv2dSpec;

/// Depth of the forward reduction handled per tile call (keeps the A rows and the B panel
/// in L1).
const KC: usize = 256;
/// Output pixels per backward-weight tile call, at most (balanced over the image).
const QC: usize = 256;

/// Geometry and packed weights of one fused convolution call.
pub(super) struct Fused {
    c_in: usize,
    c_out: usize,
    h: usize,
    w: usize,
    pw: usize,
    sw: usize,
    oh: usize,
    ow: usize,
    /// Phase image width.
    ws: usize,
    /// Elements of one phase image.
    phase_len: usize,
    /// Wide pixels rounded up to the tile height 16.
    q16: usize,
    /// `c_in * kh * kw`, and rounded up to 6.
    k: usize,
    k6: usize,
    /// `c_out` rounded up to 6 and to 16.
    c6: usize,
    c16: usize,
    /// Offset of each tap in `xs` (`k6` entries; the padding taps point at 0).
    taps: Vec<usize>,
    /// The taps in backward-input order (`k6` entries, `usize::MAX` for padding): each group
    /// of six has scatter targets far apart, so the tile's read-modify-writes never partly
    /// overlap a store still in flight (a store-forwarding stall).
    bin_order: Vec<usize>,
    /// `taps` in `bin_order`.
    bin_taps: Vec<usize>,
    /// Length of `xs` (and of the phase-split input gradient).
    xs_len: usize,
    /// Offset in `xs` of each input row `(ci, iy)`'s phase row (column 0 of the phase grid).
    row_base: Vec<usize>,
    /// [`Fused::column_runs`].
    runs: Vec<(usize, usize, usize)>,
    /// Wide position `oy * ws + ox` of each output pixel `oy * ow + ox`.
    wide_pos: Vec<usize>,
}

impl Fused {
    /// Plans the call; `None` when the CPU lacks AVX2/FMA.
    pub(super) fn new(s: &Conv2dSpec) -> Option<Fused> {
        if !avx2::available() {
            return None;
        }
        let (sh, sw) = s.stride;
        let (dh, dw) = s.dilation;
        let (hp, wp) = (s.h + 2 * s.padding.0, s.w + 2 * s.padding.1);
        let (hs, ws) = (hp.div_ceil(sh), wp.div_ceil(sw));
        let phase_len = hs * ws;
        let chan_len = sh * sw * phase_len;
        let (oh, ow) = (s.out_h(), s.out_w());
        let q16 = (oh * ws).next_multiple_of(16);
        let k = s.c_in * s.kh * s.kw;
        let k6 = k.next_multiple_of(6);
        let mut taps = Vec::with_capacity(k6);
        for ci in 0..s.c_in {
            for ky in 0..s.kh {
                for kx in 0..s.kw {
                    let (ry, rx) = (ky * dh, kx * dw);
                    let phase = (ry % sh) * sw + rx % sw;
                    taps.push(ci * chan_len + phase * phase_len + (ry / sh) * ws + rx / sw);
                }
            }
        }
        taps.resize(k6, 0);
        let max_tap = taps.iter().copied().max().unwrap_or(0);
        let mut sorted: Vec<usize> = (0..k).collect();
        sorted.sort_by_key(|&t| taps[t]);
        sorted.resize(k6, usize::MAX);
        let groups = k6 / 6;
        let bin_order: Vec<usize> = (0..k6).map(|i| sorted[(i % 6) * groups + i / 6]).collect();
        let bin_taps = bin_order
            .iter()
            .map(|&t| if t == usize::MAX { 0 } else { taps[t] })
            .collect();
        let mut row_base = Vec::with_capacity(s.c_in * s.h);
        for ci in 0..s.c_in {
            for iy in 0..s.h {
                let r = iy + s.padding.0;
                row_base.push(ci * chan_len + (r % sh) * sw * phase_len + (r / sh) * ws);
            }
        }
        let mut f = Fused {
            c_in: s.c_in,
            c_out: s.c_out,
            h: s.h,
            w: s.w,
            pw: s.padding.1,
            sw,
            oh,
            ow,
            ws,
            phase_len,
            q16,
            k,
            k6,
            c6: s.c_out.next_multiple_of(6),
            c16: s.c_out.next_multiple_of(16),
            taps,
            bin_order,
            bin_taps,
            xs_len: (s.c_in * chan_len).max(max_tap + q16),
            row_base,
            runs: Vec::new(),
            wide_pos: (0..oh)
                .flat_map(|oy| (0..ow).map(move |ox| oy * ws + ox))
                .collect(),
        };
        f.runs = f.column_runs();
        f.check_invariants(max_tap);
        Some(f)
    }

    /// The facts the kernels' address bounds rely on; fields never change after `new`.
    fn check_invariants(&self, max_tap: usize) {
        let wide_px = self.oh * self.ws;
        assert!(self.q16.is_multiple_of(16) && self.q16 >= wide_px);
        assert!(self.k6.is_multiple_of(6) && self.k6 >= self.k);
        assert!(self.c6.is_multiple_of(6) && self.c16.is_multiple_of(16));
        assert!(self.c6 >= self.c_out && self.c16 >= self.c_out && self.ow <= self.ws);
        assert!(self.taps.len() == self.k6 && self.bin_taps.len() == self.k6);
        assert!(
            self.taps
                .iter()
                .chain(&self.bin_taps)
                .all(|&t| t <= max_tap)
        );
        assert!(self.xs_len >= max_tap + self.q16);
        assert!(self.wide_pos.len() == self.oh * self.ow);
        assert!(self.wide_pos.iter().all(|&q| q < wide_px.max(1)));
    }

    fn in_len(&self) -> usize {
        self.c_in * self.h * self.w
    }
    fn out_len(&self) -> usize {
        self.c_out * self.oh * self.ow
    }

    /// For each phase column `b < sw`: the first input column `ix0` with
    /// `(ix0 + pw) % sw == b`, the number `n` of such columns, and their offset within a phase
    /// row set, `b * phase_len + (ix0 + pw) / sw`; sorted by `ix0`.
    fn column_runs(&self) -> Vec<(usize, usize, usize)> {
        let mut runs: Vec<_> = (0..self.sw)
            .filter_map(|b| {
                let ix0 = (b + self.sw - self.pw % self.sw) % self.sw;
                (ix0 < self.w).then(|| {
                    (
                        ix0,
                        (self.w - ix0).div_ceil(self.sw),
                        b * self.phase_len + (ix0 + self.pw) / self.sw,
                    )
                })
            })
            .collect();
        runs.sort_unstable();
        runs
    }

    /// Copies image `x` `[c_in, h, w]` into the phase-split buffer `xs`. Only input positions
    /// are written: padding and tail stay as they were (zero).
    fn split(&self, x: &[f32], xs: &mut [f32]) {
        for (row, &base) in x.chunks_exact(self.w).zip(&self.row_base) {
            match self.runs.as_slice() {
                [(_, n, off)] if self.sw == 1 => {
                    xs[base + off..base + off + n].copy_from_slice(row)
                }
                [(_, ne, oe), (_, no, oo)] if self.sw == 2 => {
                    // Even columns to one phase, odd ones to the other, in one pass.
                    let (lo, hi) = xs.split_at_mut(base + oe.max(oo));
                    let (even, odd) = if oe < oo {
                        (&mut lo[base + oe..base + oe + ne], &mut hi[..*no])
                    } else {
                        (&mut hi[..*ne], &mut lo[base + oo..base + oo + no])
                    };
                    for ((pair, e), o) in
                        row.chunks_exact(2).zip(even.iter_mut()).zip(odd.iter_mut())
                    {
                        *e = pair[0];
                        *o = pair[1];
                    }
                    if row.len() % 2 == 1 {
                        even[ne - 1] = row[row.len() - 1];
                    }
                }
                runs => {
                    for &(ix0, n, off) in runs {
                        let dst = &mut xs[base + off..base + off + n];
                        dst.iter_mut()
                            .zip(row[ix0..].iter().step_by(self.sw))
                            .for_each(|(d, s)| *d = *s);
                    }
                }
            }
        }
    }

    /// Reads the input positions of the phase-split gradient `xs` back into `dx` `[c_in, h, w]`.
    fn unsplit(&self, xs: &[f32], dx: &mut [f32]) {
        for (row, &base) in dx.chunks_exact_mut(self.w).zip(&self.row_base) {
            match self.runs.as_slice() {
                [(_, n, off)] if self.sw == 1 => {
                    row.copy_from_slice(&xs[base + off..base + off + n])
                }
                [(_, ne, oe), (_, no, oo)] if self.sw == 2 => {
                    let (even, odd) = (
                        &xs[base + oe..base + oe + ne],
                        &xs[base + oo..base + oo + no],
                    );
                    let len = row.len();
                    for ((pair, e), o) in row.chunks_exact_mut(2).zip(even).zip(odd) {
                        pair[0] = *e;
                        pair[1] = *o;
                    }
                    if len % 2 == 1 {
                        row[len - 1] = even[ne - 1];
                    }
                }
                runs => {
                    for &(ix0, n, off) in runs {
                        let src = &xs[base + off..base + off + n];
                        row[ix0..]
                            .iter_mut()
                            .step_by(self.sw)
                            .zip(src)
                            .for_each(|(d, s)| *d = *s);
                    }
                }
            }
        }
    }

    /// Weights packed for the forward tiles: `[c6 / 6][k][6]`, `Wp[(j k + t) 6 + i] =
    /// W[6 j + i][t]`, zero for the padding channels.
    pub(super) fn pack_forward(&self, w: &[f32]) -> Vec<f32> {
        let mut p = vec![0.0; self.c6 * self.k];
        for co in 0..self.c_out {
            let (j, i) = (co / 6, co % 6);
            for t in 0..self.k {
                p[(j * self.k + t) * 6 + i] = w[co * self.k + t];
            }
        }
        p
    }

    /// Weights packed for the backward-input tiles: `[k6 / 6][c_out][6]`,
    /// `Wq[(j c_out + co) 6 + i] = W[co][bin_order[6 j + i]]`, zero for the padding taps.
    pub(super) fn pack_backward(&self, w: &[f32]) -> Vec<f32> {
        let mut p = vec![0.0; self.k6 * self.c_out];
        for (slot, &t) in self.bin_order.iter().enumerate() {
            if t == usize::MAX {
                continue;
            }
            let (j, i) = (slot / 6, slot % 6);
            for co in 0..self.c_out {
                p[(j * self.c_out + co) * 6 + i] = w[co * self.k + t];
            }
        }
        p
    }

    pub(super) fn scratch(&self) -> FusedScratch {
        FusedScratch {
            xs: vec![0.0; self.xs_len],
            wide: vec![0.0; self.c6.max(self.c16) * self.q16],
        }
    }

    /// Forward of one image: `x` `[c_in, h, w]` into `y` `[c_out, oh, ow]`; `wp` from
    /// [`Fused::pack_forward`].
    pub(super) fn forward(
        &self,
        sc: &mut FusedScratch,
        x: &[f32],
        wp: &[f32],
        bias: Option<&[f32]>,
        y: &mut [f32],
    ) {
        assert_eq!(x.len(), self.in_len());
        assert_eq!(y.len(), self.out_len());
        assert_eq!(wp.len(), self.c6 * self.k);
        assert!(sc.xs.len() == self.xs_len && sc.wide.len() >= self.c6 * self.q16);
        self.split(x, &mut sc.xs);
        let blocks = self.k.div_ceil(KC).max(1);
        let kc = self.k.div_ceil(blocks);
        for q0 in (0..self.q16).step_by(16) {
            for k0 in (0..self.k).step_by(kc.max(1)) {
                let n = kc.min(self.k - k0);
                // SAFETY: AVX2/FMA checked in `new`. Reads taps[k0..k0 + n] (k0 + n <= k),
                // xs[tap + q0..][..16] with tap + q0 + 16 <= max_tap + q16 <= xs_len, and for
                // each panel j < c6 / 6: wp[(j k + k0) 6..][..6 n] within c6 k; writes
                // wide[(6 j + i) q16 + q0..][..16] within c6 q16.
                unsafe {
                    avx2::forward_strip(
                        n,
                        sc.xs.as_ptr().add(q0),
                        self.taps.as_ptr().add(k0),
                        self.c6 / 6,
                        wp.as_ptr().add(k0 * 6),
                        self.k * 6,
                        sc.wide.as_mut_ptr().add(q0),
                        self.q16,
                        k0 > 0,
                    );
                }
            }
        }
        for (co, dst) in y.chunks_exact_mut(self.oh * self.ow).enumerate() {
            let b = bias.map_or(0.0, |b| b[co]);
            let src = &sc.wide[co * self.q16..];
            for (oy, out_row) in dst.chunks_exact_mut(self.ow).enumerate() {
                let wide_row = &src[oy * self.ws..][..self.ow];
                out_row
                    .iter_mut()
                    .zip(wide_row)
                    .for_each(|(o, v)| *o = v + b);
            }
        }
    }

    /// Copies `g` `[c_out, oh, ow]` into the wide layout `[c_out][q16]` (row `co` at
    /// `co * q16`); the extra columns and the tail keep their zeros.
    fn widen(&self, g: &[f32], wide: &mut [f32]) {
        for co in 0..self.c_out {
            for oy in 0..self.oh {
                let src = &g[(co * self.oh + oy) * self.ow..][..self.ow];
                wide[co * self.q16 + oy * self.ws..][..self.ow].copy_from_slice(src);
            }
        }
    }

    /// Input gradient of one image: `g` `[c_out, oh, ow]` into `dx` `[c_in, h, w]`; `wq` from
    /// [`Fused::pack_backward`]. `sc.xs` is used as the phase-split gradient.
    pub(super) fn backward_input(
        &self,
        sc: &mut FusedScratch,
        g: &[f32],
        wq: &[f32],
        dx: &mut [f32],
    ) {
        assert_eq!(g.len(), self.out_len());
        assert_eq!(dx.len(), self.in_len());
        assert_eq!(wq.len(), self.k6 * self.c_out);
        assert!(sc.xs.len() == self.xs_len && sc.wide.len() >= self.c_out * self.q16);
        self.widen(g, &mut sc.wide);
        sc.xs.fill(0.0);
        for q0 in (0..self.q16).step_by(16) {
            // SAFETY: AVX2/FMA checked in `new`. Reads wide[co q16 + q0..][..16] for
            // co < c_out, wq[..6 c_out (k6 / 6)] = wq[..k6 c_out], bin_taps[..k6]; scatter-adds
            // xs[tap + q0..][..16] within max_tap + q16 <= xs_len.
            unsafe {
                avx2::backward_input_strip(
                    self.c_out,
                    sc.wide.as_ptr().add(q0),
                    self.q16,
                    self.k6 / 6,
                    wq.as_ptr(),
                    sc.xs.as_mut_ptr().add(q0),
                    self.bin_taps.as_ptr(),
                );
            }
        }
        self.unsplit(&sc.xs, dx);
    }

    /// A zeroed weight-gradient accumulator, `[k6][c16]` (transposed, padded).
    pub(super) fn weight_acc(&self) -> Vec<f32> {
        vec![0.0; self.k6 * self.c16]
    }

    /// Adds the weight gradient of one image (`x` `[c_in, h, w]`, `g` `[c_out, oh, ow]`) into
    /// `acc` from [`Fused::weight_acc`].
    pub(super) fn backward_weight(
        &self,
        sc: &mut FusedScratch,
        x: &[f32],
        g: &[f32],
        acc: &mut [f32],
    ) {
        assert_eq!(x.len(), self.in_len());
        assert_eq!(g.len(), self.out_len());
        assert_eq!(acc.len(), self.k6 * self.c16);
        assert!(sc.xs.len() == self.xs_len && sc.wide.len() >= self.c16 * self.q16);
        self.split(x, &mut sc.xs);
        self.transpose_grad(g, &mut sc.wide);
        let p = self.oh * self.ow;
        let qc = p.div_ceil(p.div_ceil(QC).max(1)).max(1);
        for p0 in (0..p).step_by(qc) {
            let n = qc.min(p - p0);
            for cb in (0..self.c16).step_by(16) {
                for j in 0..self.k6 / 6 {
                    // SAFETY: AVX2/FMA checked in `new`. Reads wide[(p0 + i) c16 + cb..][..16]
                    // for i < n within p c16; wide_pos[p0..p0 + n] within p, and
                    // xs[tap + wide_pos[..]] < max_tap + oh ws <= xs_len; taps[6 j..][..6]
                    // within k6; accumulates acc[(6 j + i) c16 + cb..][..16] within k6 c16.
                    unsafe {
                        avx2::backward_weight_tile(
                            n,
                            sc.wide.as_ptr().add(p0 * self.c16 + cb),
                            self.c16,
                            sc.xs.as_ptr(),
                            self.taps.as_ptr().add(j * 6),
                            self.wide_pos.as_ptr().add(p0),
                            acc.as_mut_ptr().add(j * 6 * self.c16 + cb),
                            self.c16,
                        );
                    }
                }
            }
        }
    }

    /// Writes `g` `[c_out, p]` (`p = oh ow`) transposed into `dyt` `[p][c16]` (the padding
    /// channels keep their zeros).
    fn transpose_grad(&self, g: &[f32], dyt: &mut [f32]) {
        let p = self.oh * self.ow;
        assert!(g.len() >= self.c_out * p && dyt.len() >= p * self.c16);
        let (co8, p8) = (self.c_out / 8 * 8, p / 8 * 8);
        for co0 in (0..co8).step_by(8) {
            for p0 in (0..p8).step_by(8) {
                // SAFETY: AVX2 checked in `new`. Reads g[(co0 + i) p + p0..][..8] with
                // co0 + 8 <= c_out, p0 + 8 <= p; writes dyt[(p0 + j) c16 + co0..][..8] with
                // p0 + j < p and co0 + 8 <= c16.
                unsafe {
                    avx2::transpose_8x8(
                        g.as_ptr().add(co0 * p + p0),
                        p,
                        dyt.as_mut_ptr().add(p0 * self.c16 + co0),
                        self.c16,
                    );
                }
            }
        }
        // The rest, one pixel (a contiguous run of channels) at a time.
        for (px, dst) in dyt.chunks_exact_mut(self.c16).take(p).enumerate() {
            let first = if px < p8 { co8 } else { 0 };
            for (co, d) in dst[..self.c_out].iter_mut().enumerate().skip(first) {
                *d = g[co * p + px];
            }
        }
    }

    /// Writes a summed accumulator into `dw` `[c_out][k]`.
    pub(super) fn finish_weight(&self, acc: &[f32], dw: &mut [f32]) {
        for (co, row) in dw.chunks_exact_mut(self.k).enumerate() {
            for (t, d) in row.iter_mut().enumerate() {
                *d = acc[t * self.c16 + co];
            }
        }
    }
}

/// Per-thread buffers of the fused engine, for one kind of pass: the forward and weight
/// passes need `xs` zero outside the input positions, which the input pass does not keep.
pub(super) struct FusedScratch {
    /// Phase-split input (or input gradient), zero outside the input positions.
    xs: Vec<f32>,
    /// Wide output / wide upstream gradient / its transpose.
    wide: Vec<f32>,
}
