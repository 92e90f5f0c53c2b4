//! The implicit engine under `Precision::Tf32`: implicit GEMM on TF32 tensor cores
//! (`tc_geometry.cu`, `tc_conv.cu`, `tc_conv_bwd_w.cu`). A block loads the source rows that its
//! output positions read through all the kernel taps (the halo) once per chunk of 8 channels,
//! in a 3-stage cp.async pipeline, and multiplies them for every tap with `mma.m16n8k8` (f32
//! sums); the weights are packed in the tensor cores' fragment order first
//! (`conv_tc_pack_weight`). The weight gradient sums its pixels in slices that are added in a
//! fixed order (deterministic).
//!
//! [`supports`]: compute capability 8.0 or newer; every index below 2^31; and the pipeline's
//! shared memory (3 stages of the halo and of the weights of every tap) within the device's
//! per-block limit (227 KiB on an H100, 99 KiB on sm_86/sm_120). The halo of a block spans its
//! positions' source rows at the full padded width, so large kernels, large strides or very
//! wide images exceed it and take the GEMM engine (cuBLAS in TF32).
//!
//! The forward and input-gradient kernels take 256 positions per block when that fits in
//! 100 KiB of shared memory (two blocks per SM on an H100), else 128; `KILN_CUDA_TC_BN=128` or
//! `256` forces one (for measurements).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use super::Pass;
use super::implicit::{i, split_workspace, splits, weight_grad_args, window};
use crate::Result;
use crate::cuda::device::backend_err;
use crate::cuda::kernels::{Arg, cfg, cfg_1d, cfg_smem};
use crate::cuda::{Cuda, CudaStorage};
use crate::ops::conv2d::Conv2dSpec;

/// Positions per block of the forward and input-gradient kernels: `*_n8` and `*_n4`.
const WIDE: usize = 256;
const NARROW: usize = 128;
/// Pixels per pipeline stage of the weight-gradient kernel.
const BQ: usize = 64;
/// Rows of C per block.
const BM: usize = 48;
const THREADS: u32 = 128;
const STAGES: usize = 3;
/// Floats of packed weights per (chunk, tap): 3 m-tiles x 32 lanes x 4 registers.
const ASTEP: usize = 384;
/// Taps per block of the weight-gradient kernel.
const WTAPS: usize = 9;
/// The wide kernels' shared-memory cap: two blocks per SM on an H100.
const WIDE_SMEM: usize = 100 * 1024;

/// The kernel taps that reach phase `p` along one axis (all taps unless `transposed`): how
/// many, and their least and greatest source offsets (`tc_axis` of tc_geometry.cu).
#[derive(Debug, Clone, Copy)]
struct Axis {
    count: i64,
    lo: i64,
    hi: i64,
}

fn axis(transposed: bool, p: i64, pad: i64, d: i64, s: i64, size: i64) -> Axis {
    let mut a = Axis {
        count: 0,
        lo: 0,
        hi: 0,
    };
    for k in 0..size {
        if transposed && (p + pad - k * d).rem_euclid(s) != 0 {
            continue;
        }
        let o = if transposed {
            (p + pad - k * d) / s
        } else {
            k * d - pad
        };
        a.lo = if a.count == 0 { o } else { a.lo.min(o) };
        a.hi = if a.count == 0 { o } else { a.hi.max(o) };
        a.count += 1;
    }
    a
}

/// A launch's halo layout (tc_geometry.cu): rows bound, row pitch, positions per column phase,
/// channel plane, most taps of a phase, shared-memory bytes, and the largest global padded
/// row (for the 32-bit check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    hrows: usize,
    pitch: usize,
    wq: usize,
    plane: usize,
    taps: usize,
    smem: usize,
    last_row: i64,
}

