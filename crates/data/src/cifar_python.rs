//! Reader for the CIFAR-10 *python version* (`cifar-10-batches-py/`).
//!
//! Each batch is a pickle (protocol 2, written by Python 2's cPickle) of a dict with
//! `b'data'`, a numpy `uint8` array of shape `[10000, 3072]` (rows are CHW images), and
//! `b'labels'`, a list of ints; `batches.meta` holds `b'label_names'`.
//!
//! The numpy array is pickled as `numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')`
//! followed by a BUILD with the state `(1, shape, dtype, is_fortran, raw_bytes)`. kiln-pickle
//! reads the pickle and calls nothing, numpy included: it records the call and its BUILD
//! state, which is all we need, the shape and the raw bytes. Python 3 pickles of the same data
//! (bytes stored through `_codecs.encode`), numpy 2's `numpy._core` module name and protocol
//! 5's `_frombuffer(raw, dtype, shape, order)` decode the same way.
//!
//! Integrity, as torchvision's `CIFAR10` checks it: without a checksum list of its own
//! (`SHA256SUMS` or `MD5SUMS`) the folder's files must have the MD5s of the official release,
//! [`OFFICIAL_MD5`]. Batches made by hand (converted, subsets, test fixtures) load once a list
//! of their own lies beside them; that list then replaces the official MD5s.

use std::borrow::Cow;
use std::path::Path;

use crate::checksum::{Algorithm, ChecksumList, ChecksumSource};
use crate::dataset::{CIFAR10_CLASSES, Dataset, Split};
use crate::detect::Layout;
use crate::error::{DataError, Result};
use crate::integrity::{Mode, Verifier, read_batches, read_optional};
use kiln_pickle::{Id, Object, Pickle};

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

/// Every batch file of the layout, both splits, in order.
pub const ALL_FILES: [&str; 6] = [
    TRAIN_FILES[0],
    TRAIN_FILES[1],
    TRAIN_FILES[2],
    TRAIN_FILES[3],
    TRAIN_FILES[4],
    TEST_FILE,
];

/// MD5s of the files of the official `cifar-10-batches-py` (from `cifar-10-python.tar.gz`), as
/// torchvision's `torchvision/datasets/cifar.py` (class `CIFAR10`: `train_list`, `test_list`,
/// `meta`) lists them.
pub const OFFICIAL_MD5: [(&str, &str); 7] = [
    ("data_batch_1", "c99cafc152244af753f735de768cd75f"),
    ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
    ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
    ("data_batch_4", "634d18415352ddfa80567beed471001a"),
    ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
    ("test_batch", "40351d587109b95175f43aff81a1287e"),
    ("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),
];

/// [`OFFICIAL_MD5`] as a checksum list.
pub fn official_list() -> ChecksumList {
    ChecksumList {
        source: ChecksumSource::OfficialCifarPython,
        algorithm: Algorithm::Md5,
        entries: OFFICIAL_MD5
            .iter()
            .map(|(n, d)| (n.to_string(), d.to_string()))
            .collect(),
    }
}

/// Loads one split from a `cifar-10-batches-py` folder, verifying the files read (see the
/// module documentation for which digests apply).
pub fn load_cifar_python(dir: &Path, split: Split) -> Result<Dataset> {
    load(dir, split, &Mode::Verify)
}

pub(crate) fn load(dir: &Path, split: Split, mode: &Mode) -> Result<Dataset> {
    let layout = Layout::CifarPython(dir.to_path_buf());
    if !dir.is_dir() {
        return Err(DataError::DataDirMissing {
            path: dir.to_path_buf(),
        });
    }
    let verifier = Verifier::new(dir, Some(official_list()), mode)?;
    let mut read = Vec::new();
    let meta_path = dir.join(META_FILE);
    let meta = read_optional(&meta_path)?;
    if let Some(bytes) = &meta {
        read.push((META_FILE.to_string(), verifier.check(META_FILE, bytes)?));
    }
    let class_names = match &meta {
        Some(bytes) => parse_label_names(&meta_path, bytes)?,
        None => CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect(),
    };
    let files: &[&str] = match split {
        Split::Train => &TRAIN_FILES,
        Split::Test => std::slice::from_ref(&TEST_FILE),
    };
    let contents = read_batches(dir, files, &ALL_FILES, &layout, &verifier, |_, _| Ok(()))?;
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for (name, (bytes, listed)) in files.iter().zip(&contents) {
        let (imgs, labs) = parse_batch(&dir.join(name), bytes, class_names.len())?;
        images.extend_from_slice(&imgs);
        labels.extend(labs);
        read.push((name.to_string(), *listed));
    }
    let source = format!(
        "CIFAR-10 python, {} split, {} images from {}",
        split,
        labels.len(),
        dir.display()
    );
    Ok(
        Dataset::new(images, labels, [3, 32, 32], class_names, source)?
            .with_integrity(verifier.finish(&read)),
    )
}

/// True when `dir` looks like a `cifar-10-batches-py` folder.
pub fn looks_like_python_dir(dir: &Path) -> bool {
    dir.join(TRAIN_FILES[0]).is_file() || dir.join(TEST_FILE).is_file()
}

/// Reads and decodes one batch pickle into CHW image bytes (3x32x32 each) and labels.
pub fn read_batch(path: &Path, num_classes: usize) -> Result<(Vec<u8>, Vec<usize>)> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    parse_batch(path, &bytes, num_classes)
}

