//! The graph an export builds, its metadata, and the errors a caller can cause. Whether ONNX
//! Runtime computes what Kiln computes is checked in `tests/tests/onnx_export.rs`.

use kiln_nn::module::Module;
use kiln_nn::{Architecture, ConfigNetConfig, LayerSpec, Model, TensorKind, state_dict};
use kiln_tensor::Cpu;

use super::*;
use crate::proto::{AttrValue, Node};

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("class {i}")).collect()
}

fn config_net() -> Model<Cpu> {
    let arch = Architecture::ConfigNet(ConfigNetConfig::new(4, 8, 16, 0.1));
    Model::new(&arch, [3, 16, 16], 3, 1, &Cpu).unwrap()
}

fn conv(out: usize, k: usize, stride: usize, padding: usize, bias: bool) -> LayerSpec {
    LayerSpec::Conv2d {
        out_channels: out,
        kernel_size: k,
        stride,
        padding,
        dilation: 1,
        bias,
        in_channels: None,
    }
}

fn bn2d() -> LayerSpec {
    LayerSpec::BatchNorm2d {
        eps: 1e-3,
        momentum: 0.1,
    }
}

/// Every layer type once: conv, batch norms, relu, gelu, both pools, global pooling,
/// dropout, flatten, linear, and residuals with and without a shortcut.
fn every_layer() -> Vec<LayerSpec> {
    vec![
        conv(4, 3, 1, 1, true),
        bn2d(),
        LayerSpec::GELU,
        LayerSpec::MaxPool2d {
            kernel_size: 3,
            stride: Some(2),
            padding: 1,
        },
        LayerSpec::Residual {
            body: vec![conv(6, 3, 1, 1, false), bn2d(), LayerSpec::ReLU],
            shortcut: Some(vec![conv(6, 1, 1, 0, false)]),
        },
        LayerSpec::AvgPool2d {
            kernel_size: 3,
            stride: Some(2),
            padding: 1,
        },
        LayerSpec::Residual {
            body: vec![conv(6, 3, 1, 1, true), LayerSpec::Dropout { p: 0.3 }],
            shortcut: None,
        },
        LayerSpec::AdaptiveAvgPool2d { output_size: 1 },
        LayerSpec::Flatten,
        LayerSpec::Linear {
            out_features: Some(5),
            bias: false,
            in_features: None,
        },
        LayerSpec::BatchNorm1d {
            eps: 1e-5,
            momentum: 0.1,
        },
        LayerSpec::ReLU,
        LayerSpec::Dropout { p: 0.5 },
        LayerSpec::Linear {
            out_features: None,
            bias: true,
            in_features: None,
        },
    ]
}

fn layers_model() -> Model<Cpu> {
    let arch = Architecture::Layers {
        name: "every-layer".into(),
        layers: every_layer(),
    };
    Model::new(&arch, [2, 12, 10], 4, 2, &Cpu).unwrap()
}

fn ops(nodes: &[Node]) -> Vec<&str> {
    nodes.iter().map(|n| n.op_type).collect()
}

fn node<'a>(nodes: &'a [Node], name: &str) -> &'a Node {
    nodes.iter().find(|n| n.name == name).unwrap()
}

fn attr<'a>(n: &'a Node, name: &str) -> &'a AttrValue {
    &n.attributes.iter().find(|a| a.name == name).unwrap().value
}

/// Every parameter and buffer of the model (not the batch counters), by name.
fn weight_names(m: &Model<Cpu>) -> Vec<String> {
    let mut v: Vec<String> = state_dict::state_dict(m)
        .unwrap()
        .into_iter()
        .filter(|(_, t)| t.kind != TensorKind::Counter)
        .map(|(n, _)| n)
        .collect();
    v.sort();
    v
}

fn initializer_names(p: &proto::Model) -> Vec<String> {
    let mut v: Vec<String> = p
        .graph
        .initializers
        .iter()
        .map(|t| t.name.clone())
        .collect();
    v.sort();
    v
}

