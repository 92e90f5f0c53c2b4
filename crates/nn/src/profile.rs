//! Where a training step's time goes: each op of a ConfigNet step timed alone at the
//! network's own shapes (from [`ConfigNetConfig::conv_specs`]), on any backend.

use std::time::Instant;

use kiln_tensor::{AdamStep, Backend, BatchNormSpec, BatchNormStats, MatOperand, MatmulSpec};
use serde::Serialize;

use crate::{ConfigNet, ConfigNetConfig, Result};

/// The time of one op.
#[derive(Debug, Clone, Serialize)]
pub struct OpTime {
    pub layer: String,
    pub op: String,
    pub ms: f64,
    /// Zero where the op's work is not counted in flops.
    pub gflops: f64,
}

/// Milliseconds per call of `f`, after one warm-up call.
fn time_ms<B: Backend>(
    dev: &B,
    reps: usize,
    mut f: impl FnMut() -> kiln_tensor::Result<()>,
) -> Result<f64> {
    f()?;
    dev.synchronize()?;
    let t = Instant::now();
    for _ in 0..reps {
        f()?;
    }
    dev.synchronize()?;
    Ok(t.elapsed().as_secs_f64() * 1e3 / reps as f64)
}

/// Times each op of a [`ConfigNet`] training step alone, at the network's shapes and batch
/// `n`: every conv pass, batch norm, fc1's three products and Adam over all parameters.
pub fn profile_ops<B: Backend>(cfg: &ConfigNetConfig, n: usize, dev: &B) -> Result<Vec<OpTime>> {
    let mut rows = Vec::new();
    let reps = 2;
    for (name, s) in cfg.conv_specs(n) {
        let x = dev.rand_uniform(s.input_shape().iter().product(), -1.0, 1.0, 1)?;
        let w = dev.rand_uniform(s.weight_shape().iter().product(), -0.1, 0.1, 2)?;
        let b = dev.full(s.c_out, 0.1)?;
        let g = dev.rand_uniform(s.output_shape().iter().product(), -1.0, 1.0, 3)?;
        let fl = s.forward_flops() / 1e9;
        let ms = time_ms(dev, reps, || dev.conv2d(&x, &w, Some(&b), &s).map(|_| ()))?;
        rows.push(OpTime {
            layer: name.into(),
            op: "forward".into(),
            ms,
            gflops: fl / (ms / 1e3),
        });
        if name != "conv1" {
            let ms = time_ms(dev, reps, || {
                dev.conv2d_backward_input(&g, &w, &s).map(|_| ())
            })?;
            rows.push(OpTime {
                layer: name.into(),
                op: "backward-input".into(),
                ms,
                gflops: fl / (ms / 1e3),
            });
        }
        let ms = time_ms(dev, reps, || {
            dev.conv2d_backward_weight(&x, &g, &s).map(|_| ())
        })?;
        rows.push(OpTime {
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
    })?;
    rows.push(OpTime {
        layer: "batch_norm".into(),
        op: "forward".into(),
        ms,
        gflops: 0.0,
    });
    let out = dev.batch_norm(&x, &gamma, &beta, BatchNormStats::Batch, &bn)?;
    let ms = time_ms(dev, reps, || {
        dev.batch_norm_backward(&x, &gamma, &out.mean, &out.var, &x, true, &bn)
            .map(|_| ())
    })?;
    rows.push(OpTime {
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
    let ms = time_ms(dev, reps, || dev.matmul(&x, &w, &fwd).map(|_| ()))?;
    rows.push(OpTime {
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
    let ms = time_ms(dev, reps, || dev.matmul(&dy, &w, &bin).map(|_| ()))?;
    rows.push(OpTime {
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
    let ms = time_ms(dev, reps, || dev.matmul(&x, &dy, &bw).map(|_| ()))?;
    rows.push(OpTime {
        layer: "fc1".into(),
        op: "backward-weight".into(),
        ms,
        gflops: fl / (ms / 1e3),
    });
    // Adam over every parameter
    let net = ConfigNet::new(*cfg, 0, dev)?;
    let total = crate::module::parameter_count(&net);
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
    })?;
    rows.push(OpTime {
        layer: format!("all {total} parameters"),
        op: "adam".into(),
        ms,
        gflops: 0.0,
    });
    Ok(rows)
}
