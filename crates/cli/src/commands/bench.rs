//! `kiln bench`: training steps (forward, loss, backward, Adam) and inference batches of
//! ConfigNet on random data, in images/s and GFLOP/s, with a table of where a step's time goes
//! (each op timed alone at the network's shapes, by `kiln_nn::profile`).

use std::time::Instant;

use kiln_nn::profile::{OpTime, profile_ops};
use kiln_nn::{Adam, Architecture, ConfigNet, Context, Module, Optimizer};
use kiln_tensor::{Backend, Tensor, no_grad};
use serde::Serialize;

use crate::Result;
use crate::args::BenchArgs;
use crate::device::Job;
use crate::recipe::architecture;

pub struct BenchJob {
    pub args: BenchArgs,
    pub seed: u64,
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
    pub profile: Vec<OpTime>,
}

impl Job for BenchJob {
    type Output = BenchReport;

    fn run<B: Backend>(self, dev: &B) -> Result<BenchReport> {
        let a = &self.args;
        let m = &a.model;
        let Architecture::ConfigNet(cfg) = architecture(&m.model, Some(m))? else {
            return Err(crate::CliError::Usage(format!(
                "kiln bench measures ConfigNet (its flops and per-op profile), not --model {}",
                m.model
            )));
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

        let fwd = cfg.forward_flops()?;
        let train = cfg.train_flops()?;
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
                profile_ops(&cfg, n, dev)?
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
