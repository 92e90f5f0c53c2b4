//! Model files against PyTorch: `scripts/fixtures/model_file_parity.py` reads each TOML in
//! `tests/fixtures/model_files/` and builds the equivalent PyTorch module (an `nn.Sequential`
//! with a `Residual` module); its state dict loads into Kiln's model, Kiln's state dict has
//! PyTorch's names, shapes and kinds in PyTorch's order, and eval logits, train logits, loss,
//! every gradient and the state after one Adam step agree to 1e-4 relative. The fixtures are
//! committed, so these tests never skip.

use std::collections::BTreeMap;
use std::path::PathBuf;

use kiln_nn::module::describe;
use kiln_nn::state_dict::{self, Metadata, NamedTensors, read_safetensors};
use kiln_nn::{
    Adam, AdamConfig, Architecture, Context, CrossEntropyLoss, LayerSpec, Model, ModelFile, Module,
    Optimizer, TensorKind,
};
use kiln_tensor::testing::rel_err;
use kiln_tensor::{Cpu, Tensor, no_grad};

const TOL: f64 = 1e-4;

struct Fixture {
    name: &'static str,
    arch: Architecture,
    input: [usize; 3],
    classes: usize,
    tensors: NamedTensors,
    meta: Metadata,
}

fn fixture(name: &'static str) -> Fixture {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model_files");
    let file = ModelFile::read(&dir.join(format!("{name}.toml"))).unwrap();
    let (tensors, meta) = read_safetensors(&dir.join(format!("{name}.safetensors"))).unwrap();
    let input: Vec<usize> = serde_json::from_str(&meta["input_shape"]).unwrap();
    Fixture {
        name,
        arch: Architecture::Layers {
            name: file.name.unwrap(),
            layers: file.layers,
        },
        input: input.try_into().unwrap(),
        classes: meta["classes"].parse().unwrap(),
        tensors,
        meta,
    }
}

impl Fixture {
    fn get(&self, key: &str) -> &(Vec<usize>, Vec<f32>) {
        self.tensors
            .get(key)
            .unwrap_or_else(|| panic!("{}: the fixture has no {key}", self.name))
    }

    /// PyTorch's state dict (the `state.` entries, the prefix removed).
    fn state(&self) -> NamedTensors {
        self.tensors
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("state.")?.to_string(), v.clone())))
            .collect()
    }

    /// Kiln's model of `arch` with PyTorch's weights loaded.
    fn model(&self, arch: &Architecture) -> Model<Cpu> {
        let mut m = Model::new(arch, self.input, self.classes, 0, &Cpu).unwrap();
        state_dict::load_tensors(&mut m, &self.state(), &format!("{}.safetensors", self.name))
            .unwrap();
        m
    }

    fn tensor(&self, key: &str) -> Tensor<Cpu> {
        let (shape, v) = self.get(key);
        Tensor::from_slice(v, shape, &Cpu).unwrap()
    }
}

/// The relative errors of one fixture (printed as one block, tests run in parallel), the
/// largest per kind of tensor, and what exceeded TOL.
#[derive(Default)]
struct Errors {
    log: String,
    largest: BTreeMap<&'static str, (f64, String)>,
    failures: Vec<String>,
}

impl Errors {
    fn check(&mut self, group: &'static str, name: &str, got: &[f32], want: &[f32]) {
        let e = rel_err(got, want);
        self.log += &format!("  {name}: relative error {e:.2e}\n");
        if e > TOL || e.is_nan() {
            self.failures.push(format!("{name}: {e:.2e}"));
        }
        let worst = self.largest.entry(group).or_insert((0.0, String::new()));
        if e >= worst.0 {
            *worst = (e, name.to_string());
        }
    }
}

/// The layers with every dropout's p set to 0, as the fixture's train-mode values were made.
fn without_dropout(layers: &mut [LayerSpec]) {
    for l in layers {
        match l {
            LayerSpec::Dropout { p } => *p = 0.0,
            LayerSpec::Residual { body, shortcut } => {
                without_dropout(body);
                if let Some(s) = shortcut {
                    without_dropout(s);
                }
            }
            _ => {}
        }
    }
}

fn kind_name(k: TensorKind) -> &'static str {
    match k {
        TensorKind::Parameter => "parameter",
        TensorKind::Buffer => "buffer",
        TensorKind::Counter => "counter",
    }
}

fn names_match_pytorch(f: &Fixture) {
    let pytorch: Vec<(String, Vec<usize>, String)> =
        serde_json::from_str(&f.meta["state_dict"]).unwrap();
    let m = Model::new(&f.arch, f.input, f.classes, 0, &Cpu).unwrap();
    let kiln: Vec<(String, Vec<usize>, String)> = describe(&m)
        .into_iter()
        .map(|(n, s, k)| (n, s, kind_name(k).to_string()))
        .collect();
    assert_eq!(
        kiln, pytorch,
        "{}: Kiln's state dict (left) is not PyTorch's (right), in order",
        f.name
    );
    // and PyTorch's file loads, every value where its name says
    let loaded = state_dict::state_dict(&f.model(&f.arch)).unwrap();
    for (name, (shape, v)) in f.state() {
        assert_eq!(loaded[&name].shape, shape, "{}: {name}", f.name);
        assert_eq!(loaded[&name].data, v, "{}: {name}", f.name);
    }
}