#[test]
fn a_config_net_becomes_the_walkthroughs_graph() {
    let m = config_net();
    let p = model_proto(&m, &ExportInfo::new(names(3))).unwrap();
    let g = &p.graph;
    assert_eq!(
        ops(&g.nodes),
        [
            "Conv",
            "Relu",
            "Conv",
            "Relu",
            "Conv",
            "Relu",
            "Conv",
            "Relu",
            "Flatten",
            "BatchNormalization",
            "Relu",
            "Gemm",
            "Relu",
            "Gemm"
        ]
    );
    assert_eq!(initializer_names(&p), weight_names(&m));
    assert_eq!(
        *attr(node(&g.nodes, "conv4"), "strides"),
        AttrValue::Ints(vec![2, 2])
    );
    assert_eq!(
        *attr(node(&g.nodes, "conv1"), "pads"),
        AttrValue::Ints(vec![0; 4])
    );
    let last = g.nodes.last().unwrap();
    assert_eq!(
        (last.name.as_str(), last.outputs[0].as_str()),
        ("fc2", OUTPUT)
    );
    assert_eq!(last.inputs[1..], ["fc2.weight", "fc2.bias"]);
    assert_eq!(g.nodes[0].inputs[0], INPUT);
    assert_eq!(
        (p.ir_version, p.opset_imports.clone()),
        (8, vec![(String::new(), 13)])
    );
}

#[test]
fn every_layer_type_has_its_nodes_and_dropout_none() {
    let m = layers_model();
    let p = model_proto(&m, &ExportInfo::new(names(4))).unwrap();
    let g = &p.graph;
    let gelu = ["Div", "Erf", "Add", "Mul", "Mul"];
    let mut want = vec!["Conv", "BatchNormalization"];
    want.extend(gelu);
    want.extend([
        "MaxPool",
        "Conv",
        "BatchNormalization",
        "Relu",
        "Conv",
        "Add",
        "AveragePool",
        "Conv",
        "Add",
        "GlobalAveragePool",
        "Flatten",
        "Gemm",
        "BatchNormalization",
        "Relu",
        "Gemm",
    ]);
    assert_eq!(ops(&g.nodes), want);
    // GELU's constants plus every weight, each once.
    let mut want_init = weight_names(&m);
    want_init.extend(["gelu.half", "gelu.one", "gelu.sqrt2"].map(String::from));
    want_init.sort();
    assert_eq!(initializer_names(&p), want_init);

    let add = node(&g.nodes, "4");
    assert_eq!(add.inputs, ["4.body.2", "4.shortcut.0"]);
    // The second residual's body ends in dropout: the conv's output goes straight to the Add.
    assert_eq!(node(&g.nodes, "6").inputs, ["6.body.0", "5"]);
    assert_eq!(
        node(&g.nodes, "4.body.0").inputs.len(),
        2,
        "conv without bias"
    );
    assert_eq!(
        *attr(node(&g.nodes, "1"), "epsilon"),
        AttrValue::Float(1e-3)
    );
    assert_eq!(
        *attr(node(&g.nodes, "5"), "count_include_pad"),
        AttrValue::Int(1)
    );
    assert_eq!(
        *attr(node(&g.nodes, "3"), "pads"),
        AttrValue::Ints(vec![1; 4])
    );
    assert_eq!(
        node(&g.nodes, "9").inputs,
        ["8", "9.weight"],
        "linear without bias"
    );
    // The last linear follows a dropout that was left out.
    assert_eq!(node(&g.nodes, "13").inputs[0], "11");
    assert_eq!(node(&g.nodes, "13").outputs, [OUTPUT]);
    let outputs: Vec<&String> = g.nodes.iter().flat_map(|n| &n.outputs).collect();
    let unique: std::collections::BTreeSet<_> = outputs.iter().collect();
    assert_eq!(unique.len(), outputs.len(), "every value has one producer");
}

