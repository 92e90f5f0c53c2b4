//! CPU against CUDA for what model files added: GELU (forward and backward, on random shapes
//! and on a strided view), padded average pooling, global average pooling, residual blocks with
//! and without a shortcut (training and evaluation mode, running statistics included), and the
//! committed model files of kiln-nn's tests: several Adam training steps on both devices, and one
//! on the GPU against their PyTorch fixtures. Needs an NVIDIA GPU: run with --ignored.
#![cfg(feature = "cuda")]

use std::collections::BTreeMap;
use std::path::Path;

use kiln_nn::layers::{
    BatchNorm, Conv2d, Conv2dConfig, GELU, GlobalAvgPool2d, ReLU, Residual, Sequential,
};
use kiln_nn::state_dict::{self, Metadata, NamedTensors, parse_safetensors};
use kiln_nn::{
    Adam, AdamConfig, Architecture, Context, CrossEntropyLoss, LayerSpec, Model, ModelFile, Module,
    Optimizer, TensorKind,
};
use kiln_tensor::{Backend, Cpu, Cuda, Pool2dOptions, Tensor, no_grad, out_size};
use kiln_tests::{assert_close, both, gpu, loss_weights, rel_err};
use proptest::prelude::*;

const TOL: f64 = 1e-4;

fn input(shape: &[usize], seed: u64, lo: f32, hi: f32) -> (Vec<usize>, Vec<f32>) {
    let n: usize = shape.iter().product();
    let v = (0..n as u64)
        .map(|i| lo + (hi - lo) * kiln_tensor::rng::uniform01(seed ^ 0x1a7e5, i))
        .collect();
    (shape.to_vec(), v)
}

/// A module's output, input gradient, parameter gradients and state after one forward in the
/// given mode and the backward pass of `sum(out · w)` ([`loss_weights`]), on the host.
struct ModuleRun {
    out: Vec<f32>,
    input_grad: Vec<f32>,
    grads: BTreeMap<String, Vec<f32>>,
    state: BTreeMap<String, Vec<f32>>,
}

fn run_module<B: Backend>(
    m: &mut dyn Module<B>,
    x: &(Vec<usize>, Vec<f32>),
    train: bool,
    dev: &B,
) -> ModuleRun {
    let xt = Tensor::from_slice(&x.1, &x.0, dev)
        .unwrap()
        .set_requires_grad(true);
    let mut ctx = if train {
        Context::train(3)
    } else {
        Context::eval()
    };
    let y = m.forward(&xt, &mut ctx).unwrap();
    let w = Tensor::from_slice(&loss_weights(y.numel(), 99), y.shape(), dev).unwrap();
    let store = y.mul(&w).unwrap().sum_all().unwrap().backward().unwrap();
    let mut grads = BTreeMap::new();
    m.visit(&mut |name, t, kind| {
        if kind == TensorKind::Parameter {
            let g = store
                .get(t)
                .unwrap_or_else(|| panic!("no gradient for {name}"));
            grads.insert(name.to_string(), g.to_vec().unwrap());
        }
    });
    let state = state_dict::state_dict(m)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.data))
        .collect();
    ModuleRun {
        out: y.to_vec().unwrap(),
        input_grad: store.get(&xt).expect("input gradient").to_vec().unwrap(),
        grads,
        state,
    }
}

/// Every difference between two runs beyond `tol`, as lines.
fn compare_runs(what: &str, gpu: &ModuleRun, cpu: &ModuleRun, tol: f64) -> Vec<String> {
    let mut bad = Vec::new();
    let mut check = |name: String, g: &[f32], c: &[f32]| {
        let e = rel_err(g, c);
        if e > tol || e.is_nan() {
            bad.push(format!("{what} {name}: relative error {e:.2e}"));
        }
    };
    check("output".into(), &gpu.out, &cpu.out);
    check("input gradient".into(), &gpu.input_grad, &cpu.input_grad);
    assert_eq!(gpu.grads.len(), cpu.grads.len(), "{what}: gradient count");
    for (name, c) in &cpu.grads {
        check(format!("grad.{name}"), &gpu.grads[name], c);
    }
    for (name, c) in &cpu.state {
        check(format!("state {name}"), &gpu.state[name], c);
    }
    bad
}

