//! State dicts as safetensors with PyTorch's names, dtypes and shapes: a Kiln file loads in
//! PyTorch with `model.load_state_dict(safetensors.torch.load_file(path))`, and Kiln loads a
//! file PyTorch saved, as safetensors or as `torch.save(model.state_dict(), path)` wrote it
//! (every float type converted to f32). Loading checks everything before it changes anything.

mod data_pkl;
mod dtype;
mod meta;
mod safetensors_file;
mod torch_zip;
mod zip;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use kiln_tensor::{Backend, Tensor};

use crate::{Module, NnError, Result, TensorKind};

pub use meta::{META_KEY, WeightsMeta, save_weights};
pub use safetensors_file::{
    CHECKSUM_KEY, parse_safetensors, read_safetensors, to_safetensors_bytes,
};

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

/// A test hook: `KILN_TEST_WRITE_DELAY_MS` makes every atomic write wait that long between
/// writing its temporary file and renaming it, so that a test killing the process at random
/// moments often kills it inside a write.
fn test_write_delay() {
    if let Some(ms) = std::env::var("KILN_TEST_WRITE_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
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
        test_write_delay();
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

/// Saves a module's state dict to a safetensors file (atomically).
pub fn save<B: Backend, M: Module<B> + ?Sized>(m: &M, path: &Path) -> Result<()> {
    let bytes = to_safetensors_bytes(&state_dict(m)?, None)?;
    write_atomic(path, &bytes)
}

/// How a weights file stores its tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsFormat {
    /// A safetensors file.
    Safetensors,
    /// PyTorch's zip archive, as `torch.save` writes it (PyTorch >= 1.6).
    TorchZip,
}

/// A weights file read into f32 host tensors.
#[derive(Debug, Clone)]
pub struct WeightsFile {
    pub tensors: NamedTensors,
    /// The safetensors metadata (empty for a torch file).
    pub metadata: Metadata,
    pub format: WeightsFormat,
    /// Human-readable notes on what reading changed (a stripped name prefix, ...).
    pub notes: Vec<String>,
    /// Kiln's description of the network, when the file has one (files Kiln wrote).
    pub meta: Option<WeightsMeta>,
}

/// The magic number `torch.save` pickled first in its legacy (pre-1.6) format.
const LEGACY_TORCH_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// Reads a safetensors or torch.save file, told apart by content (not by extension).
pub fn read_weights(path: &Path) -> Result<WeightsFile> {
    let bytes = std::fs::read(path).map_err(|source| NnError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_weights(&bytes, path)
}

/// Parses weights bytes as in [`read_weights`]; `path` names the source in errors. A
/// `module.` prefix on every name (a `DataParallel` model's state dict) is removed, with a
/// note saying so.
pub fn parse_weights(bytes: &[u8], path: &Path) -> Result<WeightsFile> {
    let (tensors, metadata, format) = if bytes.starts_with(b"PK\x03\x04")
        || bytes.starts_with(b"PK\x05\x06")
    {
        let t = torch_zip::parse(bytes, path)?;
        (t, Metadata::new(), WeightsFormat::TorchZip)
    } else if bytes.get(8) != Some(&b'{') && is_pickle(bytes) {
        // a safetensors header (8 bytes of length, then JSON) may also start with 0x80
        let head = &bytes[..bytes.len().min(32)];
        if head
            .windows(LEGACY_TORCH_MAGIC.len())
            .any(|w| w == LEGACY_TORCH_MAGIC)
        {
            return Err(NnError::LegacyTorchFormat {
                path: path.to_path_buf(),
            });
        }
        return Err(NnError::TorchFormat {
            path: path.to_path_buf(),
            reason: "it is a bare Python pickle, not a torch.save zip archive; save it with `torch.save(model.state_dict(), path)` (PyTorch >= 1.6) or `safetensors.torch.save_file(model.state_dict(), path)`".into(),
        });
    } else if bytes.len() > 8 && bytes[8] != b'{' {
        // safetensors' JSON header starts right after its 8-byte length
        return Err(NnError::NotWeights {
            path: path.to_path_buf(),
        });
    } else {
        let (t, m) = parse_safetensors(bytes, path)?;
        (t, m, WeightsFormat::Safetensors)
    };
    let (tensors, notes) = strip_data_parallel(tensors);
    let meta = WeightsMeta::from_metadata(&metadata, path)?;
    Ok(WeightsFile {
        tensors,
        metadata,
        format,
        notes,
        meta,
    })
}

/// Whether the bytes start as a binary pickle does (PROTO 2 to 5).
fn is_pickle(bytes: &[u8]) -> bool {
    matches!(bytes, [0x80, 2..=5, ..])
}

/// Removes a `module.` prefix that every name carries (`torch.nn.DataParallel` adds it).
fn strip_data_parallel(tensors: NamedTensors) -> (NamedTensors, Vec<String>) {
    const PREFIX: &str = "module.";
    if tensors.is_empty() || !tensors.keys().all(|k| k.starts_with(PREFIX)) {
        return (tensors, Vec::new());
    }
    let n = tensors.len();
    let stripped = tensors
        .into_iter()
        .map(|(k, v)| (k[PREFIX.len()..].to_string(), v))
        .collect();
    let note = format!(
        "removed the `{PREFIX}` prefix from all {n} tensor names (a state dict saved from a DataParallel model)"
    );
    (stripped, vec![note])
}

/// Loads a weights file (safetensors or torch.save, see [`read_weights`]) into a module.
/// Every tensor is checked first (missing, unexpected, wrong shape); on any error the module
/// is left untouched.
pub fn load<B: Backend, M: Module<B> + ?Sized>(m: &mut M, path: &Path) -> Result<()> {
    let w = read_weights(path)?;
    load_tensors(m, &w.tensors, &path.display().to_string())
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
    for (name, (_, data)) in tensors {
        let count = data.iter().filter(|v| !v.is_finite()).count();
        if count > 0 {
            return Err(NnError::NonFinite {
                source_name: source_name.into(),
                name: name.clone(),
                count,
                total: data.len(),
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