#[test]
fn the_metadata_describes_input_classes_and_architecture() {
    let m = layers_model();
    let info = ExportInfo {
        class_names: vec!["a".into(), "b".into(), "c".into(), "d \"quoted\"".into()],
        mean: vec![0.25, 0.5],
        std: vec![0.5],
        producer: "kiln test".into(),
    };
    let p = model_proto(&m, &info).unwrap();
    let meta: std::collections::BTreeMap<_, _> = p.metadata.iter().cloned().collect();
    let norm: serde_json::Value = serde_json::from_str(&meta["normalization"]).unwrap();
    assert_eq!(norm["mean"], serde_json::json!([0.25, 0.5]));
    assert_eq!(
        norm["std"],
        serde_json::json!([0.5, 0.5]),
        "one std for every channel"
    );
    assert_eq!(norm["input"], "(x / 255 - mean) / std");
    let classes: Vec<String> = serde_json::from_str(&meta["class_names"]).unwrap();
    assert_eq!(classes, info.class_names);
    let arch: Architecture = serde_json::from_str(&meta["architecture"]).unwrap();
    assert_eq!(&arch, m.architecture());
    assert_eq!(meta["input_shape"], "[2,12,10]");
    assert_eq!(
        (meta["producer"].as_str(), p.producer_name.as_str()),
        ("kiln test", "kiln test")
    );
    let input = &p.graph.inputs[0];
    assert_eq!(input.name, INPUT);
    assert_eq!(
        input.dims,
        [
            proto::Dim::Param("batch".into()),
            proto::Dim::Value(2),
            proto::Dim::Value(12),
            proto::Dim::Value(10)
        ]
    );
    assert_eq!(
        p.graph.outputs[0].dims,
        [proto::Dim::Param("batch".into()), proto::Dim::Value(4)]
    );
}

#[test]
fn wrong_class_names_and_normalisation_are_refused() {
    let m = config_net();
    let err = export(&m, &ExportInfo::new(names(2))).unwrap_err();
    assert!(
        matches!(
            err,
            OnnxError::ClassNames {
                names: 2,
                classes: 3
            }
        ),
        "{err}"
    );
    let bad = |mean: Vec<f32>, std: Vec<f32>| {
        let info = ExportInfo {
            mean,
            std,
            ..ExportInfo::new(names(3))
        };
        export(&m, &info).unwrap_err()
    };
    let e = bad(vec![0.5, 0.5], vec![0.5]);
    assert!(
        matches!(
            e,
            OnnxError::NormalizationLength {
                what: "mean",
                got: 2,
                channels: 3
            }
        ),
        "{e}"
    );
    let e = bad(vec![0.5], vec![0.2, 0.0, 0.2]);
    assert!(
        matches!(
            e,
            OnnxError::InvalidNormalization {
                what: "std",
                channel: 1,
                ..
            }
        ),
        "{e}"
    );
    let e = bad(vec![f32::NAN], vec![0.5]);
    assert!(
        matches!(
            e,
            OnnxError::InvalidNormalization {
                what: "mean",
                channel: 0,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("NaN"), "{e}");
}

#[test]
fn a_diverged_model_is_refused() {
    let mut m = config_net();
    m.visit_mut(&mut |name, t, _| {
        if name == "fc1.bias" {
            *t = t.scale(f32::NAN).unwrap();
        }
    });
    let err = export(&m, &ExportInfo::new(names(3))).unwrap_err();
    assert!(
        matches!(&err, OnnxError::NonFiniteWeight { name } if name == "fc1.bias"),
        "{err}"
    );
}

#[test]
fn write_puts_the_exported_bytes_in_place() {
    let m = config_net();
    let info = ExportInfo::new(names(3));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/model.onnx");
    let n = write(&path, &m, &info).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), n);
    assert_eq!(bytes, export(&m, &info).unwrap());
    let left: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(left.len(), 1, "no temporary file is left: {left:?}");
}