/// The layout of `pass` with windows of `bn` consecutive positions. The rows bound is the
/// largest span of a window over every window start (they repeat with the image's period);
/// the pitch makes a row break inside 8 consecutive positions keep them on distinct banks, the
/// plane puts the channels of a fragment load on distinct banks (8 mod 16 words apart for the
/// forward and input gradient, 4 mod 8 for the weight gradient).
fn layout(s: &Conv2dSpec, pass: Pass, bn: usize) -> Layout {
    let tr = pass == Pass::BackwardInput;
    let [sh, sw, ph, pw, dh, dw] = [
        s.stride.0,
        s.stride.1,
        s.padding.0,
        s.padding.1,
        s.dilation.0,
        s.dilation.1,
    ]
    .map(|v| v as i64);
    let (h, w, kh, kw, bn_i) = (s.h as i64, s.w as i64, s.kh as i64, s.kw as i64, bn as i64);
    let phases = if tr { sh * sw } else { 1 };
    let (gsh, gsw) = if tr { (1, 1) } else { (sh, sw) };
    let (mut hrows, mut taps, mut wp_max, mut gw0, mut last_row) = (0i64, 0i64, 1i64, 1i64, 0i64);
    for z in 0..phases {
        let (py, px) = (z / sw, z % sw);
        let (ay, ax) = (axis(tr, py, ph, dh, sh, kh), axis(tr, px, pw, dw, sw, kw));
        let (gh, gw) = if tr {
            let g = |p: i64, size: i64, st: i64| {
                if p < size {
                    (size - p + st - 1) / st
                } else {
                    0
                }
            };
            (g(py, h, sh), g(px, w, sw))
        } else {
            (s.out_h() as i64, s.out_w() as i64)
        };
        if gh == 0 || gw == 0 {
            continue;
        }
        if z == 0 {
            gw0 = gw;
        }
        let span = ay.hi - ay.lo;
        let hp = (gh - 1) * gsh + span + 1;
        let wp = (gw - 1) * gsw + (ax.hi - ax.lo) + 1;
        let per = gh * gw;
        let blocks = (s.n as i64 * per + bn_i - 1) / bn_i;
        let period = per / gcd(per, bn_i);
        let row = |q: i64| (q / per) * hp + (q % per) / gw * gsh;
        for b in 0..blocks.min(period) {
            let q0 = b * bn_i;
            hrows = hrows.max(row(q0 + bn_i - 1) + span + 1 - row(q0));
        }
        wp_max = wp_max.max(wp);
        taps = taps.max(ay.count * ax.count);
        last_row = last_row.max(s.n as i64 * hp);
    }
    let wq = (wp_max + gsw - 1) / gsw;
    let pitch = (gsw * wq..gsw * wq + 8)
        .find(|p| (gsh * p - gw0).rem_euclid(8) == 0)
        .unwrap_or(gsw * wq);
    let (want, modulus) = if pass == Pass::BackwardWeight {
        (4, 8)
    } else {
        (8, 16)
    };
    let mut plane = hrows * pitch;
    while plane % modulus != want {
        plane += 1;
    }
    let floats = if pass == Pass::BackwardWeight {
        // dy tiles, halos, tap offsets, pixel bases
        let pipe = STAGES as i64 * (BM as i64 * 68 + 8 * plane + BQ as i64) + WTAPS as i64;
        pipe.max(4 * 3 * WTAPS as i64 * 128)
    } else {
        STAGES as i64 * (taps * ASTEP as i64 + 8 * plane) + taps + 2 * hrows * wp_max
    };
    Layout {
        hrows: hrows as usize,
        pitch: pitch as usize,
        wq: wq as usize,
        plane: plane as usize,
        taps: taps as usize,
        smem: 4 * floats as usize,
        last_row,
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a.max(1) } else { gcd(b, a % b) }
}

/// `KILN_CUDA_TC_BN=128` or `256` forces the positions per block of the forward and
/// input-gradient kernels (when it fits); otherwise 256 when that fits in `WIDE_SMEM`, else 128.
fn forced_width() -> Option<usize> {
    static FORCED: OnceLock<Option<usize>> = OnceLock::new();
    *FORCED.get_or_init(|| {
        std::env::var("KILN_CUDA_TC_BN")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .filter(|bn| [WIDE, NARROW].contains(bn))
    })
}

/// The positions per block and the layout of `pass`, when its shared memory fits the device
/// (cached per geometry, pass and shared-memory limit: the rows bound walks the windows).
fn plan(dev: &Cuda, s: &Conv2dSpec, pass: Pass) -> Option<(usize, Layout)> {
    type Plans = HashMap<(Conv2dSpec, Pass, usize), Option<(usize, Layout)>>;
    static PLANS: OnceLock<Mutex<Plans>> = OnceLock::new();
    let limit = dev.inner().smem_optin;
    let plans = PLANS.get_or_init(|| Mutex::new(HashMap::new()));
    let key = (*s, pass, limit);
    if let Some(p) = plans.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return *p;
    }
    let p = plan_uncached(s, pass, limit);
    plans
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, p);
    p
}

