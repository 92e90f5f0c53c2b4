//! `ConfigNet(c1, c2, l1, d1)`, the CIFAR-10 walkthrough's network:
//! conv(3→c1, k) relu, conv(c1→c1, 3) relu, dropout d1, conv(c1→c2, 3) relu,
//! conv(c2→c2, 3, stride 2) relu, dropout d2, flatten, BatchNorm1d, relu, linear(→l1) relu,
//! linear(l1→10).

use kiln_tensor::{Backend, Conv2dSpec, Tensor};
use serde::{Deserialize, Serialize};

use crate::init::sub_seed;
use crate::layers::{BatchNorm, Conv2d, Conv2dConfig, Dropout, Linear};
use crate::{Context, Module, NnError, Result};

/// The hyperparameters of a [`ConfigNet`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConfigNetConfig {
    pub c1: usize,
    pub c2: usize,
    pub l1: usize,
    /// Dropout after the second conv.
    pub d1: f32,
    /// Dropout before the flatten (0.5 in the walkthrough).
    pub d2: f32,
    /// Kernel size of the first conv (3 or 5).
    pub conv1_kernel: usize,
    /// Side of the square input images.
    pub input_size: usize,
    pub classes: usize,
}

impl Default for ConfigNetConfig {
    fn default() -> Self {
        ConfigNetConfig {
            c1: 48,
            c2: 96,
            l1: 256,
            d1: 0.1,
            d2: 0.5,
            conv1_kernel: 3,
            input_size: 32,
            classes: 10,
        }
    }
}

impl ConfigNetConfig {
    /// The walkthrough's `ConfigNet(c1, c2, l1, d1)` with the other settings at their defaults.
    pub fn new(c1: usize, c2: usize, l1: usize, d1: f32) -> Self {
        ConfigNetConfig {
            c1,
            c2,
            l1,
            d1,
            ..Self::default()
        }
    }

    /// The four convolutions in order: the one description of the network's geometry that
    /// the model, the benches and the profiler all use.
    pub fn conv_layers(&self) -> [ConvLayer; 4] {
        let (c, k, s) = (self, self.conv1_kernel, self.input_size);
        let s1 = (s + 1).saturating_sub(k);
        let l = |name, c_in, c_out, kernel, stride, side| ConvLayer {
            name,
            c_in,
            c_out,
            kernel,
            stride,
            input_side: side,
        };
        [
            l("conv1", 3, c.c1, k, 1, s),
            l("conv2", c.c1, c.c1, 3, 1, s1),
            l("conv3", c.c1, c.c2, 3, 1, s1.saturating_sub(2)),
            l("conv4", c.c2, c.c2, 3, 2, s1.saturating_sub(4)),
        ]
    }

    /// The four convolutions' geometry at batch size `n`.
    pub fn conv_specs(&self, n: usize) -> [(&'static str, Conv2dSpec); 4] {
        self.conv_layers().map(|l| (l.name, l.spec(n)))
    }

    /// Floating-point operations of one image's forward pass (multiply-adds count two).
    pub fn forward_flops(&self) -> Result<f64> {
        let convs: f64 = self
            .conv_specs(1)
            .iter()
            .map(|(_, s)| s.forward_flops())
            .sum();
        let linear = 2.0 * (self.flat_features()? * self.l1 + self.l1 * self.classes) as f64;
        Ok(convs + linear)
    }

    /// Floating-point operations of one image's training step: the forward pass, and the
    /// backward pass's input and weight gradients (none for the images themselves).
    pub fn train_flops(&self) -> Result<f64> {
        Ok(3.0 * self.forward_flops()? - self.conv_specs(1)[0].1.forward_flops())
    }

    /// Side of the last conv's output (12 for a 3x3 first kernel on 32x32, 11 for 5x5).
    pub fn final_side(&self) -> Result<usize> {
        let s = self.input_size;
        let k = self.conv1_kernel;
        if k == 0 || s < k + 4 + 3 {
            return Err(NnError::Config(format!(
                "a {k}x{k} first kernel leaves nothing of a {s}x{s} input"
            )));
        }
        Ok(self.conv_specs(1)[3].1.out_h())
    }

    /// Size of the flattened features (`c2 · side²`).
    pub fn flat_features(&self) -> Result<usize> {
        Ok(self.c2 * self.final_side()?.pow(2))
    }

    fn validate(&self) -> Result<()> {
        if self.c1 == 0 || self.c2 == 0 || self.l1 == 0 || self.classes == 0 {
            return Err(NnError::Config(format!(
                "c1, c2, l1 and classes must be positive (got {}/{}/{}/{})",
                self.c1, self.c2, self.l1, self.classes
            )));
        }
        if !matches!(self.conv1_kernel, 1..=7) || self.conv1_kernel.is_multiple_of(2) {
            return Err(NnError::Config(format!(
                "the first conv's kernel must be odd and at most 7 (3 or 5 in the walkthrough), got {}",
                self.conv1_kernel
            )));
        }
        for (n, p) in [("d1", self.d1), ("d2", self.d2)] {
            if !(0.0..1.0).contains(&p) {
                return Err(NnError::Config(format!("{n} must be in [0, 1), got {p}")));
            }
        }
        self.final_side().map(|_| ())
    }
}

/// One convolution of a [`ConfigNet`]: square kernel, no padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvLayer {
    pub name: &'static str,
    pub c_in: usize,
    pub c_out: usize,
    pub kernel: usize,
    pub stride: usize,
    /// Side of the square input it sees.
    pub input_side: usize,
}

