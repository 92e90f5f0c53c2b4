//! Errors of the training layer.

use std::path::PathBuf;

use thiserror::Error;

use crate::run::CHECKPOINT_FILE as CHECKPOINT;

/// Everything that can stop a training run or a search.
#[derive(Debug, Error)]
pub enum TrainError {
    #[error(transparent)]
    Nn(#[from] kiln_nn::NnError),
    #[error(transparent)]
    Tensor(#[from] kiln_tensor::TensorError),
    #[error(transparent)]
    Metrics(#[from] kiln_metrics::MetricError),
    #[error(transparent)]
    Data(#[from] kiln_data::DataError),
    /// The loss became NaN or infinite.
    #[error(
        "the loss became {value} at epoch {epoch}, by batch {batch}: training stopped (the best checkpoint is intact); the learning rate is probably too high"
    )]
    NonFiniteLoss {
        epoch: usize,
        batch: usize,
        value: f32,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A run resumed with settings or data other than it was made with.
    #[error(
        "{} was made with other settings or data, so it cannot be continued: {}",
        dir.display(),
        differences.join("; ")
    )]
    RunMismatch {
        dir: PathBuf,
        differences: Vec<String>,
    },
    /// The model's outputs do not match the data's classes.
    #[error("the model gives {outputs} outputs per image but the data has {classes} classes")]
    ClassCount { outputs: usize, classes: usize },
    /// An evaluation whose loss is not finite (weights that went NaN).
    #[error("the {what} loss is not finite: the model's outputs are NaN or infinite")]
    NonFiniteEval { what: String },
    /// A new run was asked for in a folder that already holds one.
    #[error("{} already holds a run (its checkpoint {CHECKPOINT})", dir.display())]
    RunExists { dir: PathBuf },
    /// A checkpoint or run folder that cannot be used.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    /// A bad setting.
    #[error("{0}")]
    Config(String),
}

pub type Result<T> = std::result::Result<T, TrainError>;

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}
