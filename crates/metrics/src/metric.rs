//! The [`Metric`] trait: a running statistic fed one batch at a time.

use serde::{Deserialize, Serialize};

use crate::{BatchOutput, MetricError};

/// A running statistic over batches of model output, in the spirit of burn-train's
/// metrics: feed batches with [`Metric::update`], read [`Metric::value`] or
/// [`Metric::summary`] at the end of an epoch, then [`Metric::reset`].
pub trait Metric {
    /// Short name, e.g. `"accuracy"`, `"top-5 accuracy"`, `"loss"`.
    fn name(&self) -> &str;

    /// Adds one batch.
    ///
    /// # Errors
    /// A metric returns an error when the batch lacks what it needs (a loss for
    /// [`crate::MeanLoss`]) or does not fit it (another class count); the metric is then
    /// unchanged.
    fn update(&mut self, batch: &BatchOutput<'_>) -> Result<(), MetricError>;

    /// Current value, or `None` while it is undefined (no samples yet).
    fn value(&self) -> Option<f64>;

    /// Number of samples taken in since the last reset.
    fn count(&self) -> u64;

    /// One human-readable line, e.g. `"accuracy: 87.50% (7 of 8)"`.
    fn summary(&self) -> String;

    /// Forgets every batch.
    fn reset(&mut self);

    /// The value as plain, serialisable data.
    fn entry(&self) -> MetricEntry {
        MetricEntry {
            name: self.name().to_string(),
            value: self.value(),
            count: self.count(),
        }
    }
}

/// A metric's value as plain data, for JSON logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricEntry {
    /// The metric's name.
    pub name: String,
    /// Its value; `None` (JSON `null`) while undefined.
    pub value: Option<f64>,
    /// Samples it was computed over.
    pub count: u64,
}
