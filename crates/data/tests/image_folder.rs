//! Image folders, single-image decoding and layout detection on small trees built here.

use std::path::Path;

use image::{Rgb, RgbImage};
use kiln_data::{
    DataError, Layout, Split, decode_image_file, detect_layout, load, load_image_folder,
};

/// Saves a `w x h` image whose pixel (x, y) is (r, x, y) (format from the extension).
fn save(path: &Path, w: u32, h: u32, r: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let img = RgbImage::from_fn(w, h, |x, y| Rgb([r, x as u8, y as u8]));
    let fmt = match path
        .extension()
        .unwrap()
        .to_str()
        .unwrap()
        .to_lowercase()
        .as_str()
    {
        "png" => image::ImageFormat::Png,
        _ => image::ImageFormat::Jpeg,
    };
    img.save_with_format(path, fmt).unwrap();
}

#[test]
fn classes_sorted_files_sorted_rgb_chw() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    save(&root.join("zebra/b.png"), 32, 32, 200);
    save(&root.join("zebra/a.PNG"), 32, 32, 100);
    save(&root.join("ant/x.png"), 32, 32, 10);
    save(&root.join("ant/nested/y.png"), 32, 32, 20);
    save(&root.join("mole/big.jpg"), 64, 48, 128);
    std::fs::write(root.join("ant/notes.txt"), "not an image").unwrap();
    assert_eq!(
        detect_layout(root).unwrap(),
        Layout::ImageFolder(root.to_path_buf())
    );
    let ds = load_image_folder(root, 32).unwrap();
    assert_eq!(ds.class_names(), ["ant", "mole", "zebra"]);
    assert_eq!(ds.labels(), &[0, 0, 1, 2, 2]);
    // ant/x.png, then ant/nested/y.png (folder walk sorted), then zebra/a.PNG before b.png.
    let red = |i: usize| ds.image(i)[0];
    assert_eq!([red(0), red(1), red(3), red(4)], [10, 20, 100, 200]);
    // CHW: green plane holds x, blue plane holds y.
    let img = ds.image(4);
    assert_eq!(img[1024 + 5], 5);
    assert_eq!(img[2048 + 3 * 32], 3);
    // The 64x48 JPEG was resized to 32x32; its red channel stays near 128.
    assert!(
        ds.image(2)[..1024]
            .iter()
            .all(|&v| (v as i32 - 128).abs() <= 8)
    );
    // A flat image folder loads whole for either split.
    assert_eq!(load(root, Split::Test).unwrap().len(), 5);
}

#[test]
fn split_layout_uses_train_classes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for (split, n) in [("train", 3), ("test", 2)] {
        for class in ["cat", "dog"] {
            for i in 0..n {
                save(
                    &root.join(format!("{split}/{class}/{i:04}.jpg")),
                    32,
                    32,
                    50,
                );
            }
        }
    }
    assert_eq!(
        detect_layout(root).unwrap(),
        Layout::ImageFolderSplit(root.to_path_buf())
    );
    let train = load(root, Split::Train).unwrap();
    let test = load(root, Split::Test).unwrap();
    assert_eq!((train.len(), test.len()), (6, 4));
    assert_eq!(test.counts_per_class(), vec![2, 2]);
    assert!(test.source().contains("test"), "{}", test.source());
    // A class only in test/ is an error.
    save(&root.join("test/emu/0.png"), 32, 32, 1);
    let msg = load(root, Split::Test).unwrap_err().to_string();
    assert!(msg.contains("emu"), "{msg}");
}

#[test]
fn decode_image_file_gives_chw_32() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("own.png");
    save(&p, 32, 32, 77);
    let chw = decode_image_file(&p).unwrap();
    assert_eq!(chw.len(), 3 * 32 * 32);
    assert_eq!(chw[0], 77);
    assert_eq!(chw[1024 + 31], 31);
    let big = tmp.path().join("photo.jpeg");
    save(&big, 300, 200, 240);
    assert_eq!(decode_image_file(&big).unwrap().len(), 3072);
}

