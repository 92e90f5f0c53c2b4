//! Mean loss over batches.

use serde::{Deserialize, Serialize};

use crate::{BatchOutput, Metric, MetricError};

/// Mean of the batches' mean losses, weighted by batch size, so the result is the mean
/// per-sample loss of the epoch even when the last batch is short.
///
/// A non-finite batch loss is kept (a diverged run reports `NaN`/`inf` honestly).
/// An empty batch contributes nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MeanLoss {
    weighted_sum: f64,
    count: u64,
}

impl MeanLoss {
    /// An empty mean.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a batch's mean `loss` over `batch_size` samples without logits.
    pub fn add(&mut self, loss: f64, batch_size: usize) {
        if batch_size > 0 {
            self.weighted_sum += loss * batch_size as f64;
            self.count += batch_size as u64;
        }
    }
}

impl Metric for MeanLoss {
    fn name(&self) -> &str {
        "loss"
    }

    fn update(&mut self, batch: &BatchOutput<'_>) -> Result<(), MetricError> {
        let loss = batch.loss().ok_or_else(|| MetricError::MissingLoss {
            metric: self.name().to_string(),
        })?;
        self.add(loss, batch.len());
        Ok(())
    }

    fn value(&self) -> Option<f64> {
        (self.count > 0).then(|| self.weighted_sum / self.count as f64)
    }

    fn count(&self) -> u64 {
        self.count
    }

    fn summary(&self) -> String {
        match self.value() {
            Some(v) => format!("loss: {v:.4} (mean over {} samples)", self.count),
            None => "loss: n/a (no samples)".to_string(),
        }
    }

    fn reset(&mut self) {
        *self = Self::default();
    }
}
