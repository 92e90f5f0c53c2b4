//! `kiln export` end to end: a model trained for one epoch on the built-in synthetic data
//! becomes an ONNX file that holds its trained weights, and that ONNX Runtime runs (when a
//! Python venv with it can be made).

mod common;

use std::process::Command;

use common::{kiln, text};
use kiln_tensor::testing::{Need, skip};

fn varint(b: &[u8], i: &mut usize) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = b[*i];
        *i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
    }
    panic!("a varint longer than ten bytes at {i}");
}

/// The top-level fields of a protobuf message as `(field, wire type)`, checking that every
/// field ends inside the buffer and the last one exactly at its end.
fn top_level_fields(b: &[u8]) -> Vec<(u64, u64)> {
    let mut i = 0;
    let mut fields = Vec::new();
    while i < b.len() {
        let key = varint(b, &mut i);
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                varint(b, &mut i);
            }
            2 => i += varint(b, &mut i) as usize,
            5 => i += 4,
            _ => panic!("wire type {wire} of field {field}"),
        }
        assert!(i <= b.len(), "field {field} runs past the end");
        fields.push((field, wire));
    }
    fields
}

/// argv: the model. Checks it and runs it on three random images; prints the logits' shape.
const RUNNER: &str = r#"
import sys
import numpy as np, onnx, onnxruntime as ort
model = onnx.load(sys.argv[1])
onnx.checker.check_model(model, full_check=True)
sess = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
x = np.random.default_rng(0).uniform(-1, 1, (3, 3, 32, 32)).astype(np.float32)
(y,) = sess.run(["logits"], {"input": x})
assert np.isfinite(y).all()
print("logits", *y.shape)
"#;

#[test]
fn a_trained_model_exports_to_onnx() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let train = [
        "train",
        "--train-size",
        "600",
        "--test-size",
        "200",
        "--epochs",
        "1",
        "--c1",
        "8",
        "--c2",
        "16",
        "--l1",
        "32",
        "--batch-size",
        "50",
        "--name",
        "run",
    ];
    let o = kiln(root, &train);
    assert!(o.status.success(), "{}", text(&o));
    let weights = root.join("runs/run/best.safetensors");
    let w = weights.to_str().unwrap();

    let o = kiln(
        root,
        &["export", "--weights", w, "--onnx", "out/model.onnx"],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("onnx: out/model.onnx") && out.contains("opset 13"),
        "{out}"
    );
    let bytes = std::fs::read(root.join("out/model.onnx")).unwrap();

    // ModelProto: ir_version 8 first, then producer name and version, doc, graph, opset
    // import and five metadata entries.
    assert_eq!(bytes[..2], [0x08, 0x08], "starts with ir_version = 8");
    let fields: Vec<u64> = top_level_fields(&bytes).iter().map(|f| f.0).collect();
    assert_eq!(fields, [1, 2, 3, 6, 7, 8, 14, 14, 14, 14, 14]);
    // The trained weights are in the file, bit for bit.
    let trained = kiln_nn::state_dict::read_weights(&weights).unwrap().tensors;
    for (name, (_, values)) in trained
        .iter()
        .filter(|(n, _)| !n.ends_with("num_batches_tracked"))
    {
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert!(
            bytes.windows(raw.len()).any(|win| win == raw),
            "{name} is in the ONNX file"
        );
    }

    match kiln_tests::python::venv(&["onnx", "onnxruntime", "numpy"]) {
        Ok(py) => {
            let o = Command::new(py)
                .arg("-c")
                .arg(RUNNER)
                .arg(root.join("out/model.onnx"))
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", text(&o));
            assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "logits 3 10");
        }
        Err(why) => skip(Need::Python, "ONNX Runtime runs a kiln export", &why),
    }
}

#[test]
fn a_missing_weights_file_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = kiln(
        dir.path(),
        &[
            "export",
            "--weights",
            "nope.safetensors",
            "--onnx",
            "m.onnx",
        ],
    );
    assert!(!o.status.success());
    let out = text(&o);
    assert!(
        out.contains("error: no such file: nope.safetensors"),
        "{out}"
    );
    assert!(!dir.path().join("m.onnx").exists());
}