/// Decodes the bytes of one batch pickle (read from `path`) into images and labels.
pub fn parse_batch(path: &Path, bytes: &[u8], num_classes: usize) -> Result<(Vec<u8>, Vec<usize>)> {
    if num_classes == 0 {
        return Err(DataError::Invalid(
            "CIFAR-10 batches need at least one class".into(),
        ));
    }
    let pk = parse_dict(path, bytes)?;
    let fmt = |reason: String| DataError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let data = pk
        .dict_get(pk.top(), "data")
        .ok_or_else(|| fmt("no 'data' entry".into()))?;
    let (rows, cols, raw) = ndarray_u8(&pk, data).map_err(fmt)?;
    if cols != 3 * 32 * 32 {
        return Err(fmt(format!(
            "'data' has {cols} columns, expected 3072 (3x32x32 images)"
        )));
    }
    let labels_v = pk
        .dict_get(pk.top(), "labels")
        .ok_or_else(|| fmt("no 'labels' entry".into()))?;
    let items = (pk.list(labels_v).or_else(|| pk.tuple(labels_v)))
        .ok_or_else(|| fmt("'labels' is not a list".into()))?;
    if items.len() != rows {
        return Err(fmt(format!(
            "{} labels for {rows} images: record {} has {}",
            items.len(),
            items.len().min(rows),
            if items.len() < rows {
                "no label"
            } else {
                "a label but no image"
            }
        )));
    }
    let mut labels = Vec::with_capacity(rows);
    for (index, &item) in items.iter().enumerate() {
        let label = match pk.get(item) {
            Object::Int(v) => *v,
            _ => {
                return Err(fmt(format!(
                    "record {index}: the label is {}, not an integer",
                    kind(&pk, item)
                )));
            }
        };
        if label < 0 || label as u64 >= num_classes as u64 {
            return Err(DataError::BadLabel {
                path: path.to_path_buf(),
                index,
                label,
                max: num_classes - 1,
            });
        }
        labels.push(label as usize);
    }
    Ok((raw.into_owned(), labels))
}

/// Class names from `batches.meta` (`label_names`); the standard names when it is absent.
pub fn read_label_names(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join(META_FILE);
    match read_optional(&path)? {
        Some(bytes) => parse_label_names(&path, &bytes),
        None => Ok(CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect()),
    }
}

/// Class names from the bytes of `batches.meta`.
pub fn parse_label_names(path: &Path, bytes: &[u8]) -> Result<Vec<String>> {
    let pk = parse_dict(path, bytes)?;
    let fmt = |reason: &str| DataError::Format {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let Some(names) = pk
        .dict_get(pk.top(), "label_names")
        .and_then(|id| pk.list(id))
    else {
        return Err(fmt("no 'label_names' list"));
    };
    // the memo may repeat one long name: copy no more than the file could hold
    let mut left = bytes.len();
    let names = names
        .iter()
        .map(|&v| {
            let b = text_or_bytes(&pk, v).ok_or_else(|| fmt("a label name is not a string"))?;
            left = left
                .checked_sub(b.len())
                .ok_or_else(|| fmt("the label names are longer than the file"))?;
            Ok(String::from_utf8_lossy(&b).into_owned())
        })
        .collect::<Result<Vec<_>>>()?;
    if names.is_empty() {
        return Err(fmt("'label_names' is empty"));
    }
    Ok(names)
}

/// Unpickles the bytes of a file whose top-level object must be a dict.
fn parse_dict<'a>(path: &Path, bytes: &'a [u8]) -> Result<Pickle<'a>> {
    let pk = Pickle::parse(bytes).map_err(|e| DataError::Format {
        path: path.to_path_buf(),
        reason: format!("not a readable CIFAR-10 pickle (truncated or corrupt?): {e}"),
    })?;
    match pk.dict(pk.top()) {
        Some(_) => Ok(pk),
        None => Err(DataError::Format {
            path: path.to_path_buf(),
            reason: "the pickle does not hold a dict".into(),
        }),
    }
}

