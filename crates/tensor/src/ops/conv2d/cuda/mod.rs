//! 2-D convolution on the GPU: argument checks, then one of two engines per geometry, pass and
//! [`Precision`]: im2col + cuBLAS (`gemm.rs`, any geometry; cuBLAS runs in the device's
//! precision) or implicit GEMM, without a column buffer: f32 FFMA kernels (`implicit.rs`) under
//! `Precision::F32`, TF32 tensor-core kernels (`tensor_core.rs`) under `Precision::Tf32`.
//! [`ConvEngine::Auto`], the default, times both engines of the device's precision the first
//! time it meets a geometry and pass (as cuDNN's benchmark mode does) and keeps the faster, per
//! precision; the environment variable `KILN_CUDA_CONV` (`auto`, `gemm` or `implicit`) or
//! [`Cuda::set_conv_engine`] choose. The forward pass applies the bias and, for `conv2d_relu`,
//! the ReLU in the engine's epilogue.

use std::collections::HashMap;
use std::time::Instant;

mod gemm;
mod implicit;
mod tensor_core;

use crate::backend::BackendBase;
use crate::cuda::device::backend_err;
use crate::cuda::kernels::Source;
use crate::cuda::{Cuda, CudaStorage};
use crate::ops::conv2d::{Conv2dSpec, ConvKernels};
use crate::{Precision, Result};

