//! Checksum lists verified at every load, identical batch files refused, whole-folder
//! verification and list writing, on generated folders and on the real CIFAR-10 copy.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use kiln_data::cifar_binary::{ALL_FILES, RECORDS_PER_BATCH, encode_records};
use kiln_data::{
    Algorithm, ChecksumSource, Checksums, DataError, DataWarning, Split, load, load_with,
    verify_folder, write_checksums,
};

/// `root/cifar-10-batches-bin/` with six distinct valid batches and `batches.meta.txt`.
fn binary_tree(root: &Path) -> PathBuf {
    let dir = root.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    let n = RECORDS_PER_BATCH;
    let images: Vec<u8> = (0..n * 3072).map(|k| (k % 241) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let mut batch = encode_records(&images, &labels);
    for (i, name) in ALL_FILES.iter().enumerate() {
        batch[5] = i as u8;
        std::fs::write(dir.join(name), &batch).unwrap();
    }
    let names = kiln_data::CIFAR10_CLASSES.join("\n");
    std::fs::write(dir.join("batches.meta.txt"), names).unwrap();
    dir
}

/// Writes a coreutils-style list of `names` in `dir` by hand (an independent writer), with
/// the binary marker `*` on every other line.
fn write_list(dir: &Path, algorithm: Algorithm, names: &[&str]) {
    let mut text = String::new();
    for (i, name) in names.iter().enumerate() {
        let digest = algorithm.digest(&std::fs::read(dir.join(name)).unwrap());
        let sep = if i % 2 == 0 { "  " } else { " *" };
        text.push_str(&format!("{digest}{sep}{name}\n"));
    }
    std::fs::write(dir.join(algorithm.list_name()), text).unwrap();
}

fn all_names() -> Vec<&'static str> {
    let mut v = ALL_FILES.to_vec();
    v.push("batches.meta.txt");
    v
}

#[test]
fn a_good_list_passes_in_both_formats() {
    for algorithm in [Algorithm::Sha256, Algorithm::Md5] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = binary_tree(tmp.path());
        write_list(&dir, algorithm, &all_names());
        let train = load(tmp.path(), Split::Train).unwrap();
        assert_eq!(train.len(), 50_000);
        assert!(train.warnings().is_empty(), "{:?}", train.warnings());
        let list = dir.join(algorithm.list_name());
        assert_eq!(train.integrity().sources, [ChecksumSource::File(list)]);
        assert_eq!(
            train.integrity().verified,
            [
                "batches.meta.txt",
                "data_batch_1.bin",
                "data_batch_2.bin",
                "data_batch_3.bin",
                "data_batch_4.bin",
                "data_batch_5.bin"
            ]
        );
    }
}

#[test]
fn one_flipped_byte_fails_naming_the_file_and_both_digests() {
    for algorithm in [Algorithm::Sha256, Algorithm::Md5] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = binary_tree(tmp.path());
        write_list(&dir, algorithm, &all_names());
        let path = dir.join("data_batch_3.bin");
        let mut bytes = std::fs::read(&path).unwrap();
        let expected = algorithm.digest(&bytes);
        bytes[12_345_678] ^= 0x01;
        let found = algorithm.digest(&bytes);
        std::fs::write(&path, &bytes).unwrap();
        let err = load(&dir, Split::Train).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(&err, DataError::ChecksumMismatch { path: p, algorithm: a, .. }
                if p == &path && *a == algorithm),
            "{msg}"
        );
        for needle in [
            path.to_str().unwrap(),
            &expected,
            &found,
            algorithm.list_name(),
            "restore it",
            "download the dataset again",
        ] {
            assert!(msg.contains(needle), "missing {needle:?} in: {msg}");
        }
        assert!(!msg.contains("kiln") && !msg.contains("--"), "{msg}");
        // The test split does not read that file: it still loads, verified.
        assert!(load(&dir, Split::Test).unwrap().warnings().is_empty());
        // Skipping checksums loads the flipped file (its labels are intact).
        assert_eq!(
            load_with(&dir, Split::Train, Checksums::Skip)
                .unwrap()
                .len(),
            50_000
        );
    }
}

