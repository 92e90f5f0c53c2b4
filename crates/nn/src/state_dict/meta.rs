//! What a Kiln weights file knows about itself, in its safetensors `__metadata__`: the
//! architecture that rebuilds its network, the image shape and normalisation it expects, its
//! class names and what made it. PyTorch ignores the metadata (and Kiln reads PyTorch's files
//! without it); every file Kiln writes also carries a checksum of all of its bytes.

use std::path::Path;

use kiln_tensor::Backend;
use serde::{Deserialize, Serialize};

use super::{Metadata, state_dict, to_safetensors_bytes, write_atomic};
use crate::model::Architecture;
use crate::{Module, NnError, Result};

/// The metadata key of [`WeightsMeta`] (JSON).
pub const META_KEY: &str = "kiln";

/// What a weights file says about its network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightsMeta {
    /// Rebuilds the network (classes and image size resolved).
    pub architecture: Architecture,
    /// `[channels, height, width]` of the images it takes.
    pub input: [usize; 3],
    /// One name per output, in label order.
    pub class_names: Vec<String>,
    /// Images enter as `(x / 255 - mean) / std`, per channel.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// What made the file, e.g. "kiln 0.1.0".
    pub made_by: String,
}

impl WeightsMeta {
    /// Checks that the fields agree with each other.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |reason: String| NnError::Format {
            path: path.to_path_buf(),
            reason,
        };
        let c = self.input[0];
        if self.class_names.is_empty() || self.input.contains(&0) {
            return Err(bad(
                "its metadata names no classes or an empty image shape".into()
            ));
        }
        if self.mean.len() != c
            || self.std.len() != c
            || self.std.iter().any(|s| s.is_nan() || *s <= 0.0)
        {
            return Err(bad(format!(
                "its metadata has a normalisation for {} channels (std {:?}) but images of {c}",
                self.mean.len(),
                self.std
            )));
        }
        Ok(())
    }

    /// Reads the metadata of a file, if it has Kiln's (`None` for other files).
    pub fn from_metadata(metadata: &Metadata, path: &Path) -> Result<Option<WeightsMeta>> {
        let Some(json) = metadata.get(META_KEY) else {
            return Ok(None);
        };
        let meta: WeightsMeta = serde_json::from_str(json).map_err(|e| NnError::Format {
            path: path.to_path_buf(),
            reason: format!("unreadable Kiln metadata: {e}"),
        })?;
        meta.validate(path)?;
        Ok(Some(meta))
    }
}

/// Saves a module's weights with their metadata (atomically, checksummed).
pub fn save_weights<B: Backend, M: Module<B> + ?Sized>(
    m: &M,
    meta: &WeightsMeta,
    path: &Path,
) -> Result<()> {
    let json = serde_json::to_string(meta).map_err(|e| NnError::Config(e.to_string()))?;
    let metadata = Metadata::from([(META_KEY.to_string(), json)]);
    let bytes = to_safetensors_bytes(&state_dict(m)?, Some(metadata))?;
    write_atomic(path, &bytes)
}
