//! One file per subcommand.

pub mod bench;
pub mod data;
pub mod eval;
pub mod export;
pub mod features;
pub mod filters;
pub mod predict;
pub mod samples;
pub mod search;
pub mod train;

use std::path::Path;

use crate::{Result, io_err};

/// Creates a folder (and its parents).
pub(crate) fn ensure_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))
}

/// Writes pretty JSON atomically.
pub(crate) fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| crate::CliError::Usage(e.to_string()))?;
    kiln_nn::state_dict::write_atomic(path, text.as_bytes())?;
    Ok(())
}
