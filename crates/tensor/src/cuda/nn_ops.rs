//! Host side of the pooling, batch-norm and cross-entropy kernels.

use std::sync::atomic::Ordering;

use super::Cuda;
use super::kernels::{Arg, cfg, cfg_1d};
use super::memory::CudaStorage;
use super::ops::check_len;
use crate::Result;
use crate::spec::{BatchNormOutput, BatchNormSpec, BatchNormStats, Pool2dSpec};

/// Channels from which a BatchNorm1d (`spatial == 1`) uses one thread per channel instead of
/// one block per channel.
const BN_ROWS_MIN_CHANNELS: usize = 128;

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

fn bn_uses_rows(s: &BatchNormSpec) -> bool {
    s.spatial == 1 && s.c >= BN_ROWS_MIN_CHANNELS
}

impl Cuda {
    pub(crate) fn max_pool_impl(
        &self,
        x: &CudaStorage,
        s: &Pool2dSpec,
    ) -> Result<(CudaStorage, CudaStorage)> {
        check_len("max_pool2d", x, s.n * s.c * s.h * s.w)?;
        let n_out = s.n * s.c * s.out_h() * s.out_w();
        let (out, arg) = (self.alloc(n_out)?, self.alloc(n_out)?);
        let mut args = vec![Arg::Ptr(out.ptr()), Arg::Ptr(arg.ptr()), Arg::Ptr(x.ptr())];
        args.extend(pool_args(s));
        self.inner().launch("max_pool_fwd", cfg_1d(n_out), &args)?;
        Ok((out, arg))
    }

    pub(crate) fn max_pool_backward_impl(
        &self,
        dy: &CudaStorage,
        argmax: &CudaStorage,
        s: &Pool2dSpec,
    ) -> Result<CudaStorage> {
        let n_out = s.n * s.c * s.out_h() * s.out_w();
        check_len("max_pool2d grad", dy, n_out)?;
        check_len("max_pool2d argmax", argmax, n_out)?;
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

    pub(crate) fn avg_pool_impl(&self, x: &CudaStorage, s: &Pool2dSpec) -> Result<CudaStorage> {
        check_len("avg_pool2d", x, s.n * s.c * s.h * s.w)?;
        let n_out = s.n * s.c * s.out_h() * s.out_w();
        let out = self.alloc(n_out)?;
        let mut args = vec![Arg::Ptr(out.ptr()), Arg::Ptr(x.ptr())];
        args.extend(pool_args(s));
        self.inner().launch("avg_pool_fwd", cfg_1d(n_out), &args)?;
        Ok(out)
    }

    pub(crate) fn avg_pool_backward_impl(
        &self,
        dy: &CudaStorage,
        s: &Pool2dSpec,
    ) -> Result<CudaStorage> {
        check_len("avg_pool2d grad", dy, s.n * s.c * s.out_h() * s.out_w())?;
        let n_in = s.n * s.c * s.h * s.w;
        let dx = self.alloc(n_in)?;
        let mut args = vec![Arg::Ptr(dx.ptr()), Arg::Ptr(dy.ptr())];
        args.extend(pool_args(s));
        self.inner().launch("avg_pool_bwd", cfg_1d(n_in), &args)?;
        Ok(dx)
    }

    pub(crate) fn batch_norm_impl(
        &self,
        x: &CudaStorage,
        gamma: &CudaStorage,
        beta: &CudaStorage,
        stats: BatchNormStats<'_, CudaStorage>,
        s: &BatchNormSpec,
    ) -> Result<BatchNormOutput<CudaStorage>> {
        let total = s.n * s.c * s.spatial;
        check_len("batch_norm input", x, total)?;
        check_len("batch_norm weight", gamma, s.c)?;
        check_len("batch_norm bias", beta, s.c)?;
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
                check_len("batch_norm running mean", mean, s.c)?;
                check_len("batch_norm running var", var, s.c)?;
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

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn batch_norm_backward_impl(
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
        check_len("batch_norm input", x, total)?;
        check_len("batch_norm grad", dy, total)?;
        for (what, st) in [("weight", gamma), ("mean", mean), ("var", var)] {
            check_len(what, st, s.c)?;
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

    pub(crate) fn cross_entropy_impl(
        &self,
        logits: &CudaStorage,
        labels: &CudaStorage,
        n: usize,
        k: usize,
        smoothing: f32,
    ) -> Result<(CudaStorage, CudaStorage)> {
        check_len("cross_entropy logits", logits, n * k)?;
        check_len("cross_entropy labels", labels, n)?;
        let dev = self.inner();
        let probs = self.alloc(n * k)?;
        let loss = self.alloc(1)?;
        if n == 0 || k == 0 {
            self.fill(&loss, f32::NAN)?;
            return Ok((loss, probs));
        }
        let row_loss = self.alloc(2 * n)?;
        let args = [
            Arg::Ptr(probs.ptr()),
            Arg::Ptr(row_loss.ptr()),
            Arg::Ptr(dev.label_flag.ptr()),
            Arg::Ptr(logits.ptr()),
            Arg::Ptr(labels.ptr()),
            Arg::I64(n as i64),
            Arg::I64(k as i64),
            Arg::F32(smoothing),
        ];
        // 8 rows (warps) per block
        let grid = (n.div_ceil(8).min(i32::MAX as usize) as u32, 1, 1);
        dev.label_check_pending.store(true, Ordering::Relaxed);
        dev.launch("ce_forward", cfg(grid, 256), &args)?;
        let args = [
            Arg::Ptr(loss.ptr()),
            Arg::Ptr(row_loss.ptr()),
            Arg::I64(n as i64),
        ];
        dev.launch("ce_loss_mean", cfg((1, 1, 1), 256), &args)?;
        Ok((loss, probs))
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn cross_entropy_backward_impl(
        &self,
        probs: &CudaStorage,
        labels: &CudaStorage,
        grad_loss: &CudaStorage,
        n: usize,
        k: usize,
        smoothing: f32,
    ) -> Result<CudaStorage> {
        check_len("cross_entropy probs", probs, n * k)?;
        check_len("cross_entropy labels", labels, n)?;
        check_len("cross_entropy grad", grad_loss, 1)?;
        let dev = self.inner();
        let grad = self.alloc(n * k)?;
        let args = [
            Arg::Ptr(grad.ptr()),
            Arg::Ptr(dev.label_flag.ptr()),
            Arg::Ptr(probs.ptr()),
            Arg::Ptr(labels.ptr()),
            Arg::Ptr(grad_loss.ptr()),
            Arg::I64(n as i64),
            Arg::I64(k as i64),
            Arg::F32(smoothing),
        ];
        dev.label_check_pending.store(true, Ordering::Relaxed);
        dev.launch("ce_backward", cfg_1d(n * k), &args)?;
        Ok(grad)
    }
}