fn plan_uncached(s: &Conv2dSpec, pass: Pass, limit: usize) -> Option<(usize, Layout)> {
    if pass == Pass::BackwardWeight {
        let l = layout(s, pass, BQ);
        return (l.smem <= limit).then_some((BQ, l));
    }
    let forced = forced_width();
    [WIDE, NARROW].into_iter().find_map(|bn| {
        if forced.is_some_and(|f| f != bn) {
            return None;
        }
        let cap = if bn == WIDE && forced.is_none() {
            limit.min(WIDE_SMEM)
        } else {
            limit
        };
        let l = layout(s, pass, bn);
        (l.smem <= cap).then_some((bn, l))
    })
}

/// Floats of the packed weights of `pass` (the input gradient packs one set per phase).
fn packed_len(s: &Conv2dSpec, transposed: bool) -> usize {
    let (m, c) = if transposed {
        (s.c_in, s.c_out)
    } else {
        (s.c_out, s.c_in)
    };
    let (sh, sw) = s.stride;
    let phases = if transposed { sh * sw } else { 1 };
    let taps: i64 = (0..phases as i64)
        .map(|z| {
            let (py, px) = (z / sw as i64, z % sw as i64);
            let ay = axis(
                transposed,
                py,
                s.padding.0 as i64,
                s.dilation.0 as i64,
                sh as i64,
                s.kh as i64,
            );
            let ax = axis(
                transposed,
                px,
                s.padding.1 as i64,
                s.dilation.1 as i64,
                sw as i64,
                s.kw as i64,
            );
            ay.count * ax.count
        })
        .sum();
    m.div_ceil(BM) * c.div_ceil(8) * taps as usize * ASTEP
}

/// Whether the tensor-core kernels handle `pass` of this geometry on this device.
pub(crate) fn supports(dev: &Cuda, s: &Conv2dSpec, pass: Pass) -> bool {
    let limit = i32::MAX as usize;
    let taps = s.kh * s.kw;
    let fits = s.n * s.c_in * s.h * s.w < limit
        && s.n * s.c_out * s.out_h() * s.out_w() < limit
        && s.c_out * s.c_in * taps < limit
        && taps > 0
        && s.stride.0 * s.stride.1 <= 65_535
        && s.c_out.div_ceil(BM).max(s.c_in.div_ceil(BM)) <= 65_535
        && match pass {
            Pass::Forward => packed_len(s, false) < limit,
            Pass::BackwardInput => packed_len(s, true) < limit,
            Pass::BackwardWeight => true,
        };
    dev.compute_capability().0 >= 8
        && fits
        && plan(dev, s, pass).is_some_and(|(_, l)| l.last_row < limit as i64)
}

fn plan_or_err(dev: &Cuda, s: &Conv2dSpec, pass: Pass) -> Result<(usize, Layout)> {
    plan(dev, s, pass).ok_or_else(|| {
        backend_err(format!(
            "conv2d {pass:?}: the tensor-core kernels do not fit this geometry ({s:?})"
        ))
    })
}

/// The halo layout arguments after the geometry: `[hrows,] pitch, wq, plane`.
fn layout_args(l: &Layout, with_rows: bool) -> Vec<Arg> {
    let mut v = Vec::with_capacity(4);
    if with_rows {
        v.push(i(l.hrows));
    }
    v.extend([i(l.pitch), i(l.wq), i(l.plane)]);
    v
}

/// The weights in fragment order (`conv_tc_pack_weight`), per phase when `transposed`.
fn pack_weight(
    dev: &Cuda,
    w: &CudaStorage,
    s: &Conv2dSpec,
    transposed: bool,
) -> Result<CudaStorage> {
    let len = packed_len(s, transposed);
    let apack = dev.alloc(len.max(1))?;
    if len == 0 {
        return Ok(apack);
    }
    let phases = if transposed {
        s.stride.0 * s.stride.1
    } else {
        1
    };
    let blocks = cfg_1d(len.div_ceil(phases)).grid_dim.0;
    let mut args = vec![
        Arg::Ptr(apack.ptr()),
        Arg::Ptr(w.ptr()),
        Arg::I32(transposed as i32),
        i(s.c_out),
        i(s.c_in),
        i(s.kh),
        i(s.kw),
    ];
    args.extend(window(s).into_iter().skip(2));
    dev.inner().launch(
        "conv_tc_pack_weight",
        cfg((blocks, phases as u32, 1), 256),
        &args,
    )?;
    Ok(apack)
}

