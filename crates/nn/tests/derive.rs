//! `#[derive(Module)]`: names, shapes and kinds against PyTorch twins of the same modules
//! (`tests/fixtures/derive`, from `scripts/fixtures/torch_module_names.py`), state dicts
//! through save and load, and `forward` reaching the struct's own method.

use std::path::PathBuf;

use kiln_nn::layers::{BatchNorm, Conv2d, Conv2dConfig, Linear, ReLU, Sequential};
use kiln_nn::model::builtin;
use kiln_nn::module::describe;
use kiln_nn::state_dict::{self, read_safetensors};
use kiln_nn::{Context, Model, Module, TensorKind};
use kiln_tensor::{Backend, Cpu, Tensor};
use serde_json::Value;

#[derive(Module)]
struct Stem<B: Backend> {
    conv: Conv2d<B>,
    bn: BatchNorm<B>,
}

impl<B: Backend> Stem<B> {
    fn forward(&mut self, x: &Tensor<B>, ctx: &mut Context) -> kiln_nn::Result<Tensor<B>> {
        let h = self.conv.forward(x, ctx)?;
        self.bn.forward(&h, ctx)
    }
}

/// Every kind of field; its PyTorch twin is `Everything` in the fixture script.
#[derive(Module)]
struct Everything<B: Backend> {
    #[module(param)]
    scale: Tensor<B>,
    #[module(param)]
    gate: Option<Tensor<B>>,
    #[module(param)]
    unused: Option<Tensor<B>>,
    #[module(buffer)]
    ema: Tensor<B>,
    #[module(counter)]
    steps: Tensor<B>,
    stem: Stem<B>,
    layers: Vec<Linear<B>>,
    #[module(param)]
    taps: Vec<Tensor<B>>,
    head: Option<Linear<B>>,
    aux: Option<Linear<B>>,
    #[module(rename = "classifier")]
    out: Linear<B>,
    blocks: Vec<Box<dyn Module<B>>>,
    relu: ReLU,
    #[module(skip)]
    note: String,
    #[module(skip)]
    cache: Option<Tensor<B>>,
}

impl<B: Backend> Everything<B> {
    fn new(seed: u64, dev: &B) -> kiln_nn::Result<Self> {
        let param = |shape: &[usize], k: u64| -> kiln_nn::Result<Tensor<B>> {
            Ok(Tensor::rand_normal(shape, 0.0, 1.0, seed * 100 + k, dev)?.set_requires_grad(true))
        };
        let linear = |i, o, bias, k| Linear::new(i, o, bias, seed * 100 + k, dev);
        Ok(Everything {
            scale: param(&[4], 1)?,
            gate: Some(param(&[1], 2)?),
            unused: None,
            ema: Tensor::rand_normal(&[4], 0.0, 1.0, seed * 100 + 3, dev)?,
            steps: Tensor::zeros(&[], dev)?,
            stem: Stem {
                conv: Conv2d::new(Conv2dConfig::new(3, 4, 3), seed * 100 + 4, dev)?,
                bn: BatchNorm::new_2d(4, dev)?,
            },
            layers: vec![linear(4, 8, true, 5)?, linear(8, 8, true, 6)?],
            taps: (0..3)
                .map(|k| param(&[2, 3], 7 + k))
                .collect::<Result<_, _>>()?,
            head: Some(linear(8, 2, true, 10)?),
            aux: None,
            out: linear(2, 3, false, 11)?,
            blocks: vec![Box::new(ReLU), Box::new(linear(3, 3, true, 12)?)],
            relu: ReLU,
            note: "not a tensor".into(),
            cache: None,
        })
    }

    fn forward(&mut self, x: &Tensor<B>, ctx: &mut Context) -> kiln_nn::Result<Tensor<B>> {
        let mut h = x.mul(&self.scale)?;
        for l in &mut self.layers {
            h = self.relu.forward(&l.forward(&h, ctx)?, ctx)?;
        }
        if let Some(head) = &mut self.head {
            h = head.forward(&h, ctx)?;
        }
        h = self.out.forward(&h, ctx)?;
        for b in &mut self.blocks {
            h = b.forward(&h, ctx)?;
        }
        Ok(h)
    }
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/derive")
}

/// PyTorch's `[name, shape, kind]` list of a twin.
fn torch_entries(twin: &str) -> Vec<(String, Vec<usize>, TensorKind)> {
    let text = std::fs::read_to_string(fixtures().join("module_names.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let kind = |k: &Value| match k.as_str().unwrap() {
        "parameter" => TensorKind::Parameter,
        "buffer" => TensorKind::Buffer,
        "counter" => TensorKind::Counter,
        other => panic!("unknown kind {other}"),
    };
    v[twin]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let shape = e[1].as_array().unwrap();
            let shape = shape.iter().map(|d| d.as_u64().unwrap() as usize).collect();
            (e[0].as_str().unwrap().to_string(), shape, kind(&e[2]))
        })
        .collect()
}

#[test]
fn every_field_kind_has_pytorchs_name_shape_kind_and_order() {
    let net = Everything::new(1, &Cpu).unwrap();
    assert_eq!(describe(&net), torch_entries("everything"));
    assert_eq!(net.note, "not a tensor");
    assert!(net.aux.is_none() && net.unused.is_none() && net.cache.is_none());
}

