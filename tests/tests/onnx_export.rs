//! Kiln's ONNX files, read by ONNX's own checker (`full_check`, which runs strict shape
//! inference) and run by ONNX Runtime (both installed from PyPI into a throwaway venv under
//! `target/`): the logits equal Kiln's evaluation-mode forward pass on the CPU within 1e-4
//! (relative L2), on real CIFAR-10 test images, at batch sizes 1 and 7 (the batch is
//! dynamic). Every model has random weights and batch norms with moved running statistics.
//! Tensors go to and from Python as raw little-endian f32 files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use kiln_data::{Image, Normalize, Split};
use kiln_nn::module::Module;
use kiln_nn::{Architecture, ConfigNetConfig, Context, LayerSpec, Model, state_dict};
use kiln_onnx::ExportInfo;
use kiln_tensor::testing::{Need, rel_err, skip};
use kiln_tensor::{Cpu, Tensor, no_grad, rng};

/// Relative L2 error allowed between ONNX Runtime's logits and Kiln's.
const TOL: f64 = 1e-4;
const BATCHES: [usize; 2] = [1, 7];

/// argv: the model, the work folder, the batch sizes. Checks the model, runs it on
/// `input_<b>.f32` and writes `logits_<b>.f32`, and a report of what the file declares.
const RUNNER: &str = r#"
import json, sys
import numpy as np, onnx, onnxruntime as ort

path, work, batches = sys.argv[1], sys.argv[2], [int(b) for b in sys.argv[3:]]
model = onnx.load(path)
onnx.checker.check_model(model, full_check=True)
dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
inp, out = model.graph.input[0], model.graph.output[0]
sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
report = {
    "ir_version": model.ir_version,
    "opsets": [[o.domain, o.version] for o in model.opset_import],
    "input": [inp.name] + dims(inp),
    "output": [out.name] + dims(out),
    "ops": sorted({n.op_type for n in model.graph.node}),
    "metadata": {p.key: p.value for p in model.metadata_props},
    "logits_shapes": {},
}
for b in batches:
    x = np.fromfile(f"{work}/input_{b}.f32", dtype="<f4").reshape([b] + dims(inp)[1:])
    (y,) = sess.run([out.name], {inp.name: x})
    y.astype("<f4").tofile(f"{work}/logits_{b}.f32")
    report["logits_shapes"][str(b)] = list(y.shape)
with open(f"{work}/report.json", "w") as f:
    json.dump(report, f)
"#;

/// The venv's python, or `None` after reporting the skip.
fn python() -> Option<PathBuf> {
    static PY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let py = PY.get_or_init(|| {
        let t = std::time::Instant::now();
        let r = kiln_tests::python::venv(&["onnx", "onnxruntime", "numpy"]);
        eprintln!(
            "onnx_export: venv with onnx, onnxruntime, numpy ready in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        r
    });
    match py {
        Ok(p) => Some(p.clone()),
        Err(why) => {
            skip(Need::Python, "ONNX Runtime runs Kiln's ONNX exports", why);
            None
        }
    }
}

/// The first seven CIFAR-10 test images, or `None` (with a skip note) without the data.
fn cifar() -> Option<&'static [u8]> {
    static IMAGES: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    IMAGES
        .get_or_init(|| {
            let dir = std::env::var_os("KILN_DATA")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
                });
            match kiln_data::load(&dir, Split::Test) {
                Ok(test) => Some(test.first(7).images().to_vec()),
                Err(e) => {
                    skip(
                        Need::Data,
                        "ONNX exports on real CIFAR-10 test images (random images used instead)",
                        &format!("{}: {e} (set KILN_DATA)", dir.display()),
                    );
                    None
                }
            }
        })
        .as_deref()
}

/// Seven images of `shape`: CIFAR-10's for 3x32x32 when the data is there, else random pixels.
fn images(shape: [usize; 3], seed: u64) -> (Vec<u8>, &'static str) {
    if shape == [3, 32, 32]
        && let Some(img) = cifar()
    {
        return (img.to_vec(), "CIFAR-10 test images");
    }
    let n = 7 * shape.iter().product::<usize>();
    let px = (0..n as u64)
        .map(|i| (rng::hash64(seed, i) % 256) as u8)
        .collect();
    (px, "random pixels")
}

