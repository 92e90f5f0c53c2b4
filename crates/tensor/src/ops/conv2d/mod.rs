//! 2-D convolution (PyTorch's `conv2d`: cross-correlation, NCHW, weight `[out, in, kh, kw]`),
//! with stride, padding and dilation per axis. Backward input and weight are backend primitives.

pub mod cpu;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;
#[cfg(test)]
mod tests;

use crate::backend::BackendBase;
use crate::ops::out_size;
use crate::{Backend, Result, Tensor, TensorError};

#[cfg(feature = "cuda")]
pub use cuda::ConvEngine;

/// Geometry of a 2-D convolution: input `[n, c_in, h, w]`, weight `[c_out, c_in, kh, kw]`,
/// output `[n, c_out, out_h, out_w]`. Pairs are (height, width).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conv2dSpec {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    pub dilation: (usize, usize),
}

impl Conv2dSpec {
    /// Output height; zero when the kernel does not fit.
    pub fn out_h(&self) -> usize {
        out_size(
            self.h,
            self.kh,
            self.stride.0,
            self.padding.0,
            self.dilation.0,
        )
    }
    /// Output width; zero when the kernel does not fit.
    pub fn out_w(&self) -> usize {
        out_size(
            self.w,
            self.kw,
            self.stride.1,
            self.padding.1,
            self.dilation.1,
        )
    }
    pub fn input_shape(&self) -> [usize; 4] {
        [self.n, self.c_in, self.h, self.w]
    }
    pub fn weight_shape(&self) -> [usize; 4] {
        [self.c_out, self.c_in, self.kh, self.kw]
    }
    pub fn output_shape(&self) -> [usize; 4] {
        [self.n, self.c_out, self.out_h(), self.out_w()]
    }
    /// Multiply-adds of the forward pass times two.
    pub fn forward_flops(&self) -> f64 {
        2.0 * (self.n * self.c_out * self.out_h() * self.out_w() * self.c_in * self.kh * self.kw)
            as f64
    }
}

/// The convolution kernels of a device. Both backward passes are kernels, so each device can
/// make them fast.
pub trait ConvKernels: BackendBase {
    fn conv2d(
        &self,
        x: &Self::Storage,
        weight: &Self::Storage,
        bias: Option<&Self::Storage>,
        spec: &Conv2dSpec,
    ) -> Result<Self::Storage>;
    /// `relu(conv2d(x, weight, bias))`. A device may fuse the ReLU into the convolution's
    /// output (the CPU applies it per image while the image is in cache; the CUDA engines in
    /// their epilogue, with the bias).
    fn conv2d_relu(
        &self,
        x: &Self::Storage,
        weight: &Self::Storage,
        bias: Option<&Self::Storage>,
        spec: &Conv2dSpec,
    ) -> Result<Self::Storage>;
    fn conv2d_backward_input(
        &self,
        grad_out: &Self::Storage,
        weight: &Self::Storage,
        spec: &Conv2dSpec,
    ) -> Result<Self::Storage>;
    fn conv2d_backward_weight(
        &self,
        x: &Self::Storage,
        grad_out: &Self::Storage,
        spec: &Conv2dSpec,
    ) -> Result<Self::Storage>;
}

/// Stride, padding and dilation, each as (height, width).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dOptions {
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    pub dilation: (usize, usize),
}

impl Default for Conv2dOptions {
    fn default() -> Self {
        Conv2dOptions {
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
        }
    }
}

impl<B: Backend> Tensor<B> {
    /// Convolves `self` `[n, c_in, h, w]` with `weight` `[c_out, c_in, kh, kw]` (+ `bias` `[c_out]`).
    pub fn conv2d(
        &self,
        weight: &Tensor<B>,
        bias: Option<&Tensor<B>>,
        opts: Conv2dOptions,
    ) -> Result<Tensor<B>> {
        self.conv2d_impl(weight, bias, opts, false)
    }

