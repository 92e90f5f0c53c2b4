//! One training epoch and one evaluation pass, generic over the backend and the network. They
//! report their progress through [`Callbacks`], so the library never draws anything.

use std::sync::Arc;
use std::time::Instant;

use kiln_data::{Batch, Compose, DataLoader, Dataset, LoaderConfig, Normalize, Transform};
use kiln_metrics::ConfusionMatrix;
use kiln_nn::{Context, LrSchedule, Module, Optimizer};
use kiln_tensor::{Backend, Tensor, no_grad, rng::hash64};

use crate::callbacks::{Callbacks, StepInfo};
use crate::{Result, TrainError};

/// Averages of one training epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochStats {
    pub loss: f64,
    pub accuracy: f64,
    pub images: usize,
    pub seconds: f64,
    /// The learning rate of the epoch's last step.
    pub lr: f32,
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

/// Index of the largest value of each row of `k` values (see [`kiln_metrics::argmax`]).
pub fn argmax_rows(values: &[f32], k: usize) -> Vec<usize> {
    values.chunks(k.max(1)).map(kiln_metrics::argmax).collect()
}

/// What one training epoch needs besides the model and the optimizer.
pub struct EpochPlan<'a> {
    pub loader: &'a DataLoader,
    /// The epoch, counting from 0.
    pub epoch: usize,
    pub epochs: usize,
    pub seed: u64,
    pub label_smoothing: f32,
    pub base_lr: f32,
    pub schedule: &'a LrSchedule,
}

/// A pass's running loss sum and count of wrong predictions, kept on the device and read back
/// a few times a second at most, so that a step waits for nothing on the host.
struct DeviceSums<B: Backend> {
    loss: Tensor<B>,
    wrong: Tensor<B>,
    /// The figures of the last read: (loss sum, wrong predictions).
    read: (f64, f64),
    last_read: Option<Instant>,
}

/// How often the running figures are read back from the device.
const READ_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

impl<B: Backend> DeviceSums<B> {
    fn new(dev: &B) -> Result<Self> {
        Ok(DeviceSums {
            loss: Tensor::zeros(&[], dev)?,
            wrong: Tensor::zeros(&[], dev)?,
            read: (0.0, 0.0),
            last_read: None,
        })
    }

    /// Adds a batch of `n` images: its mean loss and the predictions of its logits.
    fn add(
        &mut self,
        loss: &Tensor<B>,
        logits: &Tensor<B>,
        labels: &Tensor<B>,
        n: usize,
    ) -> Result<()> {
        self.loss = self.loss.add(&loss.detach().scale(n as f32)?)?;
        // 1 where the arg-max differs from the label
        let wrong = logits.detach().argmax(1)?.sub(labels)?.abs()?.step()?;
        self.wrong = self.wrong.add(&wrong.sum_all()?)?;
        Ok(())
    }

    /// Reads the sums when `now` is due (or `force`); returns whether it read.
    fn read_if_due(&mut self, force: bool) -> Result<bool> {
        if !force && self.last_read.is_some_and(|t| t.elapsed() < READ_EVERY) {
            return Ok(false);
        }
        self.read = (
            self.loss.to_scalar()? as f64,
            self.wrong.to_scalar()? as f64,
        );
        self.last_read = Some(Instant::now());
        Ok(true)
    }
}

/// Trains one epoch: per batch the schedule's learning rate, forward, cross-entropy, backward
/// and the optimizer's step. The dropout masks of step `s` come from `(seed, epoch, s)`, so a
/// run is reproducible. The loss and accuracy accumulate on the device and are read a few
/// times a second (and at the end): a non-finite loss stops the epoch when it is read, naming
/// the batch by which it was seen, before any weights of the epoch are saved.
pub fn train_epoch<B: Backend>(
    model: &mut dyn Module<B>,
    opt: &mut dyn Optimizer<B>,
    plan: &EpochPlan<'_>,
    dev: &B,
    cb: &mut dyn Callbacks<B>,
) -> Result<EpochStats> {
    let start = Instant::now();
    let steps = plan.loader.num_batches();
    let mut sums = DeviceSums::new(dev)?;
    let mut seen = 0usize;
    let mut lr = plan.base_lr;
    cb.pass_start(&format!("epoch {}/{}", plan.epoch + 1, plan.epochs), steps);
    for (step, batch) in plan.loader.epoch(plan.epoch as u64).enumerate() {
        let n = batch.len();
        let global_step = (plan.epoch * steps + step) as u64;
        lr = plan
            .schedule
            .lr_at(plan.base_lr, global_step, steps as u64, plan.epochs as u64)
            .map_err(kiln_nn::NnError::from)?;
        opt.set_learning_rate(lr);
        let (x, y) = batch_to_device(&batch, dev)?;
        let mut ctx = Context::train(hash64(
            plan.seed ^ 0x0074_7261_696e,
            (plan.epoch as u64) << 32 | step as u64,
        ));
        let logits = model.forward(&x, &mut ctx)?;
        let loss = logits.cross_entropy(&y, plan.label_smoothing)?;
        sums.add(&loss, &logits, &y, n)?;
        let grads = loss.backward()?;
        drop((loss, logits));
        opt.step(model, &grads)?;
        seen += n;
        if sums.read_if_due(step + 1 == steps)? {
            let (loss_sum, wrong) = sums.read;
            if !loss_sum.is_finite() {
                return Err(TrainError::NonFiniteLoss {
                    epoch: plan.epoch + 1,
                    batch: step + 1,
                    value: loss_sum as f32,
                });
            }
            cb.step(&StepInfo {
                step: step + 1,
                steps,
                loss: loss_sum / seen as f64,
                accuracy: 1.0 - wrong / seen as f64,
                images_per_sec: seen as f64 / start.elapsed().as_secs_f64().max(1e-9),
                lr,
            });
        }
    }
    cb.pass_end();
    let (loss_sum, wrong) = sums.read;
    Ok(EpochStats {
        loss: loss_sum / seen.max(1) as f64,
        accuracy: 1.0 - wrong / seen.max(1) as f64,
        images: seen,
        seconds: start.elapsed().as_secs_f64(),
        lr,
    })
}

