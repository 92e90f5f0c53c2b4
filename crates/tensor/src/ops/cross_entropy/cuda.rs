//! CUDA fused softmax cross-entropy (cross_entropy.cu): one warp per row. An invalid label is
//! never used as an index: it raises the device's label flag, checked at the next sync.

use std::sync::atomic::Ordering;

use crate::Result;
use crate::backend::BackendBase;
use crate::cuda::kernels::{Arg, Source, cfg, cfg_1d};
use crate::cuda::{Cuda, CudaStorage};
use crate::ops::cross_entropy::CrossEntropyKernels;

pub(crate) const SOURCE: Source = Source {
    file: "cross_entropy.cu",
    code: include_str!("cross_entropy.cu"),
    kernels: || vec!["ce_forward", "ce_loss_mean", "ce_backward"],
};

impl CrossEntropyKernels for Cuda {
    fn softmax_cross_entropy(
        &self,
        logits: &CudaStorage,
        labels: &CudaStorage,
        n: usize,
        k: usize,
        smoothing: f32,
    ) -> Result<(CudaStorage, CudaStorage)> {
        Cuda::check_len("cross_entropy logits", logits, n * k)?;
        Cuda::check_len("cross_entropy labels", labels, n)?;
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

    fn softmax_cross_entropy_backward(
        &self,
        probs: &CudaStorage,
        labels: &CudaStorage,
        grad_loss: &CudaStorage,
        n: usize,
        k: usize,
        smoothing: f32,
    ) -> Result<CudaStorage> {
        Cuda::check_len("cross_entropy probs", probs, n * k)?;
        Cuda::check_len("cross_entropy labels", labels, n)?;
        Cuda::check_len("cross_entropy grad", grad_loss, 1)?;
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
