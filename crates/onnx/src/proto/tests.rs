//! Encodings compared byte for byte with the `onnx` Python package's (onnx 1.23), printed by
//! `scripts/fixtures/onnx_vectors.py`.

use super::wire::Encoder;
use super::*;

// helper.make_attribute("pads", [1, 0, 300, 1])
const ATTR_INTS: &[u8] = &[
    10, 4, 112, 97, 100, 115, 64, 1, 64, 0, 64, 172, 2, 64, 1, 160, 1, 7,
];
// helper.make_attribute("axis", -1)
const ATTR_INT_NEG: &[u8] = &[
    10, 4, 97, 120, 105, 115, 24, 255, 255, 255, 255, 255, 255, 255, 255, 255, 1, 160, 1, 2,
];
// helper.make_attribute("epsilon", 1e-5)
const ATTR_FLOAT: &[u8] = &[
    10, 7, 101, 112, 115, 105, 108, 111, 110, 21, 172, 197, 39, 55, 160, 1, 1,
];
// helper.make_node("Conv", ["x", "w", "b"], ["y"], name="0", kernel_shape=[3, 3], strides=[2, 2])
const NODE_CONV: &[u8] = &[
    10, 1, 120, 10, 1, 119, 10, 1, 98, 18, 1, 121, 26, 1, 48, 34, 4, 67, 111, 110, 118, 42, 21, 10,
    12, 107, 101, 114, 110, 101, 108, 95, 115, 104, 97, 112, 101, 64, 3, 64, 3, 160, 1, 7, 42, 16,
    10, 7, 115, 116, 114, 105, 100, 101, 115, 64, 2, 64, 2, 160, 1, 7,
];
// helper.make_tensor("fc.weight", FLOAT, [2, 3], <6f 1, -2.5, 0, 3.25, 1e-3, -7>, raw=True)
const TENSOR_RAW: &[u8] = &[
    8, 2, 8, 3, 16, 1, 66, 9, 102, 99, 46, 119, 101, 105, 103, 104, 116, 74, 24, 0, 0, 128, 63, 0,
    0, 32, 192, 0, 0, 0, 0, 0, 0, 80, 64, 111, 18, 131, 58, 0, 0, 224, 192,
];
// helper.make_tensor("half", FLOAT, [], <f 0.5>, raw=True)
const TENSOR_SCALAR: &[u8] = &[16, 1, 66, 4, 104, 97, 108, 102, 74, 4, 0, 0, 0, 63];
// helper.make_tensor_value_info("input", FLOAT, ["batch", 3, 32, 32], doc_string="x")
const VALUE_INFO: &[u8] = &[
    10, 5, 105, 110, 112, 117, 116, 18, 27, 10, 25, 8, 1, 18, 21, 10, 7, 18, 5, 98, 97, 116, 99,
    104, 10, 2, 8, 3, 10, 2, 8, 32, 10, 2, 8, 32, 26, 1, 120,
];
// Gemm(transB=1) then Relu, ir_version 8, opset 13, producer kiln 0.1.0, one metadata entry.
const MODEL_TINY: &[u8] = &[
    8, 8, 18, 4, 107, 105, 108, 110, 26, 5, 48, 46, 49, 46, 48, 58, 149, 1, 10, 37, 10, 5, 105,
    110, 112, 117, 116, 10, 1, 119, 18, 1, 104, 26, 1, 48, 34, 4, 71, 101, 109, 109, 42, 13, 10, 6,
    116, 114, 97, 110, 115, 66, 24, 1, 160, 1, 2, 10, 20, 10, 1, 104, 18, 6, 108, 111, 103, 105,
    116, 115, 26, 1, 49, 34, 4, 82, 101, 108, 117, 18, 4, 116, 105, 110, 121, 42, 19, 8, 1, 8, 2,
    16, 1, 66, 1, 119, 74, 8, 0, 0, 0, 63, 0, 0, 128, 191, 90, 28, 10, 5, 105, 110, 112, 117, 116,
    18, 19, 10, 17, 8, 1, 18, 13, 10, 7, 18, 5, 98, 97, 116, 99, 104, 10, 2, 8, 2, 98, 29, 10, 6,
    108, 111, 103, 105, 116, 115, 18, 19, 10, 17, 8, 1, 18, 13, 10, 7, 18, 5, 98, 97, 116, 99, 104,
    10, 2, 8, 1, 66, 4, 10, 0, 16, 13, 114, 16, 10, 7, 99, 108, 97, 115, 115, 101, 115, 18, 5, 91,
    34, 97, 34, 93,
];

