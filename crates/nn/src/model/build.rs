//! From layer specs to a network: each layer's input shape is inferred from the one before, every
//! mismatch is an error naming the layer (by its state-dict prefix) before any tensor exists,
//! and the layers are numbered as PyTorch's `nn.Sequential` numbers them.

use kiln_tensor::{Backend, Pool2dOptions, out_size};

use crate::init::sub_seed;
use crate::layers::{
    AvgPool2d, BatchNorm, Conv2d, Conv2dConfig, Dropout, Flatten, GELU, GlobalAvgPool2d, Linear,
    MaxPool2d, ReLU, Residual, Sequential,
};
use crate::model::LayerSpec;
use crate::{Module, NnError, Result};

/// The shape of one example between layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `[channels, height, width]`.
    Image { c: usize, h: usize, w: usize },
    /// `[features]`.
    Flat(usize),
}

impl Shape {
    /// The per-example dimensions, as a tensor shape would list them after the batch.
    pub fn dims(&self) -> Vec<usize> {
        match *self {
            Shape::Image { c, h, w } => vec![c, h, w],
            Shape::Flat(f) => vec![f],
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Image { c, h, w } => write!(f, "[{c}, {h}, {w}]"),
            Shape::Flat(n) => write!(f, "[{n}]"),
        }
    }
}

/// What a layer needs from its input, and what it makes of it.
fn layer_err(prefix: &str, spec: &LayerSpec, reason: String) -> NnError {
    NnError::Layer {
        layer: prefix.to_string(),
        kind: spec.type_name(),
        reason,
    }
}

fn image(prefix: &str, spec: &LayerSpec, s: Shape) -> Result<(usize, usize, usize)> {
    match s {
        Shape::Image { c, h, w } => Ok((c, h, w)),
        Shape::Flat(f) => Err(layer_err(
            prefix,
            spec,
            format!("needs images [c, h, w] but gets {f} flat features (is it after a flatten?)"),
        )),
    }
}

/// A window's output side, or an error when it does not fit.
fn side(
    prefix: &str,
    spec: &LayerSpec,
    size: usize,
    (k, stride, pad, dil): (usize, usize, usize, usize),
) -> Result<usize> {
    if k == 0 || stride == 0 || dil == 0 {
        return Err(layer_err(
            prefix,
            spec,
            "kernel size, stride and dilation must be at least 1".into(),
        ));
    }
    match out_size(size, k, stride, pad, dil) {
        0 => Err(layer_err(
            prefix,
            spec,
            format!(
                "a {k}x{k} window (padding {pad}, dilation {dil}) does not fit a {size}x{size} input"
            ),
        )),
        n => Ok(n),
    }
}

/// The output shape of `spec` on `input`, checking that the layer fits.
pub fn output_shape(prefix: &str, spec: &LayerSpec, input: Shape) -> Result<Shape> {
    let bad = |reason: String| layer_err(prefix, spec, reason);
    Ok(match spec {
        LayerSpec::Conv2d {
            out_channels,
            kernel_size: k,
            stride,
            padding,
            dilation,
            in_channels,
            ..
        } => {
            let (c, h, w) = image(prefix, spec, input)?;
            if let Some(ci) = in_channels
                && *ci != c
            {
                return Err(bad(format!(
                    "in_channels = {ci} but its input has {c} channels"
                )));
            }
            if *out_channels == 0 {
                return Err(bad("out_channels must be at least 1".into()));
            }
            let geom = (*k, *stride, *padding, *dilation);
            Shape::Image {
                c: *out_channels,
                h: side(prefix, spec, h, geom)?,
                w: side(prefix, spec, w, geom)?,
            }
        }
        LayerSpec::BatchNorm2d { .. } => {
            image(prefix, spec, input)?;
            input
        }
        LayerSpec::BatchNorm1d { .. } => match input {
            Shape::Flat(_) => input,
            Shape::Image { .. } => {
                return Err(bad(format!(
                    "needs flat features but gets images {input} (add a flatten before it, or use batchnorm2d)"
                )));
            }
        },
        LayerSpec::ReLU | LayerSpec::GELU => input,
        LayerSpec::Dropout { p } => {
            if !(0.0..1.0).contains(p) {
                return Err(bad(format!("p must be in [0, 1), got {p}")));
            }
            input
        }
        LayerSpec::MaxPool2d {
            kernel_size: k,
            stride,
            padding,
        }
        | LayerSpec::AvgPool2d {
            kernel_size: k,
            stride,
            padding,
        } => {
            let (c, h, w) = image(prefix, spec, input)?;
            if 2 * padding > *k {
                return Err(bad(format!(
                    "padding {padding} must be at most half the kernel size {k}"
                )));
            }
            let geom = (*k, stride.unwrap_or(*k), *padding, 1);
            Shape::Image {
                c,
                h: side(prefix, spec, h, geom)?,
                w: side(prefix, spec, w, geom)?,
            }
        }
        LayerSpec::AdaptiveAvgPool2d { output_size } => {
            let (c, _, _) = image(prefix, spec, input)?;
            if *output_size != 1 {
                return Err(bad(format!(
                    "only output_size = 1 (global average pooling) is supported, got {output_size}"
                )));
            }
            Shape::Image { c, h: 1, w: 1 }
        }
        LayerSpec::Flatten => Shape::Flat(input.dims().iter().product()),
        LayerSpec::Linear {
            out_features,
            in_features,
            ..
        } => {
            let f = match input {
                Shape::Flat(f) => f,
                Shape::Image { .. } => {
                    return Err(bad(format!(
                        "needs flat features but gets images {input} (add a flatten before it)"
                    )));
                }
            };
            if let Some(fi) = in_features
                && *fi != f
            {
                return Err(bad(format!("in_features = {fi} but its input has {f}")));
            }
            match out_features {
                Some(0) => return Err(bad("out_features must be at least 1".into())),
                Some(o) => Shape::Flat(*o),
                None => {
                    return Err(bad(
                        "out_features is left out, which only the last layer may do".into(),
                    ));
                }
            }
        }
        LayerSpec::Residual { body, shortcut } => {
            let out = chain_shape(&format!("{prefix}.body"), body, input)?;
            let other = match shortcut {
                Some(s) => chain_shape(&format!("{prefix}.shortcut"), s, input)?,
                None => input,
            };
            if out != other {
                return Err(bad(match shortcut {
                    None => format!(
                        "its body maps {input} to {out}, but a residual adds its input back, so \
                         the shapes must agree (or give it a shortcut that maps {input} to {out})"
                    ),
                    Some(_) => format!("its body gives {out} but its shortcut gives {other}"),
                }));
            }
            out
        }
    })
}

