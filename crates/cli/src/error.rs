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
    Render(#[from] kiln_viz::VizError),
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
        None
    }
}

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |source| CliError::Io {
        path: path.to_path_buf(),
        source,
    }
}
