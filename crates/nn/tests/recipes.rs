//! Training recipes against PyTorch: learning-rate schedules, SGD (momentum, Nesterov,
//! dampening, weight decay), Adam with coupled and AdamW with decoupled weight decay, and
//! label-smoothing cross-entropy. The reference values are committed in
//! `tests/fixtures/recipes`, made by `scripts/fixtures/recipes.py`; sizes and
//! hyperparameters come from the fixture's JSON.

use std::collections::BTreeMap;
use std::path::PathBuf;

use kiln_nn::state_dict::read_safetensors;
use kiln_nn::{
    Adam, AdamConfig, Context, Interval, LrSchedule, Module, Optimizer, ScheduleError,
    ScheduleKind, Sgd, SgdConfig, TensorKind,
};
use kiln_tensor::testing::rel_err;
use kiln_tensor::{Cpu, Tensor};
use serde_json::Value;

type Named = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/recipes")
        .join(name)
}

fn json(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    println!("{name}: recorded with PyTorch {}", v["torch"]);
    v
}

fn tensors(name: &str) -> Named {
    read_safetensors(&fixture(name)).unwrap().0
}

fn f32_of(v: &Value) -> f32 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")) as f32
}

fn u64_of(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

/// The Kiln schedule a fixture case describes.
fn schedule_of(c: &Value) -> LrSchedule {
    let base = match c["kind"].as_str().unwrap() {
        "constant" => LrSchedule::constant(),
        "step" => LrSchedule::step(u64_of(&c["step_epochs"]), f32_of(&c["gamma"])),
        "cosine" => LrSchedule::cosine(f32_of(&c["eta_min"])),
        "onecycle" => LrSchedule {
            kind: ScheduleKind::OneCycle {
                pct_start: f32_of(&c["pct_start"]),
                div_factor: f32_of(&c["div_factor"]),
                final_div_factor: f32_of(&c["final_div_factor"]),
            },
            ..LrSchedule::one_cycle()
        },
        k => panic!("unknown schedule kind {k}"),
    };
    let interval = match c["interval"].as_str().unwrap() {
        "step" => Interval::Step,
        "epoch" => Interval::Epoch,
        i => panic!("unknown interval {i}"),
    };
    let mut s = base
        .with_warmup(u64_of(&c["warmup_epochs"]))
        .with_interval(interval);
    s.warmup_start_factor = f32_of(&c["warmup_start_factor"]);
    s
}

#[test]
fn schedules_match_pytorch_at_every_step() {
    let f = json("schedules.json");
    let cases = f["cases"].as_array().unwrap();
    let mut worst: BTreeMap<String, f64> = BTreeMap::new();
    let mut steps_checked = 0;
    for case in cases {
        let c = &case["schedule"];
        let (epochs, spe) = (u64_of(&case["epochs"]), u64_of(&case["steps_per_epoch"]));
        let lrs = case["lrs"].as_array().unwrap();
        assert_eq!(lrs.len() as u64, epochs * spe, "{}", case["pytorch"]);
        let s = schedule_of(c);
        let base = f32_of(&c["base_lr"]);
        let mut case_worst = 0.0f64;
        for (step, want) in lrs.iter().enumerate() {
            let want = want.as_f64().unwrap();
            let got = s.lr_at(base, step as u64, spe, epochs).unwrap() as f64;
            let e = (got - want).abs() / want.abs();
            assert!(
                e <= 1e-6,
                "{} ({epochs}x{spe}), step {step}: kiln {got}, pytorch {want} (rel {e:.2e})",
                case["pytorch"]
            );
            case_worst = case_worst.max(e);
            steps_checked += 1;
        }
        let key = format!(
            "{} per {}{}",
            c["kind"].as_str().unwrap(),
            c["interval"].as_str().unwrap(),
            if u64_of(&c["warmup_epochs"]) > 0 {
                " + warm-up"
            } else {
                ""
            }
        );
        let w = worst.entry(key).or_default();
        *w = w.max(case_worst);
    }
    for (k, e) in &worst {
        println!("{k}: largest relative error {e:.2e}");
    }
    println!("{} cases, {steps_checked} steps", cases.len());
    // every variant was compared
    for k in [
        "constant per step",
        "constant per epoch + warm-up",
        "step per epoch",
        "step per step + warm-up",
        "cosine per step",
        "cosine per step + warm-up",
        "cosine per epoch",
        "cosine per epoch + warm-up",
        "onecycle per step",
    ] {
        assert!(worst.contains_key(k), "the fixture has no `{k}` case");
    }
}

#[test]
fn schedule_is_a_pure_function_of_the_step_and_round_trips_through_json() {
    let s = LrSchedule::cosine(1e-4).with_warmup(2);
    let json = serde_json::to_string(&s).unwrap();
    let back: LrSchedule = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s, "{json}");
    // a resumed run asks for the same step and gets the same lr
    for step in [0, 7, 8, 39] {
        assert_eq!(
            s.lr_at(0.1, step, 4, 10).unwrap(),
            back.lr_at(0.1, step, 4, 10).unwrap()
        );
    }
    // past the run the last step's lr holds
    let last = s.lr_at(0.1, 39, 4, 10).unwrap();
    assert_eq!(s.lr_at(0.1, 40, 4, 10).unwrap(), last);
    assert_eq!(s.lr_at(0.1, 1000, 4, 10).unwrap(), last);
}