/// How [`evaluate`] runs.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub batch_size: usize,
    pub workers: usize,
    /// The normalisation the model was trained with.
    pub normalize: Normalize,
    /// Also run every image mirrored and average the two softmax outputs.
    pub flip_tta: bool,
    /// Names the pass for progress reports ("test", "validation").
    pub name: String,
}

/// Mirrors every image of a batch `[n, c, h, w]` left to right.
fn flip_batch(batch: &Batch) -> Vec<f32> {
    let [_, _, _, w] = batch.shape;
    let mut out = batch.images.clone();
    for row in out.chunks_mut(w.max(1)) {
        row.reverse();
    }
    out
}

/// Sum over the rows of `logsumexp(row) - row[label]`, in f64.
fn cross_entropy_sum(logits: &[f32], labels: &[usize], k: usize) -> f64 {
    logits
        .chunks(k.max(1))
        .zip(labels)
        .map(|(row, &l)| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let lse = max
                + row
                    .iter()
                    .map(|&v| (v as f64 - max).exp())
                    .sum::<f64>()
                    .ln();
            lse - row[l] as f64
        })
        .sum()
}

fn softmax_rows(logits: &[f32], k: usize) -> Vec<f32> {
    logits
        .chunks(k.max(1))
        .flat_map(kiln_metrics::softmax)
        .collect()
}

/// Evaluates a model (evaluation mode, no graph) on a dataset: mean cross-entropy, accuracy,
/// every prediction and probability. With flip TTA the loss is that of the averaged
/// probabilities.
pub fn evaluate<B: Backend>(
    model: &mut dyn Module<B>,
    data: &Arc<Dataset>,
    opts: &EvalOptions,
    dev: &B,
    cb: &mut dyn Callbacks<B>,
) -> Result<Evaluation> {
    if data.is_empty() {
        return Err(TrainError::Config(format!(
            "there are no {} images to evaluate on",
            opts.name
        )));
    }
    let cfg = LoaderConfig {
        batch_size: opts.batch_size.max(1),
        shuffle: false,
        drop_last: false,
        seed: 0,
        workers: opts.workers,
        prefetch: 2,
    };
    let transform: Arc<dyn Transform> = Arc::new(Compose::new(opts.normalize.clone()));
    let loader = DataLoader::new(data.clone(), cfg, transform)?;
    let k = data.num_classes();
    let mut ev = Evaluation {
        loss: 0.0,
        accuracy: 0.0,
        predictions: Vec::with_capacity(data.len()),
        labels: Vec::with_capacity(data.len()),
        probabilities: Vec::with_capacity(data.len() * k),
        classes: k,
    };
    cb.pass_start(&opts.name, loader.num_batches());
    let mut loss_sum = 0.0f64;
    for (step, batch) in loader.epoch(0).enumerate() {
        let (probs, batch_loss) = no_grad(|| -> Result<(Vec<f32>, f64)> {
            let (x, _) = batch_to_device(&batch, dev)?;
            let logits = model.forward(&x, &mut Context::eval())?;
            let logits = logits.to_vec()?;
            if logits.len() != batch.len() * k {
                return Err(TrainError::ClassCount {
                    outputs: logits.len() / batch.len().max(1),
                    classes: k,
                });
            }
            let mut p = softmax_rows(&logits, k);
            if !opts.flip_tta {
                return Ok((p, cross_entropy_sum(&logits, &batch.labels, k)));
            }
            let xf = Tensor::from_slice(&flip_batch(&batch), &batch.shape, dev)?;
            let lf = model.forward(&xf, &mut Context::eval())?.to_vec()?;
            for (a, b) in p.iter_mut().zip(softmax_rows(&lf, k)) {
                *a = 0.5 * (*a + b);
            }
            // cross-entropy of the averaged probabilities, floored to stay finite
            let loss = p
                .chunks(k)
                .zip(&batch.labels)
                .map(|(row, &l)| -(row[l] as f64).max(1e-45).ln())
                .sum();
            Ok((p, loss))
        })?;
        loss_sum += batch_loss;
        ev.predictions.extend(argmax_rows(&probs, k));
        ev.labels.extend(&batch.labels);
        ev.probabilities.extend(probs);
        cb.step(&StepInfo {
            step: step + 1,
            steps: loader.num_batches(),
            loss: loss_sum / ev.labels.len() as f64,
            accuracy: 0.0,
            images_per_sec: 0.0,
            lr: 0.0,
        });
    }
    cb.pass_end();
    let n = ev.labels.len().max(1);
    ev.loss = loss_sum / n as f64;
    ev.accuracy = ev
        .predictions
        .iter()
        .zip(&ev.labels)
        .filter(|(p, l)| p == l)
        .count() as f64
        / n as f64;
    if !ev.loss.is_finite() {
        return Err(TrainError::NonFiniteEval {
            what: opts.name.clone(),
        });
    }
    Ok(ev)
}