/// The output shape of a chain of layers numbered `prefix.0`, `prefix.1`, ...
fn chain_shape(prefix: &str, layers: &[LayerSpec], input: Shape) -> Result<Shape> {
    layers
        .iter()
        .enumerate()
        .try_fold(input, |s, (i, l)| output_shape(&join(prefix, i), l, s))
}

fn join(prefix: &str, i: usize) -> String {
    if prefix.is_empty() {
        i.to_string()
    } else {
        format!("{prefix}.{i}")
    }
}

/// The layers with the last linear's missing `out_features` set to `classes`, after checking
/// that the network ends in one output per class.
pub fn resolve(layers: &[LayerSpec], input: Shape, classes: usize) -> Result<Vec<LayerSpec>> {
    let mut layers = layers.to_vec();
    if let Some(LayerSpec::Linear { out_features, .. }) = layers.last_mut()
        && out_features.is_none()
    {
        *out_features = Some(classes);
    }
    let out = chain_shape("", &layers, input)?;
    if out != Shape::Flat(classes) {
        let last = layers.len().saturating_sub(1);
        return Err(NnError::Layer {
            layer: last.to_string(),
            kind: layers.last().map_or("none", |l| l.type_name()),
            reason: format!(
                "the network ends with {out} per image, but the data has {classes} classes: end \
                 it with a linear layer (leave out its out_features to get one per class)"
            ),
        });
    }
    Ok(layers)
}

/// Builds resolved layers (see [`resolve`]) on `input`, initialised as PyTorch initialises
/// them, layer `i` from `sub_seed(seed, i)`.
pub fn build_sequential<B: Backend>(
    layers: &[LayerSpec],
    input: Shape,
    seed: u64,
    dev: &B,
) -> Result<Sequential<B>> {
    let mut seq = Sequential::new();
    let mut shape = input;
    for (i, spec) in layers.iter().enumerate() {
        let layer_seed = sub_seed(seed, 1000 + i as u64);
        seq.push_boxed(build_layer(&i.to_string(), spec, shape, layer_seed, dev)?);
        shape = output_shape(&i.to_string(), spec, shape)?;
    }
    Ok(seq)
}

fn build_layer<B: Backend>(
    prefix: &str,
    spec: &LayerSpec,
    input: Shape,
    seed: u64,
    dev: &B,
) -> Result<Box<dyn Module<B>>> {
    let channels = input.dims()[0];
    Ok(match spec {
        LayerSpec::Conv2d {
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            bias,
            ..
        } => {
            let cfg = Conv2dConfig::new(channels, *out_channels, *kernel_size)
                .stride(*stride)
                .padding(*padding)
                .dilation(*dilation)
                .bias(*bias);
            Box::new(Conv2d::new(cfg, seed, dev)?)
        }
        LayerSpec::BatchNorm2d { eps, momentum } | LayerSpec::BatchNorm1d { eps, momentum } => {
            let mut bn = if matches!(spec, LayerSpec::BatchNorm2d { .. }) {
                BatchNorm::new_2d(channels, dev)?
            } else {
                BatchNorm::new_1d(channels, dev)?
            };
            bn.eps = *eps;
            bn.momentum = *momentum;
            Box::new(bn)
        }
        LayerSpec::ReLU => Box::new(ReLU),
        LayerSpec::GELU => Box::new(GELU),
        LayerSpec::MaxPool2d {
            kernel_size: k,
            stride,
            padding,
        } => Box::new(MaxPool2d(pool_options(*k, *stride, *padding))),
        LayerSpec::AvgPool2d {
            kernel_size: k,
            stride,
            padding,
        } => Box::new(AvgPool2d(pool_options(*k, *stride, *padding))),
        LayerSpec::AdaptiveAvgPool2d { .. } => Box::new(GlobalAvgPool2d),
        LayerSpec::Dropout { p } => Box::new(Dropout::new(*p)?),
        LayerSpec::Flatten => Box::new(Flatten),
        LayerSpec::Linear {
            out_features, bias, ..
        } => {
            let out = out_features
                .ok_or_else(|| layer_err(prefix, spec, "out_features was not resolved".into()))?;
            Box::new(Linear::new(channels, out, *bias, seed, dev)?)
        }
        LayerSpec::Residual { body, shortcut } => {
            let body_seq = build_sequential(body, input, sub_seed(seed, 1), dev)?;
            let shortcut = match shortcut {
                Some(s) => Some(build_sequential(s, input, sub_seed(seed, 2), dev)?),
                None => None,
            };
            Box::new(Residual {
                body: body_seq,
                shortcut,
            })
        }
    })
}

fn pool_options(k: usize, stride: Option<usize>, padding: usize) -> Pool2dOptions {
    let s = stride.unwrap_or(k);
    Pool2dOptions {
        kernel: (k, k),
        stride: (s, s),
        padding: (padding, padding),
    }
}