#[test]
fn invalid_schedules_are_typed_errors() {
    let err = |s: LrSchedule, lr: f32, spe: u64, epochs: u64| s.lr_at(lr, 0, spe, epochs);
    assert!(matches!(
        err(LrSchedule::cosine(0.0).with_warmup(3), 0.1, 5, 3),
        Err(ScheduleError::WarmupTooLong {
            warmup_epochs: 3,
            epochs: 3
        })
    ));
    assert!(matches!(
        err(LrSchedule::constant(), 0.1, 0, 3),
        Err(ScheduleError::EmptyRun { .. })
    ));
    assert!(matches!(
        err(LrSchedule::constant(), 0.1, 5, 0),
        Err(ScheduleError::EmptyRun { .. })
    ));
    assert!(matches!(
        err(LrSchedule::constant(), 0.0, 5, 3),
        Err(ScheduleError::Invalid { .. })
    ));
    assert!(matches!(
        err(LrSchedule::constant(), f32::NAN, 5, 3),
        Err(ScheduleError::Invalid { .. })
    ));
    assert!(matches!(
        err(LrSchedule::step(0, 0.1), 0.1, 5, 3),
        Err(ScheduleError::ZeroStepEpochs)
    ));
    assert!(matches!(
        err(LrSchedule::step(1, -0.1), 0.1, 5, 3),
        Err(ScheduleError::Invalid { .. })
    ));
    assert!(matches!(
        err(LrSchedule::cosine(0.2), 0.1, 5, 3),
        Err(ScheduleError::Invalid { .. })
    ));
    assert!(matches!(
        err(LrSchedule::one_cycle().with_warmup(1), 0.1, 5, 3),
        Err(ScheduleError::OneCycleWarmup { warmup_epochs: 1 })
    ));
    assert!(matches!(
        err(
            LrSchedule::one_cycle().with_interval(Interval::Epoch),
            0.1,
            5,
            3
        ),
        Err(ScheduleError::OneCyclePerEpoch)
    ));
    // 0.3 of 3 steps is under one step of rise: PyTorch divides by zero or runs backwards
    assert!(matches!(
        err(LrSchedule::one_cycle(), 0.1, 3, 1),
        Err(ScheduleError::OneCycleTooShort { total_steps: 3, .. })
    ));
    let mut s = LrSchedule::constant().with_warmup(1);
    s.warmup_start_factor = 0.0;
    let e = err(s, 0.1, 5, 3).unwrap_err();
    assert!(matches!(e, ScheduleError::Invalid { .. }));
    assert!(e.to_string().contains("warm-up start factor"), "{e}");
    let e: kiln_nn::NnError = e.into();
    assert!(e.to_string().contains("warm-up start factor"), "{e}");
}

/// A set of named parameters (the fixture's), stepped as a module.
struct Params(Vec<(String, Tensor<Cpu>)>);

impl Module<Cpu> for Params {
    fn forward(&mut self, x: &Tensor<Cpu>, _ctx: &mut Context) -> kiln_nn::Result<Tensor<Cpu>> {
        Ok(x.clone())
    }
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<Cpu>, TensorKind)) {
        for (n, t) in &self.0 {
            f(n, t, TensorKind::Parameter);
        }
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<Cpu>, TensorKind)) {
        for (n, t) in &mut self.0 {
            f(n, t, TensorKind::Parameter);
        }
    }
}

fn tensor(t: &Named, name: &str) -> Tensor<Cpu> {
    let (shape, data) = t
        .get(name)
        .unwrap_or_else(|| panic!("fixture lacks {name}"));
    Tensor::from_slice(data, shape, &Cpu).unwrap()
}

