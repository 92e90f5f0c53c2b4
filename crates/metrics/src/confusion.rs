//! The confusion matrix: counts of (true class, predicted class) pairs.

use serde::{Deserialize, Serialize};

use crate::batch::check_indices;
use crate::table::{Align, TextTable, class_name};
use crate::{BatchOutput, Metric, MetricError};

/// Which totals a normalised confusion matrix divides by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Normalization {
    /// Divide each row by its true-class support: the diagonal is recall per class.
    Row,
    /// Divide each column by its predicted-class total: the diagonal is precision.
    Column,
}

/// A `k × k` confusion matrix: `count(t, p)` is the number of samples of true class `t`
/// predicted as class `p`. Rows are true classes, columns predicted classes.
///
/// Serialises to JSON as `{"num_classes": k, "counts": [[...], ...]}` (rows = true class).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawConfusion")]
pub struct ConfusionMatrix {
    num_classes: usize,
    counts: Vec<Vec<u64>>,
}

/// Unchecked serde form of [`ConfusionMatrix`].
#[derive(Deserialize)]
struct RawConfusion {
    num_classes: usize,
    counts: Vec<Vec<u64>>,
}

impl TryFrom<RawConfusion> for ConfusionMatrix {
    type Error = MetricError;

    fn try_from(raw: RawConfusion) -> Result<Self, MetricError> {
        let m = Self::from_counts(raw.counts)?;
        if m.num_classes != raw.num_classes {
            return Err(MetricError::InvalidMatrix(format!(
                "num_classes is {} but counts has {} rows",
                raw.num_classes, m.num_classes
            )));
        }
        Ok(m)
    }
}

impl ConfusionMatrix {
    /// An all-zero matrix for `num_classes` classes.
    ///
    /// # Errors
    /// [`MetricError::NoClasses`] when `num_classes == 0`.
    pub fn new(num_classes: usize) -> Result<Self, MetricError> {
        if num_classes == 0 {
            return Err(MetricError::NoClasses);
        }
        Ok(Self {
            num_classes,
            counts: vec![vec![0; num_classes]; num_classes],
        })
    }

    /// A matrix from square counts (rows = true class, columns = predicted class).
    ///
    /// # Errors
    /// [`MetricError::NoClasses`] when empty, [`MetricError::InvalidMatrix`] when not square.
    pub fn from_counts(counts: Vec<Vec<u64>>) -> Result<Self, MetricError> {
        let k = counts.len();
        if k == 0 {
            return Err(MetricError::NoClasses);
        }
        if let Some((i, row)) = counts.iter().enumerate().find(|(_, r)| r.len() != k) {
            return Err(MetricError::InvalidMatrix(format!(
                "row {i} has {} columns, expected {k}",
                row.len()
            )));
        }
        Ok(Self {
            num_classes: k,
            counts,
        })
    }

    /// A matrix from predicted and true class indices.
    ///
    /// # Errors
    /// As [`ConfusionMatrix::new`] and [`ConfusionMatrix::update_predictions`].
    pub fn from_predictions(
        num_classes: usize,
        predictions: &[usize],
        labels: &[usize],
    ) -> Result<Self, MetricError> {
        let mut m = Self::new(num_classes)?;
        m.update_predictions(predictions, labels)?;
        Ok(m)
    }

    /// A matrix from row-major logits `[labels.len(), num_classes]`, predicting by
    /// [`crate::argmax`].
    ///
    /// # Errors
    /// As [`BatchOutput::new`].
    pub fn from_logits(
        num_classes: usize,
        logits: &[f32],
        labels: &[usize],
    ) -> Result<Self, MetricError> {
        let batch = BatchOutput::new(logits, num_classes, labels, None)?;
        let mut m = Self::new(num_classes)?;
        m.update(&batch)?;
        Ok(m)
    }

    /// Adds predictions with their labels. Nothing is added when an error is returned.
    ///
    /// # Errors
    /// [`MetricError::LengthMismatch`], [`MetricError::PredictionOutOfRange`] or
    /// [`MetricError::LabelOutOfRange`].
    pub fn update_predictions(
        &mut self,
        predictions: &[usize],
        labels: &[usize],
    ) -> Result<(), MetricError> {
        if predictions.len() != labels.len() {
            return Err(MetricError::LengthMismatch {
                predictions: predictions.len(),
                labels: labels.len(),
            });
        }
        let k = self.num_classes;
        check_indices(predictions, k, |index, prediction, classes| {
            MetricError::PredictionOutOfRange {
                index,
                prediction,
                classes,
            }
        })?;
        check_indices(labels, k, |index, label, classes| {
            MetricError::LabelOutOfRange {
                index,
                label,
                classes,
            }
        })?;
        for (&p, &t) in predictions.iter().zip(labels) {
            self.counts[t][p] += 1;
        }
        Ok(())
    }

