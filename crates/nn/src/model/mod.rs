//! Any CNN a user describes: an [`Architecture`] (the walkthrough's ConfigNet, a built-in
//! preset, or the layers of a model file), built into a [`Model`] for given images and
//! classes. The architecture is plain data, stored in weights files so that they rebuild
//! their own network.

mod build;
mod presets;
mod spec;

use kiln_tensor::{Backend, Tensor, no_grad};
use serde::{Deserialize, Serialize};

pub use build::{Shape, output_shape};
pub use presets::{BUILTIN_NAMES, builtin};
pub use spec::{LayerSpec, ModelFile};

use crate::layers::Sequential;
use crate::module::{visit_child, visit_child_mut};
use crate::{ConfigNet, ConfigNetConfig, Context, Module, NnError, Result, TensorKind};

/// What a network is, enough to rebuild it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Architecture {
    /// The walkthrough's `ConfigNet(c1, c2, l1, d1)`, with PyTorch's names `conv1.weight`...
    ConfigNet(ConfigNetConfig),
    /// Layers in order, numbered as `nn.Sequential` numbers them (`0.weight`,
    /// `4.body.0.weight`): a model file or a built-in preset.
    Layers {
        name: String,
        layers: Vec<LayerSpec>,
    },
}

impl Architecture {
    /// A short description for messages: "ConfigNet(48/96/256, d1 0.1, conv1 3x3)", "resnet9".
    pub fn describe(&self) -> String {
        match self {
            Architecture::ConfigNet(c) => format!(
                "ConfigNet({}/{}/{}, d1 {}, conv1 {}x{})",
                c.c1, c.c2, c.l1, c.d1, c.conv1_kernel, c.conv1_kernel
            ),
            Architecture::Layers { name, layers } => format!("{name} ({} layers)", layers.len()),
        }
    }
}

enum Net<B: Backend> {
    ConfigNet(Box<ConfigNet<B>>),
    Layers {
        seq: Sequential<B>,
        specs: Vec<LayerSpec>,
    },
}

/// A built network with what it was built for: its architecture (with the classes and
/// image size resolved), the image shape `[c, h, w]` it takes and the number of classes.
pub struct Model<B: Backend> {
    architecture: Architecture,
    input: [usize; 3],
    classes: usize,
    net: Net<B>,
}

impl<B: Backend> Model<B> {
    /// Builds `arch` for images `[c, h, w]` and `classes` classes, initialised from `seed`
    /// as PyTorch initialises each layer. Every mismatch (a layer that does not fit, a
    /// network that does not end in one output per class) is an error before any tensor
    /// is made.
    pub fn new(
        arch: &Architecture,
        input: [usize; 3],
        classes: usize,
        seed: u64,
        dev: &B,
    ) -> Result<Self> {
        let [c, h, w] = input;
        if classes == 0 || c == 0 || h == 0 || w == 0 {
            return Err(NnError::Config(format!(
                "a model needs at least one class and a non-empty image shape (got {classes} classes, images {input:?})"
            )));
        }
        let (architecture, net) = match arch {
            Architecture::ConfigNet(cfg) => {
                if c != 3 || h != w {
                    return Err(NnError::Config(format!(
                        "ConfigNet takes square RGB images, not {c}x{h}x{w}; describe another network in a model file"
                    )));
                }
                let cfg = ConfigNetConfig {
                    input_size: h,
                    classes,
                    ..*cfg
                };
                let net = Box::new(ConfigNet::new(cfg, seed, dev)?);
                (Architecture::ConfigNet(cfg), Net::ConfigNet(net))
            }
            Architecture::Layers { name, layers } => {
                let shape = Shape::Image { c, h, w };
                let specs = build::resolve(layers, shape, classes)?;
                let seq = build::build_sequential(&specs, shape, seed, dev)?;
                let arch = Architecture::Layers {
                    name: name.clone(),
                    layers: specs.clone(),
                };
                (arch, Net::Layers { seq, specs })
            }
        };
        Ok(Model {
            architecture,
            input,
            classes,
            net,
        })
    }

