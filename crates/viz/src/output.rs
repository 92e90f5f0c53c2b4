//! PNG encoding and atomic file writes.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use image::{ImageFormat, RgbImage};

use crate::VizError;

/// Encodes `img` as PNG and writes it to `path` atomically: the bytes go to a temporary
/// file beside the target, which is then renamed over it, so a reader never sees a
/// half-written picture. The parent folder must exist.
pub(crate) fn save_png(path: &Path, img: &RgbImage) -> Result<(), VizError> {
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)?;
    write_atomically(path, &bytes)
}

/// Writes `bytes` to a temporary sibling of `path`, then renames it to `path` (and syncs
/// the folder, best effort, so the rename survives a crash).
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), VizError> {
    let tmp = temp_sibling(path)?;
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| VizError::Io { path: p, source }
    };
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .map_err(io(&tmp))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(io(path)));
    if result.is_ok()
        && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    if result.is_err() {
        // Best effort: do not leave the temporary file behind.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `dir/.name.tmp-<pid>-<k>` beside `dir/name`; `k` counts the writes of this process, so
/// two threads writing the same picture never share a temporary file.
fn temp_sibling(path: &Path) -> Result<PathBuf, VizError> {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        VizError::InvalidInput(format!("{} does not name a file", path.display()))
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    let k = WRITES.fetch_add(1, Ordering::Relaxed);
    tmp_name.push(format!(".tmp-{}-{k}", std::process::id()));
    Ok(path.with_file_name(tmp_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces_without_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        let img = RgbImage::from_pixel(3, 2, image::Rgb([1, 2, 3]));
        save_png(&path, &img).unwrap();
        save_png(&path, &img).unwrap();
        let back = image::open(&path).unwrap().to_rgb8();
        assert_eq!(back, img);
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn missing_folder_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/a.png");
        let img = RgbImage::new(1, 1);
        assert!(matches!(save_png(&path, &img), Err(VizError::Io { .. })));
    }

    #[test]
    fn failed_rename_leaves_no_temporary_file() {
        // A non-empty folder named like the picture: the rename onto it fails.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("keep"), b"x").unwrap();
        let img = RgbImage::new(1, 1);
        assert!(matches!(save_png(&path, &img), Err(VizError::Io { .. })));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.png"]);
    }

    #[test]
    fn threads_writing_one_picture_do_not_collide() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        let img = RgbImage::from_pixel(64, 64, image::Rgb([9, 8, 7]));
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| (0..20).try_for_each(|_| save_png(&path, &img))))
                .collect();
            for h in handles {
                h.join().unwrap().unwrap();
            }
        });
        assert_eq!(image::open(&path).unwrap().to_rgb8(), img);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
