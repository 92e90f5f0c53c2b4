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
    safetensors::serialize(views, metadata)
        .map_err(|e| NnError::Config(format!("cannot serialise: {e}")))
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
    let metadata = meta.metadata().clone().unwrap_or_default();
    Ok((out, metadata))
}