/// The same module on both devices (the GPU one gets the CPU one's state), run once.
fn both_modules(
    cpu: &mut dyn Module<Cpu>,
    on_gpu: &mut dyn Module<Cuda>,
    x: &(Vec<usize>, Vec<f32>),
    train: bool,
) -> (ModuleRun, ModuleRun) {
    state_dict::copy_state(cpu, on_gpu).unwrap();
    let c = run_module(cpu, x, train, &Cpu);
    let g = run_module(on_gpu, x, train, &gpu());
    (c, g)
}

#[derive(Debug, Clone, Copy)]
struct BlockCase {
    n: usize,
    c: usize,
    out: usize,
    h: usize,
    w: usize,
    stride: usize,
    gelu: bool,
}

/// conv3x3(stride) - bn - act - conv3x3 - bn, with a 1x1 conv + bn shortcut when the shape
/// changes.
fn block<B: Backend>(k: BlockCase, seed: u64, dev: &B) -> Residual<B> {
    let conv = |i, o, size, s, p, sd| {
        let cfg = Conv2dConfig::new(i, o, size)
            .stride(s)
            .padding(p)
            .bias(false);
        Conv2d::new(cfg, sd, dev).unwrap()
    };
    let mut body = Sequential::new()
        .push(conv(k.c, k.out, 3, k.stride, 1, seed))
        .push(BatchNorm::new_2d(k.out, dev).unwrap());
    body = if k.gelu {
        body.push(GELU)
    } else {
        body.push(ReLU)
    };
    let body = body
        .push(conv(k.out, k.out, 3, 1, 1, seed + 1))
        .push(BatchNorm::new_2d(k.out, dev).unwrap());
    let shortcut = (k.stride != 1 || k.c != k.out).then(|| {
        Sequential::new()
            .push(conv(k.c, k.out, 1, k.stride, 0, seed + 2))
            .push(BatchNorm::new_2d(k.out, dev).unwrap())
    });
    Residual { body, shortcut }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    #[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
    fn gelu_matches(shape in prop::collection::vec(1usize..9, 1..=4), seed in any::<u64>()) {
        // both tails: large negative x (Φ small) and large positive (Φ near 1)
        let inputs = [input(&shape, seed, -6.0, 6.0)];
        let (cpu, gpu) = both!(inputs, |xs| xs[0].gelu());
        assert_close(&format!("gelu {shape:?}"), &gpu, &cpu, TOL);
    }

    #[test]
    #[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
    fn gelu_on_a_transposed_view_matches(m in 1usize..9, n in 1usize..9, seed in any::<u64>()) {
        let inputs = [input(&[m, n], seed, -4.0, 4.0)];
        let (cpu, gpu) = both!(inputs, |xs| xs[0].t()?.gelu());
        assert_close("gelu (view)", &gpu, &cpu, TOL);
    }

    #[test]
    #[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
    fn padded_avg_pools_match(
        (n, c, h, w) in (1usize..4, 1usize..5, 2usize..14, 2usize..14),
        (kh, kw, sh, sw) in (2usize..6, 2usize..6, 1usize..4, 1usize..4),
        (ph, pw) in (1usize..3, 1usize..3),
        seed in any::<u64>(),
    ) {
        // padding at most half the window, as PyTorch requires; the padding counts in every
        // average (count_include_pad)
        let padding = (ph.min(kh / 2), pw.min(kw / 2));
        prop_assume!(out_size(h, kh, sh, padding.0, 1) > 0 && out_size(w, kw, sw, padding.1, 1) > 0);
        let opts = Pool2dOptions { kernel: (kh, kw), stride: (sh, sw), padding };
        let inputs = [input(&[n, c, h, w], seed, -2.0, 2.0)];
        let (cpu, gpu) = both!(inputs, |xs| xs[0].avg_pool2d(opts));
        assert_close(&format!("avg_pool2d {opts:?}"), &gpu, &cpu, TOL);
    }

    #[test]
    #[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
    fn global_average_pooling_matches(
        (n, c, h, w) in (1usize..5, 1usize..9, 1usize..20, 1usize..20),
        seed in any::<u64>(),
    ) {
        let x = input(&[n, c, h, w], seed, -3.0, 3.0);
        let (cpu, gpu) = both_modules(&mut GlobalAvgPool2d, &mut GlobalAvgPool2d, &x, false);
        let bad = compare_runs("global average pooling", &gpu, &cpu, TOL);
        prop_assert!(bad.is_empty(), "{:?}", bad);
        prop_assert_eq!(cpu.out.len(), n * c);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    #[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
    fn residual_blocks_match(
        (n, c, out, h, w) in (2usize..5, 1usize..6, 1usize..7, 3usize..11, 3usize..11),
        (stride, gelu, train) in (1usize..3, any::<bool>(), any::<bool>()),
        seed in any::<u64>(),
    ) {
        let k = BlockCase { n, c, out, h, w, stride, gelu };
        let x = input(&[n, c, h, w], seed, -2.0, 2.0);
        let (cpu, gpu) = both_modules(&mut block(k, seed, &Cpu), &mut block(k, seed, &gpu()), &x, train);
        let bad = compare_runs(&format!("{k:?} train={train}"), &gpu, &cpu, TOL);
        prop_assert!(bad.is_empty(), "{:?}", bad);
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
fn wide_residual_blocks_match() {
    // many channels and large planes: several tiles of every kernel, with and without shortcut
    for k in [
        BlockCase {
            n: 4,
            c: 64,
            out: 64,
            h: 16,
            w: 12,
            stride: 1,
            gelu: true,
        },
        BlockCase {
            n: 3,
            c: 40,
            out: 96,
            h: 17,
            w: 15,
            stride: 2,
            gelu: false,
        },
    ] {
        let x = input(&[k.n, k.c, k.h, k.w], 21, -2.0, 2.0);
        for train in [true, false] {
            let (cpu, gpu) =
                both_modules(&mut block(k, 4, &Cpu), &mut block(k, 4, &gpu()), &x, train);
            let bad = compare_runs(&format!("{k:?} train={train}"), &gpu, &cpu, TOL);
            assert!(bad.is_empty(), "{bad:?}");
        }
    }
}

// ---------------------------------------------------------------- the model files

const MODEL_FILES: [(&str, &str, &[u8]); 3] = [
    (
        "gelu_residual",
        include_str!("../../crates/nn/tests/fixtures/model_files/gelu_residual.toml"),
        include_bytes!("../../crates/nn/tests/fixtures/model_files/gelu_residual.safetensors"),
    ),
    (
        "flat_head",
        include_str!("../../crates/nn/tests/fixtures/model_files/flat_head.toml"),
        include_bytes!("../../crates/nn/tests/fixtures/model_files/flat_head.safetensors"),
    ),
    (
        "nested",
        include_str!("../../crates/nn/tests/fixtures/model_files/nested.toml"),
        include_bytes!("../../crates/nn/tests/fixtures/model_files/nested.safetensors"),
    ),
];

/// A model file with its PyTorch fixture (compiled in: the GPU machine runs prebuilt binaries).
struct ModelCase {
    name: &'static str,
    arch: Architecture,
    input: [usize; 3],
    classes: usize,
    tensors: NamedTensors,
    meta: Metadata,
}

fn model_cases() -> Vec<ModelCase> {
    let dir = tempfile::tempdir().unwrap();
    MODEL_FILES
        .iter()
        .map(|&(name, toml, fixture)| {
            let path = dir.path().join(format!("{name}.toml"));
            std::fs::write(&path, toml).unwrap();
            let file = ModelFile::read(&path).unwrap();
            let (tensors, meta) =
                parse_safetensors(fixture, Path::new(&format!("{name}.safetensors"))).unwrap();
            let input: Vec<usize> = serde_json::from_str(&meta["input_shape"]).unwrap();
            ModelCase {
                name,
                arch: Architecture::Layers {
                    name: name.to_string(),
                    layers: file.layers,
                },
                input: input.try_into().unwrap(),
                classes: meta["classes"].parse().unwrap(),
                tensors,
                meta,
            }
        })
        .collect()
}

impl ModelCase {
    /// PyTorch's state dict (the fixture's `state.` entries).
    fn state(&self) -> NamedTensors {
        self.tensors
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("state.")?.to_string(), v.clone())))
            .collect()
    }

    fn model<B: Backend>(&self, arch: &Architecture, dev: &B) -> Model<B> {
        let mut m = Model::new(arch, self.input, self.classes, 0, dev).unwrap();
        state_dict::load_tensors(&mut m, &self.state(), self.name).unwrap();
        m
    }

    fn tensor<B: Backend>(&self, key: &str, dev: &B) -> Tensor<B> {
        let (shape, v) = &self.tensors[key];
        Tensor::from_slice(v, shape, dev).unwrap()
    }

    fn adam(&self) -> AdamConfig {
        let a: serde_json::Value = serde_json::from_str(&self.meta["adam"]).unwrap();
        AdamConfig {
            lr: a["lr"].as_f64().unwrap() as f32,
            beta1: a["betas"][0].as_f64().unwrap(),
            beta2: a["betas"][1].as_f64().unwrap(),
            eps: a["eps"].as_f64().unwrap() as f32,
            weight_decay: a["weight_decay"].as_f64().unwrap() as f32,
            decoupled: false,
        }
    }

    /// The architecture with every dropout's p set to 0 (the fixture's train-mode values).
    fn without_dropout(&self) -> Architecture {
        fn walk(layers: &mut [LayerSpec]) {
            for l in layers {
                match l {
                    LayerSpec::Dropout { p } => *p = 0.0,
                    LayerSpec::Residual { body, shortcut } => {
                        walk(body);
                        if let Some(s) = shortcut {
                            walk(s);
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut arch = self.arch.clone();
        if let Architecture::Layers { layers, .. } = &mut arch {
            walk(layers);
        }
        arch
    }
}

fn check(failures: &mut Vec<String>, what: String, got: &[f32], want: &[f32], tol: f64) {
    let e = rel_err(got, want);
    println!("{what}: relative error {e:.2e}");
    if e > tol || e.is_nan() {
        failures.push(format!("{what}: {e:.2e}"));
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
fn model_files_match_pytorch_on_the_gpu() {
    let dev = gpu();
    let mut failures = Vec::new();
    for f in model_cases() {
        let x = f.tensor("input", &dev);
        let y = f.tensor("labels", &dev);
        let mut net = f.model(&f.arch, &dev);
        let logits = no_grad(|| net.forward(&x, &mut Context::eval())).unwrap();
        let want = &f.tensors["eval_logits"].1;
        let what = format!("{} eval_logits", f.name);
        check(&mut failures, what, &logits.to_vec().unwrap(), want, 1e-4);

        let mut net = f.model(&f.without_dropout(), &dev);
        let logits = net.forward(&x, &mut Context::train(1)).unwrap();
        let want = &f.tensors["train_logits"].1;
        let what = format!("{} train_logits", f.name);
        check(&mut failures, what, &logits.to_vec().unwrap(), want, 1e-4);
        let loss = CrossEntropyLoss::new().forward(&logits, &y).unwrap();
        let want = &f.tensors["train_loss"].1;
        let what = format!("{} train_loss", f.name);
        check(
            &mut failures,
            what,
            &[loss.to_scalar().unwrap()],
            want,
            1e-4,
        );
        let grads = loss.backward().unwrap();
        let mut checked = 0;
        net.visit(&mut |name, t, kind| {
            if kind == TensorKind::Parameter {
                let g = grads.get(t).expect("every parameter has a gradient");
                let want = &f.tensors[&format!("grad.{name}")].1;
                let what = format!("{} grad.{name}", f.name);
                check(&mut failures, what, &g.to_vec().unwrap(), want, 1e-3);
                checked += 1;
            }
        });
        let expected = f.tensors.keys().filter(|k| k.starts_with("grad.")).count();
        assert_eq!(checked, expected, "{}: every gradient compared", f.name);

        let mut opt = Adam::new(f.adam(), &dev);
        drop(loss);
        drop(logits);
        opt.step(&mut net, &grads).unwrap();
        let state = state_dict::state_dict(&net).unwrap();
        for (name, t) in &state {
            let want = &f.tensors[&format!("after_adam.{name}")].1;
            let what = format!("{} after_adam.{name}", f.name);
            check(&mut failures, what, &t.data, want, 1e-3);
        }
        let expected = f
            .tensors
            .keys()
            .filter(|k| k.starts_with("after_adam."))
            .count();
        assert_eq!(state.len(), expected, "{}: every tensor compared", f.name);
    }
    assert!(failures.is_empty(), "{failures:?}");
}

/// One training step's loss and parameter gradients, on the host (the step is taken).
struct Step {
    loss: f32,
    grads: BTreeMap<String, Vec<f32>>,
}

fn train_step<B: Backend>(
    net: &mut Model<B>,
    opt: &mut Adam<B>,
    (x, y): (&Tensor<B>, &Tensor<B>),
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

/// A random batch for `f` (the same on every device).
fn batch<B: Backend>(f: &ModelCase, n: usize, seed: u64, dev: &B) -> (Tensor<B>, Tensor<B>) {
    let [c, h, w] = f.input;
    let x = Tensor::rand_normal(&[n, c, h, w], 0.0, 1.0, seed, &Cpu).unwrap();
    let y: Vec<f32> = (0..n as u64)
        .map(|i| (kiln_tensor::rng::hash64(seed, i) % f.classes as u64) as f32)
        .collect();
    (
        Tensor::from_slice(&x.to_vec().unwrap(), &[n, c, h, w], dev).unwrap(),
        Tensor::from_slice(&y, &[n], dev).unwrap(),
    )
}

#[test]
#[ignore = "needs an NVIDIA GPU: run with --ignored on a GPU machine"]
fn model_file_training_steps_agree_across_backends() {
    // the files as written (gelu_residual's dropout active, the same masks on both devices)
    let dev = gpu();
    let mut failures = Vec::new();
    for f in model_cases() {
        let mut cpu_net = f.model(&f.arch, &Cpu);
        let mut gpu_net = Model::new(&f.arch, f.input, f.classes, 0, &dev).unwrap();
        state_dict::copy_state(&cpu_net, &mut gpu_net).unwrap();
        let adam = f.adam();
        let (mut cpu_opt, mut gpu_opt) = (Adam::new(adam, &Cpu), Adam::new(adam, &dev));
        for step in 0..3u64 {
            let (xc, yc) = batch(&f, 16, 200 + step, &Cpu);
            let (xg, yg) = batch(&f, 16, 200 + step, &dev);
            let c = train_step(&mut cpu_net, &mut cpu_opt, (&xc, &yc), 50 + step);
            let g = train_step(&mut gpu_net, &mut gpu_opt, (&xg, &yg), 50 + step);
            let what = format!("{} step {step} loss", f.name);
            check(&mut failures, what, &[g.loss], &[c.loss], 1e-4);
            let tol = if step == 0 { 1e-4 } else { 1e-3 };
            for (name, cg) in &c.grads {
                let what = format!("{} step {step} grad.{name}", f.name);
                check(&mut failures, what, &g.grads[name], cg, tol);
            }
        }
        let (a, b) = (
            state_dict::state_dict(&cpu_net).unwrap(),
            state_dict::state_dict(&gpu_net).unwrap(),
        );
        for (name, t) in &a {
            let what = format!("{} after 3 steps {name}", f.name);
            check(&mut failures, what, &b[name].data, &t.data, 1e-3);
        }
        // and evaluation mode on the trained weights
        let (xc, _) = batch(&f, 8, 300, &Cpu);
        let (xg, _) = batch(&f, 8, 300, &dev);
        let lc = no_grad(|| cpu_net.forward(&xc, &mut Context::eval())).unwrap();
        let lg = no_grad(|| gpu_net.forward(&xg, &mut Context::eval())).unwrap();
        let what = format!("{} eval logits after training", f.name);
        check(
            &mut failures,
            what,
            &lg.to_vec().unwrap(),
            &lc.to_vec().unwrap(),
            1e-4,
        );
    }
    assert!(failures.is_empty(), "{failures:?}");
}