/// Runs the whole comparison for one fixture; returns its errors.
fn compare(f: &Fixture) -> Errors {
    let mut errors = Errors {
        log: format!("{} ({}):\n", f.name, f.meta["generator"]),
        ..Errors::default()
    };
    let x = f.tensor("input");
    let y = f.tensor("labels");

    let mut net = f.model(&f.arch);
    let logits = no_grad(|| net.forward(&x, &mut Context::eval())).unwrap();
    let want = &f.get("eval_logits").1;
    errors.check(
        "eval_logits",
        "eval_logits",
        &logits.to_vec().unwrap(),
        want,
    );

    let Architecture::Layers { name, layers } = &f.arch else {
        unreachable!("model files are layers")
    };
    let mut layers = layers.clone();
    without_dropout(&mut layers);
    let arch = Architecture::Layers {
        name: name.clone(),
        layers,
    };
    let mut net = f.model(&arch);
    let logits = net.forward(&x, &mut Context::train(1)).unwrap();
    let want = &f.get("train_logits").1;
    errors.check(
        "train_logits",
        "train_logits",
        &logits.to_vec().unwrap(),
        want,
    );
    let loss = CrossEntropyLoss::new().forward(&logits, &y).unwrap();
    let want = &f.get("train_loss").1;
    errors.check(
        "train_loss",
        "train_loss",
        &[loss.to_scalar().unwrap()],
        want,
    );

    let grads = loss.backward().unwrap();
    let mut compared = 0;
    net.visit(&mut |name, t, kind| {
        if kind != TensorKind::Parameter {
            return;
        }
        let g = grads
            .get(t)
            .unwrap_or_else(|| panic!("{}: no gradient for {name}", f.name));
        let key = format!("grad.{name}");
        errors.check("grad", &key, &g.to_vec().unwrap(), &f.get(&key).1);
        compared += 1;
    });
    let expected = f.tensors.keys().filter(|k| k.starts_with("grad.")).count();
    assert_eq!(compared, expected, "{}: every gradient compared", f.name);

    let adam: serde_json::Value = serde_json::from_str(&f.meta["adam"]).unwrap();
    let cfg = AdamConfig {
        lr: adam["lr"].as_f64().unwrap() as f32,
        beta1: adam["betas"][0].as_f64().unwrap(),
        beta2: adam["betas"][1].as_f64().unwrap(),
        eps: adam["eps"].as_f64().unwrap() as f32,
        weight_decay: adam["weight_decay"].as_f64().unwrap() as f32,
        decoupled: false,
    };
    let mut opt = Adam::new(cfg, &Cpu);
    drop(loss);
    drop(logits);
    opt.step(&mut net, &grads).unwrap();
    let state = state_dict::state_dict(&net).unwrap();
    for (name, t) in &state {
        let key = format!("after_adam.{name}");
        errors.check("after_adam", &key, &t.data, &f.get(&key).1);
    }
    let expected = f
        .tensors
        .keys()
        .filter(|k| k.starts_with("after_adam."))
        .count();
    assert_eq!(state.len(), expected, "{}: every tensor compared", f.name);

    for (group, (e, name)) in &errors.largest {
        errors.log += &format!("{}: largest {group} error {e:.2e} ({name})\n", f.name);
    }
    print!("{}", errors.log);
    errors
}

fn check_fixture(name: &'static str) {
    let f = fixture(name);
    names_match_pytorch(&f);
    let errors = compare(&f);
    assert!(errors.failures.is_empty(), "{name}: {:?}", errors.failures);
}

#[test]
fn gelu_residual_matches_pytorch() {
    check_fixture("gelu_residual");
}

#[test]
fn flat_head_matches_pytorch() {
    check_fixture("flat_head");
}

#[test]
fn nested_residuals_match_pytorch() {
    check_fixture("nested");
}

#[test]
fn the_model_files_use_every_layer_type() {
    // the three files together cover every layer a model file can name
    fn walk(layers: &[LayerSpec], seen: &mut Vec<&'static str>) {
        for l in layers {
            seen.push(l.type_name());
            if let LayerSpec::Residual { body, shortcut } = l {
                walk(body, seen);
                walk(shortcut.as_deref().unwrap_or_default(), seen);
            }
        }
    }
    let mut seen = Vec::new();
    for name in ["gelu_residual", "flat_head", "nested"] {
        let Architecture::Layers { layers, .. } = fixture(name).arch else {
            unreachable!()
        };
        walk(&layers, &mut seen);
    }
    for t in [
        "conv2d",
        "batchnorm2d",
        "batchnorm1d",
        "relu",
        "gelu",
        "maxpool2d",
        "avgpool2d",
        "adaptiveavgpool2d",
        "dropout",
        "flatten",
        "linear",
        "residual",
    ] {
        assert!(seen.contains(&t), "no model file uses {t}");
    }
}