/// Runs one optimizer case: the fixture's grads at the fixture's lrs, comparing the params and
/// the state after every step. Returns the largest relative error.
fn run_optimizer_case(case: &Value, names: &[String], t: &Named) -> f64 {
    let cname = case["name"].as_str().unwrap();
    let lrs: Vec<f32> = case["lrs"].as_array().unwrap().iter().map(f32_of).collect();
    let steps = u64_of(&case["steps"]) as usize;
    assert_eq!(lrs.len(), steps);
    let mut opt: Box<dyn Optimizer<Cpu>> = match case["kind"].as_str().unwrap() {
        "sgd" => Box::new(
            Sgd::new(
                SgdConfig {
                    lr: lrs[0],
                    momentum: f32_of(&case["momentum"]),
                    dampening: f32_of(&case["dampening"]),
                    weight_decay: f32_of(&case["weight_decay"]),
                    nesterov: case["nesterov"].as_bool().unwrap(),
                },
                &Cpu,
            )
            .unwrap(),
        ),
        kind @ ("adam" | "adamw") => {
            assert_eq!(case["amsgrad"], Value::Bool(false));
            Box::new(Adam::new(
                AdamConfig {
                    lr: lrs[0],
                    beta1: case["betas"][0].as_f64().unwrap(),
                    beta2: case["betas"][1].as_f64().unwrap(),
                    eps: f32_of(&case["eps"]),
                    weight_decay: f32_of(&case["weight_decay"]),
                    decoupled: kind == "adamw",
                },
                &Cpu,
            ))
        }
        k => panic!("unknown optimizer {k}"),
    };
    let mut model = Params(
        names
            .iter()
            .map(|n| {
                let p = tensor(t, &format!("{cname}.init.{n}")).set_requires_grad(true);
                (n.clone(), p)
            })
            .collect(),
    );
    let mut worst = 0.0f64;
    for (step, &lr) in lrs.iter().enumerate() {
        // loss = Σ sum(p ⊙ g): its gradient for p is exactly g
        let mut loss: Option<Tensor<Cpu>> = None;
        for (n, p) in &model.0 {
            let g = tensor(t, &format!("{cname}.grad.{step}.{n}"));
            let term = p.mul(&g).unwrap().sum_all().unwrap();
            loss = Some(match loss {
                Some(l) => l.add(&term).unwrap(),
                None => term,
            });
        }
        let grads = loss.unwrap().backward().unwrap();
        opt.set_learning_rate(lr);
        opt.step(&mut model, &grads).unwrap();
        let mut compared = Vec::new();
        for (n, p) in &model.0 {
            compared.push((format!("param.{n}"), p.to_vec().unwrap()));
        }
        let state = opt.state().unwrap();
        assert_eq!(state.step, step as u64 + 1);
        for (key, _, data) in state.buffers {
            compared.push((key, data));
        }
        let mut state_keys = 0;
        for (key, got) in compared {
            let (kind, n) = key.split_once('.').unwrap();
            let want = &t
                .get(&format!("{cname}.{kind}.{step}.{n}"))
                .unwrap_or_else(|| panic!("{cname}: fixture lacks {kind}.{step}.{n}"))
                .1;
            let e = rel_err(&got, want);
            assert!(
                e <= 1e-5,
                "{cname}: {key} after step {step}: relative error {e:.2e}"
            );
            worst = worst.max(e);
            state_keys += usize::from(kind != "param");
        }
        // every state tensor PyTorch keeps was compared
        let expected = t
            .keys()
            .filter(|k| k.starts_with(&format!("{cname}.")))
            .filter(|k| k.split('.').nth(2) == Some(&step.to_string()))
            .filter(|k| !k.contains(".param.") && !k.contains(".grad."))
            .count();
        assert_eq!(state_keys, expected, "{cname} step {step}: state tensors");
        assert!(expected >= names.len(), "{cname}: no state in the fixture");
    }
    worst
}

#[test]
fn sgd_adam_and_adamw_match_pytorch_after_every_step() {
    let f = json("optimizers.json");
    let t = tensors("optimizers.safetensors");
    let names: Vec<String> = f["params"].as_object().unwrap().keys().cloned().collect();
    let cases = f["cases"].as_array().unwrap();
    let mut kinds = Vec::new();
    for case in cases {
        let e = run_optimizer_case(case, &names, &t);
        println!(
            "{}: largest relative error over {} steps {e:.2e}",
            case["name"].as_str().unwrap(),
            case["steps"]
        );
        kinds.push(case["kind"].as_str().unwrap().to_string());
        if case["kind"] == "sgd" && case["nesterov"] == Value::Bool(true) {
            kinds.push("sgd nesterov".into());
        }
    }
    for k in ["sgd", "sgd nesterov", "adam", "adamw"] {
        assert!(kinds.iter().any(|x| x == k), "the fixture has no {k} case");
    }
}

#[test]
fn label_smoothing_cross_entropy_and_its_gradient_match_pytorch() {
    let f = json("cross_entropy.json");
    let t = tensors("cross_entropy.safetensors");
    let cases = f["cases"].as_array().unwrap();
    assert!(cases.iter().any(|c| f32_of(&c["smoothing"]) > 0.0));
    for c in cases {
        let n = c["name"].as_str().unwrap();
        let smoothing = f32_of(&c["smoothing"]);
        let logits = tensor(&t, &format!("{n}.logits")).set_requires_grad(true);
        assert_eq!(
            logits.shape(),
            [u64_of(&c["batch"]) as usize, u64_of(&c["classes"]) as usize]
        );
        let labels = tensor(&t, &format!("{n}.labels"));
        let loss = logits.cross_entropy(&labels, smoothing).unwrap();
        let el = rel_err(&[loss.to_scalar().unwrap()], &t[&format!("{n}.loss")].1);
        let grads = loss.backward().unwrap();
        let g = grads.get(&logits).unwrap().to_vec().unwrap();
        let eg = rel_err(&g, &t[&format!("{n}.grad")].1);
        println!("{n}: loss relative error {el:.2e}, gradient {eg:.2e}");
        assert!(el <= 1e-5, "{n}: loss relative error {el:.2e}");
        assert!(eg <= 1e-5, "{n}: gradient relative error {eg:.2e}");
    }
}
