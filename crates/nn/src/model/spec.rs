//! A network described as data: the layers of a model file (TOML or JSON), with PyTorch's
//! layer names and arguments. Input channels and sizes are inferred when the model is built;
//! the last linear layer may leave `out_features` out to get one output per class.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{NnError, Result};

fn one() -> usize {
    1
}
fn yes() -> bool {
    true
}
fn bn_eps() -> f32 {
    1e-5
}
fn bn_momentum() -> f32 {
    0.1
}
fn half() -> f32 {
    0.5
}

/// One layer, named and parametrised as its PyTorch module (`type = "conv2d"` is
/// `nn.Conv2d`, ...). Unknown fields are errors, so a misspelt argument never goes unnoticed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum LayerSpec {
    /// `nn.Conv2d` (square kernel); `in_channels` is inferred and, when given, checked.
    Conv2d {
        out_channels: usize,
        kernel_size: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default)]
        padding: usize,
        #[serde(default = "one")]
        dilation: usize,
        #[serde(default = "yes")]
        bias: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        in_channels: Option<usize>,
    },
    /// `nn.BatchNorm2d` over the channels of `[n, c, h, w]`.
    BatchNorm2d {
        #[serde(default = "bn_eps")]
        eps: f32,
        #[serde(default = "bn_momentum")]
        momentum: f32,
    },
    /// `nn.BatchNorm1d` over the features of `[n, f]`.
    BatchNorm1d {
        #[serde(default = "bn_eps")]
        eps: f32,
        #[serde(default = "bn_momentum")]
        momentum: f32,
    },
    /// `nn.ReLU()`.
    ReLU,
    /// `nn.GELU()` (exact).
    GELU,
    /// `nn.MaxPool2d(kernel_size, stride = kernel_size, padding)`.
    MaxPool2d {
        kernel_size: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stride: Option<usize>,
        #[serde(default)]
        padding: usize,
    },
    /// `nn.AvgPool2d(kernel_size, stride = kernel_size, padding)`.
    AvgPool2d {
        kernel_size: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stride: Option<usize>,
        #[serde(default)]
        padding: usize,
    },
    /// Global average pooling, `nn.AdaptiveAvgPool2d(1)` (`[n, c, h, w]` to `[n, c, 1, 1]`).
    #[serde(alias = "globalavgpool2d", alias = "global_avg_pool")]
    AdaptiveAvgPool2d {
        #[serde(default = "one")]
        output_size: usize,
    },
    /// `nn.Dropout(p)` (active in training only).
    Dropout {
        #[serde(default = "half")]
        p: f32,
    },
    /// `nn.Flatten()`.
    Flatten,
    /// `nn.Linear`; `in_features` is inferred (and checked when given); `out_features` may be
    /// left out on the last layer to mean "one per class".
    Linear {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        out_features: Option<usize>,
        #[serde(default = "yes")]
        bias: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        in_features: Option<usize>,
    },
    /// `body(x) + x`, or `body(x) + shortcut(x)` when the body changes the shape.
    Residual {
        body: Vec<LayerSpec>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shortcut: Option<Vec<LayerSpec>>,
    },
}

impl LayerSpec {
    /// The PyTorch type name, for messages ("conv2d", "residual").
    pub fn type_name(&self) -> &'static str {
        match self {
            LayerSpec::Conv2d { .. } => "conv2d",
            LayerSpec::BatchNorm2d { .. } => "batchnorm2d",
            LayerSpec::BatchNorm1d { .. } => "batchnorm1d",
            LayerSpec::ReLU => "relu",
            LayerSpec::GELU => "gelu",
            LayerSpec::MaxPool2d { .. } => "maxpool2d",
            LayerSpec::AvgPool2d { .. } => "avgpool2d",
            LayerSpec::AdaptiveAvgPool2d { .. } => "adaptiveavgpool2d",
            LayerSpec::Dropout { .. } => "dropout",
            LayerSpec::Flatten => "flatten",
            LayerSpec::Linear { .. } => "linear",
            LayerSpec::Residual { .. } => "residual",
        }
    }

    /// Whether the layer is an activation function (feature maps are taken after them).
    pub fn is_activation(&self) -> bool {
        matches!(self, LayerSpec::ReLU | LayerSpec::GELU)
    }
}

/// A model file: `[[layer]]` tables in order (TOML), or `{"layer": [...]}` (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// A name for messages and reports (default: the file's stem).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "layer")]
    pub layers: Vec<LayerSpec>,
}

impl ModelFile {
    /// Reads a model file: JSON when the name ends in `.json`, TOML otherwise.
    pub fn read(path: &Path) -> Result<ModelFile> {
        let text = std::fs::read_to_string(path).map_err(|source| NnError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |reason: String| NnError::ModelFile {
            path: path.to_path_buf(),
            reason,
        };
        let mut file: ModelFile = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?
        } else {
            toml::from_str(&text).map_err(|e| bad(e.to_string()))?
        };
        if file.layers.is_empty() {
            return Err(bad("it has no layers (add [[layer]] tables)".into()));
        }
        if file.name.is_none() {
            file.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        }
        Ok(file)
    }
}
