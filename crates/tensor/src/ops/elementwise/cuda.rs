//! CUDA elementwise kernels (elementwise.cu): one kernel per op, named after the op type.

use crate::backend::BackendBase;
use crate::cuda::kernels::{Arg, Source, cfg_1d};
use crate::cuda::strided::{check_reach, strided_dims};
use crate::cuda::{Cuda, CudaStorage};
use crate::ops::elementwise::{BinaryOp, ElementwiseKernels, UnaryOp};
use crate::{Layout, Result, TensorError};

fn kernels() -> Vec<&'static str> {
    let unary = UnaryOp::ALL.iter().map(|op| op.kernel());
    let binary = BinaryOp::ALL.iter().flat_map(|op| op.kernels());
    unary.chain(binary).chain(["masked_scale_f32"]).collect()
}

pub(crate) const SOURCE: Source = Source {
    file: "elementwise.cu",
    code: include_str!("elementwise.cu"),
    kernels,
};

impl ElementwiseKernels for Cuda {
    fn unary(&self, op: UnaryOp, x: &CudaStorage) -> Result<CudaStorage> {
        let n = x.len();
        let out = self.alloc(n)?;
        let (p0, p1) = op.params();
        let args = [
            Arg::Ptr(out.ptr()),
            Arg::Ptr(x.ptr()),
            Arg::U64(n as u64),
            Arg::F32(p0),
            Arg::F32(p1),
        ];
        self.inner().launch(op.kernel(), cfg_1d(n), &args)?;
        Ok(out)
    }

    fn binary(
        &self,
        op: BinaryOp,
        lhs: &CudaStorage,
        ll: &Layout,
        rhs: &CudaStorage,
        rl: &Layout,
    ) -> Result<CudaStorage> {
        if ll.shape() != rl.shape() {
            return Err(TensorError::ShapeMismatch {
                op: "binary (cuda)",
                lhs: ll.shape().to_vec(),
                rhs: rl.shape().to_vec(),
            });
        }
        let n = ll.numel();
        let out = self.alloc(n)?;
        if n == 0 {
            return Ok(out);
        }
        let reach_a = check_reach("binary lhs", lhs, ll)?;
        let reach_b = check_reach("binary rhs", rhs, rl)?;
        let [dense, strided32, strided64] = op.kernels();
        if ll.is_contiguous() && rl.is_contiguous() {
            let args = [
                Arg::Ptr(out.ptr()),
                Arg::Ptr(lhs.ptr_at(ll.offset())),
                Arg::Ptr(rhs.ptr_at(rl.offset())),
                Arg::U64(n as u64),
            ];
            self.inner().launch(dense, cfg_1d(n), &args)?;
            return Ok(out);
        }
        let (dims, small) = strided_dims(
            "binary",
            ll.shape(),
            &[ll.strides(), rl.strides()],
            &[ll.offset(), rl.offset()],
            reach_a.max(reach_b),
        )?;
        let args = [
            Arg::Ptr(out.ptr()),
            Arg::Ptr(lhs.ptr()),
            Arg::Ptr(rhs.ptr()),
            Arg::U64(n as u64),
            Arg::Dims(Box::new(dims)),
        ];
        let name = if small { strided32 } else { strided64 };
        self.inner().launch(name, cfg_1d(n), &args)?;
        Ok(out)
    }

    fn masked_scale(&self, x: &CudaStorage, mask: &CudaStorage, scale: f32) -> Result<CudaStorage> {
        Cuda::check_len("masked_scale mask", mask, x.len())?;
        let n = x.len();
        let out = self.alloc(n)?;
        let args = [
            Arg::Ptr(out.ptr()),
            Arg::Ptr(x.ptr()),
            Arg::Ptr(mask.ptr()),
            Arg::U64(n as u64),
            Arg::F32(scale),
        ];
        self.inner().launch("masked_scale_f32", cfg_1d(n), &args)?;
        Ok(out)
    }
}