    /// `self.conv2d(weight, bias, opts)?.relu()` as one op: the backend may apply the ReLU to
    /// the convolution's output as it is produced (the CPU does), saving a pass over the
    /// activation; the gradient is the same.
    pub fn conv2d_relu(
        &self,
        weight: &Tensor<B>,
        bias: Option<&Tensor<B>>,
        opts: Conv2dOptions,
    ) -> Result<Tensor<B>> {
        self.conv2d_impl(weight, bias, opts, true)
    }

    fn conv2d_impl(
        &self,
        weight: &Tensor<B>,
        bias: Option<&Tensor<B>>,
        opts: Conv2dOptions,
        relu: bool,
    ) -> Result<Tensor<B>> {
        let [n, c_in, h, w] = self.dims4("conv2d")?;
        let [c_out, wc, kh, kw] = weight.dims4("conv2d weight")?;
        if wc != c_in {
            return Err(TensorError::ShapeMismatch {
                op: "conv2d (input channels vs weight)",
                lhs: self.shape().to_vec(),
                rhs: weight.shape().to_vec(),
            });
        }
        if let Some(b) = bias
            && b.shape() != [c_out]
        {
            return Err(TensorError::ShapeMismatch {
                op: "conv2d (bias vs output channels)",
                lhs: b.shape().to_vec(),
                rhs: vec![c_out],
            });
        }
        if opts.stride.0 == 0 || opts.stride.1 == 0 || opts.dilation.0 == 0 || opts.dilation.1 == 0
        {
            return Err(TensorError::invalid(
                "conv2d",
                "stride and dilation must be at least 1",
            ));
        }
        let spec = Conv2dSpec {
            n,
            c_in,
            h,
            w,
            c_out,
            kh,
            kw,
            stride: opts.stride,
            padding: opts.padding,
            dilation: opts.dilation,
        };
        if spec.out_h() == 0 || spec.out_w() == 0 {
            return Err(TensorError::invalid(
                "conv2d",
                format!("a {kh}x{kw} kernel does not fit a {h}x{w} input with {opts:?}"),
            ));
        }
        let xs = self.dense_storage()?;
        let ws = weight.dense_storage()?;
        let bs = bias.map(|b| b.dense_storage()).transpose()?;
        let dev = self.device();
        let out = if relu {
            dev.conv2d_relu(&xs, &ws, bs.as_deref(), &spec)?
        } else {
            dev.conv2d(&xs, &ws, bs.as_deref(), &spec)?
        };
        // the ReLU's gradient needs the output (positive where the input was)
        let out = std::sync::Arc::new(out);
        let y = relu
            .then(|| Tensor::from_shared_storage(out.clone(), &spec.output_shape(), dev))
            .transpose()?;
        let (x, wt) = (self.detach(), weight.detach());
        let (tx, tw, tb) = (
            self.tracks_grad(),
            weight.tracks_grad(),
            bias.is_some_and(|b| b.tracks_grad()),
        );
        let mut inputs = vec![self, weight];
        if let Some(b) = bias {
            inputs.push(b);
        }
        Tensor::from_shared_op(
            out,
            &spec.output_shape(),
            self.device(),
            if relu { "conv2d_relu" } else { "conv2d" },
            &inputs,
            move |g| {
                let dev = g.device();
                let masked;
                let g = match &y {
                    Some(y) => {
                        masked = g.masked_scale(y, 1.0)?;
                        &masked
                    }
                    None => g,
                };
                let gs = g.dense_storage()?;
                let gx = if tx {
                    let ws = wt.dense_storage()?;
                    let s = dev.conv2d_backward_input(&gs, &ws, &spec)?;
                    Some(Tensor::from_storage(s, &spec.input_shape(), dev)?)
                } else {
                    None
                };
                let gw = if tw {
                    let xs = x.dense_storage()?;
                    let s = dev.conv2d_backward_weight(&xs, &gs, &spec)?;
                    Some(Tensor::from_storage(s, &spec.weight_shape(), dev)?)
                } else {
                    None
                };
                let mut grads = vec![gx, gw];
                if tb {
                    grads.push(Some(g.sum(&[0, 2, 3], false)?));
                }
                Ok(grads)
            },
        )
    }
}
