//! Errors of the metrics crate.

/// Why a metric could not take a batch or build a matrix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    /// A classification metric was asked for zero classes.
    #[error("the number of classes must be at least 1")]
    NoClasses,
    /// The logits slice is not `rows × classes` long.
    #[error("logits hold {len} values, which is not {rows} rows × {classes} classes")]
    LogitShape {
        /// Length of the logits slice.
        len: usize,
        /// Number of labels (rows expected).
        rows: usize,
        /// Number of classes (columns expected).
        classes: usize,
    },
    /// Predictions and labels differ in length.
    #[error("{predictions} predictions but {labels} labels")]
    LengthMismatch {
        /// Number of predictions.
        predictions: usize,
        /// Number of labels.
        labels: usize,
    },
    /// A label is not a valid class index.
    #[error("label {label} at position {index} is out of range for {classes} classes")]
    LabelOutOfRange {
        /// Position in the batch.
        index: usize,
        /// The offending label.
        label: usize,
        /// Number of classes.
        classes: usize,
    },
    /// A prediction is not a valid class index.
    #[error("prediction {prediction} at position {index} is out of range for {classes} classes")]
    PredictionOutOfRange {
        /// Position in the batch.
        index: usize,
        /// The offending prediction.
        prediction: usize,
        /// Number of classes.
        classes: usize,
    },
    /// A metric of `classes` classes was given a batch of another class count.
    #[error("metric expects {expected} classes but the batch has {actual}")]
    ClassCountMismatch {
        /// Classes the metric was built for.
        expected: usize,
        /// Classes in the batch or the other matrix.
        actual: usize,
    },
    /// A loss metric was updated with a batch that carries no loss.
    #[error("metric `{metric}` needs a batch loss, but the batch has none")]
    MissingLoss {
        /// Name of the metric.
        metric: String,
    },
    /// Top-k accuracy needs `k >= 1`.
    #[error("top-k accuracy needs k >= 1")]
    ZeroK,
    /// A deserialised confusion matrix is not square or does not match its class count.
    #[error("invalid confusion matrix: {0}")]
    InvalidMatrix(String),
}