    /// The architecture, with the classes and image size it was built for.
    pub fn architecture(&self) -> &Architecture {
        &self.architecture
    }
    /// `[channels, height, width]` of the images it takes.
    pub fn input_shape(&self) -> [usize; 3] {
        self.input
    }
    pub fn classes(&self) -> usize {
        self.classes
    }
    /// The ConfigNet, when that is what this is.
    pub fn as_config_net(&self) -> Option<&ConfigNet<B>> {
        match &self.net {
            Net::ConfigNet(n) => Some(n),
            Net::Layers { .. } => None,
        }
    }

    /// The weights `[c_out, c_in, kh, kw]` of every convolution, by layer name (`conv1` ..
    /// for ConfigNet; the state-dict prefix such as `0` or `4.body.0` otherwise).
    pub fn conv_weights(&self) -> Vec<(String, Tensor<B>)> {
        let mut out = Vec::new();
        self.visit(&mut |name, t, kind| {
            if kind == TensorKind::Parameter
                && t.rank() == 4
                && let Some(layer) = name.strip_suffix(".weight")
            {
                out.push((layer.to_string(), t.clone()));
            }
        });
        out
    }

    /// Each convolution's activation for a batch `[n, c, h, w]` (evaluation mode): ConfigNet's
    /// after each conv's ReLU; otherwise after every top-level conv or residual block,
    /// taken after the batch norms and activations that directly follow it.
    pub fn feature_maps(&mut self, x: &Tensor<B>) -> Result<Vec<(String, Tensor<B>)>> {
        self.check_input(x)?;
        let mut ctx = Context::eval();
        no_grad(|| match &mut self.net {
            Net::ConfigNet(n) => Ok(n
                .forward_with_features(x, &mut ctx)?
                .1
                .into_iter()
                .map(|(name, t)| (name.to_string(), t))
                .collect()),
            Net::Layers { seq, specs } => {
                let mut out = Vec::new();
                let mut pending: Option<String> = None;
                let mut h = x.clone();
                for (i, (layer, spec)) in seq.layers_mut().iter_mut().zip(specs.iter()).enumerate()
                {
                    let follows =
                        spec.is_activation() || matches!(spec, LayerSpec::BatchNorm2d { .. });
                    if !follows && let Some(name) = pending.take() {
                        out.push((name, h.clone()));
                    }
                    h = layer.forward(&h, &mut ctx)?;
                    if matches!(spec, LayerSpec::Conv2d { .. } | LayerSpec::Residual { .. }) {
                        pending = Some(i.to_string());
                    }
                }
                if let Some(name) = pending {
                    out.push((name, h));
                }
                Ok(out)
            }
        })
    }

    fn check_input(&self, x: &Tensor<B>) -> Result<()> {
        let [c, h, w] = self.input;
        match *x.shape() {
            [_, xc, xh, xw] if (xc, xh, xw) == (c, h, w) => Ok(()),
            _ => Err(NnError::Config(format!(
                "{} takes images [batch, {c}, {h}, {w}], got {:?}",
                self.architecture.describe(),
                x.shape()
            ))),
        }
    }
}

impl<B: Backend> Module<B> for Model<B> {
    fn forward(&mut self, x: &Tensor<B>, ctx: &mut Context) -> Result<Tensor<B>> {
        self.check_input(x)?;
        match &mut self.net {
            Net::ConfigNet(n) => n.forward(x, ctx),
            Net::Layers { seq, .. } => seq.forward(x, ctx),
        }
    }
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B>, TensorKind)) {
        match &self.net {
            Net::ConfigNet(n) => visit_child("", n.as_ref(), f),
            Net::Layers { seq, .. } => visit_child("", seq, f),
        }
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B>, TensorKind)) {
        match &mut self.net {
            Net::ConfigNet(n) => visit_child_mut("", n.as_mut(), f),
            Net::Layers { seq, .. } => visit_child_mut("", seq, f),
        }
    }
}
