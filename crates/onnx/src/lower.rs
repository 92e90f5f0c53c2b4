//! From a Kiln architecture to ONNX nodes: one node (or a few) per layer, named after the
//! layer's state-dict prefix (`conv1`, `4.body.0`), with the weights as initializers under
//! their state-dict names. Dropout is left out (an exported model only infers).

use std::collections::{BTreeMap, BTreeSet};

use kiln_nn::state_dict::HostTensor;
use kiln_nn::{ConfigNetConfig, LayerSpec, TensorKind};

use crate::error::{OnnxError, Result};
use crate::proto::{Attribute, Node, Tensor};
use crate::{INPUT, OUTPUT};

/// Nodes and initializers of a graph being built.
pub struct Lowering<'a> {
    weights: &'a BTreeMap<String, HostTensor>,
    used: BTreeSet<String>,
    pub nodes: Vec<Node>,
    pub initializers: Vec<Tensor>,
}

/// A convolution's geometry (square kernel, equal strides, padding and dilation).
struct ConvGeom {
    stride: usize,
    padding: usize,
    dilation: usize,
    bias: bool,
}

fn pair(v: usize) -> [i64; 2] {
    [v as i64; 2]
}

fn pads(p: usize) -> [i64; 4] {
    // [h_begin, w_begin, h_end, w_end]
    [p as i64; 4]
}

impl<'a> Lowering<'a> {
    pub fn new(weights: &'a BTreeMap<String, HostTensor>) -> Self {
        Lowering {
            weights,
            used: BTreeSet::new(),
            nodes: Vec::new(),
            initializers: Vec::new(),
        }
    }

    /// The walkthrough's ConfigNet; `bn_eps` is its batch norm's epsilon.
    pub fn config_net(&mut self, cfg: &ConfigNetConfig, bn_eps: f32) -> Result<String> {
        let mut x = INPUT.to_string();
        for l in cfg.conv_layers() {
            let geom = ConvGeom {
                stride: l.stride,
                padding: 0,
                dilation: 1,
                bias: true,
            };
            x = self.conv(l.name, &x, &geom)?;
            x = self.op("Relu", &format!("{}/relu", l.name), &[&x], vec![]);
        }
        x = self.op("Flatten", "flatten", &[&x], vec![Attribute::int("axis", 1)]);
        x = self.batch_norm("batch_norm", &x, bn_eps)?;
        x = self.op("Relu", "batch_norm/relu", &[&x], vec![]);
        x = self.linear("fc1", &x, true)?;
        x = self.op("Relu", "fc1/relu", &[&x], vec![]);
        self.linear("fc2", &x, true)
    }

    /// Layers numbered `prefix.0`, `prefix.1`, ... (`0`, `1`, ... at the top) applied to `x`.
    pub fn layers(&mut self, prefix: &str, specs: &[LayerSpec], x: &str) -> Result<String> {
        let mut x = x.to_string();
        for (i, spec) in specs.iter().enumerate() {
            let name = if prefix.is_empty() {
                i.to_string()
            } else {
                format!("{prefix}.{i}")
            };
            x = self.layer(&name, spec, &x)?;
        }
        Ok(x)
    }

    fn layer(&mut self, name: &str, spec: &LayerSpec, x: &str) -> Result<String> {
        Ok(match spec {
            LayerSpec::Conv2d {
                stride,
                padding,
                dilation,
                bias,
                ..
            } => {
                let geom = ConvGeom {
                    stride: *stride,
                    padding: *padding,
                    dilation: *dilation,
                    bias: *bias,
                };
                self.conv(name, x, &geom)?
            }
            LayerSpec::BatchNorm2d { eps, .. } | LayerSpec::BatchNorm1d { eps, .. } => {
                self.batch_norm(name, x, *eps)?
            }
            LayerSpec::ReLU => self.op("Relu", name, &[x], vec![]),
            LayerSpec::GELU => self.gelu(name, x),
            LayerSpec::MaxPool2d {
                kernel_size,
                stride,
                padding,
            } => {
                let attrs = pool_attrs(*kernel_size, *stride, *padding);
                self.op("MaxPool", name, &[x], attrs)
            }
            LayerSpec::AvgPool2d {
                kernel_size,
                stride,
                padding,
            } => {
                // PyTorch's default: the padding counts in every window's average.
                let mut attrs = pool_attrs(*kernel_size, *stride, *padding);
                attrs.push(Attribute::int("count_include_pad", 1));
                self.op("AveragePool", name, &[x], attrs)
            }
            LayerSpec::AdaptiveAvgPool2d { .. } => self.op("GlobalAveragePool", name, &[x], vec![]),
            LayerSpec::Dropout { .. } => x.to_string(),
            LayerSpec::Flatten => self.op("Flatten", name, &[x], vec![Attribute::int("axis", 1)]),
            LayerSpec::Linear { bias, .. } => self.linear(name, x, *bias)?,
            LayerSpec::Residual { body, shortcut } => {
                let y = self.layers(&format!("{name}.body"), body, x)?;
                let s = match shortcut {
                    Some(s) => self.layers(&format!("{name}.shortcut"), s, x)?,
                    None => x.to_string(),
                };
                self.op("Add", name, &[&y, &s], vec![])
            }
        })
    }

