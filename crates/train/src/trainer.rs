//! One training epoch and one evaluation pass, generic over the backend and the network.

use std::sync::Arc;
use std::time::Instant;

use indicatif::ProgressBar;
use kiln_data::{Batch, Compose, DataLoader, Dataset, LoaderConfig};
use kiln_metrics::ConfusionMatrix;
use kiln_nn::{Context, Module, Optimizer};
use kiln_tensor::{Backend, Tensor, no_grad, rng::hash64};

use crate::{Result, TrainError};

/// Averages of one training epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochStats {
    pub loss: f64,
    pub accuracy: f64,
    pub images: usize,
    pub seconds: f64,
}

impl EpochStats {
    pub fn images_per_sec(&self) -> f64 {
        self.images as f64 / self.seconds.max(1e-9)
    }
}

/// The result of evaluating a model on a dataset.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
    pub predictions: Vec<usize>,
    pub labels: Vec<usize>,
    /// Softmax probabilities, `[n, classes]` row-major.
    pub probabilities: Vec<f32>,
    pub classes: usize,
}

impl Evaluation {
    /// The confusion matrix of these predictions.
    pub fn confusion(&self) -> Result<ConfusionMatrix> {
        Ok(ConfusionMatrix::from_predictions(
            self.classes,
            &self.predictions,
            &self.labels,
        )?)
    }
}

/// Moves a host batch to the device: images `[n, c, h, w]` and labels `[n]` (as f32).
pub fn batch_to_device<B: Backend>(batch: &Batch, dev: &B) -> Result<(Tensor<B>, Tensor<B>)> {
    let x = Tensor::from_slice(&batch.images, &batch.shape, dev)?;
    let labels: Vec<f32> = batch.labels.iter().map(|&l| l as f32).collect();
    let y = Tensor::from_slice(&labels, &[labels.len()], dev)?;
    Ok((x, y))
}

fn argmax_rows(logits: &[f32], k: usize) -> Vec<usize> {
    logits
        .chunks(k)
        .map(|r| {
            let mut best = 0;
            for (i, &v) in r.iter().enumerate() {
                if v > r[best] {
                    best = i;
                }
            }
            best
        })
        .collect()
}

/// Trains one epoch: forward, cross-entropy, backward and optimizer step per batch.
/// The dropout masks of step `s` come from `(seed, epoch, s)`, so a run is reproducible.
#[allow(clippy::too_many_arguments)]
pub fn train_epoch<B: Backend>(
    model: &mut dyn Module<B>,
    opt: &mut dyn Optimizer<B>,
    loader: &DataLoader,
    epoch: usize,
    seed: u64,
    label_smoothing: f32,
    dev: &B,
    bar: &ProgressBar,
) -> Result<EpochStats> {
    let start = Instant::now();
    let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
    bar.set_length(loader.num_batches() as u64);
    bar.set_position(0);
    for (step, batch) in loader.epoch(epoch as u64).enumerate() {
        let n = batch.len();
        let (x, y) = batch_to_device(&batch, dev)?;
        let mut ctx = Context::train(hash64(
            seed ^ 0x0074_7261_696e,
            (epoch as u64) << 32 | step as u64,
        ));
        let logits = model.forward(&x, &mut ctx)?;
        let loss = logits.cross_entropy(&y, label_smoothing)?;
        let value = loss.to_scalar()?;
        if !value.is_finite() {
            return Err(TrainError::NonFiniteLoss {
                epoch: epoch + 1,
                batch: step + 1,
                value,
            });
        }
        let k = logits.shape()[1];
        let preds = argmax_rows(&logits.to_vec()?, k);
        correct += preds
            .iter()
            .zip(&batch.labels)
            .filter(|(p, l)| p == l)
            .count();
        let grads = loss.backward()?;
        drop((loss, logits));
        opt.step(model, &grads)?;
        loss_sum += value as f64 * n as f64;
        seen += n;
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!(
            "loss {:.4} acc {:.1}% {:.0} img/s",
            loss_sum / seen as f64,
            100.0 * correct as f64 / seen as f64,
            seen as f64 / secs
        ));
        bar.inc(1);
    }
    Ok(EpochStats {
        loss: loss_sum / seen.max(1) as f64,
        accuracy: correct as f64 / seen.max(1) as f64,
        images: seen,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Evaluates a model (evaluation mode, no graph) on a dataset, normalised as in training.
pub fn evaluate<B: Backend>(
    model: &mut dyn Module<B>,
    data: &Arc<Dataset>,
    batch_size: usize,
    workers: usize,
    dev: &B,
    bar: &ProgressBar,
) -> Result<Evaluation> {
    let cfg = LoaderConfig {
        batch_size,
        shuffle: false,
        drop_last: false,
        seed: 0,
        workers,
        prefetch: 2,
    };
    let loader = DataLoader::new(data.clone(), cfg, Arc::new(Compose::cifar_eval()))?;
    let k = data.num_classes();
    let mut ev = Evaluation {
        loss: 0.0,
        accuracy: 0.0,
        predictions: Vec::with_capacity(data.len()),
        labels: Vec::with_capacity(data.len()),
        probabilities: Vec::with_capacity(data.len() * k),
        classes: k,
    };
    bar.set_length(loader.num_batches() as u64);
    bar.set_position(0);
    let mut loss_sum = 0.0f64;
    for batch in loader.epoch(0) {
        let (x, y) = batch_to_device(&batch, dev)?;
        let (logits, loss) = no_grad(|| -> Result<_> {
            let logits = model.forward(&x, &mut Context::eval())?;
            let loss = logits.cross_entropy(&y, 0.0)?.to_scalar()?;
            Ok((logits.to_vec()?, loss))
        })?;
        if logits.len() != batch.len() * k {
            return Err(TrainError::Config(format!(
                "the model gives {} outputs per image but the data has {k} classes",
                logits.len() / batch.len().max(1)
            )));
        }
        loss_sum += loss as f64 * batch.len() as f64;
        ev.predictions.extend(argmax_rows(&logits, k));
        ev.labels.extend(&batch.labels);
        for row in logits.chunks(k) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exps: Vec<f32> = row.iter().map(|v| (v - max).exp()).collect();
            let sum: f32 = exps.iter().sum();
            ev.probabilities.extend(exps.iter().map(|e| e / sum));
        }
        bar.inc(1);
    }
    let n = ev.labels.len().max(1);
    ev.loss = loss_sum / n as f64;
    ev.accuracy = ev
        .predictions
        .iter()
        .zip(&ev.labels)
        .filter(|(p, l)| p == l)
        .count() as f64
        / n as f64;
    Ok(ev)
}
