//! PNG encoding and atomic file writes.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

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

/// Writes `bytes` to a temporary sibling of `path`, then renames it to `path`.
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
    if result.is_err() {
        // Best effort: do not leave the temporary file behind.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `dir/.name.tmp-<pid>` beside `dir/name`.
fn temp_sibling(path: &Path) -> Result<PathBuf, VizError> {
    let name = path.file_name().ok_or_else(|| {
        VizError::InvalidInput(format!("{} does not name a file", path.display()))
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
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
}