    /// Adds the counts of another matrix of the same size.
    ///
    /// # Errors
    /// [`MetricError::ClassCountMismatch`] when the sizes differ.
    pub fn merge(&mut self, other: &ConfusionMatrix) -> Result<(), MetricError> {
        if other.num_classes != self.num_classes {
            return Err(MetricError::ClassCountMismatch {
                expected: self.num_classes,
                actual: other.num_classes,
            });
        }
        for (row, orow) in self.counts.iter_mut().zip(&other.counts) {
            for (c, o) in row.iter_mut().zip(orow) {
                *c += o;
            }
        }
        Ok(())
    }

    /// Number of classes `k`.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Samples of true class `truth` predicted as `predicted`. Panics on an index `>= k`.
    pub fn count(&self, truth: usize, predicted: usize) -> u64 {
        self.counts[truth][predicted]
    }

    /// All counts, rows = true class, columns = predicted class.
    pub fn counts(&self) -> &[Vec<u64>] {
        &self.counts
    }

    /// Counts as `f64`, e.g. for a heat map.
    pub fn counts_f64(&self) -> Vec<Vec<f64>> {
        self.counts
            .iter()
            .map(|r| r.iter().map(|&c| c as f64).collect())
            .collect()
    }

    /// Number of samples.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// Number of samples on the diagonal (predicted correctly).
    pub fn correct(&self) -> u64 {
        (0..self.num_classes).map(|c| self.counts[c][c]).sum()
    }

