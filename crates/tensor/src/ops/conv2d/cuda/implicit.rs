//! Convolution engine 2 under `Precision::F32`: implicit GEMM in f32 FFMA (`implicit_gemm.cu`;
//! `tensor_core.rs` is its TF32 form). The im2col matrix is
//! gathered tile by tile into shared memory, so no column buffer goes through global memory;
//! the weight gradient sums its pixels in slices whose partial results are added in a fixed
//! order. Used for geometries whose indices fit the kernels' 32-bit arithmetic.

use crate::Result;
use crate::cuda::device::backend_err;
use crate::cuda::kernels::{Arg, cfg, cfg_1d};
use crate::cuda::{Cuda, CudaStorage};
use crate::ops::conv2d::Conv2dSpec;

/// Tile of the output channels (or input channels, backward input) per block of the narrow
/// kernels; the wide ones (`*_w2`) take twice as many with twice the threads.
const BM: usize = 48;
/// Tile of the pixels (or weight taps, backward weight) per block.
const BN: usize = 128;
/// Threads per block.
const THREADS: u32 = 128;
/// Largest number of taps (c·kh·kw) of the forward and backward-input kernels.
const KMAX: usize = 2048;

/// Whether the implicit kernels handle this geometry: every index below 2^31, the tap table
/// in shared memory, and kernel offsets that fit 16 bits.
pub(crate) fn supports(s: &Conv2dSpec) -> bool {
    let limit = i32::MAX as usize;
    let taps = s.kh * s.kw;
    let x = s.n * s.c_in * s.h * s.w;
    let y = s.n * s.c_out * s.out_h() * s.out_w();
    s.c_in * taps <= KMAX
        && s.c_out * taps <= KMAX
        && x < limit
        && y < limit
        && s.c_out * s.c_in * taps < limit
        && s.dilation.0 * s.kh + s.padding.0 < 1 << 14
        && s.dilation.1 * s.kw + s.padding.1 < 1 << 14
        && s.stride.0 * s.stride.1 <= 65_535
        && s.h < limit / 2
        && s.w < limit / 2
}

/// The kernel, rows per block and threads for `m` rows of C: the wide variant (`wide`, named
/// `*_w2`) when there are more than 48 rows, as it gathers each B tile once for 96 rows, unless
/// `KILN_CUDA_CONV_WIDE=0`.
fn variant(narrow: &'static str, wide: &'static str, m: usize) -> (&'static str, usize, u32) {
    static WIDE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let use_wide =
        *WIDE.get_or_init(|| std::env::var("KILN_CUDA_CONV_WIDE").map_or(true, |v| v != "0"));
    if use_wide && m > BM {
        (wide, 2 * BM, 2 * THREADS)
    } else {
        (narrow, BM, THREADS)
    }
}

pub(super) fn i(v: usize) -> Arg {
    Arg::I32(v as i32)
}

/// The geometry arguments shared by the kernels after their first pointers:
/// `kh, kw, sh, sw, ph, pw, dh, dw`.
pub(super) fn window(s: &Conv2dSpec) -> [Arg; 8] {
    [
        s.kh,
        s.kw,
        s.stride.0,
        s.stride.1,
        s.padding.0,
        s.padding.1,
        s.dilation.0,
        s.dilation.1,
    ]
    .map(i)
}

/// The convolution (+ bias, then the ReLU when `relu`).
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
    let (kernel, rows, threads) = variant("conv_igemm_fwd", "conv_igemm_fwd_w2", s.c_out);
    let grid = (ncols.div_ceil(BN) as u32, s.c_out.div_ceil(rows) as u32, 1);
    let mut args = vec![
        Arg::Ptr(out.ptr()),
        Arg::Ptr(w.ptr()),
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
    dev.inner().launch(kernel, cfg(grid, threads), &args)?;
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
    let taps = s.kh * s.kw;
    // the weight as [c_in, c_out·kh·kw]: the A operand of the transposed convolution
    let wt = dev.alloc(w.len())?;
    let args = [
        Arg::Ptr(wt.ptr()),
        Arg::Ptr(w.ptr()),
        i(s.c_out),
        i(s.c_in),
        i(taps),
    ];
    dev.inner()
        .launch("conv_weight_transpose", cfg_1d(w.len()), &args)?;
    // one grid layer per stride phase of the input pixels, sized for the largest phase
    let (sh, sw) = s.stride;
    let phase_cols = s.n * s.h.div_ceil(sh) * s.w.div_ceil(sw);
    let (kernel, rows, threads) = variant("conv_igemm_bwd_in", "conv_igemm_bwd_in_w2", s.c_in);
    let grid = (
        phase_cols.div_ceil(BN) as u32,
        s.c_in.div_ceil(rows) as u32,
        (sh * sw) as u32,
    );
    let mut args = vec![
        Arg::Ptr(dx.ptr()),
        Arg::Ptr(wt.ptr()),
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
    dev.inner().launch(kernel, cfg(grid, threads), &args)?;
    Ok(dx)
}

/// How many slices the weight gradient's sum over `nq` pixels is cut into, and the pixels per
/// slice (a multiple of `align`), for `tiles` blocks per slice: about `want_blocks` blocks in
/// all, each slice at least 256 pixels.
pub(super) fn splits(nq: usize, tiles: usize, want_blocks: usize, align: usize) -> (usize, usize) {
    let want = want_blocks.div_ceil(tiles.max(1));
    let most = nq.div_ceil(256).max(1);
    let splits = want.clamp(1, most);
    let per_split = nq.div_ceil(splits).next_multiple_of(align);
    (nq.div_ceil(per_split).max(1), per_split)
}

/// The workspace of a weight gradient of `len` values summed in `splits` slices (each slice's
/// partial sums, added in order afterwards), checked to stay indexable in 32 bits.
pub(super) fn split_workspace(dev: &Cuda, splits: usize, len: usize) -> Result<CudaStorage> {
    if splits * len >= i32::MAX as usize {
        return Err(backend_err(format!(
            "conv2d weight gradient: {splits} slices of {len} values overflow the workspace"
        )));
    }
    dev.alloc(splits * len)
}

/// The arguments every weight-gradient kernel starts with: workspace, input, output
/// gradient, the pixel split and the geometry.
pub(super) fn weight_grad_args(
    ws: &CudaStorage,
    x: &CudaStorage,
    dy: &CudaStorage,
    s: &Conv2dSpec,
    nq: usize,
    per_split: usize,
) -> Vec<Arg> {
    let mut args = vec![
        Arg::Ptr(ws.ptr()),
        Arg::Ptr(x.ptr()),
        Arg::Ptr(dy.ptr()),
        i(s.c_out),
        i(nq),
        i(per_split),
        i(s.c_in),
        i(s.h),
        i(s.w),
        i(s.out_h()),
        i(s.out_w()),
    ];
    args.extend(window(s));
    args
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
    let (kernel, rows, threads) = variant("conv_igemm_bwd_w", "conv_igemm_bwd_w_w2", s.c_out);
    let tiles = (k.div_ceil(BN), s.c_out.div_ceil(rows));
    // enough blocks to fill the GPU a few times over
    let want = dev.inner().sm_count as usize * 8;
    let (splits, per_split) = splits(nq, tiles.0 * tiles.1, want, 8);
    let ws = split_workspace(dev, splits, dw.len())?;
    let grid = (tiles.0 as u32, tiles.1 as u32, splits as u32);
    let args = weight_grad_args(&ws, x, dy, s, nq, per_split);
    dev.inner().launch(kernel, cfg(grid, threads), &args)?;
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
