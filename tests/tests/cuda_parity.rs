//! The CUDA backend against PyTorch (the fixtures of `shared/fixtures/pytorch-parity`, as the
//! CPU parity tests use them) and against the CPU backend on whole ConfigNet training steps;
//! plus the pool's "no allocation per step" promise. The device runs in `Precision::F32`
//! (`kiln_tests::gpu`; TF32 is checked in cuda_precision.rs). Needs an NVIDIA GPU: run with
//! --ignored.
#![cfg(feature = "cuda")]

use std::collections::BTreeMap;
use std::path::Path;

use kiln_nn::state_dict::{self, read_safetensors};
use kiln_nn::{
    Adam, AdamConfig, ConfigNet, ConfigNetConfig, Context, CrossEntropyLoss, Module, Optimizer,
    TensorKind,
};
use kiln_tensor::{Backend, Conv2dOptions, Cpu, Cuda, Pool2dOptions, Tensor, no_grad};
use kiln_tests::{fixture_meta, gpu, parity_fixture, rel_err};

type HostTensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

fn tensor(io: &HostTensors, key: &str, dev: &Cuda) -> Tensor<Cuda> {
    let (shape, v) = io
        .get(key)
        .unwrap_or_else(|| panic!("the fixture has no {key}"));
    Tensor::from_slice(v, shape, dev).unwrap()
}

