//! Max and average pooling over NCHW (PyTorch defaults: no ceil mode, max pads with -inf,
//! average counts the padding).

pub mod cpu;
#[cfg(test)]
mod tests;

use crate::spec::Pool2dSpec;
use crate::{Backend, Result, Tensor, TensorError};

/// Kernel, stride and padding of a pooling window, each as (height, width).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2dOptions {
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub padding: (usize, usize),
}

impl Pool2dOptions {
    /// A square window whose stride equals its size (PyTorch's default stride).
    pub fn square(k: usize) -> Self {
        Pool2dOptions {
            kernel: (k, k),
            stride: (k, k),
            padding: (0, 0),
        }
    }
}

fn pool_spec<B: Backend>(x: &Tensor<B>, o: Pool2dOptions, op: &'static str) -> Result<Pool2dSpec> {
    let [n, c, h, w] = x.dims4(op)?;
    if o.kernel.0 == 0 || o.kernel.1 == 0 || o.stride.0 == 0 || o.stride.1 == 0 {
        return Err(TensorError::invalid(
            op,
            "kernel and stride must be at least 1",
        ));
    }
    if 2 * o.padding.0 > o.kernel.0 || 2 * o.padding.1 > o.kernel.1 {
        return Err(TensorError::invalid(
            op,
            format!(
                "padding {:?} must be at most half the kernel {:?}",
                o.padding, o.kernel
            ),
        ));
    }
    let spec = Pool2dSpec {
        n,
        c,
        h,
        w,
        kernel: o.kernel,
        stride: o.stride,
        padding: o.padding,
    };
    if spec.out_h() == 0 || spec.out_w() == 0 {
        return Err(TensorError::invalid(
            op,
            format!("a {:?} window does not fit a {h}x{w} input", o.kernel),
        ));
    }
    Ok(spec)
}

impl<B: Backend> Tensor<B> {
    /// Max pooling; the backward pass routes each gradient to the chosen input element.
    pub fn max_pool2d(&self, opts: Pool2dOptions) -> Result<Tensor<B>> {
        let spec = pool_spec(self, opts, "max_pool2d")?;
        let xs = self.dense_storage()?;
        let (out, argmax) = self.device().max_pool2d(&xs, &spec)?;
        Tensor::from_op(
            out,
            &spec.output_shape(),
            self.device(),
            "max_pool2d",
            &[self],
            move |g| {
                let gs = g.dense_storage()?;
                let s = g.device().max_pool2d_backward(&gs, &argmax, &spec)?;
                Ok(vec![Some(Tensor::from_storage(
                    s,
                    &[spec.n, spec.c, spec.h, spec.w],
                    g.device(),
                )?)])
            },
        )
    }

    /// Average pooling (padding counts towards the divisor, as in PyTorch's default).
    pub fn avg_pool2d(&self, opts: Pool2dOptions) -> Result<Tensor<B>> {
        let spec = pool_spec(self, opts, "avg_pool2d")?;
        let xs = self.dense_storage()?;
        let out = self.device().avg_pool2d(&xs, &spec)?;
        Tensor::from_op(
            out,
            &spec.output_shape(),
            self.device(),
            "avg_pool2d",
            &[self],
            move |g| {
                let gs = g.dense_storage()?;
                let s = g.device().avg_pool2d_backward(&gs, &spec)?;
                Ok(vec![Some(Tensor::from_storage(
                    s,
                    &[spec.n, spec.c, spec.h, spec.w],
                    g.device(),
                )?)])
            },
        )
    }
}
