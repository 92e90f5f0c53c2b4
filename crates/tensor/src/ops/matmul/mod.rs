//! Matrix products: `[m, k] · [k, n]` and batched `[b, m, k] · [b, k, n]`. Transposed operands
//! are views, handed to the backend as strides, never copied.

use crate::backend::BackendBase;
use crate::{Backend, Layout, Result, Tensor, TensorError};

pub(crate) mod cpu;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;

/// One operand of a (batched) matrix product, described by strides into its storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatOperand {
    pub offset: usize,
    pub batch_stride: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

/// `out[b] = lhs[b] (m x k) · rhs[b] (k x n)`, `out` contiguous `[batch, m, n]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatmulSpec {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub lhs: MatOperand,
    pub rhs: MatOperand,
}

/// The matrix-product kernel of a device.
pub trait MatmulKernels: BackendBase {
    fn matmul(
        &self,
        lhs: &Self::Storage,
        rhs: &Self::Storage,
        spec: &MatmulSpec,
    ) -> Result<Self::Storage>;
}

fn operand(layout: &Layout) -> MatOperand {
    let s = layout.strides();
    let r = s.len();
    MatOperand {
        offset: layout.offset(),
        batch_stride: if r == 3 { s[0] } else { 0 },
        row_stride: s[r - 2],
        col_stride: s[r - 1],
    }
}

impl<B: Backend> Tensor<B> {
    /// Matrix product (batched when both operands are 3-D).
    pub fn matmul(&self, rhs: &Tensor<B>) -> Result<Tensor<B>> {
        let mismatch = || TensorError::ShapeMismatch {
            op: "matmul",
            lhs: self.shape().to_vec(),
            rhs: rhs.shape().to_vec(),
        };
        let (batch, m, k, n) = match (self.shape(), rhs.shape()) {
            (&[m, k], &[k2, n]) if k == k2 => (1, m, k, n),
            (&[b, m, k], &[b2, k2, n]) if k == k2 && b == b2 => (b, m, k, n),
            _ => return Err(mismatch()),
        };
        let spec = MatmulSpec {
            batch,
            m,
            n,
            k,
            lhs: operand(self.layout()),
            rhs: operand(rhs.layout()),
        };
        let out = self.device().matmul(self.storage(), rhs.storage(), &spec)?;
        let shape: Vec<usize> = if self.rank() == 3 {
            vec![batch, m, n]
        } else {
            vec![m, n]
        };
        let (a, b) = (self.detach(), rhs.detach());
        let (ta, tb) = (self.tracks_grad(), rhs.tracks_grad());
        Tensor::from_op(
            out,
            &shape,
            self.device(),
            "matmul",
            &[self, rhs],
            move |g| {
                // dA = g · Bᵀ, dB = Aᵀ · g
                let ga = if ta { Some(g.matmul(&b.t()?)?) } else { None };
                let gb = if tb { Some(a.t()?.matmul(g)?) } else { None };
                Ok(vec![ga, gb])
            },
        )
    }

    /// `x · Wᵀ + b` with PyTorch's `Linear` weight layout `[out, in]`.
    pub fn linear(&self, weight: &Tensor<B>, bias: Option<&Tensor<B>>) -> Result<Tensor<B>> {
        let y = self.matmul(&weight.t()?)?;
        match bias {
            Some(b) => y.add(b),
            None => Ok(y),
        }
    }
}