#[test]
fn a_copied_over_batch_is_caught_with_and_without_a_list() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = binary_tree(tmp.path());
    write_list(&dir, Algorithm::Sha256, &all_names());
    std::fs::copy(dir.join("data_batch_2.bin"), dir.join("data_batch_4.bin")).unwrap();
    // With a list: the overwritten file's digest is data_batch_2's.
    let err = load(&dir, Split::Train).unwrap_err();
    let msg = err.to_string();
    let batch2 = Algorithm::Sha256.digest(&std::fs::read(dir.join("data_batch_2.bin")).unwrap());
    assert!(
        matches!(&err, DataError::ChecksumMismatch { path, found, .. }
            if path.ends_with("data_batch_4.bin") && found == &batch2),
        "{msg}"
    );
    // Without a list: the two identical files, both named.
    std::fs::remove_file(dir.join("SHA256SUMS")).unwrap();
    let err = load(&dir, Split::Train).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(&err, DataError::DuplicateFiles { first, second }
            if first.ends_with("data_batch_2.bin") && second.ends_with("data_batch_4.bin")),
        "{msg}"
    );
    assert!(msg.contains("identical content"), "{msg}");
    // Skipping checksums does not skip this check.
    assert!(matches!(
        load_with(&dir, Split::Train, Checksums::Skip),
        Err(DataError::DuplicateFiles { .. })
    ));
}

#[test]
fn a_train_batch_copied_over_the_test_batch_fails_both_splits() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = binary_tree(tmp.path());
    std::fs::copy(dir.join("data_batch_5.bin"), dir.join("test_batch.bin")).unwrap();
    for split in [Split::Train, Split::Test] {
        let err = load(&dir, split).unwrap_err();
        assert!(
            matches!(&err, DataError::DuplicateFiles { first, second }
                if first.ends_with("data_batch_5.bin") && second.ends_with("test_batch.bin")),
            "{split}: {err}"
        );
    }
}

#[test]
fn a_folder_without_a_list_warns_once_and_a_partial_list_names_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = binary_tree(tmp.path());
    let test = load(&dir, Split::Test).unwrap();
    assert_eq!(
        test.warnings(),
        [DataWarning::NoChecksumList { dir: dir.clone() }]
    );
    let text = test.warnings()[0].to_string();
    assert!(text.contains("no SHA256SUMS or MD5SUMS"), "{text}");
    assert!(!text.contains("kiln") && !text.contains("--"), "{text}");
    // Subsets keep the warning, so a caller holding only a subset can still show it.
    assert_eq!(test.first(10).warnings(), test.warnings());

    write_list(
        &dir,
        Algorithm::Sha256,
        &["data_batch_1.bin", "test_batch.bin"],
    );
    let train = load(&dir, Split::Train).unwrap();
    let [DataWarning::NotInList { list, files }] = train.warnings() else {
        panic!("{:?}", train.warnings());
    };
    assert_eq!(list, &dir.join("SHA256SUMS"));
    assert_eq!(files.len(), 5, "{files:?}");
    let text = train.warnings()[0].to_string();
    assert!(
        text.contains("5 file(s)") && text.contains("batches.meta.txt") && text.contains("2 more"),
        "{text}"
    );
    assert_eq!(train.integrity().verified, ["data_batch_1.bin"]);
}

#[test]
fn a_malformed_list_is_an_error_naming_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = binary_tree(tmp.path());
    let good = format!("{}  test_batch.bin\n", "a".repeat(64));
    std::fs::write(
        dir.join("SHA256SUMS"),
        format!("{good}deadbeef test_batch.bin\n"),
    )
    .unwrap();
    let msg = load(&dir, Split::Test).unwrap_err().to_string();
    assert!(
        msg.contains("SHA256SUMS") && msg.contains("line 2") && msg.contains("sha256sum"),
        "{msg}"
    );
}

#[test]
fn write_then_verify_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = binary_tree(tmp.path());
    let written = write_checksums(tmp.path()).unwrap();
    assert_eq!(written.lists, [dir.join("SHA256SUMS")]);
    assert_eq!(written.files.len(), 7);
    assert_eq!(written.changed.len(), 7, "no list before: all new");
    // The list agrees with an independent SHA-256 of each file, in coreutils' format.
    let text = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    for name in all_names() {
        let digest = Algorithm::Sha256.digest(&std::fs::read(dir.join(name)).unwrap());
        assert!(
            text.contains(&format!("{digest}  {name}\n")),
            "{name} in {text}"
        );
    }
    // No temporary file is left beside it.
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    let check = verify_folder(tmp.path()).unwrap();
    assert_eq!(check.images, [50_000, 10_000]);
    assert_eq!(check.integrity.verified.len(), 7);
    assert!(check.integrity.warnings.is_empty());

    // A list entry that no load reads is verified too.
    std::fs::write(dir.join("readme.html"), "hello").unwrap();
    let mut list = text.clone();
    list.push_str(&format!("{}  readme.html\n", "0".repeat(64)));
    std::fs::write(dir.join("SHA256SUMS"), &list).unwrap();
    let err = verify_folder(tmp.path()).unwrap_err();
    assert!(
        matches!(&err, DataError::ChecksumMismatch { path, .. } if path.ends_with("readme.html")),
        "{err}"
    );

    // Writing again changes nothing: the list is left as it is (same inode).
    use std::os::unix::fs::MetadataExt;
    std::fs::write(dir.join("SHA256SUMS"), &text).unwrap();
    let inode = std::fs::metadata(dir.join("SHA256SUMS")).unwrap().ino();
    let again = write_checksums(&dir).unwrap();
    assert!(
        again.lists.is_empty() && again.changed.is_empty(),
        "{again:?}"
    );
    assert_eq!(again.up_to_date, [dir.join("SHA256SUMS")]);
    assert_eq!(
        std::fs::metadata(dir.join("SHA256SUMS")).unwrap().ino(),
        inode
    );

    // Rewriting after a deliberate change records it (and drops the stray entry).
    std::fs::write(
        dir.join("batches.meta.txt"),
        "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n",
    )
    .unwrap();
    std::fs::write(dir.join("SHA256SUMS"), &list).unwrap();
    let written = write_checksums(&dir).unwrap();
    assert_eq!(written.changed, ["batches.meta.txt"]);
    assert_eq!(verify_folder(&dir).unwrap().integrity.verified.len(), 7);

    // Writing refuses a folder that fails the format checks.
    std::fs::write(dir.join("test_batch.bin"), b"short").unwrap();
    assert!(matches!(
        write_checksums(&dir),
        Err(DataError::BadSize { .. })
    ));
}

