//! Max and average pooling over NCHW (PyTorch defaults: no ceil mode, max pads with -inf,
//! average counts the padding).

pub(crate) mod cpu;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;
#[cfg(test)]
mod tests;

use crate::backend::BackendBase;
use crate::ops::out_size;
use crate::{Backend, Result, Tensor, TensorError};

/// Geometry of a 2-D pooling window over `[n, c, h, w]` (PyTorch defaults: no ceil mode;
/// average pooling counts padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pool2dSpec {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub padding: (usize, usize),
}

impl Pool2dSpec {
    pub fn out_h(&self) -> usize {
        out_size(self.h, self.kernel.0, self.stride.0, self.padding.0, 1)
    }
    pub fn out_w(&self) -> usize {
        out_size(self.w, self.kernel.1, self.stride.1, self.padding.1, 1)
    }
    pub fn output_shape(&self) -> [usize; 4] {
        [self.n, self.c, self.out_h(), self.out_w()]
    }
}

/// The pooling kernels of a device.
pub trait PoolKernels: BackendBase {
    /// Returns the output and, per output element, the flat index (within its `h x w` plane)
    /// of the input element chosen, as f32.
    fn max_pool2d(
        &self,
        x: &Self::Storage,
        spec: &Pool2dSpec,
    ) -> Result<(Self::Storage, Self::Storage)>;
    fn max_pool2d_backward(
        &self,
        grad_out: &Self::Storage,
        argmax: &Self::Storage,
        spec: &Pool2dSpec,
    ) -> Result<Self::Storage>;
    fn avg_pool2d(&self, x: &Self::Storage, spec: &Pool2dSpec) -> Result<Self::Storage>;
    fn avg_pool2d_backward(
        &self,
        grad_out: &Self::Storage,
        spec: &Pool2dSpec,
    ) -> Result<Self::Storage>;
}

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
