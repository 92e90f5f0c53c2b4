//! Errors of the PNG renderers.

use std::path::PathBuf;

/// Why a picture could not be drawn or written.
#[derive(Debug, thiserror::Error)]
pub enum VizError {
    /// The data handed in cannot be drawn (empty, wrong lengths, mismatched counts).
    #[error("cannot draw: {0}")]
    InvalidInput(String),
    /// The picture would exceed the size limit of [`crate::MAX_SIDE`] pixels a side.
    #[error("picture of {width}×{height} pixels is larger than allowed ({max} a side)")]
    TooLarge {
        /// Requested width.
        width: u64,
        /// Requested height.
        height: u64,
        /// The limit.
        max: u32,
    },
    /// The embedded font could not be loaded (a build problem, not a user error).
    #[error("the embedded font could not be loaded")]
    Font,
    /// PNG encoding failed.
    #[error("could not encode PNG: {0}")]
    Encode(#[from] image::ImageError),
    /// Writing the file failed.
    #[error("could not write {}: {source}", path.display())]
    Io {
        /// The file being written (or its temporary sibling).
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}
