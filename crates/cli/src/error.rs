//! Errors of the `kiln` command: every failure a user can cause, as one clear line, and the
//! hints that say which command or flag fixes it.

use std::path::Path;

use kiln_data::{ChecksumSource, DataError, DataWarning, Layout};
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
    #[error("cannot export the model: {0}")]
    Onnx(#[from] kiln_onnx::OnnxError),
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
        use kiln_nn::NnError;
        use kiln_tensor::TensorError;
        use kiln_train::TrainError;
        let tensor = |e: &TensorError| match e {
            TensorError::DeviceUnavailable { .. } => {
                Some("run with --device cpu to train on the CPU instead".to_string())
            }
            _ => None,
        };
        const OTHER_CONFIG: &str = "the weights were saved from another configuration: drop \
            --c1/--c2/--l1/--conv1-kernel to read it from the file, or give the ones it was \
            trained with";
        let nn = |e: &NnError| match e {
            NnError::Tensor(t) => tensor(t),
            NnError::ShapeMismatch { .. } => Some(OTHER_CONFIG.to_string()),
            _ => None,
        };
        match self {
            CliError::Tensor(e) => tensor(e),
            CliError::Nn(e) => nn(e),
            CliError::Data(e) => data_hint(e),
            CliError::Train(e) => match e {
                TrainError::Data(d) => data_hint(d),
                TrainError::Tensor(t) => tensor(t),
                TrainError::Nn(n) => nn(n),
                TrainError::NonFiniteLoss { .. } => Some("try a lower --lr".to_string()),
                TrainError::RunExists { dir } => Some(format!(
                    "continue it with `kiln train --resume {}`, or start a new one with another --name (or --out)",
                    dir.display()
                )),
                TrainError::RunMismatch { dir, .. } => Some(format!(
                    "resume it with the data and settings it was made with (see `{}`), or \
                     start a new run with another --name (or --out)",
                    dir.join(kiln_train::run::CONFIG_FILE).display()
                )),
                _ => None,
            },
            _ => None,
        }
    }
}

/// How to get a fresh copy of CIFAR-10.
const FRESH_COPY: &str =
    "fetch a fresh copy with `kiln data download --dir NEW_DIR` and pass `--data NEW_DIR`";

/// The hint for a data error, in the command's terms.
pub fn data_hint(e: &DataError) -> Option<String> {
    let hint = match e {
        DataError::DataDirMissing { path } => format!(
            "check the folder given by --data (or KILN_DATA); to fetch CIFAR-10 there, run \
             `kiln data download --dir {0}` and pass `--data {0}`",
            path.display()
        ),
        DataError::Missing {
            layout: Layout::CifarBinary(_) | Layout::CifarPython(_),
            ..
        } => format!("the dataset folder is incomplete: restore the file, or {FRESH_COPY}"),
        DataError::UnknownLayout { .. } => "point --data PATH (or KILN_DATA) at a folder in one \
             of those layouts; `kiln data download --dir data` fetches CIFAR-10 into \
             data/cifar-10-batches-bin/, then pass `--data data`"
            .to_string(),
        DataError::ChecksumMismatch { path, list, .. } => {
            // The folder the list belongs to (an image folder's list lies above the file).
            let dir = match list {
                ChecksumSource::File(l) => l.parent(),
                ChecksumSource::OfficialCifarPython => path.parent(),
            };
            let dir = dir.unwrap_or(Path::new(".")).display();
            match list {
                ChecksumSource::File(_) => format!(
                    "if the file was changed on purpose, record the new checksums with \
                     `kiln data verify --write --data {dir}`; otherwise {FRESH_COPY}"
                ),
                ChecksumSource::OfficialCifarPython => format!(
                    "if these python batches were made on purpose, record their checksums with \
                     `kiln data verify --write --data {dir}`; `kiln data download --dir NEW_DIR` \
                     fetches the official binary version"
                ),
            }
        }
        DataError::DuplicateFiles { .. } | DataError::BadSize { .. } => {
            format!("restore the damaged file from a good copy, or {FRESH_COPY}")
        }
        DataError::Checksum { .. } => "run the same `kiln data download` again".to_string(),
        _ => return None,
    };
    Some(hint)
}

/// The hint for a loader's warning.
pub fn warning_hint(w: &DataWarning) -> String {
    match w {
        DataWarning::NoChecksumList { dir } => format!(
            "record the files' checksums now with `kiln data verify --write --data {}`; every \
             later load then verifies them",
            dir.display()
        ),
        DataWarning::NotInList { list, .. } => format!(
            "`kiln data verify --write --data {}` rewrites the list with every file of the dataset",
            list.parent().unwrap_or(Path::new(".")).display()
        ),
    }
}

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |source| CliError::Io {
        path: path.to_path_buf(),
        source,
    }
}