    /// Overall accuracy, `None` when there are no samples.
    pub fn accuracy(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| self.correct() as f64 / total as f64)
    }

    /// Samples whose true class is `class` (row sum). Panics on an index `>= k`.
    pub fn support(&self, class: usize) -> u64 {
        self.counts[class].iter().sum()
    }

    /// Samples predicted as `class` (column sum). Panics on an index `>= k`.
    pub fn predicted(&self, class: usize) -> u64 {
        self.counts.iter().map(|r| r[class]).sum()
    }

    /// Recall of `class` (= its per-class accuracy): correct / support.
    /// `None` when the class never occurs among the labels. Panics on an index `>= k`.
    pub fn recall(&self, class: usize) -> Option<f64> {
        ratio(self.counts[class][class], self.support(class))
    }

    /// Precision of `class`: correct / times predicted.
    /// `None` when the class is never predicted. Panics on an index `>= k`.
    pub fn precision(&self, class: usize) -> Option<f64> {
        ratio(self.counts[class][class], self.predicted(class))
    }

    /// F1 of `class`, `2·TP / (2·TP + FP + FN)` (the harmonic mean of precision and
    /// recall, 0 when both are 0). `None` when precision or recall is undefined.
    /// Panics on an index `>= k`.
    pub fn f1(&self, class: usize) -> Option<f64> {
        self.precision(class)?;
        self.recall(class)?;
        let tp = self.counts[class][class];
        let fp = self.predicted(class) - tp;
        let fn_ = self.support(class) - tp;
        ratio(2 * tp, 2 * tp + fp + fn_)
    }

    /// Accuracy on each true class, i.e. recall per class; `None` for absent classes.
    pub fn per_class_accuracy(&self) -> Vec<Option<f64>> {
        (0..self.num_classes).map(|c| self.recall(c)).collect()
    }

    /// Matrix divided by row sums (rows = true class); a row whose class never occurs is
    /// all `None`. Each defined row sums to 1 and its diagonal cell is the class's recall.
    pub fn row_normalized(&self) -> Vec<Vec<Option<f64>>> {
        self.normalized(Normalization::Row)
    }

    /// Matrix divided by column sums (columns = predicted class); a column of a class
    /// never predicted is all `None`. Each defined column sums to 1 and its diagonal cell
    /// is the class's precision.
    pub fn column_normalized(&self) -> Vec<Vec<Option<f64>>> {
        self.normalized(Normalization::Column)
    }

    /// [`Self::row_normalized`] or [`Self::column_normalized`].
    pub fn normalized(&self, by: Normalization) -> Vec<Vec<Option<f64>>> {
        let sums: Vec<u64> = (0..self.num_classes)
            .map(|c| match by {
                Normalization::Row => self.support(c),
                Normalization::Column => self.predicted(c),
            })
            .collect();
        self.counts
            .iter()
            .enumerate()
            .map(|(t, row)| {
                row.iter()
                    .enumerate()
                    .map(|(p, &c)| match by {
                        Normalization::Row => ratio(c, sums[t]),
                        Normalization::Column => ratio(c, sums[p]),
                    })
                    .collect()
            })
            .collect()
    }

    /// Counts as an aligned text table: true classes down, predicted classes across, with
    /// row totals (support) and column totals (times predicted). Missing names print as
    /// `class i`.
    pub fn table<S: AsRef<str>>(&self, class_names: &[S]) -> String {
        let k = self.num_classes;
        let mut t = self.grid_table(class_names, "total");
        for (i, row) in self.counts.iter().enumerate() {
            let mut cells = vec![class_name(class_names, i)];
            cells.extend(row.iter().map(u64::to_string));
            cells.push(self.support(i).to_string());
            t.row(cells);
        }
        t.rule();
        let mut cells = vec!["total".to_string()];
        cells.extend((0..k).map(|c| self.predicted(c).to_string()));
        cells.push(self.total().to_string());
        t.row(cells);
        t.render()
    }

    /// The normalised matrix as an aligned text table with 2 decimals; undefined cells
    /// print `n/a` and a note under the table names the classes concerned.
    pub fn normalized_table<S: AsRef<str>>(&self, class_names: &[S], by: Normalization) -> String {
        let m = self.normalized(by);
        let mut t = self.grid_table(class_names, "");
        for (i, row) in m.iter().enumerate() {
            let mut cells = vec![class_name(class_names, i)];
            cells.extend(row.iter().map(|v| match v {
                Some(v) => format!("{v:.2}"),
                None => "n/a".to_string(),
            }));
            t.row(cells);
        }
        let mut out = t.render();
        let (what, why) = match by {
            Normalization::Row => ("row", "never present"),
            Normalization::Column => ("column", "never predicted"),
        };
        for c in 0..self.num_classes {
            let empty = match by {
                Normalization::Row => self.support(c) == 0,
                Normalization::Column => self.predicted(c) == 0,
            };
            if empty {
                let name = class_name(class_names, c);
                out.push_str(&format!("n/a: {what} {name} is undefined ({why})\n"));
            }
        }
        out
    }

    /// Header `true \ predicted | names... | last` with left-aligned first column.
    fn grid_table<S: AsRef<str>>(&self, class_names: &[S], last: &str) -> TextTable {
        let k = self.num_classes;
        let mut headers = vec!["true \\ predicted".to_string()];
        headers.extend((0..k).map(|c| class_name(class_names, c)));
        let mut aligns = vec![Align::Left];
        aligns.extend(std::iter::repeat_n(Align::Right, k));
        if !last.is_empty() {
            headers.push(last.to_string());
            aligns.push(Align::Right);
        }
        TextTable::new(headers, aligns)
    }
}

/// `num / den`, `None` when `den == 0`.
pub(crate) fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

impl Metric for ConfusionMatrix {
    fn name(&self) -> &str {
        "confusion matrix"
    }

    /// Adds the batch's arg-max predictions.
    fn update(&mut self, batch: &BatchOutput<'_>) -> Result<(), MetricError> {
        if batch.num_classes() != self.num_classes {
            return Err(MetricError::ClassCountMismatch {
                expected: self.num_classes,
                actual: batch.num_classes(),
            });
        }
        self.update_predictions(&batch.predictions(), batch.labels())
    }

    /// Overall accuracy.
    fn value(&self) -> Option<f64> {
        self.accuracy()
    }

    fn count(&self) -> u64 {
        self.total()
    }

    fn summary(&self) -> String {
        match self.accuracy() {
            Some(a) => format!(
                "confusion matrix: {} samples, {} correct ({:.2}%)",
                self.total(),
                self.correct(),
                100.0 * a
            ),
            None => "confusion matrix: no samples".to_string(),
        }
    }

    fn reset(&mut self) {
        for row in &mut self.counts {
            row.fill(0);
        }
    }
}
