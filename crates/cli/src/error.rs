//! Errors of the `kiln` command: every failure a user can cause, as one clear line.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CliError {
    #[error(transparent)]
    Train(#[from] kiln_train::TrainError),
    #[error(transparent)]
    Nn(#[from] kiln_nn::NnError),
    #[error(transparent)]
    Tensor(#[from] kiln_tensor::TensorError),
    #[error(transparent)]
    Data(#[from] kiln_data::DataError),
    #[error(transparent)]
    Metrics(#[from] kiln_metrics::MetricError),
    #[error("cannot draw the picture: {0}")]
    Render(#[from] crate::render::RenderError),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// A flag or argument that cannot work.
    #[error("{0}")]
    Usage(String),
}

pub type Result<T> = std::result::Result<T, CliError>;

impl CliError {
    /// What the user can do about the error, in the command's own terms (flags, subcommands),
    /// when there is something to say. Library errors carry the facts; the hints that name
    /// `kiln`'s flags live here alone.
    pub fn hint(&self) -> Option<String> {
        use kiln_nn::NnError;
        use kiln_tensor::TensorError;
        use kiln_train::TrainError;
        let tensor = |e: &TensorError| match e {
            TensorError::DeviceUnavailable { .. } => {
                Some("run with --device cpu to train on the CPU instead".to_string())
            }
            _ => None,
        };
        let nn = |e: &NnError| {
            match e {
            NnError::Tensor(t) => tensor(t),
            NnError::ShapeMismatch { .. } => Some(
                "the weights were saved from another configuration: drop --c1/--c2/--l1/--conv1-kernel to read it from the file, or give the ones it was trained with"
                    .to_string(),
            ),
            _ => None,
        }
        };
        match self {
            CliError::Tensor(e) => tensor(e),
            CliError::Nn(e) => nn(e),
            CliError::Train(e) => match e {
                TrainError::Tensor(t) => tensor(t),
                TrainError::Nn(n) => nn(n),
                TrainError::NonFiniteLoss { .. } => Some("try a lower --lr".to_string()),
                TrainError::RunExists { dir } => Some(format!(
                    "continue it with `kiln train --resume {}`, or start a new one with another --name (or --out)",
                    dir.display()
                )),
                _ => None,
            },
            _ => None,
        }
    }
}

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |source| CliError::Io {
        path: path.to_path_buf(),
        source,
    }
}
