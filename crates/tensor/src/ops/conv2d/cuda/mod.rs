//! 2-D convolution on the GPU: argument checks, then one of two engines per geometry and pass:
//! im2col + cuBLAS (`gemm.rs`, any geometry) or implicit GEMM (`implicit.rs`, no column
//! buffer). [`ConvEngine::Auto`], the default, times both the first time it meets a geometry
//! and pass (as cuDNN's benchmark mode does) and keeps the faster; the environment variable
//! `KILN_CUDA_CONV` (`auto`, `gemm` or `implicit`) or [`Cuda::set_conv_engine`] choose.

use std::collections::HashMap;
use std::time::Instant;

mod gemm;
mod implicit;

use crate::Result;
use crate::backend::BackendBase;
use crate::cuda::device::backend_err;
use crate::cuda::kernels::Source;
use crate::cuda::{Cuda, CudaStorage};
use crate::ops::conv2d::{Conv2dSpec, ConvKernels};
use crate::ops::elementwise::{ElementwiseKernels, UnaryOp};

pub(crate) const IM2COL_SOURCE: Source = Source {
    file: "im2col.cu",
    code: include_str!("../im2col.cu"),
    kernels: || vec!["im2col", "col2im", "bias_add_nchw", "nchw_to_cn"],
};

pub(crate) const IMPLICIT_SOURCE: Source = Source {
    file: "implicit_gemm.cu",
    code: include_str!("../implicit_gemm.cu"),
    kernels: || {
        vec![
            "conv_igemm_fwd",
            "conv_igemm_fwd_w2",
            "conv_igemm_bwd_in",
            "conv_igemm_bwd_in_w2",
            "conv_weight_transpose",
            "conv_igemm_bwd_w",
            "conv_igemm_bwd_w_w2",
            "conv_reduce_splits",
        ]
    },
};

/// How the CUDA backend computes convolutions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConvEngine {
    /// Time both engines on the first use of each geometry and pass, keep the faster.
    #[default]
    Auto,
    /// im2col + cuBLAS GEMM, in chunks of images (any geometry).
    Gemm,
    /// Implicit GEMM kernels; geometries they cannot index in 32 bits fall back to `Gemm`.
    Implicit,
}

impl ConvEngine {
    /// From `KILN_CUDA_CONV` (`auto`, `gemm`, `implicit`); `Auto` when unset or unknown.
    pub(crate) fn from_env() -> ConvEngine {
        match std::env::var("KILN_CUDA_CONV").as_deref().map(str::trim) {
            Ok("gemm") | Ok("im2col") => ConvEngine::Gemm,
            Ok("implicit") => ConvEngine::Implicit,
            _ => ConvEngine::Auto,
        }
    }

    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_code(code: u8) -> ConvEngine {
        match code {
            1 => ConvEngine::Gemm,
            2 => ConvEngine::Implicit,
            _ => ConvEngine::Auto,
        }
    }
}

/// The three passes of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Pass {
    Forward,
    BackwardInput,
    BackwardWeight,
}

/// The engines `Auto` picked, by geometry and pass.
pub(crate) type ConvChoices = HashMap<(Conv2dSpec, bool, Pass), ConvEngine>;

/// Runs `run` with the engine chosen for `(s, pass)`.
fn with_engine(
    dev: &Cuda,
    s: &Conv2dSpec,
    bias: bool,
    pass: Pass,
    run: impl Fn(ConvEngine) -> Result<CudaStorage>,
) -> Result<CudaStorage> {
    if !implicit::supports(s) {
        return run(ConvEngine::Gemm);
    }
    match dev.conv_engine() {
        ConvEngine::Auto => {}
        engine => return run(engine),
    }
    let key = (*s, bias, pass);
    // copied out first: the lock must not be held while the convolution runs
    let chosen = dev.inner().conv_choices().get(&key).copied();
    if let Some(engine) = chosen {
        return run(engine);
    }
    // first use: one warm-up run of each, then one timed run of each
    let inner = dev.inner();
    let mut best = (f64::INFINITY, ConvEngine::Gemm);
    let mut out = None;
    for round in 0..2 {
        for engine in [ConvEngine::Gemm, ConvEngine::Implicit] {
            inner.sync()?;
            let start = Instant::now();
            let result = run(engine)?;
            inner.sync()?;
            let secs = start.elapsed().as_secs_f64();
            if round == 1 && secs < best.0 {
                best = (secs, engine);
            }
            out = Some(result);
        }
    }
    inner.conv_choices().insert(key, best.1);
    out.ok_or_else(|| backend_err("conv2d: no engine ran"))
}

impl ConvKernels for Cuda {
    fn conv2d(
        &self,
        x: &CudaStorage,
        w: &CudaStorage,
        bias: Option<&CudaStorage>,
        s: &Conv2dSpec,
    ) -> Result<CudaStorage> {
        Cuda::check_len("conv2d input", x, s.n * s.c_in * s.h * s.w)?;
        Cuda::check_len("conv2d weight", w, s.c_out * s.c_in * s.kh * s.kw)?;
        if let Some(b) = bias {
            Cuda::check_len("conv2d bias", b, s.c_out)?;
        }
        with_engine(
            self,
            s,
            bias.is_some(),
            Pass::Forward,
            |engine| match engine {
                ConvEngine::Implicit => implicit::forward(self, x, w, bias, s),
                _ => gemm::forward(self, x, w, bias, s),
            },
        )
    }

    /// The convolution, then the unary ReLU (not fused on the GPU yet).
    fn conv2d_relu(
        &self,
        x: &CudaStorage,
        w: &CudaStorage,
        bias: Option<&CudaStorage>,
        s: &Conv2dSpec,
    ) -> Result<CudaStorage> {
        let y = self.conv2d(x, w, bias, s)?;
        self.unary(UnaryOp::Relu, &y)
    }

    fn conv2d_backward_input(
        &self,
        dy: &CudaStorage,
        w: &CudaStorage,
        s: &Conv2dSpec,
    ) -> Result<CudaStorage> {
        Cuda::check_len("conv2d grad", dy, s.n * s.c_out * s.out_h() * s.out_w())?;
        Cuda::check_len("conv2d weight", w, s.c_out * s.c_in * s.kh * s.kw)?;
        with_engine(self, s, false, Pass::BackwardInput, |engine| match engine {
            ConvEngine::Implicit => implicit::backward_input(self, dy, w, s),
            _ => gemm::backward_input(self, dy, w, s),
        })
    }

    fn conv2d_backward_weight(
        &self,
        x: &CudaStorage,
        dy: &CudaStorage,
        s: &Conv2dSpec,
    ) -> Result<CudaStorage> {
        Cuda::check_len("conv2d input", x, s.n * s.c_in * s.h * s.w)?;
        Cuda::check_len("conv2d grad", dy, s.n * s.c_out * s.out_h() * s.out_w())?;
        with_engine(
            self,
            s,
            false,
            Pass::BackwardWeight,
            |engine| match engine {
                ConvEngine::Implicit => implicit::backward_weight(self, x, dy, s),
                _ => gemm::backward_weight(self, x, dy, s),
            },
        )
    }
}
