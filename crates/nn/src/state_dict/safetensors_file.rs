//! safetensors files: Kiln writes f32 (int64 counters) and reads every float type.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::dtype::{ElemType, to_f32};
use super::{HostTensor, Metadata, NamedTensors};
use crate::{NnError, Result, TensorKind};

/// Serialises named host tensors to safetensors bytes (counters as int64, the rest as f32).
pub fn to_safetensors_bytes(
    tensors: &BTreeMap<String, HostTensor>,
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>> {
    let raw: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, t)| {
            let (dtype, bytes) = match t.kind {
                TensorKind::Counter => (
                    Dtype::I64,
                    t.data
                        .iter()
                        .flat_map(|&v| (v.round() as i64).to_le_bytes())
                        .collect(),
                ),
                _ => (
                    Dtype::F32,
                    t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                ),
            };
            (name.clone(), dtype, t.shape.clone(), bytes)
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = raw
        .iter()
        .map(|(n, d, s, b)| {
            TensorView::new(*d, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| NnError::Config(format!("cannot serialise {n}: {e}")))
        })
        .collect::<Result<_>>()?;
    let mut metadata = metadata.unwrap_or_default();
    metadata.remove(CHECKSUM_KEY);
    let sum = checksum(
        &metadata,
        raw.iter()
            .map(|(n, d, s, b)| (n.as_str(), *d, &s[..], &b[..])),
    );
    metadata.insert(CHECKSUM_KEY.to_string(), sum);
    safetensors::serialize(views, Some(metadata))
        .map_err(|e| NnError::Config(format!("cannot serialise: {e}")))
}

/// The metadata key of the SHA-256 that every file Kiln writes carries.
pub const CHECKSUM_KEY: &str = "kiln.sha256";

/// SHA-256 (hex) over the metadata (sorted, less the checksum itself) and every tensor's name,
/// dtype, shape and bytes in name order: any changed byte of a file changes it.
fn checksum<'a>(
    metadata: &HashMap<String, String>,
    tensors: impl Iterator<Item = (&'a str, Dtype, &'a [usize], &'a [u8])>,
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut put = |b: &[u8]| {
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    };
    let mut meta: Vec<(&String, &String)> = metadata
        .iter()
        .filter(|(k, _)| k.as_str() != CHECKSUM_KEY)
        .collect();
    meta.sort();
    for (k, v) in meta {
        put(k.as_bytes());
        put(v.as_bytes());
    }
    let mut tensors: Vec<_> = tensors.collect();
    tensors.sort_by(|a, b| a.0.cmp(b.0));
    for (name, dtype, shape, bytes) in tensors {
        put(name.as_bytes());
        put(format!("{dtype:?}").as_bytes());
        let dims: Vec<u8> = shape
            .iter()
            .flat_map(|&d| (d as u64).to_le_bytes())
            .collect();
        put(&dims);
        put(bytes);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads every tensor of a safetensors file as f32 (F16, BF16, F64 and int64 counters
/// converted), with metadata.
pub fn read_safetensors(path: &Path) -> Result<(NamedTensors, Metadata)> {
    let bytes = std::fs::read(path).map_err(|source| NnError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_safetensors(&bytes, path)
}

/// Parses safetensors bytes as in [`read_safetensors`]; `path` names the source in errors.
pub fn parse_safetensors(bytes: &[u8], path: &Path) -> Result<(NamedTensors, Metadata)> {
    let format = |reason: String| NnError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| format(e.to_string()))?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| format(e.to_string()))?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    if let Some(stored) = metadata.get(CHECKSUM_KEY) {
        let views = st.tensors();
        let found = checksum(
            &metadata,
            views
                .iter()
                .map(|(n, v)| (n.as_str(), v.dtype(), v.shape(), v.data())),
        );
        if &found != stored {
            return Err(NnError::Corrupt {
                path: path.to_path_buf(),
                stored: stored.clone(),
                found,
            });
        }
    }
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let elem = match view.dtype() {
            Dtype::F32 => Some(ElemType::F32),
            Dtype::F64 => Some(ElemType::F64),
            Dtype::F16 => Some(ElemType::F16),
            Dtype::BF16 => Some(ElemType::BF16),
            Dtype::I64 => Some(ElemType::I64),
            _ => None,
        };
        // safetensors has checked that the bytes match dtype and shape
        let Some(values) = elem.and_then(|e| to_f32(e, view.data())) else {
            return Err(NnError::Dtype {
                source_name: path.display().to_string(),
                name,
                dtype: format!("{:?}", view.dtype()),
            });
        };
        out.insert(name, (view.shape().to_vec(), values));
    }
    Ok((out, metadata))
}