#[test]
fn unreadable_images_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("broken.jpg");
    std::fs::write(&bad, b"\xFF\xD8\xFF\xE0 definitely not a jpeg").unwrap();
    let err = decode_image_file(&bad).unwrap_err();
    assert!(matches!(err, DataError::Image { .. }), "{err}");
    assert!(err.to_string().contains("broken.jpg"), "{err}");
    let text = tmp.path().join("notes.png");
    std::fs::write(&text, "hello").unwrap();
    assert!(
        decode_image_file(&text)
            .unwrap_err()
            .to_string()
            .contains("notes.png")
    );
    // A missing file the caller named is plainly "no such file", nothing about datasets.
    let missing = tmp.path().join("nope.png");
    let err = decode_image_file(&missing).unwrap_err();
    assert!(matches!(err, DataError::NoSuchFile { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("no such file: {}", missing.display())
    );

    // Inside a folder, the broken file fails the load with its name.
    let root = tmp.path().join("tree");
    save(&root.join("a/ok.png"), 32, 32, 1);
    std::fs::create_dir_all(root.join("b")).unwrap();
    std::fs::copy(&bad, root.join("b/broken.jpg")).unwrap();
    let err = load_image_folder(&root, 32).unwrap_err().to_string();
    assert!(err.contains("broken.jpg"), "{err}");
}

#[test]
fn unknown_layout_lists_what_was_looked_for() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("readme.txt"), "nothing here").unwrap();
    std::fs::create_dir_all(tmp.path().join("empty_class")).unwrap();
    let err = detect_layout(tmp.path()).unwrap_err();
    assert!(matches!(err, DataError::UnknownLayout { .. }), "{err}");
    let msg = err.to_string();
    for needle in [
        "cifar-10-batches-bin",
        "cifar-10-batches-py",
        "train/<class>",
        "<class>/",
    ] {
        assert!(msg.contains(needle), "missing '{needle}' in: {msg}");
    }
    let missing = tmp.path().join("no-such-dir");
    let err = load(&missing, Split::Train).unwrap_err();
    assert!(
        matches!(&err, DataError::DataDirMissing { path } if path == &missing),
        "{err:?}"
    );
    let msg = err.to_string();
    assert_eq!(
        msg,
        format!("data folder {} does not exist", missing.display())
    );
    // No CLI terms in the library: the CLI adds its hint.
    let junk = detect_layout(tmp.path()).unwrap_err().to_string();
    assert!(!junk.contains("kiln") && !junk.contains("--"), "{junk}");
    let file = tmp.path().join("readme.txt");
    assert!(matches!(
        detect_layout(&file),
        Err(DataError::UnknownLayout { .. })
    ));
}

/// A 1-bit grey PNG of `w x h` pixels, all black: deflate shrinks it about 8,000 times.
fn flat_png(w: u32, h: u32) -> Vec<u8> {
    use std::io::Write;
    let row = (w as usize).div_ceil(8) + 1;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; row];
    for _ in 0..h {
        z.write_all(&zeros).unwrap();
    }
    let idat = z.finish().unwrap();
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([1, 0, 0, 0, 0]); // bit depth 1, greyscale
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(&b"IHDR"[..], &ihdr[..]), (b"IDAT", &idat), (b"IEND", &[])] {
        png.extend((data.len() as u32).to_be_bytes());
        let start = png.len();
        png.extend(kind);
        png.extend(data);
        let crc = crc32(&png[start..]);
        png.extend(crc.to_be_bytes());
    }
    png
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn a_decompression_bomb_is_refused_before_decoding() {
    use kiln_data::image_folder::{decode_image_bytes, pixel_limit};
    // 8000x8000 pixels in 8 KB: it took 18 s to decode under the fuzzer before the limit
    let bomb = flat_png(8000, 8000);
    assert!(bomb.len() < 10_000, "{}", bomb.len());
    let start = std::time::Instant::now();
    let err = decode_image_bytes(Path::new("bomb.png"), &bomb, 32, 32).unwrap_err();
    assert!(start.elapsed().as_secs_f64() < 1.0);
    match &err {
        DataError::ImageTooLarge {
            width: 8000,
            height: 8000,
            bytes,
            limit,
            ..
        } => {
            assert_eq!(*bytes, bomb.len() as u64);
            assert_eq!(*limit, pixel_limit(*bytes));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("bomb.png"), "{err}");
    // the same kind of file at a size the limit allows decodes
    let flat = flat_png(500, 300);
    let chw = decode_image_bytes(Path::new("flat.png"), &flat, 32, 32).unwrap();
    assert_eq!(chw, vec![0; 3072]);
    assert!(pixel_limit(0) >= 1024 * 1024);
    assert!(pixel_limit(u64::MAX) <= 1 << 27);
}

#[test]
fn impossible_output_sizes_are_invalid_arguments() {
    use kiln_data::image_folder::decode_image_bytes;
    let png = flat_png(4, 4);
    for (h, w) in [(0, 32), (32, 0), (1 << 20, 1 << 20), (usize::MAX, 1)] {
        let err = decode_image_bytes(Path::new("x.png"), &png, h, w).unwrap_err();
        assert!(matches!(err, DataError::Invalid(_)), "{h}x{w}: {err}");
    }
}
