//! Broken copies of the binary layout, built in temporary folders, each give a clear error.

mod common;

use std::path::Path;

use kiln_data::cifar_binary::{RECORD_BYTES, RECORDS_PER_BATCH, encode_records};
use kiln_data::{DataError, Layout, Split, load};

/// A valid 10,000-record batch with a byte pattern and labels cycling 0..9.
fn valid_batch() -> Vec<u8> {
    let n = RECORDS_PER_BATCH;
    let images: Vec<u8> = (0..n * 3072).map(|k| (k % 251) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    encode_records(&images, &labels)
}

/// `root/cifar-10-batches-bin/` with all six files valid and distinct (the first image byte
/// differs per file; identical batch files are an error of their own).
fn valid_tree(root: &Path) -> std::path::PathBuf {
    let dir = root.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    let mut batch = valid_batch();
    let names = kiln_data::cifar_binary::ALL_FILES;
    for (i, name) in names.iter().enumerate() {
        batch[1] = i as u8;
        std::fs::write(dir.join(name), &batch).unwrap();
    }
    dir
}

/// Replaces a file's content.
fn replace(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn valid_generated_tree_loads() {
    let tmp = tempfile::tempdir().unwrap();
    valid_tree(tmp.path());
    let train = load(tmp.path(), Split::Train).unwrap();
    assert_eq!(train.len(), 50_000);
    assert_eq!(train.counts_per_class(), vec![5_000; 10]);
    // No batches.meta.txt: the standard class names.
    assert_eq!(train.class_names()[9], "truck");
    // No checksum list: one warning, naming the folder.
    assert_eq!(
        train.warnings(),
        [kiln_data::DataWarning::NoChecksumList {
            dir: tmp.path().join("cifar-10-batches-bin")
        }]
    );
}

#[test]
fn truncated_file_names_file_and_size() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = valid_tree(tmp.path());
    // A truncated copy of the real test batch where present, else of the generated one.
    let real = common::shared_path("KILN_DATA", "data").join("cifar-10-batches-bin/test_batch.bin");
    let src = if real.is_file() {
        std::fs::read(&real).unwrap()
    } else {
        valid_batch()
    };
    let cut = src.len() - 1000;
    replace(&dir.join("test_batch.bin"), &src[..cut]);
    let err = load(tmp.path(), Split::Test).unwrap_err();
    assert!(matches!(err, DataError::BadSize { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("test_batch.bin") && msg.contains(&cut.to_string()),
        "{msg}"
    );
    assert!(msg.contains("30730000"), "{msg}");
    // 30,729,000 bytes: 9,999 whole records and 2,073 bytes of record 9999.
    assert!(msg.contains("record 9999 is cut short after 2073"), "{msg}");
}

#[test]
fn extra_whole_record_is_still_wrong_size() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = valid_tree(tmp.path());
    let mut batch = valid_batch();
    batch.extend(vec![0u8; RECORD_BYTES]);
    replace(&dir.join("data_batch_2.bin"), &batch);
    let msg = load(&dir, Split::Train).unwrap_err().to_string();
    assert!(
        msg.contains("data_batch_2.bin")
            && msg.contains("30733073")
            && msg.contains("10001 whole records"),
        "{msg}"
    );
}

#[test]
fn label_out_of_range_names_file_and_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = valid_tree(tmp.path());
    let mut batch = valid_batch();
    batch[1234 * RECORD_BYTES] = 10;
    replace(&dir.join("data_batch_4.bin"), &batch);
    let err = load(&dir, Split::Train).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            DataError::BadLabel {
                index: 1234,
                label: 10,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("data_batch_4.bin") && msg.contains("record 1234"),
        "{msg}"
    );
}

#[test]
fn missing_file_names_the_file_and_the_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = valid_tree(tmp.path());
    std::fs::remove_file(dir.join("data_batch_5.bin")).unwrap();
    let err = load(tmp.path(), Split::Train).unwrap_err();
    assert!(
        matches!(&err, DataError::Missing { path, layout: Layout::CifarBinary(d) }
            if path == &dir.join("data_batch_5.bin") && d == &dir),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("data_batch_5.bin") && msg.contains("CIFAR-10 binary folder"),
        "{msg}"
    );
    // Library terms only: the command's flags are the CLI's to add.
    assert!(!msg.contains("kiln") && !msg.contains("--"), "{msg}");
    // The test split is still readable.
    assert_eq!(load(tmp.path(), Split::Test).unwrap().len(), 10_000);
}

#[test]
fn bad_class_name_file_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = valid_tree(tmp.path());
    std::fs::write(dir.join("batches.meta.txt"), "a\nb\n\n").unwrap();
    let msg = load(&dir, Split::Test).unwrap_err().to_string();
    assert!(
        msg.contains("batches.meta.txt") && msg.contains("found 2"),
        "{msg}"
    );
}

#[test]
fn record_bytes_of_any_whole_count_parse_and_others_are_errors() {
    use kiln_data::cifar_binary::parse_record_bytes;
    let path = Path::new("part.bin");
    let images: Vec<u8> = (0..2 * 3072).map(|k| (k % 7) as u8).collect();
    let records = encode_records(&images, &[3, 9]);
    let (mut imgs, mut labels) = (Vec::new(), Vec::new());
    parse_record_bytes(path, &records, 10, &mut imgs, &mut labels).unwrap();
    assert_eq!((imgs, labels), (images, vec![3, 9]));
    for cut in [1, RECORD_BYTES - 1, RECORD_BYTES + 1] {
        let err = parse_record_bytes(path, &records[..cut], 10, &mut Vec::new(), &mut Vec::new())
            .unwrap_err();
        assert!(matches!(err, DataError::Format { .. }), "{err}");
        assert!(err.to_string().contains("whole number"), "{err}");
    }
    // a bad label in the second record: an error, and nothing appended
    let (mut imgs, mut labels) = (Vec::new(), Vec::new());
    let err = parse_record_bytes(path, &records, 9, &mut imgs, &mut labels).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BadLabel {
                index: 1,
                label: 9,
                max: 8,
                ..
            }
        ),
        "{err}"
    );
    assert!(imgs.is_empty() && labels.is_empty());
    // no classes at all: an invalid argument, not an arithmetic overflow
    let err = parse_record_bytes(path, &records, 0, &mut imgs, &mut labels).unwrap_err();
    assert!(matches!(err, DataError::Invalid(_)), "{err}");
}