impl ConvLayer {
    /// The layer's geometry at batch size `n`.
    pub fn spec(&self, n: usize) -> Conv2dSpec {
        Conv2dSpec {
            n,
            c_in: self.c_in,
            h: self.input_side,
            w: self.input_side,
            c_out: self.c_out,
            kh: self.kernel,
            kw: self.kernel,
            stride: (self.stride, self.stride),
            padding: (0, 0),
            dilation: (1, 1),
        }
    }
}

/// The walkthrough's network, with PyTorch's state_dict names (`conv1.weight`, ...,
/// `batch_norm.running_mean`, `fc2.bias`).
#[derive(Module)]
pub struct ConfigNet<B: Backend> {
    pub conv1: Conv2d<B>,
    pub conv2: Conv2d<B>,
    pub conv3: Conv2d<B>,
    pub conv4: Conv2d<B>,
    pub dropout1: Dropout,
    pub dropout2: Dropout,
    pub batch_norm: BatchNorm<B>,
    pub fc1: Linear<B>,
    pub fc2: Linear<B>,
    #[module(skip)]
    pub config: ConfigNetConfig,
}

/// Each conv layer's activation (after its relu), by layer name.
pub type FeatureMaps<B> = Vec<(&'static str, Tensor<B>)>;

/// Names of the conv layers, in order.
pub const CONV_LAYERS: [&str; 4] = ["conv1", "conv2", "conv3", "conv4"];

impl<B: Backend> ConfigNet<B> {
    /// A freshly initialised network (PyTorch's default initialisation from `seed`).
    pub fn new(config: ConfigNetConfig, seed: u64, dev: &B) -> Result<Self> {
        config.validate()?;
        let c = config;
        let [l1, l2, l3, l4] = c.conv_layers();
        let conv = |l: ConvLayer, k: u64| {
            Conv2d::new(
                Conv2dConfig::new(l.c_in, l.c_out, l.kernel).stride(l.stride),
                sub_seed(seed, k),
                dev,
            )
        };
        Ok(ConfigNet {
            conv1: conv(l1, 1)?,
            conv2: conv(l2, 2)?,
            conv3: conv(l3, 3)?,
            conv4: conv(l4, 4)?,
            dropout1: Dropout::new(c.d1)?,
            dropout2: Dropout::new(c.d2)?,
            batch_norm: BatchNorm::new_1d(c.flat_features()?, dev)?,
            fc1: Linear::new(c.flat_features()?, c.l1, true, sub_seed(seed, 5), dev)?,
            fc2: Linear::new(c.l1, c.classes, true, sub_seed(seed, 6), dev)?,
            config,
        })
    }

    /// A conv layer by name (`conv1`..`conv4`).
    pub fn conv(&self, name: &str) -> Option<&Conv2d<B>> {
        match name {
            "conv1" => Some(&self.conv1),
            "conv2" => Some(&self.conv2),
            "conv3" => Some(&self.conv3),
            "conv4" => Some(&self.conv4),
            _ => None,
        }
    }

    /// The forward pass: logits `[batch, classes]` of images `[batch, 3, side, side]`.
    /// `Module::forward` (derived) calls it; private, so that callers keep using the trait.
    fn forward(&mut self, x: &Tensor<B>, ctx: &mut Context) -> Result<Tensor<B>> {
        let s = self.config.input_size;
        if x.rank() != 4 || x.shape()[1] != 3 || x.shape()[2] != s || x.shape()[3] != s {
            return Err(NnError::Config(format!(
                "ConfigNet expects images [batch, 3, {s}, {s}], got {:?}",
                x.shape()
            )));
        }
        Ok(self.forward_with_features(x, ctx)?.0)
    }

    /// The forward pass, also returning every conv layer's activation (after its relu).
    pub fn forward_with_features(
        &mut self,
        x: &Tensor<B>,
        ctx: &mut Context,
    ) -> Result<(Tensor<B>, FeatureMaps<B>)> {
        let mut feats = Vec::with_capacity(4);
        let h = self.conv1.forward_relu(x)?;
        feats.push(("conv1", h.clone()));
        let h = self.conv2.forward_relu(&h)?;
        feats.push(("conv2", h.clone()));
        let h = self.dropout1.forward(&h, ctx)?;
        let h = self.conv3.forward_relu(&h)?;
        feats.push(("conv3", h.clone()));
        let h = self.conv4.forward_relu(&h)?;
        feats.push(("conv4", h.clone()));
        let h = self.dropout2.forward(&h, ctx)?;
        let h = h.flatten_from(1)?;
        let h = self.batch_norm.forward(&h, ctx)?.relu()?;
        let h = self.fc1.forward(&h, ctx)?.relu()?;
        let logits = self.fc2.forward(&h, ctx)?;
        Ok((logits, feats))
    }
}
