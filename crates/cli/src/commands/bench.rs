//! `kiln bench`: training steps (forward, loss, backward, Adam) and inference batches of
//! ConfigNet on random data, in images/s and GFLOP/s, with a table of where a step's time goes
//! (each op timed alone at the network's shapes).

use std::time::Instant;

use kiln_nn::{Adam, ConfigNet, ConfigNetConfig, Context, Module, Optimizer};
use kiln_tensor::{
    AdamStep, Backend, BatchNormSpec, BatchNormStats, Conv2dSpec, MatOperand, MatmulSpec, Tensor,
    no_grad,
};
use serde::Serialize;

use crate::Result;
use crate::args::BenchArgs;
use crate::device::Job;

pub struct BenchJob {
    pub args: BenchArgs,
    pub seed: u64,
}

/// One row of the profile.
#[derive(Debug, Serialize)]
pub struct ProfileRow {
    pub layer: String,
    pub op: String,
    pub ms: f64,
    pub gflops: f64,
}

/// What `kiln bench --json` prints.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub device: String,
    pub c1: usize,
    pub c2: usize,
    pub l1: usize,
    pub batch_size: usize,
    pub steps: usize,
    pub threads: usize,
    pub train_images_per_sec: f64,
    pub infer_images_per_sec: f64,
    pub train_step_ms: f64,
    pub train_gflops_per_sec: f64,
    pub infer_gflops_per_sec: f64,
    pub forward_mflop_per_image: f64,
    pub train_mflop_per_image: f64,
    pub profile: Vec<ProfileRow>,
}

fn conv_specs(cfg: &ConfigNetConfig, n: usize) -> Vec<(&'static str, Conv2dSpec)> {
    let s = cfg.input_size;
    let k = cfg.conv1_kernel;
    let mk = |c_in, h, c_out, kk, stride| Conv2dSpec {
        n,
        c_in,
        h,
        w: h,
        c_out,
        kh: kk,
        kw: kk,
        stride: (stride, stride),
        padding: (0, 0),
        dilation: (1, 1),
    };
    let s1 = s - k + 1;
    vec![
        ("conv1", mk(3, s, cfg.c1, k, 1)),
        ("conv2", mk(cfg.c1, s1, cfg.c1, 3, 1)),
        ("conv3", mk(cfg.c1, s1 - 2, cfg.c2, 3, 1)),
        ("conv4", mk(cfg.c2, s1 - 4, cfg.c2, 3, 2)),
    ]
}

fn time_ms<B: Backend>(dev: &B, reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    dev.synchronize()?;
    let t = Instant::now();
    for _ in 0..reps {
        f()?;
    }
    dev.synchronize()?;
    Ok(t.elapsed().as_secs_f64() * 1e3 / reps as f64)
}

