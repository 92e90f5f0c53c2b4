//! State dicts as safetensors with PyTorch's names, dtypes and shapes: a Kiln file loads in
//! PyTorch with `model.load_state_dict(safetensors.torch.load_file(path))`, and Kiln loads a
//! file PyTorch saved. Loading checks everything before it changes anything.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use kiln_tensor::{Backend, Tensor};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::{Module, NnError, Result, TensorKind};

/// Named tensors on the host: name → (shape, values).
pub type NamedTensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;
/// The string metadata of a safetensors file.
pub type Metadata = HashMap<String, String>;

/// One named tensor on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    pub kind: TensorKind,
}

/// Every named tensor of a module, copied to the host.
pub fn state_dict<B: Backend, M: Module<B> + ?Sized>(
    m: &M,
) -> Result<BTreeMap<String, HostTensor>> {
    let mut out = BTreeMap::new();
    let mut err = None;
    m.visit(&mut |name, t, kind| match t.to_vec() {
        Ok(data) => {
            out.insert(
                name.to_string(),
                HostTensor {
                    shape: t.shape().to_vec(),
                    data,
                    kind,
                },
            );
        }
        Err(e) => err = Some(e),
    });
    match err {
        Some(e) => Err(e.into()),
        None => Ok(out),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder, flushed and renamed,
/// so a crash leaves either the old file or the new one, never a broken one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, bytes, |f, b| f.write_all(b))
}

/// [`write_atomic`] with the function that writes the bytes into the temporary file (tests
/// inject failures through it). On any error the temporary file is removed and `path` is
/// left as it was.
pub fn write_atomic_with(
    path: &Path,
    bytes: &[u8],
    write: impl FnOnce(&mut std::fs::File, &[u8]) -> std::io::Result<()>,
) -> Result<()> {
    let io = |source| NnError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp: PathBuf = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        write(&mut f, bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

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

/// Saves a module's state dict to a safetensors file (atomically).
pub fn save<B: Backend, M: Module<B> + ?Sized>(m: &M, path: &Path) -> Result<()> {
    let bytes = to_safetensors_bytes(&state_dict(m)?, None)?;
    write_atomic(path, &bytes)
}

/// Reads every tensor of a safetensors file as f32 (int64 counters converted), with metadata.
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
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F64 => data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                .collect(),
            Dtype::I64 => data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                .collect(),
            other => {
                return Err(NnError::Dtype {
                    source_name: path.display().to_string(),
                    name,
                    dtype: format!("{other:?}"),
                });
            }
        };
        out.insert(name, (view.shape().to_vec(), values));
    }
    let metadata = meta.metadata().clone().unwrap_or_default();
    Ok((out, metadata))
}

/// Loads a safetensors state dict into a module. Every tensor is checked first (missing,
/// unexpected, wrong shape); on any error the module is left untouched.
pub fn load<B: Backend, M: Module<B> + ?Sized>(m: &mut M, path: &Path) -> Result<()> {
    let (tensors, _) = read_safetensors(path)?;
    load_tensors(m, &tensors, &path.display().to_string())
}

/// Loads named host tensors into a module, checking everything before changing anything.
pub fn load_tensors<B: Backend, M: Module<B> + ?Sized>(
    m: &mut M,
    tensors: &BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    source_name: &str,
) -> Result<()> {
    let expected = crate::module::describe(m);
    for (name, shape, _) in &expected {
        match tensors.get(name) {
            None => {
                return Err(NnError::MissingTensor {
                    source_name: source_name.into(),
                    name: name.clone(),
                    expected: shape.clone(),
                });
            }
            Some((found, _)) if found != shape => {
                return Err(NnError::ShapeMismatch {
                    source_name: source_name.into(),
                    name: name.clone(),
                    found: found.clone(),
                    expected: shape.clone(),
                });
            }
            _ => {}
        }
    }
    for (name, (shape, _)) in tensors {
        if !expected.iter().any(|(n, _, _)| n == name) {
            return Err(NnError::UnexpectedTensor {
                source_name: source_name.into(),
                name: name.clone(),
                found: shape.clone(),
            });
        }
    }
    // Build every new tensor before assigning any.
    let mut fresh: HashMap<String, Tensor<B>> = HashMap::new();
    let mut err = None;
    m.visit(&mut |name, t, _| {
        let (shape, data) = &tensors[name];
        match Tensor::from_slice(data, shape, t.device()) {
            Ok(n) => {
                fresh.insert(name.to_string(), n.set_requires_grad(t.requires_grad()));
            }
            Err(e) => err = Some(e),
        }
    });
    if let Some(e) = err {
        return Err(e.into());
    }
    m.visit_mut(&mut |name, t, _| {
        if let Some(n) = fresh.remove(name) {
            *t = n;
        }
    });
    Ok(())
}

/// Copies every named tensor of `src` into `dst` (for instance from a CPU model to the same
/// network on a GPU).
pub fn copy_state<B: Backend, C: Backend, M: Module<B> + ?Sized, N: Module<C> + ?Sized>(
    src: &M,
    dst: &mut N,
) -> Result<()> {
    let host: BTreeMap<String, (Vec<usize>, Vec<f32>)> = state_dict(src)?
        .into_iter()
        .map(|(k, v)| (k, (v.shape, v.data)))
        .collect();
    load_tensors(dst, &host, "source model")
}
