//! Reductions over axes: sum, mean, max, argmax; and `sum_to_shape` for broadcast gradients.

use crate::backend::BackendBase;
use crate::{Backend, Result, Tensor, TensorError};

pub(crate) mod cpu;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;

/// Reduction over the rows of a `[rows, cols]` matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Max,
    Min,
    /// Index of the first maximum, as an f32.
    ArgMax,
}

impl ReduceOp {
    /// Every op, for tests and kernel registries.
    pub const ALL: [ReduceOp; 4] = [
        ReduceOp::Sum,
        ReduceOp::Max,
        ReduceOp::Min,
        ReduceOp::ArgMax,
    ];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
            ReduceOp::ArgMax => "argmax",
        }
    }

    /// The device kernel, named after the op (`reduce_rows_<name>`, see `reduce.cu`).
    pub fn kernel(self) -> &'static str {
        match self {
            ReduceOp::Sum => "reduce_rows_sum",
            ReduceOp::Max => "reduce_rows_max",
            ReduceOp::Min => "reduce_rows_min",
            ReduceOp::ArgMax => "reduce_rows_argmax",
        }
    }
}

/// The reduction kernel of a device.
pub trait ReduceKernels: BackendBase {
    /// Reduces each row of a contiguous `[rows, cols]` matrix to one value.
    fn reduce_rows(
        &self,
        op: ReduceOp,
        x: &Self::Storage,
        rows: usize,
        cols: usize,
    ) -> Result<Self::Storage>;
}

impl<B: Backend> Tensor<B> {
    /// Moves the reduced axes last and reduces each row; returns the kept shape with ones.
    fn reduce_axes(&self, op: ReduceOp, axes: &[usize]) -> Result<(B::Storage, Vec<usize>)> {
        let r = self.rank();
        if let Some(&a) = axes.iter().find(|&&a| a >= r) {
            return Err(TensorError::invalid(
                "reduce",
                format!("axis {a} out of range for shape {:?}", self.shape()),
            ));
        }
        let kept: Vec<usize> = (0..r).filter(|d| !axes.contains(d)).collect();
        let reduced: Vec<usize> = (0..r).filter(|d| axes.contains(d)).collect();
        let perm: Vec<usize> = kept.iter().chain(&reduced).copied().collect();
        let rows: usize = kept.iter().map(|&d| self.shape()[d]).product();
        let cols: usize = reduced.iter().map(|&d| self.shape()[d]).product();
        let layout = self.layout().permute(&perm)?;
        let dense = if layout.is_contiguous() && layout.offset() == 0 {
            None
        } else {
            Some(self.device().copy_strided(self.storage(), &layout)?)
        };
        let src = dense.as_ref().unwrap_or(self.storage());
        let out = self.device().reduce_rows(op, src, rows, cols)?;
        let keep_shape = (0..r)
            .map(|d| {
                if axes.contains(&d) {
                    1
                } else {
                    self.shape()[d]
                }
            })
            .collect();
        Ok((out, keep_shape))
    }

    fn finish_shape(keep_shape: &[usize], axes: &[usize], keepdim: bool) -> Vec<usize> {
        if keepdim {
            keep_shape.to_vec()
        } else {
            keep_shape
                .iter()
                .enumerate()
                .filter(|(d, _)| !axes.contains(d))
                .map(|(_, &s)| s)
                .collect()
        }
    }

