//! Convolution engine 1: im2col + cuBLAS GEMM, a chunk of images at a time (any geometry).
//!
//! The column buffer of a chunk is `[K, nb·P]` (K = c_in·kh·kw weight taps, P = oh·ow output
//! pixels, nb images side by side), so that
//! - forward: `out_j = W · col_j` is one strided-batched GEMM over the images (`col_j` is the
//!   j-th block of P columns, leading dimension nb·P);
//! - backward input: `dcol_j = Wᵀ · dy_j`, then col2im;
//! - backward weight: `dW += dy_perm · colᵀ` is one GEMM over all nb·P columns, with the
//!   upstream gradient rearranged to `[c_out, nb·P]`; chunks accumulate with beta = 1.

use crate::Result;
use crate::cuda::blas::{Operand, Output, gemm};
use crate::cuda::device::backend_err;
use crate::cuda::kernels::{Arg, cfg, cfg_1d};
use crate::cuda::{Cuda, CudaStorage};
use crate::ops::conv2d::Conv2dSpec;

/// Geometry of a convolution, checked to fit the kernels' 32-bit chunk arithmetic.
struct Geom {
    s: Conv2dSpec,
    oh: usize,
    ow: usize,
    /// output pixels per image
    p: usize,
    /// weight taps per output channel
    k: usize,
    /// images per chunk
    nb: usize,
}

impl Geom {
    fn new(s: &Conv2dSpec, workspace: usize) -> Result<Self> {
        let (oh, ow) = (s.out_h(), s.out_w());
        let p = oh * ow;
        let k = s.c_in * s.kh * s.kw;
        let per_image = [k * p, s.c_in * s.h * s.w, s.c_out * p]
            .into_iter()
            .max()
            .unwrap_or(1)
            .max(1);
        let limit = i32::MAX as usize / 2;
        if per_image > limit {
            return Err(backend_err(format!(
                "conv2d: one image needs {per_image} values of workspace, more than the CUDA \
                 kernels' 32-bit indexing allows ({s:?})"
            )));
        }
        let nb = (workspace / (k * p).max(1))
            .min(limit / per_image)
            .clamp(1, s.n.max(1));
        Ok(Geom {
            s: *s,
            oh,
            ow,
            p,
            k,
            nb,
        })
    }

    /// `(first image, images)` of each chunk.
    fn chunks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.s.n)
            .step_by(self.nb)
            .map(|start| (start, self.nb.min(self.s.n - start)))
    }

    /// The integer arguments shared by im2col and col2im, for a chunk of `nb` images.
    fn args(&self, nb: usize) -> [Arg; 14] {
        let s = &self.s;
        [
            nb,
            s.c_in,
            s.h,
            s.w,
            s.kh,
            s.kw,
            self.oh,
            self.ow,
            s.stride.0,
            s.stride.1,
            s.padding.0,
            s.padding.1,
            s.dilation.0,
            s.dilation.1,
        ]
        .map(|v| Arg::I32(v as i32))
    }

    fn image_in(&self) -> usize {
        self.s.c_in * self.s.h * self.s.w
    }

    fn image_out(&self) -> usize {
        self.s.c_out * self.p
    }
}

/// im2col of the chunk starting at image `start` into `col`.
fn im2col(
    dev: &Cuda,
    g: &Geom,
    x: &CudaStorage,
    col: &CudaStorage,
    start: usize,
    nb: usize,
) -> Result<()> {
    let ncols = nb * g.p;
    let grid_x = ncols.div_ceil(256).clamp(1, 1 << 16) as u32;
    let grid_y = g.k.clamp(1, 65_535) as u32;
    let mut args = vec![
        Arg::Ptr(col.ptr()),
        Arg::Ptr(x.ptr_at(start * g.image_in())),
    ];
    args.extend(g.args(nb));
    dev.inner()
        .launch("im2col", cfg((grid_x, grid_y, 1), 256), &args)
}

