//! Reader for the CIFAR-10 *python version* (`cifar-10-batches-py/`).
//!
//! Each batch is a pickle (protocol 2, written by Python 2's cPickle) of a dict with
//! `b'data'`, a numpy `uint8` array of shape `[10000, 3072]` (rows are CHW images), and
//! `b'labels'`, a list of ints; `batches.meta` holds `b'label_names'`.
//!
//! The numpy array is pickled as `numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')`
//! followed by a BUILD with the state `(1, shape, dtype, is_fortran, raw_bytes)`. serde-pickle
//! cannot call numpy, but it keeps such objects as their BUILD state, which is all we need:
//! the shape and the raw bytes. Python 3 pickles of the same data (bytes stored through
//! `_codecs.encode`) and numpy 2's `numpy._core` module name decode the same way.

use std::collections::BTreeMap;
use std::path::Path;

use serde_pickle::{DeOptions, HashableValue, Value};

use crate::dataset::{CIFAR10_CLASSES, Dataset, Split};
use crate::error::{DataError, Result};

/// Folder name of the python version inside the official archive.
pub const CIFAR10_PY_DIR: &str = "cifar-10-batches-py";
/// The training batch files, in order.
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1",
    "data_batch_2",
    "data_batch_3",
    "data_batch_4",
    "data_batch_5",
];
/// The test batch file.
pub const TEST_FILE: &str = "test_batch";
/// The metadata pickle holding `label_names`.
pub const META_FILE: &str = "batches.meta";

/// Loads one split from a `cifar-10-batches-py` folder.
pub fn load_cifar_python(dir: &Path, split: Split) -> Result<Dataset> {
    if !dir.is_dir() {
        return Err(DataError::missing(dir));
    }
    let class_names = read_label_names(dir)?;
    let files: &[&str] = match split {
        Split::Train => &TRAIN_FILES,
        Split::Test => std::slice::from_ref(&TEST_FILE),
    };
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for name in files {
        let path = dir.join(name);
        let (imgs, labs) = read_batch(&path, class_names.len())?;
        images.extend_from_slice(&imgs);
        labels.extend(labs);
    }
    let source = format!(
        "CIFAR-10 python, {} split, {} images from {}",
        split,
        labels.len(),
        dir.display()
    );
    Dataset::new(images, labels, [3, 32, 32], class_names, source)
}

/// True when `dir` looks like a `cifar-10-batches-py` folder.
pub fn looks_like_python_dir(dir: &Path) -> bool {
    dir.join(TRAIN_FILES[0]).is_file() || dir.join(TEST_FILE).is_file()
}

/// Decodes one batch pickle into CHW image bytes (3x32x32 each) and labels.
pub fn read_batch(path: &Path, num_classes: usize) -> Result<(Vec<u8>, Vec<usize>)> {
    let dict = read_dict(path)?;
    let fmt = |reason: String| DataError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let data = dict_get(&dict, "data").ok_or_else(|| fmt("no 'data' entry".into()))?;
    let (rows, cols, raw) = ndarray_u8(data).map_err(fmt)?;
    if cols != 3 * 32 * 32 {
        return Err(fmt(format!(
            "'data' has {cols} columns, expected 3072 (3x32x32 images)"
        )));
    }
    let labels_v = dict_get(&dict, "labels").ok_or_else(|| fmt("no 'labels' entry".into()))?;
    let items = match labels_v {
        Value::List(v) | Value::Tuple(v) => v,
        _ => return Err(fmt("'labels' is not a list".into())),
    };
    if items.len() != rows {
        return Err(fmt(format!("{} labels for {rows} images", items.len())));
    }
    let mut labels = Vec::with_capacity(rows);
    for (index, item) in items.iter().enumerate() {
        let label = match item {
            Value::I64(v) => *v,
            _ => return Err(fmt(format!("label {index} is not an integer"))),
        };
        if label < 0 || label as usize >= num_classes {
            return Err(DataError::BadLabel {
                path: path.to_path_buf(),
                index,
                label,
                max: num_classes - 1,
            });
        }
        labels.push(label as usize);
    }
    Ok((raw, labels))
}

