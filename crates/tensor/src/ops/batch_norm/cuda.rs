//! CUDA batch norm (batch_norm.cu): statistics per channel (one block per channel, or one
//! thread per channel walking the rows for wide BatchNorm1d inputs), then one elementwise pass.

use crate::Result;
use crate::backend::BackendBase;
use crate::cuda::kernels::{Arg, Source, cfg, cfg_1d};
use crate::cuda::{Cuda, CudaStorage};
use crate::ops::batch_norm::{BatchNormKernels, BatchNormOutput, BatchNormSpec, BatchNormStats};

pub(crate) const SOURCE: Source = Source {
    file: "batch_norm.cu",
    code: include_str!("batch_norm.cu"),
    kernels: || {
        vec![
            "bn_stats_rows",
            "bn_stats_planes",
            "bn_normalize",
            "bn_bwd_sums_rows",
            "bn_bwd_sums_planes",
            "bn_bwd_dx",
        ]
    },
};

/// Channels from which a BatchNorm1d (`spatial == 1`) uses one thread per channel instead of
/// one block per channel.
const BN_ROWS_MIN_CHANNELS: usize = 128;

fn bn_uses_rows(s: &BatchNormSpec) -> bool {
    s.spatial == 1 && s.c >= BN_ROWS_MIN_CHANNELS
}

impl BatchNormKernels for Cuda {
    fn batch_norm(
        &self,
        x: &CudaStorage,
        gamma: &CudaStorage,
        beta: &CudaStorage,
        stats: BatchNormStats<'_, CudaStorage>,
        s: &BatchNormSpec,
    ) -> Result<BatchNormOutput<CudaStorage>> {
        let total = s.n * s.c * s.spatial;
        Cuda::check_len("batch_norm input", x, total)?;
        Cuda::check_len("batch_norm weight", gamma, s.c)?;
        Cuda::check_len("batch_norm bias", beta, s.c)?;
        let dev = self.inner();
        let (n, c, sp) = (s.n as i64, s.c as i64, s.spatial as i64);
        let (mean, var) = match stats {
            BatchNormStats::Batch => {
                let (mean, var) = (self.alloc(s.c)?, self.alloc(s.c)?);
                if bn_uses_rows(s) {
                    let args = [
                        Arg::Ptr(mean.ptr()),
                        Arg::Ptr(var.ptr()),
                        Arg::Ptr(x.ptr()),
                        Arg::I64(n),
                        Arg::I64(c),
                    ];
                    dev.launch(
                        "bn_stats_rows",
                        cfg((s.c.div_ceil(128) as u32, 1, 1), 128),
                        &args,
                    )?;
                } else {
                    let args = [
                        Arg::Ptr(mean.ptr()),
                        Arg::Ptr(var.ptr()),
                        Arg::Ptr(x.ptr()),
                        Arg::I64(n),
                        Arg::I64(c),
                        Arg::I64(sp),
                    ];
                    let grid = (s.c.min(65_535) as u32, 1, 1);
                    dev.launch("bn_stats_planes", cfg(grid, 256), &args)?;
                }
                (mean, var)
            }
            BatchNormStats::Running { mean, var } => {
                Cuda::check_len("batch_norm running mean", mean, s.c)?;
                Cuda::check_len("batch_norm running var", var, s.c)?;
                (mean.clone(), var.clone())
            }
        };
        let y = self.alloc(total)?;
        let args = [
            Arg::Ptr(y.ptr()),
            Arg::Ptr(x.ptr()),
            Arg::Ptr(gamma.ptr()),
            Arg::Ptr(beta.ptr()),
            Arg::Ptr(mean.ptr()),
            Arg::Ptr(var.ptr()),
            Arg::U64(total as u64),
            Arg::I64(c),
            Arg::I64(sp),
            Arg::F32(s.eps),
        ];
        dev.launch("bn_normalize", cfg_1d(total), &args)?;
        Ok(BatchNormOutput { y, mean, var })
    }

    fn batch_norm_backward(
        &self,
        x: &CudaStorage,
        gamma: &CudaStorage,
        mean: &CudaStorage,
        var: &CudaStorage,
        dy: &CudaStorage,
        batch_stats: bool,
        s: &BatchNormSpec,
    ) -> Result<(CudaStorage, CudaStorage, CudaStorage)> {
        let total = s.n * s.c * s.spatial;
        Cuda::check_len("batch_norm input", x, total)?;
        Cuda::check_len("batch_norm grad", dy, total)?;
        for (what, st) in [("weight", gamma), ("mean", mean), ("var", var)] {
            Cuda::check_len(what, st, s.c)?;
        }
        let dev = self.inner();
        let (n, c, sp) = (s.n as i64, s.c as i64, s.spatial as i64);
        // 2c doubles
        let sums = self.alloc(4 * s.c)?;
        let (dgamma, dbeta) = (self.alloc(s.c)?, self.alloc(s.c)?);
        let mut args = vec![
            Arg::Ptr(sums.ptr()),
            Arg::Ptr(dgamma.ptr()),
            Arg::Ptr(dbeta.ptr()),
            Arg::Ptr(x.ptr()),
            Arg::Ptr(dy.ptr()),
            Arg::Ptr(mean.ptr()),
            Arg::Ptr(var.ptr()),
            Arg::I64(n),
            Arg::I64(c),
        ];
        if bn_uses_rows(s) {
            args.push(Arg::F32(s.eps));
            let grid = (s.c.div_ceil(128) as u32, 1, 1);
            dev.launch("bn_bwd_sums_rows", cfg(grid, 128), &args)?;
        } else {
            args.push(Arg::I64(sp));
            args.push(Arg::F32(s.eps));
            let grid = (s.c.min(65_535) as u32, 1, 1);
            dev.launch("bn_bwd_sums_planes", cfg(grid, 256), &args)?;
        }
        let dx = self.alloc(total)?;
        let args = [
            Arg::Ptr(dx.ptr()),
            Arg::Ptr(x.ptr()),
            Arg::Ptr(dy.ptr()),
            Arg::Ptr(gamma.ptr()),
            Arg::Ptr(mean.ptr()),
            Arg::Ptr(var.ptr()),
            Arg::Ptr(sums.ptr()),
            Arg::U64(total as u64),
            Arg::I64(n),
            Arg::I64(c),
            Arg::I64(sp),
            Arg::F32(s.eps),
            Arg::I32(batch_stats as i32),
        ];
        dev.launch("bn_bwd_dx", cfg_1d(total), &args)?;
        Ok((dx, dgamma, dbeta))
    }
}
