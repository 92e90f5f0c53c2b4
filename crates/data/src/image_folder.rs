//! Image-folder datasets (`root/<class>/*.png|*.jpg|*.jpeg`) and single-image decoding.
//!
//! Classes are the sorted names of the sub-folders of `root`, as torchvision's `ImageFolder`
//! finds them; files are walked recursively in sorted order. Images are decoded with the
//! `image` crate, converted to RGB and resized (triangle filter, i.e. bilinear) to the
//! requested size when they differ from it. A split layout `root/train/<class>/...` and
//! `root/test/<class>/...` is also read, with the class list taken from `train/`.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use rayon::prelude::*;

use crate::dataset::{Dataset, Split};
use crate::error::{DataError, Result};
use crate::integrity::{Mode, Verifier};

/// File extensions read as images (compared case-insensitively).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// Side length images are resized to by default (CIFAR-10's 32x32).
pub const DEFAULT_SIZE: usize = 32;

/// Decodes a PNG or JPEG file into RGB CHW bytes of shape 3x32x32, resizing when needed.
pub fn decode_image_file(path: &Path) -> Result<Vec<u8>> {
    decode_image_file_sized(path, DEFAULT_SIZE, DEFAULT_SIZE)
}

/// Decodes a PNG or JPEG file into RGB CHW bytes of shape `3 x height x width`. A missing
/// file is [`DataError::NoSuchFile`].
pub fn decode_image_file_sized(path: &Path, height: usize, width: usize) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decode_image_bytes(path, &bytes, height, width)
}

/// Pixels decoded from any file, however small: 1024x1024 (a JPEG header alone makes the
/// decoder fill that many, about 50 ms).
const MIN_PIXEL_LIMIT: u64 = 1 << 20;
/// Pixels decoded per byte of file beyond that (ordinary photos and drawings need well
/// under 100; only a flat image of millions of pixels compresses further).
const PIXELS_PER_BYTE: u64 = 1024;
/// Pixels decoded at most (2^27, 16384x8192: 384 MiB as RGB).
const MAX_PIXELS: u64 = 1 << 27;

/// The most pixels decoded from a file of `bytes` bytes: decoding time and memory stay
/// proportional to the file, whatever its header claims.
pub fn pixel_limit(bytes: u64) -> u64 {
    bytes
        .saturating_mul(PIXELS_PER_BYTE)
        .clamp(MIN_PIXEL_LIMIT, MAX_PIXELS)
}

/// Decodes the bytes of a PNG or JPEG file (read from `path`) into RGB CHW bytes of shape
/// `3 x height x width`, resizing when needed. An image claiming more than
/// [`pixel_limit`] pixels is refused before decoding.
pub fn decode_image_bytes(
    path: &Path,
    bytes: &[u8],
    height: usize,
    width: usize,
) -> Result<Vec<u8>> {
    let image_err = |reason: String| DataError::Image {
        path: path.to_path_buf(),
        reason,
    };
    let (w, h) = match (u32::try_from(width), u32::try_from(height)) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 && u64::from(w) * u64::from(h) <= MAX_PIXELS => (w, h),
        _ => {
            return Err(DataError::Invalid(format!(
                "cannot decode images to {height}x{width}: sizes run from 1x1 to {MAX_PIXELS} pixels"
            )));
        }
    };
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    let decoder = reader
        .into_decoder()
        .map_err(|e| image_err(e.to_string()))?;
    let (iw, ih) = image::ImageDecoder::dimensions(&decoder);
    let limit = pixel_limit(bytes.len() as u64);
    if u64::from(iw) * u64::from(ih) > limit {
        return Err(DataError::ImageTooLarge {
            path: path.to_path_buf(),
            width: iw,
            height: ih,
            bytes: bytes.len() as u64,
            limit,
        });
    }
    let decoded =
        image::DynamicImage::from_decoder(decoder).map_err(|e| image_err(e.to_string()))?;
    let mut rgb = decoded.to_rgb8();
    if rgb.width() != w || rgb.height() != h {
        if rgb.width() == 0 || rgb.height() == 0 {
            return Err(image_err("the image is empty".into()));
        }
        rgb = image::imageops::resize(&rgb, w, h, FilterType::Triangle);
    }
    let plane = height * width;
    let mut chw = vec![0u8; 3 * plane];
    for (i, px) in rgb.as_raw().chunks_exact(3).enumerate() {
        chw[i] = px[0];
        chw[plane + i] = px[1];
        chw[2 * plane + i] = px[2];
    }
    Ok(chw)
}