fn profile<B: Backend>(cfg: &ConfigNetConfig, n: usize, dev: &B) -> Result<Vec<ProfileRow>> {
    let mut rows = Vec::new();
    let reps = 2;
    for (name, s) in conv_specs(cfg, n) {
        let x = dev.rand_uniform(s.input_shape().iter().product(), -1.0, 1.0, 1)?;
        let w = dev.rand_uniform(s.weight_shape().iter().product(), -0.1, 0.1, 2)?;
        let b = dev.full(s.c_out, 0.1)?;
        let g = dev.rand_uniform(s.output_shape().iter().product(), -1.0, 1.0, 3)?;
        let fl = s.forward_flops() / 1e9;
        let ms = time_ms(dev, reps, || {
            dev.conv2d(&x, &w, Some(&b), &s)
                .map(|_| ())
                .map_err(Into::into)
        })?;
        rows.push(ProfileRow {
            layer: name.into(),
            op: "forward".into(),
            ms,
            gflops: fl / (ms / 1e3),
        });
        if name != "conv1" {
            let ms = time_ms(dev, reps, || {
                dev.conv2d_backward_input(&g, &w, &s)
                    .map(|_| ())
                    .map_err(Into::into)
            })?;
            rows.push(ProfileRow {
                layer: name.into(),
                op: "backward-input".into(),
                ms,
                gflops: fl / (ms / 1e3),
            });
        }
        let ms = time_ms(dev, reps, || {
            dev.conv2d_backward_weight(&x, &g, &s)
                .map(|_| ())
                .map_err(Into::into)
        })?;
        rows.push(ProfileRow {
            layer: name.into(),
            op: "backward-weight".into(),
            ms,
            gflops: fl / (ms / 1e3),
        });
    }
    let feat = cfg.flat_features()?;
    let bn = BatchNormSpec {
        n,
        c: feat,
        spatial: 1,
        eps: 1e-5,
    };
    let x = dev.rand_uniform(n * feat, -1.0, 1.0, 4)?;
    let gamma = dev.full(feat, 1.0)?;
    let beta = dev.full(feat, 0.0)?;
    let ms = time_ms(dev, reps, || {
        dev.batch_norm(&x, &gamma, &beta, BatchNormStats::Batch, &bn)
            .map(|_| ())
            .map_err(Into::into)
    })?;
    rows.push(ProfileRow {
        layer: "batch_norm".into(),
        op: "forward".into(),
        ms,
        gflops: 0.0,
    });
    let out = dev.batch_norm(&x, &gamma, &beta, BatchNormStats::Batch, &bn)?;
    let ms = time_ms(dev, reps, || {
        dev.batch_norm_backward(&x, &gamma, &out.mean, &out.var, &x, true, &bn)
            .map(|_| ())
            .map_err(Into::into)
    })?;
    rows.push(ProfileRow {
        layer: "batch_norm".into(),
        op: "backward".into(),
        ms,
        gflops: 0.0,
    });
    // fc1: [n, feat] x [feat, l1] forward, and the two backward products
    let w = dev.rand_uniform(cfg.l1 * feat, -0.01, 0.01, 5)?;
    let dy = dev.rand_uniform(n * cfg.l1, -1.0, 1.0, 6)?;
    let op = |offset, row, col| MatOperand {
        offset,
        batch_stride: 0,
        row_stride: row,
        col_stride: col,
    };
    let fl = 2.0 * (n * feat * cfg.l1) as f64 / 1e9;
    let fwd = MatmulSpec {
        batch: 1,
        m: n,
        n: cfg.l1,
        k: feat,
        lhs: op(0, feat, 1),
        rhs: op(0, 1, feat),
    };
    let ms = time_ms(dev, reps, || {
        dev.matmul(&x, &w, &fwd).map(|_| ()).map_err(Into::into)
    })?;
    rows.push(ProfileRow {
        layer: "fc1".into(),
        op: "forward".into(),
        ms,
        gflops: fl / (ms / 1e3),
    });
    let bin = MatmulSpec {
        batch: 1,
        m: n,
        n: feat,
        k: cfg.l1,
        lhs: op(0, cfg.l1, 1),
        rhs: op(0, feat, 1),
    };
    let ms = time_ms(dev, reps, || {
        dev.matmul(&dy, &w, &bin).map(|_| ()).map_err(Into::into)
    })?;
    rows.push(ProfileRow {
        layer: "fc1".into(),
        op: "backward-input".into(),
        ms,
        gflops: fl / (ms / 1e3),
    });
    let bw = MatmulSpec {
        batch: 1,
        m: feat,
        n: cfg.l1,
        k: n,
        lhs: op(0, 1, feat),
        rhs: op(0, cfg.l1, 1),
    };
    let ms = time_ms(dev, reps, || {
        dev.matmul(&x, &dy, &bw).map(|_| ()).map_err(Into::into)
    })?;
    rows.push(ProfileRow {
        layer: "fc1".into(),
        op: "backward-weight".into(),
        ms,
        gflops: fl / (ms / 1e3),
    });
    // Adam over every parameter
    let net = ConfigNet::new(*cfg, 0, dev)?;
    let total = kiln_nn::module::parameter_count(&net);
    let mut p = dev.full(total, 0.1)?;
    let gr = dev.full(total, 0.01)?;
    let mut m = dev.full(total, 0.0)?;
    let mut v = dev.full(total, 0.0)?;
    let hp = AdamStep {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
        decoupled: false,
        step: 1,
    };
    let ms = time_ms(dev, reps, || {
        dev.adam_step(&mut p, &gr, &mut m, &mut v, &hp)
            .map_err(Into::into)
    })?;
    rows.push(ProfileRow {
        layer: format!("all {total} parameters"),
        op: "adam".into(),
        ms,
        gflops: 0.0,
    });
    Ok(rows)
}

impl Job for BenchJob {
    type Output = BenchReport;