    /// Sum over `axes`.
    pub fn sum(&self, axes: &[usize], keepdim: bool) -> Result<Tensor<B>> {
        // Reducing trailing axes needs no copy; when other axes are reduced too (a conv bias
        // gradient sums [n, c, h, w] over 0, 2, 3), reduce the trailing run first, so the
        // transposing copy only touches the much smaller remainder.
        let r = self.rank();
        let trailing = (0..r).rev().take_while(|d| axes.contains(d)).count();
        if trailing > 0 && trailing < axes.len() && self.layout().is_contiguous() {
            let inner: Vec<usize> = (r - trailing..r).collect();
            let rest: Vec<usize> = axes.iter().copied().filter(|&a| a < r - trailing).collect();
            let partial = self.sum(&inner, true)?;
            let full = partial.sum(&rest, true)?;
            return if keepdim {
                Ok(full)
            } else {
                let shape: Vec<usize> = (0..r)
                    .filter(|d| !axes.contains(d))
                    .map(|d| self.shape()[d])
                    .collect();
                full.reshape(&shape)
            };
        }
        let (out, keep) = self.reduce_axes(ReduceOp::Sum, axes)?;
        let shape = Self::finish_shape(&keep, axes, keepdim);
        let in_shape = self.shape().to_vec();
        Tensor::from_op(out, &shape, self.device(), "sum", &[self], move |g| {
            Ok(vec![Some(
                g.reshape(&keep)?.broadcast_as(&in_shape)?.contiguous()?,
            )])
        })
    }

    /// Sum of every element (a scalar tensor of shape `[]`).
    pub fn sum_all(&self) -> Result<Tensor<B>> {
        let axes: Vec<usize> = (0..self.rank()).collect();
        self.sum(&axes, false)
    }

    /// Mean over `axes`.
    pub fn mean(&self, axes: &[usize], keepdim: bool) -> Result<Tensor<B>> {
        let count: usize = axes
            .iter()
            .map(|&a| self.shape().get(a).copied().unwrap_or(1))
            .product();
        self.sum(axes, keepdim)?.scale(1.0 / count.max(1) as f32)
    }

    /// Mean of every element.
    pub fn mean_all(&self) -> Result<Tensor<B>> {
        let n = self.numel().max(1);
        self.sum_all()?.scale(1.0 / n as f32)
    }

    /// Maximum over `axes`; ties share the gradient.
    pub fn max(&self, axes: &[usize], keepdim: bool) -> Result<Tensor<B>> {
        let (out, keep) = self.reduce_axes(ReduceOp::Max, axes)?;
        let shape = Self::finish_shape(&keep, axes, keepdim);
        let x = self.detach();
        let m = Tensor::from_storage(out.clone(), &keep, self.device())?;
        Tensor::from_op(out, &shape, self.device(), "max", &[self], move |g| {
            // 1 where x equals the maximum: step(x - max + tiny) is fragile, so use min(max - x) == 0.
            let is_max = m.sub(&x)?.neg()?.add_scalar(0.5e-30)?.step()?;
            Ok(vec![Some(g.reshape(m.shape())?.mul(&is_max)?)])
        })
    }

    /// Index of the maximum along `axis` (no gradient), as f32 values.
    pub fn argmax(&self, axis: usize) -> Result<Tensor<B>> {
        let (out, keep) = self.reduce_axes(ReduceOp::ArgMax, &[axis])?;
        let shape = Self::finish_shape(&keep, &[axis], false);
        Tensor::from_storage(out, &shape, self.device())
    }

    /// Sums a broadcast gradient back to `shape` (leading extra axes and expanded ones).
    pub fn sum_to_shape(&self, shape: &[usize]) -> Result<Tensor<B>> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let r = self.rank();
        if shape.len() > r {
            return Err(TensorError::ShapeMismatch {
                op: "sum_to_shape",
                lhs: self.shape().to_vec(),
                rhs: shape.to_vec(),
            });
        }
        let lead = r - shape.len();
        let mut axes: Vec<usize> = (0..lead).collect();
        for (i, &d) in shape.iter().enumerate() {
            if d == 1 && self.shape()[lead + i] != 1 {
                axes.push(lead + i);
            } else if d != self.shape()[lead + i] {
                return Err(TensorError::ShapeMismatch {
                    op: "sum_to_shape",
                    lhs: self.shape().to_vec(),
                    rhs: shape.to_vec(),
                });
            }
        }
        self.sum(&axes, true)?.reshape(shape)
    }
}