/// True when `path` has one of [`IMAGE_EXTENSIONS`].
pub fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Sorted names of the sub-folders of `root` (the classes of an image folder).
pub fn list_classes(root: &Path) -> Result<Vec<String>> {
    let mut classes = Vec::new();
    for entry in std::fs::read_dir(root).map_err(|e| DataError::io(root, e))? {
        let entry = entry.map_err(|e| DataError::io(root, e))?;
        if entry.path().is_dir() {
            classes.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    classes.sort();
    Ok(classes)
}

/// True when `root` has at least one sub-folder holding an image file directly.
pub fn looks_like_image_folder(root: &Path) -> bool {
    let Ok(classes) = list_classes(root) else {
        return false;
    };
    classes.iter().any(|c| {
        std::fs::read_dir(root.join(c)).is_ok_and(|mut it| {
            it.any(|e| e.is_ok_and(|e| e.path().is_file() && is_image_file(&e.path())))
        })
    })
}

/// True when `root` holds `train/` and `test/` image folders.
pub fn looks_like_split_image_folder(root: &Path) -> bool {
    looks_like_image_folder(&root.join("train")) && looks_like_image_folder(&root.join("test"))
}

/// Loads `root/<class>/...` with its own sorted class list, resizing to `size x size`; files
/// are verified against `root`'s checksum lists (see [`crate::integrity`]).
pub fn load_image_folder(root: &Path, size: usize) -> Result<Dataset> {
    load_all(root, size, &Mode::Verify)
}

pub(crate) fn load_all(root: &Path, size: usize, mode: &Mode) -> Result<Dataset> {
    let classes = list_classes(root)?;
    let verifier = Verifier::new(root, None, mode)?;
    let desc = format!(
        "image folder {} (no train/test split: all of it)",
        root.display()
    );
    load_with_classes(root, root, &classes, size, &desc, &verifier)
}

/// Loads `root/<split>/<class>/...`, with classes from `root/train/` for both splits; files are
/// verified against `root`'s checksum lists (names like `train/cat/0001.png`).
pub fn load_image_folder_split(root: &Path, split: Split, size: usize) -> Result<Dataset> {
    load_split(root, split, size, &Mode::Verify)
}

pub(crate) fn load_split(root: &Path, split: Split, size: usize, mode: &Mode) -> Result<Dataset> {
    let train = root.join("train");
    let classes = list_classes(&train)?;
    let dir = root.join(split.name());
    if split == Split::Test {
        for c in list_classes(&dir)? {
            if !classes.contains(&c) {
                return Err(DataError::Format {
                    path: dir.join(&c),
                    reason: format!("class '{c}' is in test/ but not in train/"),
                });
            }
        }
    }
    let desc = format!("image folder {}, {} split", root.display(), split);
    let verifier = Verifier::new(root, None, mode)?;
    load_with_classes(&dir, root, &classes, size, &desc, &verifier)
}

/// Reads every image of `root/<class>/` for the given class list (labels = positions in it),
/// checking each file, named relative to `list_root`, with `verifier`.
fn load_with_classes(
    root: &Path,
    list_root: &Path,
    classes: &[String],
    size: usize,
    desc: &str,
    verifier: &Verifier,
) -> Result<Dataset> {
    if size == 0 {
        return Err(DataError::Invalid("image size must be positive".into()));
    }
    if classes.is_empty() {
        return Err(DataError::UnknownLayout {
            path: root.to_path_buf(),
            looked_for: "class sub-folders <class>/ holding .png/.jpg/.jpeg files".into(),
        });
    }
    let mut files: Vec<(PathBuf, usize)> = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let dir = root.join(class);
        if !dir.is_dir() {
            continue;
        }
        let before = files.len();
        walk_sorted(&dir, &mut |p| files.push((p, label)))?;
        if files.len() == before {
            // A class may be absent from a split, but an existing class folder must hold images.
            return Err(DataError::Format {
                path: dir,
                reason: "class folder holds no .png/.jpg/.jpeg file".into(),
            });
        }
    }
    if files.is_empty() {
        return Err(DataError::Format {
            path: root.to_path_buf(),
            reason: "no .png/.jpg/.jpeg files found".into(),
        });
    }
    let bytes = files.len() as u64 * 3 * (size * size) as u64;
    let limit = memory_limit();
    if bytes > limit {
        return Err(DataError::TooLarge {
            path: root.to_path_buf(),
            images: files.len(),
            size,
            bytes,
            limit,
        });
    }
    let names: Vec<String> = files.iter().map(|(p, _)| list_name(list_root, p)).collect();
    let decoded: Vec<Result<(Vec<u8>, bool)>> = files
        .par_iter()
        .zip(&names)
        .map(|((p, _), name)| {
            let bytes = std::fs::read(p).map_err(|e| DataError::io(p, e))?;
            let listed = verifier.check(name, &bytes)?;
            Ok((decode_image_bytes(p, &bytes, size, size)?, listed))
        })
        .collect();
    let decoded = decoded.into_iter().collect::<Result<Vec<_>>>()?;
    let mut images = Vec::with_capacity(decoded.len() * 3 * size * size);
    let mut read = Vec::with_capacity(decoded.len());
    for ((img, listed), name) in decoded.into_iter().zip(names) {
        images.extend_from_slice(&img);
        read.push((name, listed));
    }
    let labels = files.iter().map(|(_, l)| *l).collect::<Vec<_>>();
    let source = format!("{desc}, {} images", labels.len());
    Ok(
        Dataset::new(images, labels, [3, size, size], classes.to_vec(), source)?
            .with_integrity(verifier.finish(&read)),
    )
}

/// The most bytes of decoded images a dataset may hold in memory: `KILN_MAX_DATASET_BYTES`,
/// else half the machine's memory (`/proc/meminfo`), else 8 GiB.
pub fn memory_limit() -> u64 {
    if let Some(v) = std::env::var("KILN_MAX_DATASET_BYTES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        return v;
    }
    let total_kb = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    });
    total_kb.map_or(8 << 30, |kb| kb * 1024 / 2)
}

/// `path` relative to `root` with `/` separators, as a checksum list names it.
fn list_name(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Calls `f` for every image file under `dir`, folders visited in sorted order and the files
/// of each folder sorted by name.
fn walk_sorted(dir: &Path, f: &mut dyn FnMut(PathBuf)) -> Result<()> {
    let mut dirs = vec![dir.to_path_buf()];
    collect_dirs(dir, &mut dirs)?;
    dirs.sort();
    for d in dirs {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&d).map_err(|e| DataError::io(&d, e))? {
            let path = entry.map_err(|e| DataError::io(&d, e))?.path();
            if path.is_file() && is_image_file(&path) {
                names.push(path);
            }
        }
        names.sort();
        names.into_iter().for_each(&mut *f);
    }
    Ok(())
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        if path.is_dir() {
            out.push(path.clone());
            collect_dirs(&path, out)?;
        }
    }
    Ok(())
}