    fn run<B: Backend>(self, dev: &B) -> Result<BenchReport> {
        let a = &self.args;
        let m = &a.model;
        let cfg = ConfigNetConfig {
            conv1_kernel: m.conv1_kernel,
            ..ConfigNetConfig::new(m.c1, m.c2, m.l1, m.d1)
        };
        let n = a.batch_size.max(1);
        let steps = a.steps.max(1);
        let mut net = ConfigNet::new(cfg, self.seed, dev)?;
        let mut opt = Adam::new(Default::default(), dev);
        let x = Tensor::rand_uniform(&[n, 3, cfg.input_size, cfg.input_size], -1.0, 1.0, 11, dev)?;
        let labels: Vec<f32> = (0..n).map(|i| (i % cfg.classes) as f32).collect();
        let y = Tensor::from_slice(&labels, &[n], dev)?;
        let mut step = |i: usize| -> Result<()> {
            let loss = net
                .forward(&x, &mut Context::train(i as u64))?
                .cross_entropy(&y, 0.0)?;
            let grads = loss.backward()?;
            drop(loss);
            opt.step(&mut net, &grads)?;
            Ok(())
        };
        for i in 0..a.warmup {
            step(i)?;
        }
        dev.synchronize()?;
        let t = Instant::now();
        for i in 0..steps {
            step(i + a.warmup)?;
        }
        dev.synchronize()?;
        let train_s = t.elapsed().as_secs_f64();
        let mut infer = || no_grad(|| net.forward(&x, &mut Context::eval()).map(|_| ()));
        for _ in 0..a.warmup {
            infer()?;
        }
        dev.synchronize()?;
        let t = Instant::now();
        for _ in 0..steps {
            infer()?;
        }
        dev.synchronize()?;
        let infer_s = t.elapsed().as_secs_f64();

        let convs = conv_specs(&cfg, 1);
        let conv_f: f64 = convs.iter().map(|(_, s)| s.forward_flops()).sum();
        let lin_f = 2.0 * (cfg.flat_features()? * cfg.l1 + cfg.l1 * cfg.classes) as f64;
        let fwd = conv_f + lin_f;
        // backward: input and weight gradients (none for the images themselves)
        let train = 3.0 * fwd - convs[0].1.forward_flops();
        let train_ips = (n * steps) as f64 / train_s;
        let infer_ips = (n * steps) as f64 / infer_s;
        let report = BenchReport {
            device: dev.name(),
            c1: cfg.c1,
            c2: cfg.c2,
            l1: cfg.l1,
            batch_size: n,
            steps,
            threads: rayon::current_num_threads(),
            train_images_per_sec: train_ips,
            infer_images_per_sec: infer_ips,
            train_step_ms: train_s * 1e3 / steps as f64,
            train_gflops_per_sec: train_ips * train / 1e9,
            infer_gflops_per_sec: infer_ips * fwd / 1e9,
            forward_mflop_per_image: fwd / 1e6,
            train_mflop_per_image: train / 1e6,
            profile: if a.no_profile {
                Vec::new()
            } else {
                profile(&cfg, n, dev)?
            },
        };
        if a.json {
            println!(
                "{}",
                serde_json::to_string(&report)
                    .map_err(|e| crate::CliError::Usage(e.to_string()))?
            );
        } else {
            print_report(&report);
        }
        Ok(report)
    }
}

fn print_report(r: &BenchReport) {
    println!(
        "ConfigNet({}/{}/{}) batch {} on {} ({} threads), {} timed steps",
        r.c1, r.c2, r.l1, r.batch_size, r.device, r.threads, r.steps
    );
    println!(
        "training : {:>8.1} images/s  {:>7.1} GFLOP/s  ({:.0} ms/step, {:.0} MFLOP/image)",
        r.train_images_per_sec, r.train_gflops_per_sec, r.train_step_ms, r.train_mflop_per_image
    );
    println!(
        "inference: {:>8.1} images/s  {:>7.1} GFLOP/s  ({:.0} MFLOP/image)",
        r.infer_images_per_sec, r.infer_gflops_per_sec, r.forward_mflop_per_image
    );
    if r.profile.is_empty() {
        return;
    }
    let total: f64 = r.profile.iter().map(|p| p.ms).sum();
    println!(
        "\nwhere a step's time goes (each op timed alone at batch {}):",
        r.batch_size
    );
    println!(
        "{:<24} {:<16} {:>9} {:>7} {:>9}",
        "layer", "op", "ms", "share", "GFLOP/s"
    );
    for p in &r.profile {
        let g = if p.gflops > 0.0 {
            format!("{:.1}", p.gflops)
        } else {
            "-".into()
        };
        println!(
            "{:<24} {:<16} {:>9.2} {:>6.1}% {:>9}",
            p.layer,
            p.op,
            p.ms,
            100.0 * p.ms / total,
            g
        );
    }
    println!(
        "{:<24} {:<16} {:>9.2}  (measured step: {:.2} ms)",
        "sum", "", total, r.train_step_ms
    );
}
