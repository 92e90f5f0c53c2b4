//! CUDA pooling kernels (pool.cu): one thread per output (forward) or input (backward)
//! element.

use crate::Result;
use crate::backend::BackendBase;
use crate::cuda::kernels::{Arg, Source, cfg_1d};
use crate::cuda::{Cuda, CudaStorage};
use crate::ops::pool::{Pool2dSpec, PoolKernels};

pub(crate) const SOURCE: Source = Source {
    file: "pool.cu",
    code: include_str!("pool.cu"),
    kernels: || {
        vec![
            "max_pool_fwd",
            "max_pool_bwd",
            "avg_pool_fwd",
            "avg_pool_bwd",
        ]
    },
};

fn pool_args(s: &Pool2dSpec) -> [Arg; 11] {
    [
        s.n * s.c,
        s.h,
        s.w,
        s.out_h(),
        s.out_w(),
        s.kernel.0,
        s.kernel.1,
        s.stride.0,
        s.stride.1,
        s.padding.0,
        s.padding.1,
    ]
    .map(|v| Arg::I64(v as i64))
}

impl PoolKernels for Cuda {
    fn max_pool2d(&self, x: &CudaStorage, s: &Pool2dSpec) -> Result<(CudaStorage, CudaStorage)> {
        Cuda::check_len("max_pool2d", x, s.n * s.c * s.h * s.w)?;
        let n_out = s.n * s.c * s.out_h() * s.out_w();
        let (out, arg) = (self.alloc(n_out)?, self.alloc(n_out)?);
        let mut args = vec![Arg::Ptr(out.ptr()), Arg::Ptr(arg.ptr()), Arg::Ptr(x.ptr())];
        args.extend(pool_args(s));
        self.inner().launch("max_pool_fwd", cfg_1d(n_out), &args)?;
        Ok((out, arg))
    }

    fn max_pool2d_backward(
        &self,
        dy: &CudaStorage,
        argmax: &CudaStorage,
        s: &Pool2dSpec,
    ) -> Result<CudaStorage> {
        let n_out = s.n * s.c * s.out_h() * s.out_w();
        Cuda::check_len("max_pool2d grad", dy, n_out)?;
        Cuda::check_len("max_pool2d argmax", argmax, n_out)?;
        let n_in = s.n * s.c * s.h * s.w;
        let dx = self.alloc(n_in)?;
        let mut args = vec![
            Arg::Ptr(dx.ptr()),
            Arg::Ptr(dy.ptr()),
            Arg::Ptr(argmax.ptr()),
        ];
        args.extend(pool_args(s));
        self.inner().launch("max_pool_bwd", cfg_1d(n_in), &args)?;
        Ok(dx)
    }

    fn avg_pool2d(&self, x: &CudaStorage, s: &Pool2dSpec) -> Result<CudaStorage> {
        Cuda::check_len("avg_pool2d", x, s.n * s.c * s.h * s.w)?;
        let n_out = s.n * s.c * s.out_h() * s.out_w();
        let out = self.alloc(n_out)?;
        let mut args = vec![Arg::Ptr(out.ptr()), Arg::Ptr(x.ptr())];
        args.extend(pool_args(s));
        self.inner().launch("avg_pool_fwd", cfg_1d(n_out), &args)?;
        Ok(out)
    }

    fn avg_pool2d_backward(&self, dy: &CudaStorage, s: &Pool2dSpec) -> Result<CudaStorage> {
        Cuda::check_len("avg_pool2d grad", dy, s.n * s.c * s.out_h() * s.out_w())?;
        let n_in = s.n * s.c * s.h * s.w;
        let dx = self.alloc(n_in)?;
        let mut args = vec![Arg::Ptr(dx.ptr()), Arg::Ptr(dy.ptr())];
        args.extend(pool_args(s));
        self.inner().launch("avg_pool_bwd", cfg_1d(n_in), &args)?;
        Ok(dx)
    }
}
