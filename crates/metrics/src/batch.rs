//! One batch of host-side model output, and the ranking rules metrics use.

use crate::MetricError;

/// One batch of model output on the host: row-major logits `[n, k]`, `n` labels and,
/// optionally, the batch's mean loss.
///
/// The constructor checks the shape and the label range once, so metrics can trust it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchOutput<'a> {
    logits: &'a [f32],
    num_classes: usize,
    labels: &'a [usize],
    loss: Option<f64>,
}

impl<'a> BatchOutput<'a> {
    /// Wraps logits (`labels.len() × num_classes`, row-major), labels and an optional
    /// mean loss of the batch.
    ///
    /// # Errors
    /// [`MetricError::NoClasses`] when `num_classes == 0`, [`MetricError::LogitShape`] when
    /// the logits are not `labels.len() × num_classes` long and
    /// [`MetricError::LabelOutOfRange`] when a label is `>= num_classes`.
    pub fn new(
        logits: &'a [f32],
        num_classes: usize,
        labels: &'a [usize],
        loss: Option<f64>,
    ) -> Result<Self, MetricError> {
        if num_classes == 0 {
            return Err(MetricError::NoClasses);
        }
        if labels.len().checked_mul(num_classes) != Some(logits.len()) {
            return Err(MetricError::LogitShape {
                len: logits.len(),
                rows: labels.len(),
                classes: num_classes,
            });
        }
        check_indices(labels, num_classes, |index, label, classes| {
            MetricError::LabelOutOfRange {
                index,
                label,
                classes,
            }
        })?;
        Ok(Self {
            logits,
            num_classes,
            labels,
            loss,
        })
    }

    /// The row-major logits.
    pub fn logits(&self) -> &'a [f32] {
        self.logits
    }

    /// Number of classes `k` (columns of the logits).
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// The labels, one per row.
    pub fn labels(&self) -> &'a [usize] {
        self.labels
    }

    /// The batch's mean loss, if one was given.
    pub fn loss(&self) -> Option<f64> {
        self.loss
    }

    /// Number of samples (rows).
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the batch has no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Logits of sample `i`. Panics when `i >= len()` (a programming error).
    pub fn row(&self, i: usize) -> &'a [f32] {
        &self.logits[i * self.num_classes..(i + 1) * self.num_classes]
    }

    /// Predicted class of every sample, by [`argmax`].
    pub fn predictions(&self) -> Vec<usize> {
        (0..self.len()).map(|i| argmax(self.row(i))).collect()
    }

    /// Rank of each sample's true label among its logits, by [`label_rank`].
    pub fn label_ranks(&self) -> Vec<usize> {
        (0..self.len())
            .map(|i| label_rank(self.row(i), self.labels[i]))
            .collect()
    }
}

/// Checks that every index is `< classes`, building the error with `make` otherwise.
pub(crate) fn check_indices(
    values: &[usize],
    classes: usize,
    make: impl Fn(usize, usize, usize) -> MetricError,
) -> Result<(), MetricError> {
    match values.iter().position(|&v| v >= classes) {
        Some(index) => Err(make(index, values[index], classes)),
        None => Ok(()),
    }
}

/// Ordering key of a logit: NaN ranks below every number (even `-inf`).
fn key(v: f32) -> f32 {
    if v.is_nan() { f32::NEG_INFINITY } else { v }
}

/// Whether class `a` (logit `va`) ranks above class `b` (logit `vb`):
/// larger logit first; on equal logits the lower class index first.
fn ranks_above(a: usize, va: f32, b: usize, vb: f32) -> bool {
    let (ka, kb) = (key(va), key(vb));
    ka > kb || (ka == kb && a < b)
}

/// Index of the largest logit of a row; ties go to the lowest index, NaN counts as the
/// smallest value. Returns 0 for an empty row.
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate().skip(1) {
        if ranks_above(i, v, best, row[best]) {
            best = i;
        }
    }
    best
}

/// The softmax of a row of logits (computed from the row's maximum, so large logits do not
/// overflow); NaN logits give NaN probabilities.
pub fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = row.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

/// Zero-based rank of class `label` in a row of logits, under the same order as
/// [`argmax`]: classes with a larger logit come first, and among equal logits the lower
/// class index comes first (NaN is the smallest value). Rank 0 means the label is the
/// arg-max, so "top-k correct" is `label_rank(row, label) < k`, and top-1 equals accuracy.
///
/// Ties are therefore neither optimistic nor pessimistic but deterministic: with logits
/// `[1, 1, 1]` class 0 has rank 0, class 1 rank 1 and class 2 rank 2.
pub fn label_rank(row: &[f32], label: usize) -> usize {
    let v = row[label];
    row.iter()
        .enumerate()
        .filter(|&(i, &x)| i != label && ranks_above(i, x, label, v))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_ties_and_nan() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
        assert_eq!(argmax(&[f32::NAN, -1.0]), 1);
        assert_eq!(argmax(&[f32::NAN, f32::NAN]), 0);
        assert_eq!(argmax(&[]), 0);
    }

    #[test]
    fn ranks_follow_argmax_order() {
        let row = [1.0, 1.0, 1.0];
        assert_eq!(
            (0..3).map(|l| label_rank(&row, l)).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        let row = [0.5, 2.0, f32::NAN, 2.0];
        assert_eq!(label_rank(&row, 1), 0);
        assert_eq!(label_rank(&row, 3), 1);
        assert_eq!(label_rank(&row, 0), 2);
        assert_eq!(label_rank(&row, 2), 3);
    }

    #[test]
    fn shape_is_checked() {
        let l = [0.0f32; 6];
        assert!(BatchOutput::new(&l, 3, &[0, 2], None).is_ok());
        assert_eq!(
            BatchOutput::new(&l, 4, &[0, 2], None),
            Err(MetricError::LogitShape {
                len: 6,
                rows: 2,
                classes: 4
            })
        );
        assert_eq!(
            BatchOutput::new(&l, 3, &[0, 3], None),
            Err(MetricError::LabelOutOfRange {
                index: 1,
                label: 3,
                classes: 3
            })
        );
        assert_eq!(
            BatchOutput::new(&[], 0, &[], None),
            Err(MetricError::NoClasses)
        );
    }
}
