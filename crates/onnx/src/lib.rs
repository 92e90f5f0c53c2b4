//! kiln-onnx: a Kiln [`Model`] as an ONNX file, for ONNX Runtime, TensorRT, OpenCV and the
//! other runtimes that read ONNX.
//!
//! The file is ONNX IR version 8 with operator set 13 (the default domain), encoded here
//! without a protobuf library. Opset 13 because it is read almost everywhere (ONNX Runtime
//! from 1.6, TensorRT 8, OpenCV's DNN module, tract) and already has every operator a Kiln
//! network needs with the semantics it needs; a newer opset would only add a native `Gelu`
//! (opset 20), which many deployed runtimes do not read yet. GELU is therefore written
//! exactly, as `0.5 · x · (1 + Erf(x / √2))`.
//!
//! # The graph
//!
//! - input `input`: float32 `[batch, c, h, w]`, the normalised image
//!   `(x / 255 - mean) / std` per channel, `x` the 8-bit pixel value. `batch` is dynamic.
//! - output `logits`: float32 `[batch, classes]`, the class scores before a softmax.
//!
//! Layers become `Conv`, `BatchNormalization` (inference, on the running statistics),
//! `Relu`, `MaxPool`, `AveragePool` (`count_include_pad = 1`, as PyTorch), `GlobalAveragePool`,
//! `Flatten` (axis 1), `Gemm` (`transB = 1`) and `Add` (residual blocks); dropout is left
//! out. Nodes are named after the layers' state-dict prefixes (`conv1`, `4.body.0`) and the
//! weights keep their state-dict names (`conv1.weight`, `4.body.0.weight`).
//!
//! # Metadata (`metadata_props`)
//!
//! | key | value |
//! |---|---|
//! | `normalization` | JSON `{"input": "(x / 255 - mean) / std", "mean": [..], "std": [..], "layout": "NCHW"}`, one mean and std per channel |
//! | `class_names` | JSON array, in the order of the logits |
//! | `input_shape` | JSON `[c, h, w]` |
//! | `architecture` | JSON of the Kiln [`Architecture`], enough to rebuild the network |
//! | `producer` | [`ExportInfo::producer`] |
//!
//! ```
//! use kiln_nn::{Architecture, ConfigNetConfig, Model};
//! use kiln_tensor::Cpu;
//!
//! let arch = Architecture::ConfigNet(ConfigNetConfig::new(8, 16, 32, 0.1));
//! let model = Model::new(&arch, [3, 32, 32], 2, 0, &Cpu).unwrap();
//! let info = kiln_onnx::ExportInfo::new(vec!["cat".into(), "dog".into()]);
//! let bytes = kiln_onnx::export(&model, &info).unwrap();
//! assert_eq!(bytes[..2], [0x08, 0x08]); // ir_version 8
//! ```

mod error;
mod lower;
mod proto;

use std::path::Path;

use kiln_nn::{Architecture, Model, state_dict};
use kiln_tensor::Backend;

pub use error::{OnnxError, Result};

/// The ONNX IR version of the files (ONNX 1.10's).
pub const IR_VERSION: i64 = 8;
/// The operator set of the default domain the files use.
pub const OPSET: i64 = 13;
/// Name of the graph's input, the normalised images.
pub const INPUT: &str = "input";
/// Name of the graph's output, the class scores.
pub const OUTPUT: &str = "logits";

/// What the file says besides the network: how to prepare its input and name its output.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportInfo {
    /// One name per class, in the order of the logits.
    pub class_names: Vec<String>,
    /// Per-channel mean of `x / 255` subtracted from the input (one value means all channels).
    pub mean: Vec<f32>,
    /// Per-channel standard deviation the input is divided by (one value means all channels).
    pub std: Vec<f32>,
    /// Who made the file: `producer_name` and the `producer` metadata.
    pub producer: String,
}

impl ExportInfo {
    /// Kiln's normalisation (mean 0.5 and std 0.5 on `x / 255`: pixels to [-1, 1]), and
    /// `kiln` as the producer (the producer version is this crate's).
    pub fn new(class_names: Vec<String>) -> Self {
        ExportInfo {
            class_names,
            mean: vec![0.5],
            std: vec![0.5],
            producer: "kiln".to_string(),
        }
    }