/// Class names from `batches.meta` (`label_names`); the standard names when it is absent.
pub fn read_label_names(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join(META_FILE);
    if !path.exists() {
        return Ok(CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect());
    }
    let dict = read_dict(&path)?;
    let fmt = |reason: &str| DataError::Format {
        path: path.clone(),
        reason: reason.to_string(),
    };
    let names = match dict_get(&dict, "label_names") {
        Some(Value::List(v)) => v,
        _ => return Err(fmt("no 'label_names' list")),
    };
    let names = names
        .iter()
        .map(|v| match v {
            Value::Bytes(b) => Ok(String::from_utf8_lossy(b).into_owned()),
            Value::String(s) => Ok(s.clone()),
            _ => Err(fmt("a label name is not a string")),
        })
        .collect::<Result<Vec<_>>>()?;
    if names.is_empty() {
        return Err(fmt("'label_names' is empty"));
    }
    Ok(names)
}

/// Reads and unpickles a file whose top-level object must be a dict.
fn read_dict(path: &Path) -> Result<BTreeMap<HashableValue, Value>> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let options = DeOptions::new()
        .keep_restore_state()
        .replace_unresolved_globals();
    let value = serde_pickle::value_from_slice(&bytes, options).map_err(|e| DataError::Format {
        path: path.to_path_buf(),
        reason: format!("not a readable CIFAR-10 pickle (truncated or corrupt?): {e}"),
    })?;
    match value {
        Value::Dict(d) => Ok(d),
        _ => Err(DataError::Format {
            path: path.to_path_buf(),
            reason: "the pickle does not hold a dict".into(),
        }),
    }
}

/// Looks a key up as Python 2 `str` (bytes) or Python 3 `str`.
fn dict_get<'a>(dict: &'a BTreeMap<HashableValue, Value>, key: &str) -> Option<&'a Value> {
    dict.get(&HashableValue::Bytes(key.as_bytes().to_vec()))
        .or_else(|| dict.get(&HashableValue::String(key.to_string())))
}

/// Extracts `(rows, cols, bytes)` from the BUILD state of a pickled 2-D numpy u8 array.
fn ndarray_u8(value: &Value) -> std::result::Result<(usize, usize, Vec<u8>), String> {
    let state = match value {
        Value::Tuple(s) if s.len() == 5 => s,
        _ => return Err("'data' is not a pickled numpy array".into()),
    };
    let shape = match &state[1] {
        Value::Tuple(dims) => dims
            .iter()
            .map(|d| match d {
                Value::I64(v) if *v >= 0 => Ok(*v as usize),
                _ => Err("bad array dimension".to_string()),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?,
        _ => return Err("'data' has no shape".into()),
    };
    let [rows, cols] = shape[..] else {
        return Err(format!("'data' has {} dimensions, expected 2", shape.len()));
    };
    if let Value::Tuple(dtype) = &state[2] {
        let order = match dtype.get(1) {
            Some(Value::String(s)) => s.as_bytes(),
            Some(Value::Bytes(b)) => b.as_slice(),
            _ => b"|",
        };
        if order != b"|" {
            return Err(format!(
                "'data' has a multi-byte dtype (byte order '{}'), expected uint8",
                String::from_utf8_lossy(order)
            ));
        }
    }
    if matches!(state[3], Value::Bool(true)) {
        return Err("'data' is stored in Fortran order, expected C order".into());
    }
    let raw = match &state[4] {
        Value::Bytes(b) => b,
        _ => return Err("'data' has no raw byte payload".into()),
    };
    if raw.len() != rows * cols {
        return Err(format!(
            "'data' holds {} bytes for shape [{rows}, {cols}]: not uint8 or truncated",
            raw.len()
        ));
    }
    Ok((rows, cols, raw.clone()))
}
