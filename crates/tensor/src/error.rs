//! Errors of the tensor layer.

use thiserror::Error;

/// Everything that can go wrong in a tensor operation.
#[derive(Debug, Error)]
pub enum TensorError {
    /// Two operands (or an operand and a parameter) do not fit together.
    #[error("{op}: shape mismatch between {lhs:?} and {rhs:?}")]
    ShapeMismatch {
        op: &'static str,
        lhs: Vec<usize>,
        rhs: Vec<usize>,
    },
    /// An operand has the wrong number of dimensions or an impossible size.
    #[error("{op}: {msg}")]
    InvalidArgument { op: &'static str, msg: String },
    /// A host buffer's length does not match the shape it is meant to fill.
    #[error("data of {len} values cannot fill shape {shape:?} ({expected} values)")]
    DataLength {
        len: usize,
        shape: Vec<usize>,
        expected: usize,
    },
    /// The backend failed (device error, out of memory).
    #[error("{backend} backend: {msg}")]
    Backend { backend: &'static str, msg: String },
    /// A device cannot be opened at all (no driver, a missing library, no such GPU).
    #[error("{device} is unavailable: {reason}")]
    DeviceUnavailable { device: String, reason: String },
}

/// Result of a tensor operation.
pub type Result<T> = std::result::Result<T, TensorError>;

impl TensorError {
    pub(crate) fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        TensorError::InvalidArgument {
            op,
            msg: msg.into(),
        }
    }
}
