//! Layer behaviour: modes, initialisation, running statistics, optimizers.

use kiln_nn::layers::{
    BatchNorm, Conv2d, Conv2dConfig, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential,
};
use kiln_nn::module::{describe, parameter_count};
use kiln_nn::{Adam, AdamConfig, Context, Module, Optimizer, Sgd, SgdConfig, TensorKind};
use kiln_tensor::{Cpu, Tensor};

#[test]
fn dropout_is_active_only_in_training() {
    let x = Tensor::<Cpu>::ones(&[10, 100], &Cpu).unwrap();
    let mut d = Dropout::new(0.5).unwrap();
    let e = d
        .forward(&x, &mut Context::eval())
        .unwrap()
        .to_vec()
        .unwrap();
    assert!(e.iter().all(|&v| v == 1.0));
    let t = d
        .forward(&x, &mut Context::train(3))
        .unwrap()
        .to_vec()
        .unwrap();
    let zeros = t.iter().filter(|&&v| v == 0.0).count();
    assert!((400..600).contains(&zeros), "{zeros} of 1000 dropped");
    assert!(t.iter().all(|&v| v == 0.0 || v == 2.0));
}

#[test]
fn default_init_is_pytorch_kaiming_uniform_bounds() {
    let c = Conv2d::new(Conv2dConfig::new(48, 96, 3), 5, &Cpu).unwrap();
    let w = c.weight.to_vec().unwrap();
    let bound = 1.0 / ((48 * 9) as f32).sqrt();
    assert!(w.iter().all(|v| v.abs() <= bound));
    let max = w.iter().fold(0f32, |a, v| a.max(v.abs()));
    assert!(max > 0.95 * bound, "uniform fills the range");
    let l = Linear::new(100, 10, true, 5, &Cpu).unwrap();
    assert!(
        l.bias
            .unwrap()
            .to_vec()
            .unwrap()
            .iter()
            .all(|v| v.abs() <= 0.1)
    );
}

#[test]
fn batch_norm_updates_running_stats_with_unbiased_variance() {
    let mut bn = BatchNorm::new_1d(1, &Cpu).unwrap();
    let x = Tensor::from_slice(&[1.0, 2.0, 3.0, 6.0], &[4, 1], &Cpu).unwrap();
    bn.forward(&x, &mut Context::train(0)).unwrap();
    // mean 3, unbiased var = (4+1+0+9)/3
    let rm = bn.running_mean.to_vec().unwrap()[0];
    let rv = bn.running_var.to_vec().unwrap()[0];
    assert!((rm - 0.3).abs() < 1e-6, "{rm}");
    assert!((rv - (0.9 + 0.1 * 14.0 / 3.0)).abs() < 1e-6, "{rv}");
    assert_eq!(bn.num_batches_tracked.to_vec().unwrap(), vec![1.0]);
    // eval does not change them
    bn.forward(&x, &mut Context::eval()).unwrap();
    assert_eq!(bn.num_batches_tracked.to_vec().unwrap(), vec![1.0]);
}

#[test]
fn sequential_names_layers_like_pytorch_and_trains() {
    let dev = Cpu;
    let build = || {
        Sequential::new()
            .push(Conv2d::new(Conv2dConfig::new(1, 2, 3).padding(1), 1, &dev).unwrap())
            .push(ReLU)
            .push(MaxPool2d::new(2))
            .push(Flatten)
            .push(Linear::new(2 * 2 * 2, 2, true, 2, &dev).unwrap())
    };
    let mut net = build();
    let names: Vec<String> = describe(&net).into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(names, vec!["0.weight", "0.bias", "4.weight", "4.bias"]);
    assert_eq!(parameter_count(&net), 2 * 9 + 2 + 16 + 2);
    // learn to tell a bright top row from a bright bottom row
    let mut data = vec![0.0; 4 * 16];
    for i in 0..4 {
        for j in 0..4 {
            data[i * 16 + if i % 2 == 0 { j } else { 12 + j }] = 1.0;
        }
    }
    let x = Tensor::from_slice(&data, &[4, 1, 4, 4], &dev).unwrap();
    let y = Tensor::from_slice(&[0.0, 1.0, 0.0, 1.0], &[4], &dev).unwrap();
    for (mut opt, name) in [
        (
            Box::new(Adam::new(
                AdamConfig {
                    lr: 0.05,
                    ..Default::default()
                },
                &dev,
            )) as Box<dyn Optimizer<Cpu>>,
            "adam",
        ),
        (
            Box::new(
                Sgd::new(
                    SgdConfig {
                        lr: 0.1,
                        momentum: 0.9,
                        nesterov: true,
                        ..Default::default()
                    },
                    &dev,
                )
                .unwrap(),
            ),
            "sgd",
        ),
    ] {
        net = build();
        let first = net
            .forward(&x, &mut Context::train(0))
            .unwrap()
            .cross_entropy(&y, 0.0)
            .unwrap()
            .to_scalar()
            .unwrap();
        let mut last = first;
        for step in 0..60 {
            let loss = net
                .forward(&x, &mut Context::train(step))
                .unwrap()
                .cross_entropy(&y, 0.0)
                .unwrap();
            last = loss.to_scalar().unwrap();
            let g = loss.backward().unwrap();
            opt.step(&mut net, &g).unwrap();
        }
        assert!(last < first * 0.5, "{name}: loss {first} -> {last}");
        let st = opt.state().unwrap();
        assert!(!st.buffers.is_empty());
    }
    let mut kinds = vec![];
    net.visit(&mut |_, _, k| kinds.push(k));
    assert!(kinds.iter().all(|&k| k == TensorKind::Parameter));
}

#[test]
fn optimizer_state_round_trips() {
    let dev = Cpu;
    let mut net = Linear::new(3, 2, true, 1, &dev).unwrap();
    let x = Tensor::from_slice(&[1.0, 2.0, 3.0], &[1, 3], &dev).unwrap();
    let y = Tensor::from_slice(&[1.0], &[1], &dev).unwrap();
    let mut a = Adam::new(Default::default(), &dev);
    let g = net
        .forward(&x, &mut Context::train(0))
        .unwrap()
        .cross_entropy(&y, 0.0)
        .unwrap()
        .backward()
        .unwrap();
    a.step(&mut net, &g).unwrap();
    let s = a.state().unwrap();
    let mut b = Adam::new(Default::default(), &dev);
    b.load_state(&s).unwrap();
    assert_eq!(b.state().unwrap(), s);
    assert_eq!(b.steps_taken(), 1);
    let mut sgd = Sgd::new(
        SgdConfig {
            lr: 0.1,
            ..Default::default()
        },
        &dev,
    )
    .unwrap();
    assert!(
        sgd.load_state(&s).is_err(),
        "an Adam state does not load into SGD"
    );
    sgd.set_learning_rate(0.01);
    assert_eq!(sgd.learning_rate(), 0.01);
}
