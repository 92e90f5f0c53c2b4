//! Reader for the CIFAR-10 *binary version* (`cifar-10-batches-bin/`).
//!
//! Each batch file holds exactly 10,000 records of 3,073 bytes: one label byte (0-9)
//! followed by 1,024 red, 1,024 green and 1,024 blue bytes (32x32, row-major), which is
//! already the CHW layout of [`Dataset`].

use std::path::{Path, PathBuf};

use crate::dataset::{CIFAR10_CLASSES, Dataset, Split};
use crate::error::{DataError, Result};

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

/// Loads one split from a `cifar-10-batches-bin` folder.
///
/// Every file must exist and hold exactly 10,000 records with labels 0-9; the class names
/// come from `batches.meta.txt` (the standard names when that file is absent).
pub fn load_cifar_binary(dir: &Path, split: Split) -> Result<Dataset> {
    if !dir.is_dir() {
        return Err(DataError::missing(dir));
    }
    let class_names = read_class_names(dir)?;
    let files = batch_files(split);
    let mut images = Vec::with_capacity(files.len() * RECORDS_PER_BATCH * IMAGE_BYTES);
    let mut labels = Vec::with_capacity(files.len() * RECORDS_PER_BATCH);
    for name in files {
        read_batch_into(&dir.join(name), class_names.len(), &mut images, &mut labels)?;
    }
    let source = format!(
        "CIFAR-10 binary, {} split, {} images from {}",
        split,
        labels.len(),
        dir.display()
    );
    Dataset::new(images, labels, [3, 32, 32], class_names, source)
}

/// Reads one batch file, appending its images and labels.
pub fn read_batch_into(
    path: &Path,
    num_classes: usize,
    images: &mut Vec<u8>,
    labels: &mut Vec<usize>,
) -> Result<()> {
    let expected = (RECORDS_PER_BATCH * RECORD_BYTES) as u64;
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    if meta.len() != expected {
        return Err(DataError::BadSize {
            path: path.to_path_buf(),
            size: meta.len(),
            expected,
        });
    }
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if bytes.len() as u64 != expected {
        // The file changed between stat and read.
        return Err(DataError::BadSize {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            expected,
        });
    }
    for (index, record) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let label = record[0] as usize;
        if label >= num_classes {
            return Err(DataError::BadLabel {
                path: path.to_path_buf(),
                index,
                label: label as i64,
                max: num_classes - 1,
            });
        }
        labels.push(label);
        images.extend_from_slice(&record[1..]);
    }
    Ok(())
}

/// Class names from `batches.meta.txt` (blank lines ignored); the ten standard names when the
/// file is absent. A file with a number of names other than ten is an error.
pub fn read_class_names(dir: &Path) -> Result<Vec<String>> {
    let path: PathBuf = dir.join(META_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect());
        }
        Err(e) => return Err(DataError::io(&path, e)),
    };
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.len() != CIFAR10_CLASSES.len() {
        return Err(DataError::Format {
            path,
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
