//! `Conv2d`: PyTorch's `nn.Conv2d` (weight `[out, in, kh, kw]`, optional bias).

use kiln_tensor::{Backend, Conv2dOptions, Tensor};

use crate::init::{bias_uniform, kaiming_uniform, sub_seed};
use crate::{Context, Module, Result, TensorKind};

/// Construction options of a [`Conv2d`] (square kernel, stride, padding, dilation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
    pub bias: bool,
}

impl Conv2dConfig {
    /// A stride-1, unpadded convolution with bias.
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize) -> Self {
        Conv2dConfig {
            in_channels,
            out_channels,
            kernel,
            stride: 1,
            padding: 0,
            dilation: 1,
            bias: true,
        }
    }
    pub fn stride(mut self, s: usize) -> Self {
        self.stride = s;
        self
    }
    pub fn padding(mut self, p: usize) -> Self {
        self.padding = p;
        self
    }
    pub fn dilation(mut self, d: usize) -> Self {
        self.dilation = d;
        self
    }
    pub fn bias(mut self, b: bool) -> Self {
        self.bias = b;
        self
    }
}

/// A 2-D convolution layer.
pub struct Conv2d<B: Backend> {
    pub weight: Tensor<B>,
    pub bias: Option<Tensor<B>>,
    pub config: Conv2dConfig,
}

impl<B: Backend> Conv2d<B> {
    /// PyTorch's default initialisation from `seed`.
    pub fn new(config: Conv2dConfig, seed: u64, dev: &B) -> Result<Self> {
        let c = config;
        let fan_in = c.in_channels * c.kernel * c.kernel;
        let weight = kaiming_uniform(
            &[c.out_channels, c.in_channels, c.kernel, c.kernel],
            fan_in,
            sub_seed(seed, 0),
            dev,
        )?
        .set_requires_grad(true);
        let bias = if c.bias {
            Some(
                bias_uniform(c.out_channels, fan_in, sub_seed(seed, 1), dev)?
                    .set_requires_grad(true),
            )
        } else {
            None
        };
        Ok(Conv2d {
            weight,
            bias,
            config,
        })
    }

    /// `relu(self.forward(x))` as one fused op (see `Tensor::conv2d_relu`).
    pub fn forward_relu(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        Ok(x.conv2d_relu(&self.weight, self.bias.as_ref(), self.options())?)
    }

    fn options(&self) -> Conv2dOptions {
        let c = self.config;
        Conv2dOptions {
            stride: (c.stride, c.stride),
            padding: (c.padding, c.padding),
            dilation: (c.dilation, c.dilation),
        }
    }
}

impl<B: Backend> Module<B> for Conv2d<B> {
    fn forward(&mut self, x: &Tensor<B>, _ctx: &mut Context) -> Result<Tensor<B>> {
        Ok(x.conv2d(&self.weight, self.bias.as_ref(), self.options())?)
    }
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B>, TensorKind)) {
        f("weight", &self.weight, TensorKind::Parameter);
        if let Some(b) = &self.bias {
            f("bias", b, TensorKind::Parameter);
        }
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B>, TensorKind)) {
        f("weight", &mut self.weight, TensorKind::Parameter);
        if let Some(b) = &mut self.bias {
            f("bias", b, TensorKind::Parameter);
        }
    }
}