/// The convolution (+ bias, then the ReLU when `relu`, in the kernel's epilogue).
pub(crate) fn forward(
    dev: &Cuda,
    x: &CudaStorage,
    w: &CudaStorage,
    bias: Option<&CudaStorage>,
    relu: bool,
    s: &Conv2dSpec,
) -> Result<CudaStorage> {
    let (oh, ow) = (s.out_h(), s.out_w());
    let ncols = s.n * oh * ow;
    let out = dev.alloc(ncols * s.c_out)?;
    if out.is_empty() {
        return Ok(out);
    }
    let (bn, l) = plan_or_err(dev, s, Pass::Forward)?;
    let apack = pack_weight(dev, w, s, false)?;
    let kernel = if bn == WIDE {
        "conv_tc_fwd_n8"
    } else {
        "conv_tc_fwd_n4"
    };
    let grid = (ncols.div_ceil(bn) as u32, s.c_out.div_ceil(BM) as u32, 1);
    let mut args = vec![
        Arg::Ptr(out.ptr()),
        Arg::Ptr(apack.ptr()),
        Arg::Ptr(x.ptr()),
        Arg::Ptr(bias.map_or(0, |b| b.ptr())),
        Arg::I32(relu as i32),
        i(s.c_out),
        i(s.n),
        i(s.c_in),
        i(s.h),
        i(s.w),
        i(oh),
        i(ow),
    ];
    args.extend(window(s));
    args.extend(layout_args(&l, true));
    dev.inner()
        .launch(kernel, cfg_smem(grid, THREADS, l.smem as u32), &args)?;
    Ok(out)
}

pub(crate) fn backward_input(
    dev: &Cuda,
    dy: &CudaStorage,
    w: &CudaStorage,
    s: &Conv2dSpec,
) -> Result<CudaStorage> {
    let dx = dev.alloc(s.n * s.c_in * s.h * s.w)?;
    if dx.is_empty() {
        return Ok(dx);
    }
    let (bn, l) = plan_or_err(dev, s, Pass::BackwardInput)?;
    let apack = pack_weight(dev, w, s, true)?;
    // one grid layer per stride phase of the input pixels, sized for the largest phase
    let (sh, sw) = s.stride;
    let phase_cols = s.n * s.h.div_ceil(sh) * s.w.div_ceil(sw);
    let kernel = if bn == WIDE {
        "conv_tc_bwd_in_n8"
    } else {
        "conv_tc_bwd_in_n4"
    };
    let grid = (
        phase_cols.div_ceil(bn) as u32,
        s.c_in.div_ceil(BM) as u32,
        (sh * sw) as u32,
    );
    let mut args = vec![
        Arg::Ptr(dx.ptr()),
        Arg::Ptr(apack.ptr()),
        Arg::Ptr(dy.ptr()),
        i(s.c_in),
        i(s.n),
        i(s.c_out),
        i(s.out_h()),
        i(s.out_w()),
        i(s.h),
        i(s.w),
    ];
    args.extend(window(s));
    args.extend(layout_args(&l, true));
    dev.inner()
        .launch(kernel, cfg_smem(grid, THREADS, l.smem as u32), &args)?;
    Ok(dx)
}

pub(crate) fn backward_weight(
    dev: &Cuda,
    x: &CudaStorage,
    dy: &CudaStorage,
    s: &Conv2dSpec,
) -> Result<CudaStorage> {
    let k = s.c_in * s.kh * s.kw;
    let dw = dev.alloc(s.c_out * k)?;
    if dw.is_empty() {
        return Ok(dw);
    }
    let nq = s.n * s.out_h() * s.out_w();
    if nq == 0 {
        dev.fill(&dw, 0.0)?;
        return Ok(dw);
    }
    let (_, l) = plan_or_err(dev, s, Pass::BackwardWeight)?;
    let tiles = (
        s.c_in.div_ceil(8) * (s.kh * s.kw).div_ceil(WTAPS),
        s.c_out.div_ceil(BM),
    );
    // a few blocks per SM: each holds ~60 KiB of shared memory
    let want = dev.inner().sm_count as usize * 4;
    let (splits, per_split) = splits(nq, tiles.0 * tiles.1, want, BQ);
    let ws = split_workspace(dev, splits, dw.len())?;
    let grid = (tiles.0 as u32, tiles.1 as u32, splits as u32);
    let mut args = weight_grad_args(&ws, x, dy, s, nq, per_split);
    args.extend(layout_args(&l, false));
    dev.inner().launch(
        "conv_tc_bwd_w",
        cfg_smem(grid, THREADS, l.smem as u32),
        &args,
    )?;
    let args = [
        Arg::Ptr(dw.ptr()),
        Arg::Ptr(ws.ptr()),
        i(dw.len()),
        i(splits),
    ];
    dev.inner()
        .launch("conv_reduce_splits", cfg_1d(dw.len()), &args)?;
    Ok(dw)
}

#[cfg(test)]
#[path = "tensor_core_tests.rs"]
mod tests;