/// The parts of a pickled numpy array.
struct ArrayParts {
    shape: Id,
    dtype: Id,
    fortran: bool,
    raw: Id,
}

/// numpy pickles an array as `_reconstruct(ndarray, (0,), b'b')` with the BUILD state
/// `(version, shape, dtype, fortran, raw)`, or, at protocol 5, as
/// `_frombuffer(raw, dtype, shape, order)`.
fn array_parts(pk: &Pickle<'_>, value: Id) -> Option<ArrayParts> {
    if let Some(&[_, shape, dtype, fortran, raw]) = pk.state(value).and_then(|s| pk.tuple(s)) {
        let fortran = matches!(pk.get(fortran), Object::Bool(true));
        return Some(ArrayParts {
            shape,
            dtype,
            fortran,
            raw,
        });
    }
    let args = pk.tuple(pk.call(value)?.args)?;
    match (pk.callee(value)?, args) {
        (
            ("numpy.core.numeric" | "numpy._core.numeric", "_frombuffer"),
            &[raw, dtype, shape, order],
        ) => Some(ArrayParts {
            shape,
            dtype,
            fortran: pk.str(order) == Some("F"),
            raw,
        }),
        _ => None,
    }
}

/// Extracts `(rows, cols, bytes)` from a pickled 2-D numpy u8 array.
fn ndarray_u8<'p>(
    pk: &'p Pickle<'_>,
    value: Id,
) -> std::result::Result<(usize, usize, Cow<'p, [u8]>), String> {
    let Some(parts) = array_parts(pk, value) else {
        return Err("'data' is not a pickled numpy array".into());
    };
    let shape = pk
        .tuple(parts.shape)
        .ok_or("'data' has no shape")?
        .iter()
        .map(|&d| match pk.get(d) {
            Object::Int(v) if *v >= 0 => usize::try_from(*v).map_err(|_| "bad array dimension"),
            _ => Err("bad array dimension"),
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let [rows, cols] = shape[..] else {
        return Err(format!("'data' has {} dimensions, expected 2", shape.len()));
    };
    // the dtype's BUILD state (byte order second); a dtype without one is taken as uint8's `|`
    let dtype = pk.state(parts.dtype).unwrap_or(parts.dtype);
    if let Some(dtype) = pk.tuple(dtype).or_else(|| pk.list(dtype)) {
        let order = dtype.get(1).and_then(|&o| text_or_bytes(pk, o));
        let order = order.unwrap_or(Cow::Borrowed(b"|"));
        if *order != *b"|" {
            return Err(format!(
                "'data' has a multi-byte dtype (byte order '{}'), expected uint8",
                String::from_utf8_lossy(&order)
            ));
        }
    }
    if parts.fortran {
        return Err("'data' is stored in Fortran order, expected C order".into());
    }
    let raw = pk
        .bytes(parts.raw)
        .ok_or("'data' has no raw byte payload")?;
    // the shape comes from the file: its product may overflow
    let expected = rows.checked_mul(cols);
    if expected != Some(raw.len()) {
        let detail = match cols {
            0 => String::new(),
            _ if expected.is_none_or(|n| raw.len() < n) => {
                format!(": record {} is cut short (truncated)", raw.len() / cols)
            }
            _ => ": more bytes than the shape holds".to_string(),
        };
        return Err(format!(
            "'data' holds {} bytes for shape [{rows}, {cols}] of uint8{detail}",
            raw.len()
        ));
    }
    Ok((rows, cols, raw))
}

/// A byte string (as kiln-pickle reads one), or a text string as UTF-8.
fn text_or_bytes<'p>(pk: &'p Pickle<'_>, id: Id) -> Option<Cow<'p, [u8]>> {
    pk.bytes(id)
        .or_else(|| pk.str(id).map(|s| Cow::Borrowed(s.as_bytes())))
}

/// What an object is, for messages: Python 2's byte strings are strings.
fn kind(pk: &Pickle<'_>, id: Id) -> &'static str {
    match text_or_bytes(pk, id) {
        Some(_) => "a string",
        None => pk.kind(id),
    }
}
