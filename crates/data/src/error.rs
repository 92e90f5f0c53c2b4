//! The error type of kiln-data.

use std::path::PathBuf;

/// The official download of the CIFAR-10 binary version.
pub const CIFAR10_BINARY_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";

/// How a user gets CIFAR-10 onto the machine; appended to errors about missing data.
pub(crate) const HOW_TO_GET_DATA: &str = "run `kiln data download` to fetch CIFAR-10 \
(or download https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz by hand and unpack it), \
then point `--data` (or KILN_DATA) at the folder that contains `cifar-10-batches-bin/`";

/// Everything that can go wrong while reading, downloading or transforming data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or folder the reader needs does not exist.
    #[error("{} is missing; {hint}", path.display())]
    Missing {
        /// The path that was looked for.
        path: PathBuf,
        /// What to do about it.
        hint: String,
    },

    /// An I/O error on a named path.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A CIFAR-10 binary batch whose size is not the official 10,000 records.
    #[error(
        "{} has {size} bytes but a CIFAR-10 binary batch has exactly {expected} bytes \
         (10,000 records of 3,073 bytes); the file is truncated or not a CIFAR-10 batch",
        path.display()
    )]
    BadSize {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The size it should have.
        expected: u64,
    },

    /// A label outside `0..num_classes`.
    #[error(
        "{}: record {index} has label {label}, but labels must be 0-{max}",
        path.display()
    )]
    BadLabel {
        /// The file (or dataset description) holding the record.
        path: PathBuf,
        /// The index of the record within that file.
        index: usize,
        /// The label found.
        label: i64,
        /// The largest valid label.
        max: usize,
    },

    /// A file whose content is not in the expected format.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// An image file that cannot be decoded.
    #[error("cannot decode image {}: {reason}", path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// The decoder's complaint.
        reason: String,
    },

    /// A folder in none of the layouts kiln-data understands.
    #[error("{} holds no dataset in a known layout; looked for: {looked_for}", path.display())]
    UnknownLayout {
        /// The folder inspected.
        path: PathBuf,
        /// The layouts that were tried.
        looked_for: String,
    },

    /// A download that failed (offline, HTTP error, interrupted transfer).
    #[error(
        "could not download {url}: {reason}. Without internet access, put the CIFAR-10 files in place \
         by hand: either unpack the official archive so that {}/cifar-10-batches-bin/ holds \
         data_batch_1.bin .. data_batch_5.bin, test_batch.bin and batches.meta.txt, or place the \
         archive itself at {}/cifar-10-binary.tar.gz (official URL: {CIFAR10_BINARY_URL})",
        dest.display(),
        dest.display()
    )]
    Download {
        /// The URL that was tried.
        url: String,
        /// The destination folder.
        dest: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// A downloaded or supplied archive whose MD5 differs from the expected one.
    #[error(
        "{} has MD5 {actual} but {expected} was expected; the download is corrupt or incomplete and was \
         removed. Retry, or fetch {CIFAR10_BINARY_URL} by hand into {}",
        path.display(),
        dest.display()
    )]
    Checksum {
        /// The archive (as it would have been named).
        path: PathBuf,
        /// The destination folder.
        dest: PathBuf,
        /// The expected MD5 (hex).
        expected: String,
        /// The MD5 found (hex).
        actual: String,
    },

    /// An argument outside its valid range.
    #[error("invalid argument: {0}")]
    Invalid(String),
}

/// Result alias for kiln-data.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

impl DataError {
    /// Wraps an I/O error with the path it concerns; a not-found error becomes [`DataError::Missing`].
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::Missing {
                path,
                hint: HOW_TO_GET_DATA.to_string(),
            }
        } else {
            DataError::Io { path, source }
        }
    }

    /// A [`DataError::Missing`] with the standard hint about getting CIFAR-10.
    pub(crate) fn missing(path: impl Into<PathBuf>) -> Self {
        DataError::Missing {
            path: path.into(),
            hint: HOW_TO_GET_DATA.to_string(),
        }
    }
}