/// The convolution (+ bias, then the ReLU when `relu`, in one pass over the output).
pub(crate) fn forward(
    dev: &Cuda,
    x: &CudaStorage,
    w: &CudaStorage,
    bias: Option<&CudaStorage>,
    relu: bool,
    s: &Conv2dSpec,
) -> Result<CudaStorage> {
    let g = Geom::new(s, dev.conv_workspace())?;
    let out = dev.alloc(s.n * g.image_out())?;
    if out.is_empty() {
        return Ok(out);
    }
    if g.k == 0 {
        dev.fill(&out, 0.0)?;
    } else {
        let col = dev.alloc(g.k * g.nb * g.p)?;
        for (start, nb) in g.chunks() {
            im2col(dev, &g, x, &col, start, nb)?;
            let a = Operand {
                ptr: w.ptr(),
                ld: g.k,
                stride: 0,
                trans: false,
            };
            let b = Operand {
                ptr: col.ptr(),
                ld: nb * g.p,
                stride: g.p as i64,
                trans: false,
            };
            let c = Output {
                ptr: out.ptr_at(start * g.image_out()),
                ld: g.p,
                stride: g.image_out() as i64,
            };
            gemm(dev.inner(), s.c_out, g.p, g.k, a, b, c, nb, 0.0)?;
        }
    }
    if bias.is_some() || relu {
        // the whole output at once; chunk-sized pieces keep the kernel's indices 32-bit
        for (start, nb) in g.chunks() {
            let total = nb * g.image_out();
            let args = [
                Arg::Ptr(out.ptr_at(start * g.image_out())),
                Arg::Ptr(bias.map_or(0, |b| b.ptr())),
                Arg::I32(relu as i32),
                Arg::I32(total as i32),
                Arg::I32(g.p as i32),
                Arg::I32(s.c_out as i32),
            ];
            dev.inner().launch("bias_relu_nchw", cfg_1d(total), &args)?;
        }
    }
    Ok(out)
}

pub(crate) fn backward_input(
    dev: &Cuda,
    dy: &CudaStorage,
    w: &CudaStorage,
    s: &Conv2dSpec,
) -> Result<CudaStorage> {
    let g = Geom::new(s, dev.conv_workspace())?;
    let dx = dev.alloc(s.n * g.image_in())?;
    if dx.is_empty() {
        return Ok(dx);
    }
    if g.p == 0 || s.c_out == 0 {
        dev.fill(&dx, 0.0)?;
        return Ok(dx);
    }
    let dcol = dev.alloc(g.k * g.nb * g.p)?;
    for (start, nb) in g.chunks() {
        // dcol_j [K, P] = Wᵀ [K, c_out] · dy_j [c_out, P]
        let a = Operand {
            ptr: w.ptr(),
            ld: g.k,
            stride: 0,
            trans: true,
        };
        let b = Operand {
            ptr: dy.ptr_at(start * g.image_out()),
            ld: g.p,
            stride: g.image_out() as i64,
            trans: false,
        };
        let c = Output {
            ptr: dcol.ptr(),
            ld: nb * g.p,
            stride: g.p as i64,
        };
        gemm(dev.inner(), g.k, g.p, s.c_out, a, b, c, nb, 0.0)?;
        let total = nb * g.image_in();
        let mut args = vec![
            Arg::Ptr(dx.ptr_at(start * g.image_in())),
            Arg::Ptr(dcol.ptr()),
        ];
        args.extend(g.args(nb));
        dev.inner().launch("col2im", cfg_1d(total), &args)?;
    }
    Ok(dx)
}

pub(crate) fn backward_weight(
    dev: &Cuda,
    x: &CudaStorage,
    dy: &CudaStorage,
    s: &Conv2dSpec,
) -> Result<CudaStorage> {
    let g = Geom::new(s, dev.conv_workspace())?;
    let dw = dev.alloc(s.c_out * g.k)?;
    if dw.is_empty() {
        return Ok(dw);
    }
    if s.n == 0 || g.p == 0 {
        dev.fill(&dw, 0.0)?;
        return Ok(dw);
    }
    let col = dev.alloc(g.k * g.nb * g.p)?;
    let dyp = dev.alloc(s.c_out * g.nb * g.p)?;
    for (i, (start, nb)) in g.chunks().enumerate() {
        im2col(dev, &g, x, &col, start, nb)?;
        let total = nb * g.image_out();
        let args = [
            Arg::Ptr(dyp.ptr()),
            Arg::Ptr(dy.ptr_at(start * g.image_out())),
            Arg::I32(nb as i32),
            Arg::I32(s.c_out as i32),
            Arg::I32(g.p as i32),
        ];
        dev.inner().launch("nchw_to_cn", cfg_1d(total), &args)?;
        // dW [c_out, K] (+)= dy_perm [c_out, nb·P] · colᵀ [nb·P, K]
        let cols = nb * g.p;
        let a = Operand {
            ptr: dyp.ptr(),
            ld: cols,
            stride: 0,
            trans: false,
        };
        let b = Operand {
            ptr: col.ptr(),
            ld: cols,
            stride: 0,
            trans: true,
        };
        let c = Output {
            ptr: dw.ptr(),
            ld: g.k,
            stride: 0,
        };
        let beta = if i == 0 { 0.0 } else { 1.0 };
        gemm(dev.inner(), s.c_out, g.k, cols, a, b, c, 1, beta)?;
    }
    Ok(dw)
}