/// Moves every batch norm away from its initial state: running statistics from three
/// training-mode passes over shifted random inputs, then random affine parameters.
fn move_batch_norms(model: &mut Model<Cpu>, seed: u64) {
    let [c, h, w] = model.input_shape();
    for step in 0..3u64 {
        let n = 8 * c * h * w;
        let x: Vec<f32> = (0..n as u64)
            .map(|i| 1.5 * rng::standard_normal(seed + step, i) + 0.7)
            .collect();
        let x = Tensor::from_slice(&x, &[8, c, h, w], &Cpu).unwrap();
        no_grad(|| model.forward(&x, &mut Context::train(seed + step))).unwrap();
    }
    let sd = state_dict::state_dict(model).unwrap();
    let bns: Vec<String> = sd
        .keys()
        .filter_map(|k| k.strip_suffix(".running_mean").map(String::from))
        .collect();
    assert!(!bns.is_empty(), "the model has batch norms");
    for bn in &bns {
        let (mean, var) = (
            &sd[&format!("{bn}.running_mean")],
            &sd[&format!("{bn}.running_var")],
        );
        // (a feature that relu zeroes for every image keeps its mean at 0)
        let moved = mean.data.iter().filter(|&&m| m != 0.0).count();
        assert!(
            2 * moved > mean.data.len(),
            "{bn}: running means moved: {moved}"
        );
        assert!(
            var.data.iter().all(|&v| v != 1.0),
            "{bn}: running var moved"
        );
    }
    let mut k = 0u64;
    model.visit_mut(&mut |name, t, _| {
        let Some((prefix, field)) = name.rsplit_once('.') else {
            return;
        };
        if !bns.iter().any(|b| b == prefix) || !matches!(field, "weight" | "bias") {
            return;
        }
        k += 1;
        let v: Vec<f32> = (0..t.numel() as u64)
            .map(|i| {
                let u = rng::uniform01(seed ^ 0xb0, k * 1_000_003 + i);
                if field == "weight" {
                    0.5 + u
                } else {
                    0.6 * u - 0.3
                }
            })
            .collect();
        *t = Tensor::from_slice(&v, t.shape(), &Cpu).unwrap();
    });
}

