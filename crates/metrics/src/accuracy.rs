//! Accuracy and top-k accuracy.

use serde::{Deserialize, Serialize};

use crate::{BatchOutput, Metric, MetricError, label_rank};

/// Formats `correct / total` as a percentage line, or says there are no samples.
fn ratio_summary(name: &str, correct: u64, total: u64) -> String {
    if total == 0 {
        format!("{name}: n/a (no samples)")
    } else {
        let pct = 100.0 * correct as f64 / total as f64;
        format!("{name}: {pct:.2}% ({correct} of {total})")
    }
}

/// Fraction of samples whose arg-max logit is the label (ties go to the lowest class
/// index, see [`crate::argmax`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    correct: u64,
    total: u64,
}

impl Accuracy {
    /// An empty accuracy counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Samples predicted correctly so far.
    pub fn correct(&self) -> u64 {
        self.correct
    }
}

impl Metric for Accuracy {
    fn name(&self) -> &str {
        "accuracy"
    }

    fn update(&mut self, batch: &BatchOutput<'_>) -> Result<(), MetricError> {
        let correct = batch.label_ranks().iter().filter(|&&r| r == 0).count();
        self.correct += correct as u64;
        self.total += batch.len() as u64;
        Ok(())
    }

    fn value(&self) -> Option<f64> {
        (self.total > 0).then(|| self.correct as f64 / self.total as f64)
    }

    fn count(&self) -> u64 {
        self.total
    }

    fn summary(&self) -> String {
        ratio_summary(self.name(), self.correct, self.total)
    }

    fn reset(&mut self) {
        self.correct = 0;
        self.total = 0;
    }
}

/// Fraction of samples whose label is among the `k` highest logits.
///
/// Ties are broken as in [`crate::argmax`]: among equal logits the lower class index
/// ranks higher (see [`crate::label_rank`]). So `TopK::new(1)` always agrees with
/// [`Accuracy`], and with logits `[2, 2, 2, 0]` and k = 2, labels 0 and 1 count as
/// correct while label 2 does not. When `k >= k_classes` every sample is correct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopK {
    k: usize,
    name: String,
    correct: u64,
    total: u64,
}

impl TopK {
    /// Top-`k` accuracy.
    ///
    /// # Errors
    /// [`MetricError::ZeroK`] when `k == 0`.
    pub fn new(k: usize) -> Result<Self, MetricError> {
        if k == 0 {
            return Err(MetricError::ZeroK);
        }
        Ok(Self {
            k,
            name: format!("top-{k} accuracy"),
            correct: 0,
            total: 0,
        })
    }

    /// The `k` of top-k.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Samples whose label was in the top k so far.
    pub fn correct(&self) -> u64 {
        self.correct
    }
}

impl Metric for TopK {
    fn name(&self) -> &str {
        &self.name
    }

    fn update(&mut self, batch: &BatchOutput<'_>) -> Result<(), MetricError> {
        let correct = (0..batch.len())
            .filter(|&i| label_rank(batch.row(i), batch.labels()[i]) < self.k)
            .count();
        self.correct += correct as u64;
        self.total += batch.len() as u64;
        Ok(())
    }

    fn value(&self) -> Option<f64> {
        (self.total > 0).then(|| self.correct as f64 / self.total as f64)
    }

    fn count(&self) -> u64 {
        self.total
    }

    fn summary(&self) -> String {
        ratio_summary(&self.name, self.correct, self.total)
    }

    fn reset(&mut self) {
        self.correct = 0;
        self.total = 0;
    }
}
