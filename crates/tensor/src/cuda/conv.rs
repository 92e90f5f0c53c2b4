//! 2-D convolution on the GPU: argument checks, then one of two engines per geometry and pass:
//! im2col + cuBLAS (conv_gemm.rs, any geometry) or implicit GEMM (conv_implicit.rs, no column
//! buffer). [`ConvEngine::Auto`], the default, times both the first time it meets a geometry
//! and pass (as cuDNN's benchmark mode does) and keeps the faster; the environment variable
//! `KILN_CUDA_CONV` (`auto`, `gemm` or `implicit`) or [`Cuda::set_conv_engine`] choose.

use std::collections::HashMap;
use std::time::Instant;

use super::device::backend_err;
use super::memory::CudaStorage;
use super::{Cuda, conv_gemm, conv_implicit};
use crate::Result;
use crate::spec::Conv2dSpec;

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

fn check_len(op: &str, st: &CudaStorage, expected: usize) -> Result<()> {
    if st.len() == expected {
        Ok(())
    } else {
        Err(backend_err(format!(
            "{op}: buffer of {} values where {expected} were expected",
            st.len()
        )))
    }
}

/// Runs `run` with the engine chosen for `(s, pass)`.
fn with_engine(
    dev: &Cuda,
    s: &Conv2dSpec,
    bias: bool,
    pass: Pass,
    run: impl Fn(ConvEngine) -> Result<CudaStorage>,
) -> Result<CudaStorage> {
    if !conv_implicit::supports(s) {
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

pub(crate) fn forward(
    dev: &Cuda,
    x: &CudaStorage,
    w: &CudaStorage,
    bias: Option<&CudaStorage>,
    s: &Conv2dSpec,
) -> Result<CudaStorage> {
    check_len("conv2d input", x, s.n * s.c_in * s.h * s.w)?;
    check_len("conv2d weight", w, s.c_out * s.c_in * s.kh * s.kw)?;
    if let Some(b) = bias {
        check_len("conv2d bias", b, s.c_out)?;
    }
    with_engine(
        dev,
        s,
        bias.is_some(),
        Pass::Forward,
        |engine| match engine {
            ConvEngine::Implicit => conv_implicit::forward(dev, x, w, bias, s),
            _ => conv_gemm::forward(dev, x, w, bias, s),
        },
    )
}

pub(crate) fn backward_input(
    dev: &Cuda,
    dy: &CudaStorage,
    w: &CudaStorage,
    s: &Conv2dSpec,
) -> Result<CudaStorage> {
    check_len("conv2d grad", dy, s.n * s.c_out * s.out_h() * s.out_w())?;
    check_len("conv2d weight", w, s.c_out * s.c_in * s.kh * s.kw)?;
    with_engine(dev, s, false, Pass::BackwardInput, |engine| match engine {
        ConvEngine::Implicit => conv_implicit::backward_input(dev, dy, w, s),
        _ => conv_gemm::backward_input(dev, dy, w, s),
    })
}

pub(crate) fn backward_weight(
    dev: &Cuda,
    x: &CudaStorage,
    dy: &CudaStorage,
    s: &Conv2dSpec,
) -> Result<CudaStorage> {
    check_len("conv2d input", x, s.n * s.c_in * s.h * s.w)?;
    check_len("conv2d grad", dy, s.n * s.c_out * s.out_h() * s.out_w())?;
    with_engine(dev, s, false, Pass::BackwardWeight, |engine| match engine {
        ConvEngine::Implicit => conv_implicit::backward_weight(dev, x, dy, s),
        _ => conv_gemm::backward_weight(dev, x, dy, s),
    })
}
