//! Errors of the module layer.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong building, running, saving or loading a model.
#[derive(Debug, Error)]
pub enum NnError {
    #[error(transparent)]
    Tensor(#[from] kiln_tensor::TensorError),
    /// A learning-rate schedule that cannot run.
    #[error(transparent)]
    Schedule(#[from] crate::optim::ScheduleError),
    /// A state dict lacks a tensor the model has.
    #[error(
        "state dict {source_name}: missing tensor `{name}` (the model expects shape {expected:?})"
    )]
    MissingTensor {
        source_name: String,
        name: String,
        expected: Vec<usize>,
    },
    /// A state dict has a tensor the model does not.
    #[error(
        "state dict {source_name}: unexpected tensor `{name}` of shape {found:?}: the model has no such tensor (was it saved from another network?)"
    )]
    UnexpectedTensor {
        source_name: String,
        name: String,
        found: Vec<usize>,
    },
    /// Shapes differ: usually a checkpoint of another configuration.
    #[error(
        "state dict {source_name}: tensor `{name}` has shape {found:?} but the model expects {expected:?}"
    )]
    ShapeMismatch {
        source_name: String,
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    /// A tensor of a dtype we cannot read.
    #[error(
        "state dict {source_name}: tensor `{name}` has dtype {dtype}; Kiln reads F32, F16, BF16 and F64 tensors (and I64 counters)"
    )]
    Dtype {
        source_name: String,
        name: String,
        dtype: String,
    },
    /// The file is not a safetensors file.
    #[error("{path} is not a readable safetensors file: {reason}")]
    Format { path: PathBuf, reason: String },
    /// Bytes that are neither safetensors nor a torch.save archive (an image, a text file).
    #[error(
        "{path} is not a weights file: neither safetensors (a length, then a JSON header) nor a torch.save zip archive"
    )]
    NotWeights { path: PathBuf },
    /// A PyTorch zip archive (torch.save) that cannot be read.
    #[error("{path} is not a readable PyTorch weights file: {reason}")]
    TorchFormat { path: PathBuf, reason: String },
    /// PyTorch's legacy serialisation (before 1.6), which Kiln does not read.
    #[error(
        "{path} was saved in PyTorch's legacy format (before PyTorch 1.6), which Kiln does not read; re-save it as a zip archive with `torch.save(model.state_dict(), path)` on PyTorch >= 1.6, or as safetensors with `safetensors.torch.save_file(model.state_dict(), path)`"
    )]
    LegacyTorchFormat { path: PathBuf },
    /// A pickle global outside the state-dict allow-list: refused, never imported or called.
    #[error(
        "{path}: the pickle refers to `{module}.{name}`, which a state dict does not contain; Kiln refused it without running it (weights are read as data only: save `model.state_dict()`, not a model or other Python objects)"
    )]
    ForbiddenGlobal {
        path: PathBuf,
        module: String,
        name: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A Kiln file whose content no longer matches the checksum it was written with.
    #[error(
        "{} is damaged: its contents have SHA-256 {found} but it was written with {stored} (a changed or corrupted copy; use another copy of the file)",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        stored: String,
        found: String,
    },
    /// A tensor holding NaN or infinite values (weights of a run that diverged).
    #[error(
        "state dict {source_name}: tensor `{name}` holds {count} NaN or infinite values of {total}: these weights are unusable (saved from a run that diverged?)"
    )]
    NonFinite {
        source_name: String,
        name: String,
        count: usize,
        total: usize,
    },
    /// A model file that cannot be read as one.
    #[error("model file {}: {reason}", path.display())]
    ModelFile { path: PathBuf, reason: String },
    /// A layer that does not fit what comes before or after it.
    #[error("layer {layer} ({kind}): {reason}")]
    Layer {
        /// The layer's state-dict prefix (`4`, `4.body.0`).
        layer: String,
        kind: &'static str,
        reason: String,
    },
    /// Optimizer settings that cannot work.
    #[error("invalid optimizer settings: {0}")]
    Optimizer(String),
    /// A configuration that cannot make a network.
    #[error("invalid model configuration: {0}")]
    Config(String),
}

pub type Result<T> = std::result::Result<T, NnError>;