fn check(failures: &mut Vec<String>, what: String, got: &Tensor<Cuda>, want: &[f32], tol: f64) {
    let e = rel_err(&got.to_vec().unwrap(), want);
    println!("{what}: relative error {e:.2e}");
    if e > tol {
        failures.push(format!("{what}: {e:.2e}"));
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
fn conv_and_pool_ops_match_pytorch() {
    let Some(dir) = parity_fixture("CUDA op parity with PyTorch") else {
        return;
    };
    let meta = fixture_meta(&dir);
    let (io, _) = read_safetensors(&dir.join("ops.safetensors")).unwrap();
    let dev = gpu();
    let mut failures = Vec::new();
    let mut cases = 0;
    let ops = meta["ops"].as_object().expect("meta.json lists the ops");
    for (case, p) in ops {
        let u = |k: &str| p[k].as_u64().unwrap_or(0) as usize;
        let x = tensor(&io, &format!("{case}.x"), &dev).set_requires_grad(true);
        let grad_out = tensor(&io, &format!("{case}.grad_out"), &dev);
        let want = |k: &str| io[&format!("{case}.{k}")].1.clone();
        match p["op"].as_str().unwrap_or("") {
            "conv2d" => {
                let w = tensor(&io, &format!("{case}.w"), &dev).set_requires_grad(true);
                let b = tensor(&io, &format!("{case}.b"), &dev).set_requires_grad(true);
                let opts = Conv2dOptions {
                    stride: (u("stride"), u("stride")),
                    padding: (u("padding"), u("padding")),
                    dilation: (1, 1),
                };
                let y = x.conv2d(&w, Some(&b), opts).unwrap();
                check(&mut failures, format!("{case}.out"), &y, &want("out"), 1e-4);
                let g = y.backward_with(grad_out).unwrap();
                for (t, k) in [(&x, "grad_x"), (&w, "grad_w"), (&b, "grad_b")] {
                    let gt = g.get(t).unwrap();
                    check(&mut failures, format!("{case}.{k}"), gt, &want(k), 1e-4);
                }
            }
            op @ ("max_pool2d" | "avg_pool2d") => {
                let opts = Pool2dOptions {
                    kernel: (u("kernel"), u("kernel")),
                    stride: (u("stride"), u("stride")),
                    padding: (u("padding"), u("padding")),
                };
                let y = if op == "max_pool2d" {
                    x.max_pool2d(opts)
                } else {
                    x.avg_pool2d(opts)
                }
                .unwrap();
                check(&mut failures, format!("{case}.out"), &y, &want("out"), 1e-4);
                let g = y.backward_with(grad_out).unwrap();
                let gx = g.get(&x).unwrap();
                check(
                    &mut failures,
                    format!("{case}.grad_x"),
                    gx,
                    &want("grad_x"),
                    1e-4,
                );
            }
            other => panic!("unknown op {other} in meta.json"),
        }
        cases += 1;
    }
    assert!(failures.is_empty(), "{failures:?}");
    assert!(
        cases >= 6,
        "conv_a/b/c, maxpool_a/b and avgpool_a were all checked"
    );
}

struct NetFixture {
    config: ConfigNetConfig,
    io: HostTensors,
    model: std::path::PathBuf,
    adam: AdamConfig,
}

fn net_fixture(dir: &Path) -> NetFixture {
    let meta = fixture_meta(dir);
    let m = &meta["model"];
    let u = |v: &serde_json::Value| v.as_u64().unwrap() as usize;
    let drop = m["dropout"].as_f64().unwrap_or(0.0) as f32;
    let mut config = ConfigNetConfig::new(u(&m["c1"]), u(&m["c2"]), u(&m["l1"]), drop);
    config.d2 = drop;
    config.conv1_kernel = u(&m["conv1_kernel"]);
    let a = &meta["adam"];
    let f = |v: &serde_json::Value| v.as_f64().unwrap() as f32;
    let (io, _) = read_safetensors(&dir.join("io.safetensors")).unwrap();
    NetFixture {
        config,
        io,
        model: dir.join("model.safetensors"),
        adam: AdamConfig {
            lr: f(&a["lr"]),
            beta1: a["betas"][0].as_f64().unwrap(),
            beta2: a["betas"][1].as_f64().unwrap(),
            eps: f(&a["eps"]),
            weight_decay: a["weight_decay"].as_f64().unwrap_or(0.0) as f32,
            decoupled: false,
        },
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
fn confignet_matches_pytorch_on_the_gpu() {
    let Some(dir) = parity_fixture("CUDA ConfigNet parity with PyTorch") else {
        return;
    };
    let f = net_fixture(&dir);
    let dev = gpu();
    let mut cpu_net = ConfigNet::new(f.config, 0, &Cpu).unwrap();
    state_dict::load(&mut cpu_net, &f.model).unwrap();
    let mut net = ConfigNet::new(f.config, 0, &dev).unwrap();
    state_dict::copy_state(&cpu_net, &mut net).unwrap();
    let x = tensor(&f.io, "input", &dev);
    let y = tensor(&f.io, "labels", &dev);
    let mut failures = Vec::new();

    let logits = no_grad(|| net.forward(&x, &mut Context::eval())).unwrap();
    check(
        &mut failures,
        "eval_logits".into(),
        &logits,
        &f.io["eval_logits"].1,
        1e-4,
    );

    let logits = net.forward(&x, &mut Context::train(1)).unwrap();
    check(
        &mut failures,
        "train_logits".into(),
        &logits,
        &f.io["train_logits"].1,
        1e-4,
    );
    let loss = CrossEntropyLoss::new().forward(&logits, &y).unwrap();
    check(
        &mut failures,
        "train_loss".into(),
        &loss,
        &f.io["train_loss"].1,
        1e-4,
    );
    let grads = loss.backward().unwrap();
    let mut checked = 0;
    net.visit(&mut |name, t, kind| {
        if kind == TensorKind::Parameter {
            let g = grads.get(t).expect("every parameter has a gradient");
            check(
                &mut failures,
                format!("grad.{name}"),
                g,
                &f.io[&format!("grad.{name}")].1,
                1e-3,
            );
            checked += 1;
        }
    });
    assert_eq!(checked, 14);

    let mut opt = Adam::new(f.adam, &dev);
    opt.step(&mut net, &grads).unwrap();
    let state = state_dict::state_dict(&net).unwrap();
    for (name, t) in &state {
        let e = rel_err(&t.data, &f.io[&format!("after_adam.{name}")].1);
        println!("after_adam.{name}: relative error {e:.2e}");
        if e > 1e-3 {
            failures.push(format!("after_adam.{name}: {e:.2e}"));
        }
    }
    assert_eq!(state.len(), 17);
    assert!(failures.is_empty(), "{failures:?}");
}

/// Loss, per-parameter gradients and then the state after an Adam step, on the host.
struct Step {
    loss: f32,
    grads: BTreeMap<String, Vec<f32>>,
}

fn train_step<B: Backend>(
    net: &mut ConfigNet<B>,
    opt: &mut Adam<B>,
    x: &Tensor<B>,
    y: &Tensor<B>,
    seed: u64,
) -> Step {
    let logits = net.forward(x, &mut Context::train(seed)).unwrap();
    let loss = CrossEntropyLoss::new().forward(&logits, y).unwrap();
    let grads = loss.backward().unwrap();
    let mut host = BTreeMap::new();
    net.visit(&mut |name, t, kind| {
        if kind == TensorKind::Parameter {
            host.insert(name.to_string(), grads.get(t).unwrap().to_vec().unwrap());
        }
    });
    opt.step(net, &grads).unwrap();
    Step {
        loss: loss.to_scalar().unwrap(),
        grads: host,
    }
}

fn batch<B: Backend>(dev: &B, n: usize, seed: u64) -> (Tensor<B>, Tensor<B>) {
    let x = Tensor::rand_normal(&[n, 3, 32, 32], 0.0, 1.0, seed, &Cpu).unwrap();
    let y: Vec<f32> = (0..n as u64)
        .map(|i| (kiln_tensor::rng::hash64(seed, i) % 10) as f32)
        .collect();
    (
        Tensor::from_slice(&x.to_vec().unwrap(), &[n, 3, 32, 32], dev).unwrap(),
        Tensor::from_slice(&y, &[n], dev).unwrap(),
    )
}

#[test]
#[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
fn confignet_training_steps_agree_across_backends() {
    let dev = gpu();
    let config = ConfigNetConfig::new(8, 16, 32, 0.25);
    let mut cpu_net = ConfigNet::new(config, 7, &Cpu).unwrap();
    let mut gpu_net = ConfigNet::new(config, 7, &dev).unwrap();
    // initialisation draws from the same counter-based generator on both devices
    let (a, b) = (
        state_dict::state_dict(&cpu_net).unwrap(),
        state_dict::state_dict(&gpu_net).unwrap(),
    );
    for (name, t) in &a {
        let e = rel_err(&b[name].data, &t.data);
        assert!(e <= 1e-6, "initial {name} differs: {e:.2e}");
    }
    // and the brief's way: copy the weights over
    state_dict::copy_state(&cpu_net, &mut gpu_net).unwrap();
    let adam = AdamConfig::default();
    let (mut cpu_opt, mut gpu_opt) = (Adam::new(adam, &Cpu), Adam::new(adam, &dev));
    let mut failures = Vec::new();
    for step in 0..3u64 {
        let (xc, yc) = batch(&Cpu, 16, 100 + step);
        let (xg, yg) = batch(&dev, 16, 100 + step);
        let c = train_step(&mut cpu_net, &mut cpu_opt, &xc, &yc, 40 + step);
        let g = train_step(&mut gpu_net, &mut gpu_opt, &xg, &yg, 40 + step);
        let e = rel_err(&[g.loss], &[c.loss]);
        println!(
            "step {step}: loss cpu {} gpu {} (relative error {e:.2e})",
            c.loss, g.loss
        );
        if e > 1e-4 {
            failures.push(format!("step {step} loss: {e:.2e}"));
        }
        let tol = if step == 0 { 1e-4 } else { 1e-3 };
        for (name, cg) in &c.grads {
            let e = rel_err(&g.grads[name], cg);
            println!("step {step} grad.{name}: relative error {e:.2e}");
            if e > tol {
                failures.push(format!("step {step} grad.{name}: {e:.2e}"));
            }
        }
    }
    let (a, b) = (
        state_dict::state_dict(&cpu_net).unwrap(),
        state_dict::state_dict(&gpu_net).unwrap(),
    );
    for (name, t) in &a {
        let e = rel_err(&b[name].data, &t.data);
        println!("after 3 steps {name}: relative error {e:.2e}");
        if e > 1e-3 {
            failures.push(format!("after 3 steps {name}: {e:.2e}"));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
#[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
fn training_allocates_nothing_after_warm_up() {
    let dev = gpu();
    let config = ConfigNetConfig::new(16, 32, 64, 0.1);
    let mut net = ConfigNet::new(config, 3, &dev).unwrap();
    let mut opt = Adam::new(AdamConfig::default(), &dev);
    let (x, y) = batch(&dev, 64, 5);
    for step in 0..3 {
        train_step(&mut net, &mut opt, &x, &y, step);
    }
    let before = dev.memory_stats();
    for step in 3..8 {
        train_step(&mut net, &mut opt, &x, &y, step);
    }
    let after = dev.memory_stats();
    println!("memory before {before:?} after {after:?}");
    assert_eq!(
        before.driver_allocations, after.driver_allocations,
        "steady-state training steps must reuse pooled buffers"
    );
}
