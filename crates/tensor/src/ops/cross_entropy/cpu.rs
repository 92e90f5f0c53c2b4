//! CPU fused softmax cross-entropy.

use crate::backend::BackendBase;
use crate::cpu::Cpu;
use crate::ops::cross_entropy::CrossEntropyKernels;
use crate::{Result, TensorError};

fn label_index(v: f32, k: usize, row: usize) -> Result<usize> {
    if v >= 0.0 && v.fract() == 0.0 && (v as usize) < k {
        Ok(v as usize)
    } else {
        Err(TensorError::invalid(
            "cross_entropy",
            format!("label {v} of sample {row} is not a class index in 0..{k}"),
        ))
    }
}

/// Returns (mean loss, softmax probabilities).
fn forward(
    logits: &[f32],
    labels: &[f32],
    n: usize,
    k: usize,
    smoothing: f32,
) -> Result<(f32, Vec<f32>)> {
    let mut probs = vec![0.0; n * k];
    let mut total = 0.0f64;
    for r in 0..n {
        let row = &logits[r * k..(r + 1) * k];
        let y = label_index(labels[r], k, r)?;
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let sum: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
        let lse = max + sum.ln();
        for (p, &v) in probs[r * k..(r + 1) * k].iter_mut().zip(row) {
            *p = ((v as f64 - max).exp() / sum) as f32;
        }
        // loss = -sum_j t_j log p_j, t = (1 - s) onehot + s / k
        let nll = lse - row[y] as f64;
        let uniform = lse - row.iter().map(|&v| v as f64).sum::<f64>() / k as f64;
        total += (1.0 - smoothing as f64) * nll + smoothing as f64 * uniform;
    }
    Ok(((total / n as f64) as f32, probs))
}

fn backward(
    probs: &[f32],
    labels: &[f32],
    grad_loss: f32,
    n: usize,
    k: usize,
    smoothing: f32,
) -> Result<Vec<f32>> {
    let mut g = vec![0.0; n * k];
    let scale = grad_loss / n as f32;
    let off = smoothing / k as f32;
    for r in 0..n {
        let y = label_index(labels[r], k, r)?;
        for j in 0..k {
            let t = off + if j == y { 1.0 - smoothing } else { 0.0 };
            g[r * k + j] = (probs[r * k + j] - t) * scale;
        }
    }
    Ok(g)
}

impl CrossEntropyKernels for Cpu {
    fn softmax_cross_entropy(
        &self,
        logits: &Vec<f32>,
        labels: &Vec<f32>,
        n: usize,
        k: usize,
        smoothing: f32,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        Cpu::check_len("cross_entropy", logits, n * k)?;
        Cpu::check_len("cross_entropy labels", labels, n)?;
        let (loss, probs) = forward(logits, labels, n, k, smoothing)?;
        Ok((vec![loss], probs))
    }
    fn softmax_cross_entropy_backward(
        &self,
        probs: &Vec<f32>,
        labels: &Vec<f32>,
        grad_loss: &Vec<f32>,
        n: usize,
        k: usize,
        smoothing: f32,
    ) -> Result<Vec<f32>> {
        Cpu::check_len("cross_entropy grad", grad_loss, 1)?;
        backward(probs, labels, grad_loss[0], n, k, smoothing)
    }
}
