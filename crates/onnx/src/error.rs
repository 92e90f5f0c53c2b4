//! Why an export fails.

use thiserror::Error;

/// An export that cannot be made.
#[derive(Debug, Error)]
pub enum OnnxError {
    #[error("the model predicts {classes} classes but {names} class names were given")]
    ClassNames { names: usize, classes: usize },
    #[error(
        "the normalisation has {got} {what} values for {channels}-channel images; give one per channel or one for all"
    )]
    NormalizationLength {
        what: &'static str,
        got: usize,
        channels: usize,
    },
    #[error(
        "the normalisation {what} of channel {channel} is {value}; means must be finite and standard deviations finite and positive"
    )]
    InvalidNormalization {
        what: &'static str,
        channel: usize,
        value: f32,
    },
    #[error(
        "weight `{name}` holds NaN or infinite values (did the training diverge?); the exported network would compute nonsense"
    )]
    NonFiniteWeight { name: String },
    #[error("the architecture uses weight `{name}`, which the model does not hold")]
    MissingWeight { name: String },
    #[error("the architecture leaves these weights of the model unused: {}", names.join(", "))]
    UnusedWeights { names: Vec<String> },
    #[error("the ONNX file would be {bytes} bytes, over protobuf's 2 GiB limit on one message")]
    TooLarge { bytes: usize },
    #[error("cannot write the architecture as JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Nn(#[from] kiln_nn::NnError),
}

pub type Result<T> = std::result::Result<T, OnnxError>;
