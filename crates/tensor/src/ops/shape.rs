//! Views (reshape, transpose, permute, broadcast) and `contiguous`, which copies only when it
//! must.

use crate::layout::contiguous_strides;
use crate::{Backend, Layout, Result, Tensor, TensorError};

impl<B: Backend> Tensor<B> {
    /// A dense copy when the view is not dense; otherwise the same tensor.
    pub fn contiguous(&self) -> Result<Tensor<B>> {
        if self.layout().is_contiguous() {
            return Ok(self.clone());
        }
        let s = self.device().copy_strided(self.storage(), self.layout())?;
        Tensor::from_op(s, self.shape(), self.device(), "contiguous", &[self], |g| {
            Ok(vec![Some(g.clone())])
        })
    }

    /// Same elements, another shape (one dimension may be given as `usize::MAX` to infer it).
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor<B>> {
        let shape = infer_shape(self.shape(), shape)?;
        let src = if self.layout().is_contiguous() {
            self.clone()
        } else {
            self.contiguous()?
        };
        let old = src.shape().to_vec();
        let layout = Layout::new(
            shape.clone(),
            contiguous_strides(&shape),
            src.layout().offset(),
        );
        Ok(src.view_op(layout, "reshape", move |g| Ok(vec![Some(g.reshape(&old)?)])))
    }

    /// Flattens dimensions `start..` into one.
    pub fn flatten_from(&self, start: usize) -> Result<Tensor<B>> {
        if start >= self.rank() {
            return Err(TensorError::invalid(
                "flatten",
                format!(
                    "start dimension {start} out of range for shape {:?}",
                    self.shape()
                ),
            ));
        }
        let mut shape: Vec<usize> = self.shape()[..start].to_vec();
        shape.push(self.shape()[start..].iter().product());
        self.reshape(&shape)
    }

    /// Swaps two dimensions (a view).
    pub fn transpose(&self, a: usize, b: usize) -> Result<Tensor<B>> {
        let layout = self.layout().transpose(a, b)?;
        Ok(self.view_op(layout, "transpose", move |g| {
            Ok(vec![Some(g.transpose(a, b)?)])
        }))
    }

    /// The transpose of a matrix (a view).
    pub fn t(&self) -> Result<Tensor<B>> {
        if self.rank() < 2 {
            return Err(TensorError::invalid("t", "needs at least 2 dimensions"));
        }
        self.transpose(self.rank() - 2, self.rank() - 1)
    }

    /// Reorders dimensions (a view): output dimension `i` is input dimension `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor<B>> {
        let layout = self.layout().permute(perm)?;
        let mut inverse = vec![0; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        Ok(self.view_op(layout, "permute", move |g| {
            Ok(vec![Some(g.permute(&inverse)?)])
        }))
    }

    /// Repeats size-1 (or missing leading) dimensions up to `shape` (a view).
    pub fn broadcast_as(&self, shape: &[usize]) -> Result<Tensor<B>> {
        let layout = self.layout().broadcast_to(shape)?;
        let old = self.shape().to_vec();
        Ok(self.view_op(layout, "broadcast", move |g| {
            Ok(vec![Some(g.sum_to_shape(&old)?)])
        }))
    }
}

fn infer_shape(from: &[usize], to: &[usize]) -> Result<Vec<usize>> {
    let numel: usize = from.iter().product();
    let known: usize = to.iter().filter(|&&d| d != usize::MAX).product();
    let unknown = to.iter().filter(|&&d| d == usize::MAX).count();
    let err = || TensorError::ShapeMismatch {
        op: "reshape",
        lhs: from.to_vec(),
        rhs: to.to_vec(),
    };
    match unknown {
        0 if known == numel => Ok(to.to_vec()),
        1 if known > 0 && numel.is_multiple_of(known) => Ok(to
            .iter()
            .map(|&d| if d == usize::MAX { numel / known } else { d })
            .collect()),
        _ => Err(err()),
    }
}
