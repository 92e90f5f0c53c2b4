//! The real CIFAR-10 files (KILN_DATA, default ../shared/data): counts, classes, subsets, and
//! the JPEG tree giving the same counts.

mod common;

use std::time::Instant;

use kiln_data::{CIFAR10_CLASSES, Layout, Split, detect_layout, load};

#[test]
fn binary_files_have_official_counts() {
    let data = common::shared_path("KILN_DATA", "data");
    let bin = data.join("cifar-10-batches-bin");
    if !bin.is_dir() {
        common::skip("real CIFAR-10 binary checks", &bin);
        return;
    }
    assert_eq!(
        detect_layout(&data).unwrap(),
        Layout::CifarBinary(bin.clone())
    );
    assert_eq!(
        detect_layout(&bin).unwrap(),
        Layout::CifarBinary(bin.clone())
    );
    let t = Instant::now();
    let train = load(&data, Split::Train).unwrap();
    let test = load(&bin, Split::Test).unwrap();
    println!("loaded 60,000 binary images in {:.2?}", t.elapsed());
    assert_eq!(train.len(), 50_000);
    assert_eq!(test.len(), 10_000);
    assert_eq!(train.counts_per_class(), vec![5_000; 10]);
    assert_eq!(test.counts_per_class(), vec![1_000; 10]);
    assert_eq!(train.class_names(), CIFAR10_CLASSES.map(String::from));
    assert_eq!(train.image_shape(), [3, 32, 32]);
    assert!(!train.is_synthetic());
    assert!(train.source().contains("CIFAR-10"), "{}", train.source());

    let first_train = train.subset(0..10_000).unwrap();
    let first_test = test.first(2_000);
    assert_eq!(first_train.len(), 10_000);
    assert_eq!(first_test.len(), 2_000);
    assert_eq!(first_train.image(9_999), train.image(9_999));
    assert_eq!(first_test.label(1_999), test.label(1_999));
    // Record 0 of data_batch_1.bin is the first training image.
    let raw = std::fs::read(bin.join("data_batch_1.bin")).unwrap();
    assert_eq!(train.label(0), raw[0] as usize);
    assert_eq!(train.image(0), &raw[1..3073]);
}

#[test]
fn jpeg_tree_gives_the_same_counts() {
    let data = common::shared_path("KILN_DATA", "data");
    let tarball = data.join("cifar10-jpg.tar.gz");
    if !tarball.is_file() {
        common::skip("CIFAR-10 JPEG tree checks", &tarball);
        return;
    }
    let t = Instant::now();
    let tree = common::unpacked_jpeg_tree(&tarball);
    let root = tree.root.clone();
    println!(
        "unpacked (or found cached) JPEG tree at {} in {:.2?}",
        root.display(),
        t.elapsed()
    );
    assert_eq!(
        detect_layout(&root).unwrap(),
        Layout::ImageFolderSplit(root.clone())
    );
    let t = Instant::now();
    let train = load(&root, Split::Train).unwrap();
    let test = load(&root, Split::Test).unwrap();
    println!("decoded 60,000 JPEGs in {:.2?}", t.elapsed());
    assert_eq!(train.len(), 50_000);
    assert_eq!(test.len(), 10_000);
    assert_eq!(train.counts_per_class(), vec![5_000; 10]);
    assert_eq!(test.counts_per_class(), vec![1_000; 10]);
    // Sorted folder names are exactly the CIFAR-10 class names in label order.
    assert_eq!(train.class_names(), CIFAR10_CLASSES.map(String::from));
    assert_eq!(train.image_shape(), [3, 32, 32]);

    // The binary files were rebuilt from these JPEGs: per-class mean intensities agree.
    let bin = data.join("cifar-10-batches-bin");
    if bin.is_dir() {
        let bin_test = load(&bin, Split::Test).unwrap();
        let means = |ds: &kiln_data::Dataset| {
            let mut sums = [0f64; 10];
            for i in 0..ds.len() {
                sums[ds.label(i)] += ds.image(i).iter().map(|&v| v as f64).sum::<f64>();
            }
            sums.iter()
                .map(|s| s / (1_000.0 * 3072.0))
                .collect::<Vec<_>>()
        };
        let (a, b) = (means(&test), means(&bin_test));
        for (c, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() < 0.5,
                "class {c}: JPEG mean {x:.3} vs binary {y:.3}"
            );
        }
    }
}