    /// The means and stds, one per channel, after checking them.
    fn per_channel(&self, channels: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        let expand = |what: &'static str, v: &[f32], ok: fn(f32) -> bool| -> Result<Vec<f32>> {
            let v = match v.len() {
                1 => vec![v[0]; channels],
                n if n == channels => v.to_vec(),
                got => {
                    return Err(OnnxError::NormalizationLength {
                        what,
                        got,
                        channels,
                    });
                }
            };
            match v.iter().position(|&x| !ok(x)) {
                Some(channel) => Err(OnnxError::InvalidNormalization {
                    what,
                    channel,
                    value: v[channel],
                }),
                None => Ok(v),
            }
        };
        Ok((
            expand("mean", &self.mean, f32::is_finite)?,
            expand("std", &self.std, |s| s.is_finite() && s > 0.0)?,
        ))
    }
}

/// The ONNX file of `model` (evaluation mode: batch norm on its running statistics, no
/// dropout). See the crate documentation for the graph and its metadata.
pub fn export<B: Backend>(model: &Model<B>, info: &ExportInfo) -> Result<Vec<u8>> {
    Ok(model_proto(model, info)?.encode())
}

/// The ONNX model of `model`, before encoding.
fn model_proto<B: Backend>(model: &Model<B>, info: &ExportInfo) -> Result<proto::Model> {
    let classes = model.classes();
    if info.class_names.len() != classes {
        return Err(OnnxError::ClassNames {
            names: info.class_names.len(),
            classes,
        });
    }
    let [c, h, w] = model.input_shape();
    let (mean, std) = info.per_channel(c)?;
    let weights = state_dict::state_dict(model)?;
    let mut graph = lower::Lowering::new(&weights);
    let out = match model.architecture() {
        Architecture::ConfigNet(cfg) => {
            let eps = model.as_config_net().map_or(1e-5, |n| n.batch_norm.eps);
            graph.config_net(cfg, eps)?
        }
        Architecture::Layers { layers, .. } => graph.layers("", layers, INPUT)?,
    };
    graph.finish(&out)?;
    let bytes: usize = graph.initializers.iter().map(|t| t.raw.len()).sum();
    if bytes > i32::MAX as usize {
        return Err(OnnxError::TooLarge { bytes });
    }

    let json = |v: serde_json::Value| v.to_string();
    let architecture = serde_json::to_string(model.architecture())?;
    let metadata = vec![
        (
            "normalization".to_string(),
            json(serde_json::json!({
                "input": "(x / 255 - mean) / std",
                "mean": mean,
                "std": std,
                "layout": "NCHW",
            })),
        ),
        (
            "class_names".to_string(),
            json(serde_json::json!(info.class_names)),
        ),
        (
            "input_shape".to_string(),
            json(serde_json::json!([c, h, w])),
        ),
        ("architecture".to_string(), architecture),
        ("producer".to_string(), info.producer.clone()),
    ];
    let image = |d: usize| proto::Dim::Value(d as i64);
    let batch = || proto::Dim::Param("batch".to_string());
    Ok(proto::Model {
        ir_version: IR_VERSION,
        producer_name: info.producer.clone(),
        producer_version: env!("CARGO_PKG_VERSION").to_string(),
        doc_string: format!(
            "{}: images [batch, {c}, {h}, {w}] to {classes} class scores",
            model.architecture().describe()
        ),
        graph: proto::Graph {
            nodes: graph.nodes,
            name: model.architecture().describe(),
            initializers: graph.initializers,
            inputs: vec![proto::ValueInfo {
                name: INPUT.to_string(),
                dims: vec![batch(), image(c), image(h), image(w)],
                doc_string: "images, (x / 255 - mean) / std per channel for 8-bit pixels x \
                    (metadata `normalization`)"
                    .to_string(),
            }],
            outputs: vec![proto::ValueInfo {
                name: OUTPUT.to_string(),
                dims: vec![batch(), image(classes)],
                doc_string: "class scores before a softmax (metadata `class_names`)".to_string(),
            }],
        },
        opset_imports: vec![(String::new(), OPSET)],
        metadata,
    })
}

/// Writes the ONNX file of `model` to `path` (through a temporary file, renamed into place);
/// returns its size in bytes.
pub fn write<B: Backend>(path: &Path, model: &Model<B>, info: &ExportInfo) -> Result<usize> {
    let bytes = export(model, info)?;
    state_dict::write_atomic(path, &bytes)?;
    Ok(bytes.len())
}

#[cfg(test)]
mod tests;