pub(crate) const IM2COL_SOURCE: Source = Source {
    file: "im2col.cu",
    code: include_str!("../im2col.cu"),
    kernels: || vec!["im2col", "col2im", "bias_relu_nchw", "nchw_to_cn"],
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

pub(crate) const TENSOR_CORE_SOURCE: Source = Source {
    file: "tc_conv.cu",
    code: concat!(
        include_str!("../tc_geometry.cu"),
        "\n",
        include_str!("../tc_conv.cu"),
        "\n",
        include_str!("../tc_conv_bwd_w.cu")
    ),
    kernels: || {
        vec![
            "conv_tc_pack_weight",
            "conv_tc_fwd_n8",
            "conv_tc_fwd_n4",
            "conv_tc_bwd_in_n8",
            "conv_tc_bwd_in_n4",
            "conv_tc_bwd_w",
        ]
    },
};

/// The kernels launched with dynamic shared memory beyond the default 48 KiB.
pub(crate) const DYNAMIC_SMEM_KERNELS: [&str; 5] = [
    "conv_tc_fwd_n8",
    "conv_tc_fwd_n4",
    "conv_tc_bwd_in_n8",
    "conv_tc_bwd_in_n4",
    "conv_tc_bwd_w",
];

/// How the CUDA backend computes convolutions. Every engine computes in the device's
/// [`Precision`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConvEngine {
    /// Time both engines of the device's precision on the first use of each geometry, pass and
    /// precision; keep the faster.
    #[default]
    Auto,
    /// im2col + cuBLAS GEMM, in chunks of images (any geometry).
    Gemm,
    /// Implicit GEMM kernels: f32 FFMA under `Precision::F32`, TF32 tensor cores (compute
    /// capability 8.0 and newer) under `Precision::Tf32`. Geometries they cannot handle (see
    /// `implicit.rs` and `tensor_core.rs`: 32-bit indexing, shared memory) fall back to `Gemm`.
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

/// The engines `Auto` picked, by geometry, bias, pass and precision.
pub(crate) type ConvChoices = HashMap<(Conv2dSpec, bool, Pass, Precision), ConvEngine>;

/// Runs `run` with the engine chosen for `(s, pass)` at the device's precision, which `run`
/// gets too (read once, so that one convolution never mixes precisions).
fn with_engine(
    dev: &Cuda,
    s: &Conv2dSpec,
    bias: bool,
    pass: Pass,
    run: impl Fn(ConvEngine, Precision) -> Result<CudaStorage>,
) -> Result<CudaStorage> {
    let precision = dev.precision();
    let run = |engine| run(engine, precision);
    let implicit = match precision {
        Precision::F32 => implicit::supports(s),
        Precision::Tf32 => tensor_core::supports(dev, s, pass),
    };
    if !implicit {
        return run(ConvEngine::Gemm);
    }
    match dev.conv_engine() {
        ConvEngine::Auto => {}
        engine => return run(engine),
    }
    let key = (*s, bias, pass, precision);
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

impl Cuda {
    /// The forward pass (+ bias, then the ReLU when `relu`) with the chosen engine.
    fn conv2d_forward(
        &self,
        x: &CudaStorage,
        w: &CudaStorage,
        bias: Option<&CudaStorage>,
        relu: bool,
        s: &Conv2dSpec,
    ) -> Result<CudaStorage> {
        Cuda::check_len("conv2d input", x, s.n * s.c_in * s.h * s.w)?;
        Cuda::check_len("conv2d weight", w, s.c_out * s.c_in * s.kh * s.kw)?;
        if let Some(b) = bias {
            Cuda::check_len("conv2d bias", b, s.c_out)?;
        }
        let run = |engine, precision| match (engine, precision) {
            (ConvEngine::Implicit, Precision::F32) => implicit::forward(self, x, w, bias, relu, s),
            (ConvEngine::Implicit, Precision::Tf32) => {
                tensor_core::forward(self, x, w, bias, relu, s)
            }
            _ => gemm::forward(self, x, w, bias, relu, s),
        };
        with_engine(self, s, bias.is_some(), Pass::Forward, run)
    }
}

impl ConvKernels for Cuda {
    fn conv2d(
        &self,
        x: &CudaStorage,
        w: &CudaStorage,
        bias: Option<&CudaStorage>,
        s: &Conv2dSpec,
    ) -> Result<CudaStorage> {
        self.conv2d_forward(x, w, bias, false, s)
    }

    /// The convolution with the ReLU applied in the engine's epilogue (the implicit kernels'
    /// stores, or the GEMM engine's bias pass): no separate pass over the output.
    fn conv2d_relu(
        &self,
        x: &CudaStorage,
        w: &CudaStorage,
        bias: Option<&CudaStorage>,
        s: &Conv2dSpec,
    ) -> Result<CudaStorage> {
        self.conv2d_forward(x, w, bias, true, s)
    }

    fn conv2d_backward_input(
        &self,
        dy: &CudaStorage,
        w: &CudaStorage,
        s: &Conv2dSpec,
    ) -> Result<CudaStorage> {
        Cuda::check_len("conv2d grad", dy, s.n * s.c_out * s.out_h() * s.out_w())?;
        Cuda::check_len("conv2d weight", w, s.c_out * s.c_in * s.kh * s.kw)?;
        let run = |engine, precision| match (engine, precision) {
            (ConvEngine::Implicit, Precision::F32) => implicit::backward_input(self, dy, w, s),
            (ConvEngine::Implicit, Precision::Tf32) => tensor_core::backward_input(self, dy, w, s),
            _ => gemm::backward_input(self, dy, w, s),
        };
        with_engine(self, s, false, Pass::BackwardInput, run)
    }

    fn conv2d_backward_weight(
        &self,
        x: &CudaStorage,
        dy: &CudaStorage,
        s: &Conv2dSpec,
    ) -> Result<CudaStorage> {
        Cuda::check_len("conv2d input", x, s.n * s.c_in * s.h * s.w)?;
        Cuda::check_len("conv2d grad", dy, s.n * s.c_out * s.out_h() * s.out_w())?;
        let run = |engine, precision| match (engine, precision) {
            (ConvEngine::Implicit, Precision::F32) => implicit::backward_weight(self, x, dy, s),
            (ConvEngine::Implicit, Precision::Tf32) => tensor_core::backward_weight(self, x, dy, s),
            _ => gemm::backward_weight(self, x, dy, s),
        };
        with_engine(self, s, false, Pass::BackwardWeight, run)
    }
}