    /// Adds a node whose single output is named as the node; returns that name.
    fn op(
        &mut self,
        op_type: &'static str,
        name: &str,
        inputs: &[&str],
        attributes: Vec<Attribute>,
    ) -> String {
        self.nodes.push(Node {
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: vec![name.to_string()],
            name: name.to_string(),
            op_type,
            attributes,
        });
        name.to_string()
    }

    /// The model's tensor `name` as an initializer (once); returns its name and shape.
    fn weight(&mut self, name: &str) -> Result<(String, Vec<usize>)> {
        let t = self
            .weights
            .get(name)
            .ok_or_else(|| OnnxError::MissingWeight {
                name: name.to_string(),
            })?;
        if self.used.insert(name.to_string()) {
            if t.data.iter().any(|v| !v.is_finite()) {
                return Err(OnnxError::NonFiniteWeight {
                    name: name.to_string(),
                });
            }
            self.initializers.push(Tensor::f32(name, &t.shape, &t.data));
        }
        Ok((name.to_string(), t.shape.clone()))
    }

    /// A scalar constant, shared by every node that uses it.
    fn constant(&mut self, name: &str, value: f32) -> String {
        if self.used.insert(name.to_string()) {
            self.initializers.push(Tensor::f32(name, &[], &[value]));
        }
        name.to_string()
    }

    fn conv(&mut self, name: &str, x: &str, g: &ConvGeom) -> Result<String> {
        let (w, shape) = self.weight(&format!("{name}.weight"))?;
        let mut inputs = vec![x.to_string(), w];
        if g.bias {
            inputs.push(self.weight(&format!("{name}.bias"))?.0);
        }
        let kernel: Vec<i64> = shape[2..].iter().map(|&k| k as i64).collect();
        let attrs = vec![
            Attribute::ints("dilations", &pair(g.dilation)),
            Attribute::int("group", 1),
            Attribute::ints("kernel_shape", &kernel),
            Attribute::ints("pads", &pads(g.padding)),
            Attribute::ints("strides", &pair(g.stride)),
        ];
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        Ok(self.op("Conv", name, &inputs, attrs))
    }

    /// Inference batch norm on the running statistics.
    fn batch_norm(&mut self, name: &str, x: &str, eps: f32) -> Result<String> {
        let mut inputs = vec![x.to_string()];
        for t in ["weight", "bias", "running_mean", "running_var"] {
            inputs.push(self.weight(&format!("{name}.{t}"))?.0);
        }
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        Ok(self.op(
            "BatchNormalization",
            name,
            &inputs,
            vec![Attribute::float("epsilon", eps)],
        ))
    }

    /// `x Wᵀ + b`.
    fn linear(&mut self, name: &str, x: &str, bias: bool) -> Result<String> {
        let mut inputs = vec![x.to_string(), self.weight(&format!("{name}.weight"))?.0];
        if bias {
            inputs.push(self.weight(&format!("{name}.bias"))?.0);
        }
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let attrs = vec![
            Attribute::float("alpha", 1.0),
            Attribute::float("beta", 1.0),
            Attribute::int("transB", 1),
        ];
        Ok(self.op("Gemm", name, &inputs, attrs))
    }

    /// Exact GELU for opsets before 20: `0.5 · x · (1 + erf(x / √2))`.
    fn gelu(&mut self, name: &str, x: &str) -> String {
        let sqrt2 = self.constant("gelu.sqrt2", std::f32::consts::SQRT_2);
        let one = self.constant("gelu.one", 1.0);
        let half = self.constant("gelu.half", 0.5);
        let d = self.op("Div", &format!("{name}/div"), &[x, &sqrt2], vec![]);
        let e = self.op("Erf", &format!("{name}/erf"), &[&d], vec![]);
        let a = self.op("Add", &format!("{name}/add"), &[&e, &one], vec![]);
        let m = self.op("Mul", &format!("{name}/mul"), &[x, &a], vec![]);
        self.op("Mul", name, &[&m, &half], vec![])
    }

    /// Names `value` the graph's output, after checking that every weight went in.
    pub fn finish(&mut self, value: &str) -> Result<()> {
        let unused: Vec<String> = self
            .weights
            .iter()
            .filter(|(n, t)| t.kind != TensorKind::Counter && !self.used.contains(*n))
            .map(|(n, _)| n.clone())
            .collect();
        if !unused.is_empty() {
            return Err(OnnxError::UnusedWeights { names: unused });
        }
        if value == INPUT {
            self.op("Identity", OUTPUT, &[INPUT], vec![]);
            return Ok(());
        }
        for n in &mut self.nodes {
            for v in n.inputs.iter_mut().chain(n.outputs.iter_mut()) {
                if v == value {
                    *v = OUTPUT.to_string();
                }
            }
        }
        Ok(())
    }
}

fn pool_attrs(k: usize, stride: Option<usize>, padding: usize) -> Vec<Attribute> {
    vec![
        Attribute::ints("kernel_shape", &pair(k)),
        Attribute::ints("pads", &pads(padding)),
        Attribute::ints("strides", &pair(stride.unwrap_or(k))),
    ]
}
