//! Finite differences through whole blocks that the per-op checks (kiln-tensor's
//! tests/gradcheck.rs) only see one op at a time: residual blocks with batch norm in training
//! mode (batch statistics), GELU, a padded average pool in a shortcut, global average pooling
//! and a linear head, under the cross-entropy loss. Autograd's gradient of every parameter and
//! of the input must agree with central differences to 1% (relative norm).

use std::collections::BTreeMap;

use kiln_nn::state_dict::{self, NamedTensors};
use kiln_nn::{Architecture, Context, CrossEntropyLoss, Model, ModelFile, Module, TensorKind};
use kiln_tensor::testing::rel_err;
use kiln_tensor::{Cpu, Tensor, no_grad};

/// No convolution bias sits where a batch norm would cancel it (its gradient would be zero up
/// to rounding, which differences cannot check); no ReLU, whose kink a probe could cross.
const BLOCKS: &str = r#"
[[layer]]
type = "conv2d"
out_channels = 4
kernel_size = 3
padding = 1

[[layer]]
type = "residual"
body = [
  { type = "conv2d", out_channels = 4, kernel_size = 3, padding = 1, bias = false },
  { type = "batchnorm2d" },
  { type = "gelu" },
  { type = "conv2d", out_channels = 4, kernel_size = 3, padding = 1 },
]

[[layer]]
type = "gelu"

[[layer]]
type = "residual"
body = [
  { type = "conv2d", out_channels = 6, kernel_size = 3, stride = 2, padding = 1, bias = false },
  { type = "batchnorm2d" },
  { type = "gelu" },
]
shortcut = [
  { type = "avgpool2d", kernel_size = 3, stride = 2, padding = 1 },
  { type = "conv2d", out_channels = 6, kernel_size = 1 },
]

[[layer]]
type = "adaptiveavgpool2d"

[[layer]]
type = "flatten"

[[layer]]
type = "linear"
"#;

const EPS: f32 = 1e-2;
const TOL: f64 = 1e-2;
/// Elements probed per tensor, spread over it.
const PROBES: usize = 24;

fn model() -> Model<Cpu> {
    let file: ModelFile = toml::from_str(BLOCKS).unwrap();
    let arch = Architecture::Layers {
        name: "blocks".into(),
        layers: file.layers,
    };
    Model::new(&arch, [2, 7, 6], 3, 5, &Cpu).unwrap()
}

/// The training-mode loss of `m` with `state` loaded, on `x`.
fn loss_at(m: &mut Model<Cpu>, state: &NamedTensors, x: &[f32], y: &Tensor<Cpu>) -> f64 {
    state_dict::load_tensors(m, state, "probe").unwrap();
    let x = Tensor::from_slice(x, &[4, 2, 7, 6], &Cpu).unwrap();
    no_grad(|| {
        let logits = m.forward(&x, &mut Context::train(0)).unwrap();
        let loss = CrossEntropyLoss::new().forward(&logits, y).unwrap();
        loss.to_scalar().unwrap() as f64
    })
}

fn probes(n: usize) -> Vec<usize> {
    if n <= PROBES {
        (0..n).collect()
    } else {
        (0..PROBES).map(|j| j * n / PROBES).collect()
    }
}

#[test]
fn residual_blocks_with_batch_norm_and_global_pooling_match_finite_differences() {
    let mut m = model();
    let x0 = Tensor::<Cpu>::rand_normal(&[4, 2, 7, 6], 0.0, 1.0, 11, &Cpu)
        .unwrap()
        .to_vec()
        .unwrap();
    let y = Tensor::from_slice(&[0.0, 2.0, 1.0, 2.0], &[4], &Cpu).unwrap();
    // the running statistics change with every training forward but never its output
    let state: NamedTensors = state_dict::state_dict(&m)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, (v.shape, v.data)))
        .collect();

    let x = Tensor::from_slice(&x0, &[4, 2, 7, 6], &Cpu)
        .unwrap()
        .set_requires_grad(true);
    let logits = m.forward(&x, &mut Context::train(0)).unwrap();
    let grads = CrossEntropyLoss::new()
        .forward(&logits, &y)
        .unwrap()
        .backward()
        .unwrap();
    let mut analytic: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    m.visit(&mut |name, t, kind| {
        if kind == TensorKind::Parameter {
            let g = grads
                .get(t)
                .unwrap_or_else(|| panic!("no gradient for {name}"));
            analytic.insert(name.to_string(), g.to_vec().unwrap());
        }
    });
    analytic.insert("input".into(), grads.get(&x).unwrap().to_vec().unwrap());
    assert_eq!(analytic.len(), 15, "14 parameters and the input");

    let mut failures = Vec::new();
    for (name, ana) in &analytic {
        let mut num = Vec::new();
        let mut picked = Vec::new();
        for j in probes(ana.len()) {
            let mut eval = |delta: f32| {
                let (mut s, mut xv) = (state.clone(), x0.clone());
                match s.get_mut(name) {
                    Some((_, v)) => v[j] += delta,
                    None => xv[j] += delta,
                }
                loss_at(&mut m, &s, &xv, &y)
            };
            num.push(((eval(EPS) - eval(-EPS)) / (2.0 * EPS as f64)) as f32);
            picked.push(ana[j]);
        }
        let e = rel_err(&picked, &num);
        println!("{name}: relative error {e:.2e} over {} probes", num.len());
        if e >= TOL {
            failures.push(format!(
                "{name}: {e:.2e}\n analytic {picked:?}\n numeric  {num:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