#[test]
fn an_existing_md5sums_is_rewritten_beside_sha256sums() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = binary_tree(tmp.path());
    write_list(&dir, Algorithm::Md5, &["test_batch.bin"]);
    let written = write_checksums(&dir).unwrap();
    assert_eq!(written.lists, [dir.join("SHA256SUMS"), dir.join("MD5SUMS")]);
    let md5 = std::fs::read_to_string(dir.join("MD5SUMS")).unwrap();
    assert_eq!(md5.lines().count(), 7, "{md5}");
    let test = load(&dir, Split::Test).unwrap();
    assert_eq!(test.integrity().sources.len(), 2);
}

#[test]
fn image_folders_are_verified_by_relative_path() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for (split, class, v) in [("train", "a", 10u8), ("train", "b", 20), ("test", "a", 30)] {
        let img = image::RgbImage::from_pixel(32, 32, image::Rgb([v, v, v]));
        let path = root.join(split).join(class).join("x.png");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        img.save(&path).unwrap();
    }
    let written = write_checksums(root).unwrap();
    assert_eq!(
        written.files,
        ["test/a/x.png", "train/a/x.png", "train/b/x.png"]
    );
    let train = load(root, Split::Train).unwrap();
    assert_eq!(
        train.integrity().verified,
        ["train/a/x.png", "train/b/x.png"]
    );
    let path = root.join("train/b/x.png");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let err = load(root, Split::Train).unwrap_err();
    assert!(
        matches!(&err, DataError::ChecksumMismatch { path: p, .. } if p == &path),
        "{err}"
    );
}

#[test]
fn the_real_binary_set_passes_in_well_under_a_second() {
    let data = common::shared_path("KILN_DATA", "data");
    let bin = data.join("cifar-10-batches-bin");
    if !bin.join("SHA256SUMS").is_file() {
        common::skip("checksums of the real CIFAR-10 binary set", &bin);
        return;
    }
    // Warm the page cache so both timings below read from memory.
    load_with(&data, Split::Train, Checksums::Skip).unwrap();
    load_with(&data, Split::Test, Checksums::Skip).unwrap();
    let t = Instant::now();
    load_with(&data, Split::Train, Checksums::Skip).unwrap();
    load_with(&data, Split::Test, Checksums::Skip).unwrap();
    let plain = t.elapsed();
    let t = Instant::now();
    let check = verify_folder(&data).unwrap();
    let verified = t.elapsed();
    // SHA-256 of the whole set alone, on one thread.
    let t = Instant::now();
    let mut bytes = 0;
    for name in all_names() {
        let b = std::fs::read(bin.join(name)).unwrap();
        bytes += b.len();
        std::hint::black_box(Algorithm::Sha256.digest(&b));
    }
    let hash_only = t.elapsed();
    println!(
        "real CIFAR-10 binary: both splits load in {plain:.2?} unverified, {verified:.2?} \
         verified against SHA256SUMS (+{:.2?}); SHA-256 of all {} MB alone on one thread: \
         {hash_only:.2?}",
        verified.saturating_sub(plain),
        bytes / 1_000_000
    );
    assert_eq!(check.images, [50_000, 10_000]);
    assert_eq!(check.integrity.verified.len(), 7);
    assert_eq!(
        check.integrity.sources,
        [ChecksumSource::File(bin.join("SHA256SUMS"))]
    );
    assert!(check.integrity.warnings.is_empty());
    // Generous bound for a busy machine; the figure printed above is the measurement.
    assert!(
        verified.saturating_sub(plain).as_secs_f64() < 2.0,
        "verification cost {verified:?} vs {plain:?}"
    );
}
