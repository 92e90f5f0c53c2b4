//! The error type of kiln-data.

use std::path::PathBuf;

use crate::checksum::{Algorithm, ChecksumSource};
use crate::detect::Layout;

/// The official download of the CIFAR-10 binary version.
pub const CIFAR10_BINARY_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";

/// Everything that can go wrong while reading, downloading or transforming data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The data folder itself does not exist.
    #[error("data folder {} does not exist", path.display())]
    DataDirMissing {
        /// The folder that was looked for.
        path: PathBuf,
    },

    /// A file (or folder) that a dataset layout reads does not exist.
    #[error(
        "{} is missing from the {} {}",
        path.display(),
        layout.name(),
        layout.dir().display()
    )]
    Missing {
        /// The path that was looked for.
        path: PathBuf,
        /// The layout it belongs to.
        layout: Layout,
    },

    /// A file the caller named (an image, say) that does not exist.
    #[error("no such file: {}", path.display())]
    NoSuchFile {
        /// The path.
        path: PathBuf,
    },

    /// An I/O error on a named path.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A file that cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A CIFAR-10 binary batch whose size is not the official 10,000 records.
    #[error(
        "{} has {size} bytes but a CIFAR-10 binary batch has exactly {expected} bytes \
         (10,000 records of 3,073 bytes): {}",
        path.display(),
        size_detail(*size)
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

    /// An image whose header claims more pixels than its file could plausibly hold (a
    /// decompression bomb), or more than Kiln decodes at all.
    #[error(
        "image {} claims {width}x{height} pixels, more than the {limit} Kiln decodes from a \
         file of {bytes} bytes; shrink the image before adding it to the dataset",
        path.display()
    )]
    ImageTooLarge {
        /// The image file.
        path: PathBuf,
        /// Width and height from the image's header.
        width: u32,
        height: u32,
        /// The file's size.
        bytes: u64,
        /// The most pixels decoded from a file of that size.
        limit: u64,
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

    /// A file whose digest differs from the one its checksum list records.
    #[error(
        "{} has {algorithm} {found} but {list} records {expected}: the file was damaged, \
         changed or replaced; restore it from a good copy or download the dataset again{}",
        path.display(),
        official_note(list)
    )]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// The digest algorithm.
        algorithm: Algorithm,
        /// The digest the list records (hex).
        expected: String,
        /// The digest of the file (hex).
        found: String,
        /// The list.
        list: ChecksumSource,
    },

    /// Two batch files of one dataset with identical content.
    #[error(
        "{} and {} have identical content: one batch file was copied over the other; restore \
         the overwritten one from a good copy or download the dataset again",
        first.display(),
        second.display()
    )]
    DuplicateFiles {
        /// The file earlier in the layout's order.
        first: PathBuf,
        /// The later one.
        second: PathBuf,
    },

    /// An image folder whose decoded images would not fit in memory.
    #[error(
        "{} holds {images} images, which take {} MB decoded at {size}x{size}, more than the \
         limit of {} MB (half the machine's memory, or KILN_MAX_DATASET_BYTES): use a smaller \
         image size or fewer images",
        path.display(),
        bytes / 1_000_000,
        limit / 1_000_000
    )]
    TooLarge {
        path: PathBuf,
        images: usize,
        size: usize,
        bytes: u64,
        limit: u64,
    },

    /// An argument outside its valid range.
    #[error("invalid argument: {0}")]
    Invalid(String),
}

/// Result alias for kiln-data.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

impl DataError {
    /// Wraps an I/O error with the path it concerns; a not-found error becomes
    /// [`DataError::NoSuchFile`].
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::NoSuchFile { path }
        } else {
            DataError::Io { path, source }
        }
    }
}

/// What a wrong batch size says about the records.
fn size_detail(size: u64) -> String {
    let record = crate::cifar_binary::RECORD_BYTES as u64;
    let (whole, rest) = (size / record, size % record);
    if rest != 0 {
        format!(
            "record {whole} is cut short after {rest} of 3,073 bytes (truncated or not a CIFAR-10 batch)"
        )
    } else {
        format!("it holds {whole} whole records instead of 10,000")
    }
}

/// The extra advice of a mismatch against the official MD5s.
fn official_note(list: &ChecksumSource) -> &'static str {
    match list {
        ChecksumSource::OfficialCifarPython => {
            " (python batches made on purpose need a SHA256SUMS or MD5SUMS of their own beside \
             them, which then replaces the official MD5s)"
        }
        ChecksumSource::File(_) => "",
    }
}
