//! CPU batch norm over `[n, c, spatial]`, parallel over channels.

use rayon::prelude::*;

use crate::Result;
use crate::backend::BackendBase;
use crate::cpu::Cpu;
use crate::ops::batch_norm::{BatchNormKernels, BatchNormOutput, BatchNormSpec, BatchNormStats};

/// Per-channel sums over (n, spatial) of `f(index, channel)`, in f64. For `[n, c]` inputs the
/// channels are cut into blocks walked row by row, so memory is read contiguously.
fn channel_sums(s: &BatchNormSpec, f: impl Fn(usize, usize) -> f64 + Sync) -> Vec<f64> {
    if s.spatial == 1 {
        const BLOCK: usize = 256;
        let mut out = vec![0.0f64; s.c];
        out.par_chunks_mut(BLOCK).enumerate().for_each(|(b, acc)| {
            let c0 = b * BLOCK;
            for n in 0..s.n {
                let base = n * s.c + c0;
                for (j, a) in acc.iter_mut().enumerate() {
                    *a += f(base + j, c0 + j);
                }
            }
        });
        return out;
    }
    (0..s.c)
        .into_par_iter()
        .map(|c| {
            let mut acc = 0.0f64;
            for n in 0..s.n {
                let base = (n * s.c + c) * s.spatial;
                for i in base..base + s.spatial {
                    acc += f(i, c);
                }
            }
            acc
        })
        .collect()
}

/// Batch mean and biased variance per channel.
fn batch_stats(x: &[f32], s: &BatchNormSpec) -> (Vec<f32>, Vec<f32>) {
    let m = (s.n * s.spatial) as f64;
    let mean: Vec<f64> = channel_sums(s, |i, _| x[i] as f64)
        .iter()
        .map(|v| v / m)
        .collect();
    let var: Vec<f64> = channel_sums(s, |i, c| (x[i] as f64 - mean[c]).powi(2))
        .iter()
        .map(|v| v / m)
        .collect();
    (
        mean.iter().map(|&v| v as f32).collect(),
        var.iter().map(|&v| v as f32).collect(),
    )
}

/// `y = (x - mean) / sqrt(var + eps) * gamma + beta`.
fn normalize(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    s: &BatchNormSpec,
) -> Vec<f32> {
    let scale: Vec<f32> = (0..s.c)
        .map(|c| gamma[c] / (var[c] + s.eps).sqrt())
        .collect();
    let shift: Vec<f32> = (0..s.c).map(|c| beta[c] - mean[c] * scale[c]).collect();
    let mut y = vec![0.0; x.len()];
    apply_per_channel(&mut y, x, s, |c, v| v * scale[c] + shift[c]);
    y
}

fn apply_per_channel(
    out: &mut [f32],
    x: &[f32],
    s: &BatchNormSpec,
    f: impl Fn(usize, f32) -> f32 + Sync,
) {
    if s.spatial == 1 {
        // [n, c]: rows are samples
        out.par_chunks_mut(s.c.max(1))
            .zip(x.par_chunks(s.c.max(1)))
            .for_each(|(o, x)| {
                for (c, (o, &v)) in o.iter_mut().zip(x).enumerate() {
                    *o = f(c, v);
                }
            });
    } else {
        out.par_chunks_mut(s.spatial)
            .zip(x.par_chunks(s.spatial))
            .enumerate()
            .for_each(|(plane, (o, x))| {
                let c = plane % s.c;
                for (o, &v) in o.iter_mut().zip(x) {
                    *o = f(c, v);
                }
            });
    }
}

/// Gradients `(dx, dgamma, dbeta)`.
fn backward(
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    var: &[f32],
    dy: &[f32],
    batch_stats: bool,
    s: &BatchNormSpec,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let invstd: Vec<f64> = var
        .iter()
        .map(|&v| 1.0 / (v as f64 + s.eps as f64).sqrt())
        .collect();
    let dbeta = channel_sums(s, |i, _| dy[i] as f64);
    // sum dy * xhat
    let dyxhat = channel_sums(s, |i, c| {
        dy[i] as f64 * (x[i] as f64 - mean[c] as f64) * invstd[c]
    });
    let m = (s.n * s.spatial) as f64;
    let mut dx = vec![0.0; x.len()];
    let coef: Vec<(f64, f64, f64)> = (0..s.c)
        .map(|c| (gamma[c] as f64 * invstd[c], dbeta[c] / m, dyxhat[c] / m))
        .collect();
    if batch_stats {
        // dx = g * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))
        let mut xd = vec![0.0; x.len()];
        apply_per_channel(&mut xd, x, s, |c, v| {
            ((v as f64 - mean[c] as f64) * invstd[c]) as f32
        });
        let xhat = xd;
        let grad = |i: usize, c: usize| {
            let (k, mdy, mdyx) = coef[c];
            (k * (dy[i] as f64 - mdy - xhat[i] as f64 * mdyx)) as f32
        };
        fill_indexed(&mut dx, s, grad);
    } else {
        fill_indexed(&mut dx, s, |i, c| (coef[c].0 * dy[i] as f64) as f32);
    }
    let dgamma = dyxhat.iter().map(|&v| v as f32).collect();
    let dbeta = dbeta.iter().map(|&v| v as f32).collect();
    (dx, dgamma, dbeta)
}

fn fill_indexed(out: &mut [f32], s: &BatchNormSpec, f: impl Fn(usize, usize) -> f32 + Sync) {
    let chunk = s.spatial * s.c;
    out.par_chunks_mut(chunk.max(1))
        .enumerate()
        .for_each(|(n, o)| {
            for (j, v) in o.iter_mut().enumerate() {
                let c = j / s.spatial;
                *v = f(n * chunk + j, c);
            }
        });
}

impl BatchNormKernels for Cpu {
    fn batch_norm(
        &self,
        x: &Vec<f32>,
        gamma: &Vec<f32>,
        beta: &Vec<f32>,
        stats: BatchNormStats<'_, Vec<f32>>,
        spec: &BatchNormSpec,
    ) -> Result<BatchNormOutput<Vec<f32>>> {
        Cpu::check_len("batch_norm", x, spec.n * spec.c * spec.spatial)?;
        let (mean, var) = match stats {
            BatchNormStats::Batch => batch_stats(x, spec),
            BatchNormStats::Running { mean, var } => (mean.clone(), var.clone()),
        };
        let y = normalize(x, gamma, beta, &mean, &var, spec);
        Ok(BatchNormOutput { y, mean, var })
    }
    fn batch_norm_backward(
        &self,
        x: &Vec<f32>,
        gamma: &Vec<f32>,
        mean: &Vec<f32>,
        var: &Vec<f32>,
        grad_y: &Vec<f32>,
        batch_stats: bool,
        spec: &BatchNormSpec,
    ) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
        Cpu::check_len("batch_norm grad", grad_y, spec.n * spec.c * spec.spatial)?;
        Ok(backward(x, gamma, mean, var, grad_y, batch_stats, spec))
    }
}