#[test]
fn vec_and_array_fields_number_like_module_list() {
    #[derive(Module)]
    struct Lists<B: Backend> {
        layers: Vec<Linear<B>>,
        pair: [Linear<B>; 2],
        sparse: Vec<Option<Linear<B>>>,
    }
    impl<B: Backend> Lists<B> {
        fn forward(&mut self, x: &Tensor<B>, _: &mut Context) -> kiln_nn::Result<Tensor<B>> {
            Ok(x.clone())
        }
    }
    let l = |k| Linear::new(2, 2, false, k, &Cpu).unwrap();
    let m = Lists {
        layers: vec![l(1), l(2)],
        pair: [l(3), l(4)],
        sparse: vec![Some(l(5)), None, Some(l(6))],
    };
    let names: Vec<String> = describe(&m).into_iter().map(|(n, ..)| n).collect();
    let want = [
        "layers.0.weight",
        "layers.1.weight",
        "pair.0.weight",
        "pair.1.weight",
        "sparse.0.weight",
        // an element that is `None` keeps its number for the ones after it
        "sparse.2.weight",
    ];
    assert_eq!(names, want);
}

#[test]
fn visit_mut_reaches_the_same_tensors_as_visit() {
    let mut net = Everything::new(1, &Cpu).unwrap();
    let mut seen = Vec::new();
    net.visit_mut(&mut |name, t, kind| {
        seen.push((name.to_string(), t.shape().to_vec(), kind));
        *t = Tensor::full(seen.len() as f32, t.shape(), &Cpu).unwrap();
    });
    assert_eq!(seen, describe(&net));
    let sd = state_dict::state_dict(&net).unwrap();
    for (i, (name, ..)) in seen.iter().enumerate() {
        assert!(sd[name].data.iter().all(|&v| v == (i + 1) as f32), "{name}");
    }
}

#[test]
fn a_pytorch_state_dict_loads_and_the_state_dict_round_trips_through_save() {
    let torch_file = fixtures().join("derive_net.safetensors");
    let (torch, _) = read_safetensors(&torch_file).unwrap();
    let mut a = Everything::new(1, &Cpu).unwrap();
    state_dict::load(&mut a, &torch_file).unwrap();
    let sa = state_dict::state_dict(&a).unwrap();
    assert_eq!(sa.len(), torch.len());
    for (name, (shape, data)) in &torch {
        assert_eq!(&sa[name].shape, shape, "{name}");
        assert_eq!(&sa[name].data, data, "{name}");
    }
    assert_eq!(sa["steps"].data, [7.0]);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("everything.safetensors");
    state_dict::save(&a, &path).unwrap();
    let mut b = Everything::new(2, &Cpu).unwrap();
    assert_ne!(state_dict::state_dict(&b).unwrap(), sa);
    state_dict::load(&mut b, &path).unwrap();
    let sb = state_dict::state_dict(&b).unwrap();
    for (name, t) in &sa {
        let bits = |d: &[f32]| d.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&t.data), bits(&sb[name].data), "{name}");
        assert_eq!(t.kind, sb[name].kind, "{name}");
    }
}

/// `x * w + 1`, by hand.
#[derive(Module)]
struct Affine<B: Backend> {
    #[module(param)]
    w: Tensor<B>,
}

impl<B: Backend> Affine<B> {
    fn forward(&mut self, x: &Tensor<B>, _ctx: &mut Context) -> kiln_nn::Result<Tensor<B>> {
        Ok(x.mul(&self.w)?.add_scalar(1.0)?)
    }
}

/// No backend parameter and no tensors: a module for every backend.
#[derive(Module)]
struct Gate;

impl Gate {
    fn forward<B: Backend>(
        &mut self,
        x: &Tensor<B>,
        _ctx: &mut Context,
    ) -> kiln_nn::Result<Tensor<B>> {
        Ok(x.relu()?.scale(10.0)?)
    }
}

#[test]
fn forward_calls_the_structs_own_method() {
    let x = [-2.0f32, -0.5, 0.5, 3.0];
    let w = [1.0f32, 2.0, 3.0, -4.0];
    let xt = Tensor::from_slice(&x, &[1, 4], &Cpu).unwrap();
    let affine = || Affine {
        w: Tensor::from_slice(&w, &[4], &Cpu).unwrap(),
    };
    let want: Vec<f32> = x.iter().zip(&w).map(|(a, b)| a * b + 1.0).collect();
    let ctx = &mut Context::eval();

    let mut a = affine();
    assert_eq!(
        Module::forward(&mut a, &xt, ctx).unwrap().to_vec().unwrap(),
        want
    );
    let mut boxed: Box<dyn Module<Cpu>> = Box::new(affine());
    assert_eq!(boxed.forward(&xt, ctx).unwrap().to_vec().unwrap(), want);

    let gated: Vec<f32> = want.iter().map(|v| v.max(0.0) * 10.0).collect();
    let mut seq = Sequential::new().push(affine()).push(Gate);
    assert_eq!(seq.forward(&xt, ctx).unwrap().to_vec().unwrap(), gated);
    assert!(describe::<Cpu, _>(&Gate).is_empty());
    assert_eq!(describe(&seq)[0].0, "0.w");

    let mut net = Everything::new(1, &Cpu).unwrap();
    let y = Module::forward(&mut net, &Tensor::ones(&[5, 4], &Cpu).unwrap(), ctx).unwrap();
    assert_eq!(y.shape(), &[5, 3]);
}

/// `Residual` (derived in kiln-nn) inside the built-in resnet9-half: `7.body.0.weight`...
#[test]
fn resnet9_half_keeps_pytorchs_names() {
    let arch = builtin("resnet9-half").unwrap();
    let model = Model::new(&arch, [3, 32, 32], 10, 0, &Cpu).unwrap();
    assert_eq!(describe(&model), torch_entries("resnet9_half"));
}
