//! kiln-metrics: classification metrics over host-side logits, as plain data and
//! printable tables.
//!
//! - [`Metric`] is a running statistic fed with [`BatchOutput`]s (logits `[n, k]`
//!   row-major `f32`, labels, optional batch loss): [`Accuracy`], [`TopK`],
//!   [`MeanLoss`] and [`ConfusionMatrix`] implement it.
//! - [`ConfusionMatrix`] gives counts, row/column-normalised matrices, per-class
//!   precision / recall / F1 and macro averages; undefined values are `None`, never NaN.
//! - [`ClassificationReport`] bundles it all, prints aligned tables and serialises to JSON.
//!
//! The crate does not depend on the tensor crate: callers copy logits to the host.

mod accuracy;
mod batch;
mod confusion;
mod error;
mod loss;
mod metric;
mod report;
mod table;

pub use accuracy::{Accuracy, TopK};
pub use batch::{BatchOutput, argmax, label_rank, softmax};
pub use confusion::{ConfusionMatrix, Normalization};
pub use error::MetricError;
pub use loss::MeanLoss;
pub use metric::{Metric, MetricEntry};
pub use report::{ClassStats, ClassificationReport, MacroAverage};
