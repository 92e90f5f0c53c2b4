//! Reader for the CIFAR-10 *binary version* (`cifar-10-batches-bin/`).
//!
//! Each batch file holds exactly 10,000 records of 3,073 bytes: one label byte (0-9)
//! followed by 1,024 red, 1,024 green and 1,024 blue bytes (32x32, row-major), which is
//! already the CHW layout of [`Dataset`].

use std::path::Path;

use crate::dataset::{CIFAR10_CLASSES, Dataset, Split};
use crate::detect::Layout;
use crate::error::{DataError, Result};
use crate::integrity::{Mode, Verifier, read_batches, read_optional};

/// Folder name of the binary version inside the official archive.
pub const CIFAR10_BIN_DIR: &str = "cifar-10-batches-bin";
/// Records in one official batch file.
pub const RECORDS_PER_BATCH: usize = 10_000;
/// Bytes of one image (3x32x32).
pub const IMAGE_BYTES: usize = 3 * 32 * 32;
/// Bytes of one record: a label byte and an image.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// The training batch files, in order.
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
/// The test batch file.
pub const TEST_FILE: &str = "test_batch.bin";
/// The class-name file (one name a line, in label order).
pub const META_FILE: &str = "batches.meta.txt";

/// The batch files of `split`, in order.
pub fn batch_files(split: Split) -> &'static [&'static str] {
    match split {
        Split::Train => &TRAIN_FILES,
        Split::Test => std::slice::from_ref(&TEST_FILE),
    }
}

/// Every batch file of the layout, both splits, in order.
pub const ALL_FILES: [&str; 6] = [
    TRAIN_FILES[0],
    TRAIN_FILES[1],
    TRAIN_FILES[2],
    TRAIN_FILES[3],
    TRAIN_FILES[4],
    TEST_FILE,
];

/// Loads one split from a `cifar-10-batches-bin` folder.
///
/// Every file must exist and hold exactly 10,000 records with labels 0-9, and no two batch
/// files may be identical; the class names come from `batches.meta.txt` (the standard names
/// when that file is absent). The files read are verified against the folder's checksum
/// lists (see [`crate::integrity`]).
pub fn load_cifar_binary(dir: &Path, split: Split) -> Result<Dataset> {
    load(dir, split, &Mode::Verify)
}

pub(crate) fn load(dir: &Path, split: Split, mode: &Mode) -> Result<Dataset> {
    let layout = Layout::CifarBinary(dir.to_path_buf());
    if !dir.is_dir() {
        return Err(DataError::DataDirMissing {
            path: dir.to_path_buf(),
        });
    }
    let verifier = Verifier::new(dir, None, mode)?;
    let mut read = Vec::new();
    let meta_path = dir.join(META_FILE);
    let meta = read_optional(&meta_path)?;
    if let Some(bytes) = &meta {
        read.push((META_FILE.to_string(), verifier.check(META_FILE, bytes)?));
    }
    let class_names = parse_class_names(&meta_path, meta.as_deref())?;
    let files = batch_files(split);
    let contents = read_batches(dir, files, &ALL_FILES, &layout, &verifier, |path, bytes| {
        check_size(path, bytes.len() as u64)
    })?;
    let mut images = Vec::with_capacity(files.len() * RECORDS_PER_BATCH * IMAGE_BYTES);
    let mut labels = Vec::with_capacity(files.len() * RECORDS_PER_BATCH);
    for (name, (bytes, listed)) in files.iter().zip(&contents) {
        let path = dir.join(name);
        parse_records(&path, bytes, class_names.len(), &mut images, &mut labels)?;
        read.push((name.to_string(), *listed));
    }
    let source = format!(
        "CIFAR-10 binary, {} split, {} images from {}",
        split,
        labels.len(),
        dir.display()
    );
    Ok(
        Dataset::new(images, labels, [3, 32, 32], class_names, source)?
            .with_integrity(verifier.finish(&read)),
    )
}

/// Fails unless `size` is the official batch size.
fn check_size(path: &Path, size: u64) -> Result<()> {
    let expected = (RECORDS_PER_BATCH * RECORD_BYTES) as u64;
    if size != expected {
        return Err(DataError::BadSize {
            path: path.to_path_buf(),
            size,
            expected,
        });
    }
    Ok(())
}

/// Splits the records of one batch file (`bytes`, read from `path`), appending images and
/// labels. The file must have the official size, 10,000 records.
pub fn parse_records(
    path: &Path,
    bytes: &[u8],
    num_classes: usize,
    images: &mut Vec<u8>,
    labels: &mut Vec<usize>,
) -> Result<()> {
    check_size(path, bytes.len() as u64)?;
    parse_record_bytes(path, bytes, num_classes, images, labels)
}

/// Splits any whole number of records (`bytes`, read from `path`), appending images and
/// labels; every label must be below `num_classes`. Nothing is appended on error.
pub fn parse_record_bytes(
    path: &Path,
    bytes: &[u8],
    num_classes: usize,
    images: &mut Vec<u8>,
    labels: &mut Vec<usize>,
) -> Result<()> {
    if num_classes == 0 {
        return Err(DataError::Invalid(
            "CIFAR-10 records need at least one class".into(),
        ));
    }
    if !bytes.len().is_multiple_of(RECORD_BYTES) {
        return Err(DataError::Format {
            path: path.to_path_buf(),
            reason: format!(
                "{} bytes is not a whole number of {RECORD_BYTES}-byte records (a label byte and a 3x32x32 image each)",
                bytes.len()
            ),
        });
    }
    let records = bytes.chunks_exact(RECORD_BYTES);
    if let Some((index, r)) = records
        .clone()
        .enumerate()
        .find(|(_, r)| usize::from(r[0]) >= num_classes)
    {
        return Err(DataError::BadLabel {
            path: path.to_path_buf(),
            index,
            label: i64::from(r[0]),
            max: num_classes - 1,
        });
    }
    for record in records {
        labels.push(usize::from(record[0]));
        images.extend_from_slice(&record[1..]);
    }
    Ok(())
}

/// Class names from `batches.meta.txt` (blank lines ignored); the ten standard names when the
/// file is absent. A file with a number of names other than ten is an error.
pub fn read_class_names(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join(META_FILE);
    let bytes = read_optional(&path)?;
    parse_class_names(&path, bytes.as_deref())
}

/// Class names from the bytes of `batches.meta.txt` (`None`: the file is absent).
pub fn parse_class_names(path: &Path, bytes: Option<&[u8]>) -> Result<Vec<String>> {
    let Some(bytes) = bytes else {
        return Ok(CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect());
    };
    let text = std::str::from_utf8(bytes).map_err(|_| DataError::Format {
        path: path.to_path_buf(),
        reason: "not UTF-8 text".into(),
    })?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.len() != CIFAR10_CLASSES.len() {
        return Err(DataError::Format {
            path: path.to_path_buf(),
            reason: format!(
                "expected {} class names, one a line, found {}",
                CIFAR10_CLASSES.len(),
                names.len()
            ),
        });
    }
    Ok(names)
}

/// True when `dir` looks like a `cifar-10-batches-bin` folder (it holds a batch file).
pub fn looks_like_binary_dir(dir: &Path) -> bool {
    dir.join(TRAIN_FILES[0]).is_file() || dir.join(TEST_FILE).is_file()
}

/// Encodes images and labels as CIFAR-10 binary records (for tests and tools that write batches).
pub fn encode_records(images: &[u8], labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(labels.len() * RECORD_BYTES);
    for (img, &label) in images.chunks_exact(IMAGE_BYTES).zip(labels) {
        out.push(label);
        out.extend_from_slice(img);
    }
    out
}
