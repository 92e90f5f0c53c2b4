//! Parity with PyTorch on `../shared/fixtures/pytorch-parity` (or `KILN_PARITY_FIXTURE`): the
//! network's size and batch come from its meta.json, so any folder made the same way passes.

use std::path::PathBuf;

use kiln_tensor::testing::{parity_fixture, rel_err};

use kiln_nn::state_dict::{self, read_safetensors};
use kiln_nn::{
    Adam, AdamConfig, ConfigNet, ConfigNetConfig, Context, CrossEntropyLoss, Module, Optimizer,
};
use kiln_tensor::{Cpu, Tensor, no_grad};

struct Fixture {
    config: ConfigNetConfig,
    model_path: PathBuf,
    io: std::collections::BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    lr: f32,
    betas: (f64, f64),
    eps: f32,
    weight_decay: f32,
}

fn load_fixture() -> Option<Fixture> {
    let dir = parity_fixture("PyTorch parity")?;
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    let m = &meta["model"];
    let u = |v: &serde_json::Value| v.as_u64().unwrap() as usize;
    let drop = m["dropout"].as_f64().unwrap_or(0.0) as f32;
    let mut config = ConfigNetConfig::new(u(&m["c1"]), u(&m["c2"]), u(&m["l1"]), drop);
    config.d2 = drop;
    config.conv1_kernel = u(&m["conv1_kernel"]);
    let a = &meta["adam"];
    let (io, _) = read_safetensors(&dir.join("io.safetensors")).unwrap();
    Some(Fixture {
        config,
        model_path: dir.join("model.safetensors"),
        io,
        lr: a["lr"].as_f64().unwrap() as f32,
        betas: (
            a["betas"][0].as_f64().unwrap(),
            a["betas"][1].as_f64().unwrap(),
        ),
        eps: a["eps"].as_f64().unwrap() as f32,
        weight_decay: a["weight_decay"].as_f64().unwrap_or(0.0) as f32,
    })
}

fn model(f: &Fixture) -> ConfigNet<Cpu> {
    let mut net = ConfigNet::new(f.config, 0, &Cpu).unwrap();
    state_dict::load(&mut net, &f.model_path).unwrap();
    assert_eq!(net.conv1.weight.shape()[2], f.config.conv1_kernel);
    net
}

fn input(f: &Fixture) -> (Tensor<Cpu>, Tensor<Cpu>) {
    let (xs, x) = &f.io["input"];
    let (ys, y) = &f.io["labels"];
    (
        Tensor::from_slice(x, xs, &Cpu).unwrap(),
        Tensor::from_slice(y, ys, &Cpu).unwrap(),
    )
}

#[test]
fn eval_logits_match_pytorch() {
    let Some(f) = load_fixture() else { return };
    let mut net = model(&f);
    let (x, _) = input(&f);
    let logits = no_grad(|| net.forward(&x, &mut Context::eval())).unwrap();
    let e = rel_err(&logits.to_vec().unwrap(), &f.io["eval_logits"].1);
    println!("eval logits relative error {e:.2e}");
    assert!(e <= 1e-4, "eval logits relative error {e:.2e}");
}

#[test]
fn train_logits_loss_gradients_and_one_adam_step_match_pytorch() {
    let Some(f) = load_fixture() else { return };
    let mut net = model(&f);
    let (x, y) = input(&f);
    let logits = net.forward(&x, &mut Context::train(1)).unwrap();
    let e = rel_err(&logits.to_vec().unwrap(), &f.io["train_logits"].1);
    println!("train logits relative error {e:.2e}");
    assert!(e <= 1e-4, "train logits relative error {e:.2e}");
    let loss = CrossEntropyLoss::new().forward(&logits, &y).unwrap();
    let e = rel_err(&[loss.to_scalar().unwrap()], &f.io["train_loss"].1);
    println!("loss relative error {e:.2e}");
    assert!(e <= 1e-4, "loss relative error {e:.2e}");

    let grads = loss.backward().unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    net.visit(&mut |name, t, kind| {
        if kind != kiln_nn::TensorKind::Parameter {
            return;
        }
        let reference = &f.io[&format!("grad.{name}")].1;
        let g = grads
            .get(t)
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        let e = rel_err(&g.to_vec().unwrap(), reference);
        println!("grad.{name}: relative error {e:.2e}");
        if e > 1e-3 {
            failures.push(format!("grad.{name}: {e:.2e}"));
        }
        checked += 1;
    });
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(checked, 14, "every parameter's gradient was compared");

    let cfg = AdamConfig {
        lr: f.lr,
        beta1: f.betas.0,
        beta2: f.betas.1,
        eps: f.eps,
        weight_decay: f.weight_decay,
        decoupled: false,
    };
    let mut opt = Adam::new(cfg, &Cpu);
    drop(loss);
    drop(logits);
    opt.step(&mut net, &grads).unwrap();
    let state = state_dict::state_dict(&net).unwrap();
    let mut compared = 0;
    for (name, t) in &state {
        let reference = &f.io[&format!("after_adam.{name}")].1;
        let e = rel_err(&t.data, reference);
        println!("after_adam.{name}: relative error {e:.2e}");
        if e > 1e-3 {
            failures.push(format!("after_adam.{name}: {e:.2e}"));
        }
        compared += 1;
    }
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(compared, 17, "every state-dict tensor was compared");
}