fn bytes(f: impl FnOnce(&mut Encoder)) -> Vec<u8> {
    let mut e = Encoder::new();
    f(&mut e);
    e.finish()
}

fn node(
    op: &'static str,
    inputs: &[&str],
    output: &str,
    name: &str,
    attrs: Vec<Attribute>,
) -> Node {
    Node {
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        outputs: vec![output.to_string()],
        name: name.to_string(),
        op_type: op,
        attributes: attrs,
    }
}

fn batch_of(name: &str, rest: &[i64], doc: &str) -> ValueInfo {
    let mut dims = vec![Dim::Param("batch".into())];
    dims.extend(rest.iter().map(|&d| Dim::Value(d)));
    ValueInfo {
        name: name.into(),
        dims,
        doc_string: doc.into(),
    }
}

#[test]
fn attributes_match_onnx() {
    assert_eq!(
        bytes(|e| Attribute::ints("pads", &[1, 0, 300, 1]).encode(e)),
        ATTR_INTS
    );
    assert_eq!(
        bytes(|e| Attribute::int("axis", -1).encode(e)),
        ATTR_INT_NEG
    );
    assert_eq!(
        bytes(|e| Attribute::float("epsilon", 1e-5).encode(e)),
        ATTR_FLOAT
    );
}

#[test]
fn a_node_matches_onnx() {
    let n = node(
        "Conv",
        &["x", "w", "b"],
        "y",
        "0",
        vec![
            Attribute::ints("kernel_shape", &[3, 3]),
            Attribute::ints("strides", &[2, 2]),
        ],
    );
    assert_eq!(bytes(|e| n.encode(e)), NODE_CONV);
}

#[test]
fn tensors_match_onnx() {
    let t = Tensor::f32("fc.weight", &[2, 3], &[1.0, -2.5, 0.0, 3.25, 1e-3, -7.0]);
    assert_eq!(bytes(|e| t.encode(e)), TENSOR_RAW);
    let s = Tensor::f32("half", &[], &[0.5]);
    assert_eq!(bytes(|e| s.encode(e)), TENSOR_SCALAR);
}

#[test]
fn a_value_info_with_a_dynamic_batch_matches_onnx() {
    let v = batch_of("input", &[3, 32, 32], "x");
    assert_eq!(bytes(|e| v.encode(e)), VALUE_INFO);
}

#[test]
fn a_whole_model_matches_onnx() {
    let model = Model {
        ir_version: 8,
        producer_name: "kiln".into(),
        producer_version: "0.1.0".into(),
        doc_string: String::new(),
        graph: Graph {
            nodes: vec![
                node(
                    "Gemm",
                    &["input", "w"],
                    "h",
                    "0",
                    vec![Attribute::int("transB", 1)],
                ),
                node("Relu", &["h"], "logits", "1", vec![]),
            ],
            name: "tiny".into(),
            initializers: vec![Tensor::f32("w", &[1, 2], &[0.5, -1.0])],
            inputs: vec![batch_of("input", &[2], "")],
            outputs: vec![batch_of("logits", &[1], "")],
        },
        opset_imports: vec![(String::new(), 13)],
        metadata: vec![("classes".into(), r#"["a"]"#.into())],
    };
    assert_eq!(model.encode(), MODEL_TINY);
}
