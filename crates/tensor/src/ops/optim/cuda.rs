//! CUDA fused optimizer updates (optim.cu), in place, rounding exactly as the CPU's.

use crate::Result;
use crate::backend::BackendBase;
use crate::cuda::kernels::{Arg, Source, cfg_1d};
use crate::cuda::{Cuda, CudaStorage};
use crate::ops::optim::{AdamStep, OptimKernels, SgdStep};

pub(crate) const SOURCE: Source = Source {
    file: "optim.cu",
    code: include_str!("optim.cu"),
    kernels: || vec!["adam_step", "sgd_step"],
};

impl OptimKernels for Cuda {
    fn adam_step(
        &self,
        p: &mut CudaStorage,
        g: &CudaStorage,
        m: &mut CudaStorage,
        v: &mut CudaStorage,
        hp: &AdamStep,
    ) -> Result<()> {
        let n = p.len();
        Cuda::check_len("adam grad", g, n)?;
        Cuda::check_len("adam first moment", m, n)?;
        Cuda::check_len("adam second moment", v, n)?;
        // the same host scalars as cpu.rs
        let s = hp.scalars();
        let args = [
            Arg::Ptr(p.ptr()),
            Arg::Ptr(g.ptr()),
            Arg::Ptr(m.ptr()),
            Arg::Ptr(v.ptr()),
            Arg::U64(n as u64),
            Arg::F32(s.beta1),
            Arg::F32(s.one_minus_beta1),
            Arg::F32(s.beta2),
            Arg::F32(s.one_minus_beta2),
            Arg::F32(s.eps),
            Arg::F32(s.weight_decay),
            Arg::I32(s.decoupled as i32),
            Arg::F32(s.decay),
            Arg::F32(s.step_size),
            Arg::F32(s.bc2_sqrt),
        ];
        self.inner().launch("adam_step", cfg_1d(n), &args)
    }

    fn sgd_step(
        &self,
        p: &mut CudaStorage,
        g: &CudaStorage,
        buf: &mut CudaStorage,
        hp: &SgdStep,
    ) -> Result<()> {
        let n = p.len();
        Cuda::check_len("sgd grad", g, n)?;
        if hp.momentum != 0.0 {
            Cuda::check_len("sgd momentum buffer", buf, n)?;
        }
        let args = [
            Arg::Ptr(p.ptr()),
            Arg::Ptr(g.ptr()),
            Arg::Ptr(buf.ptr()),
            Arg::U64(n as u64),
            Arg::F32(hp.lr),
            Arg::F32(hp.momentum),
            Arg::F32(hp.dampening),
            Arg::F32(hp.weight_decay),
            Arg::I32(hp.nesterov as i32),
            Arg::I32(hp.first as i32),
        ];
        self.inner().launch("sgd_step", cfg_1d(n), &args)
    }
}