fn write_f32(path: &Path, v: &[f32]) {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(bytes.len() % 4, 0);
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Exports `arch` built for `shape`, runs the file in ONNX Runtime and compares with Kiln;
/// returns the worst relative error.
fn check(python: &Path, label: &str, arch: &Architecture, shape: [usize; 3], seed: u64) -> f64 {
    let classes = 10;
    let mut model = Model::new(arch, shape, classes, seed, &Cpu).unwrap();
    move_batch_norms(&mut model, seed);
    let class_names: Vec<String> = kiln_data::CIFAR10_CLASSES
        .iter()
        .map(|s| s.to_string())
        .collect();
    let info = ExportInfo {
        producer: "kiln onnx_export test".into(),
        ..ExportInfo::new(class_names.clone())
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    kiln_onnx::write(&path, &model, &info).unwrap();

    let [c, h, w] = shape;
    let (pixels, source) = images(shape, seed);
    let norm = Normalize::new(&info.mean, &info.std).unwrap();
    let mut x = vec![0f32; pixels.len()];
    norm.apply_into(&Image::new(pixels, [7 * c, h, w]).unwrap(), &mut x);
    for b in BATCHES {
        write_f32(
            &dir.path().join(format!("input_{b}.f32")),
            &x[..b * c * h * w],
        );
    }
    let out = Command::new(python)
        .arg("-c")
        .arg(RUNNER)
        .arg(&path)
        .arg(dir.path())
        .args(BATCHES.map(|b| b.to_string()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{label}: the ONNX checker or ONNX Runtime failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["ir_version"], 8, "{label}");
    assert_eq!(report["opsets"], serde_json::json!([["", 13]]), "{label}");
    assert_eq!(
        report["input"],
        serde_json::json!(["input", "batch", c, h, w]),
        "{label}"
    );
    assert_eq!(
        report["output"],
        serde_json::json!(["logits", "batch", classes]),
        "{label}"
    );
    let ops: BTreeSet<&str> = report["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    assert!(!ops.contains("Dropout"), "{label}: {ops:?}");
    let meta = &report["metadata"];
    let names: Vec<String> = serde_json::from_str(meta["class_names"].as_str().unwrap()).unwrap();
    assert_eq!(names, class_names, "{label}");
    let back: Architecture = serde_json::from_str(meta["architecture"].as_str().unwrap()).unwrap();
    assert_eq!(&back, model.architecture(), "{label}");
    let norm_meta: serde_json::Value =
        serde_json::from_str(meta["normalization"].as_str().unwrap()).unwrap();
    assert_eq!(
        norm_meta["mean"],
        serde_json::json!(vec![0.5; c]),
        "{label}"
    );

    let mut worst = 0f64;
    for b in BATCHES {
        assert_eq!(
            report["logits_shapes"][b.to_string()],
            serde_json::json!([b, classes]),
            "{label}"
        );
        let ort = read_f32(&dir.path().join(format!("logits_{b}.f32")));
        let input = Tensor::from_slice(&x[..b * c * h * w], &[b, c, h, w], &Cpu).unwrap();
        let kiln = no_grad(|| model.forward(&input, &mut Context::eval()))
            .unwrap()
            .to_vec()
            .unwrap();
        let e = rel_err(&ort, &kiln);
        let max_abs = kiln_tests::max_abs_diff(&ort, &kiln);
        eprintln!(
            "onnx_export: {label} {c}x{h}x{w} batch {b} ({source}): rel err {e:.2e}, max abs diff {max_abs:.2e}, |logits| max {:.2}",
            kiln.iter().fold(0f32, |m, v| m.max(v.abs()))
        );
        assert!(
            e <= TOL,
            "{label} {c}x{h}x{w} batch {b}: rel err {e:.2e} > {TOL:.0e}"
        );
        if b > 1 {
            let rows: BTreeSet<_> = kiln
                .chunks(classes)
                .map(|r| r.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
                .collect();
            assert_eq!(rows.len(), b, "{label}: every image gets its own logits");
        }
        worst = worst.max(e);
    }
    worst
}

#[test]
fn a_config_net_runs_in_onnx_runtime_as_in_kiln() {
    let Some(py) = python() else { return };
    let arch = Architecture::ConfigNet(ConfigNetConfig::new(8, 16, 32, 0.1));
    check(&py, "ConfigNet(8/16/32)", &arch, [3, 32, 32], 1);
    check(&py, "ConfigNet(8/16/32)", &arch, [3, 24, 24], 2);
}

#[test]
fn resnet9_half_runs_in_onnx_runtime_as_in_kiln() {
    let Some(py) = python() else { return };
    let arch = kiln_nn::model::builtin("resnet9-half").unwrap();
    check(&py, "resnet9-half", &arch, [3, 32, 32], 3);
    check(&py, "resnet9-half", &arch, [1, 28, 28], 4);
}

fn conv(
    out: usize,
    k: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
    bias: bool,
) -> LayerSpec {
    LayerSpec::Conv2d {
        out_channels: out,
        kernel_size: k,
        stride,
        padding,
        dilation,
        bias,
        in_channels: None,
    }
}

/// Every layer type: convs with stride, padding, dilation and no bias, both batch norms
/// (one with eps 0.05, so that using the default would show), relu, gelu, max and average pooling with padding, global average
/// pooling, dropout, flatten, linears with and without bias, residuals with and without a
/// shortcut.
fn every_layer() -> Architecture {
    let bn2d = |eps| LayerSpec::BatchNorm2d { eps, momentum: 0.1 };
    let layers = vec![
        conv(8, 3, 1, 1, 1, true),
        bn2d(0.05),
        LayerSpec::GELU,
        LayerSpec::MaxPool2d {
            kernel_size: 3,
            stride: Some(2),
            padding: 1,
        },
        LayerSpec::Residual {
            body: vec![
                conv(16, 3, 1, 2, 2, false),
                bn2d(1e-5),
                LayerSpec::ReLU,
                conv(16, 3, 1, 1, 1, true),
                LayerSpec::Dropout { p: 0.2 },
            ],
            shortcut: Some(vec![conv(16, 1, 1, 0, 1, false), bn2d(1e-5)]),
        },
        LayerSpec::ReLU,
        LayerSpec::AvgPool2d {
            kernel_size: 3,
            stride: Some(2),
            padding: 1,
        },
        LayerSpec::Residual {
            body: vec![conv(16, 3, 1, 1, 1, true), LayerSpec::GELU],
            shortcut: None,
        },
        conv(24, 3, 2, 0, 1, true),
        LayerSpec::ReLU,
        LayerSpec::AdaptiveAvgPool2d { output_size: 1 },
        LayerSpec::Flatten,
        LayerSpec::Linear {
            out_features: Some(32),
            bias: false,
            in_features: None,
        },
        LayerSpec::BatchNorm1d {
            eps: 1e-5,
            momentum: 0.1,
        },
        LayerSpec::GELU,
        LayerSpec::Dropout { p: 0.5 },
        LayerSpec::Linear {
            out_features: None,
            bias: true,
            in_features: None,
        },
    ];
    Architecture::Layers {
        name: "every-layer".into(),
        layers,
    }
}

#[test]
fn a_model_with_every_layer_type_runs_in_onnx_runtime_as_in_kiln() {
    let Some(py) = python() else { return };
    let arch = every_layer();
    check(&py, "every-layer", &arch, [3, 32, 32], 5);
    check(&py, "every-layer", &arch, [1, 28, 36], 6);
    check(&py, "every-layer", &arch, [3, 48, 40], 7);
}
