//! Finding out which dataset layout a folder holds, and loading it.

use std::path::{Path, PathBuf};

use crate::cifar_binary::{self, CIFAR10_BIN_DIR};
use crate::cifar_python::{self, CIFAR10_PY_DIR};
use crate::dataset::{Dataset, Split};
use crate::error::{DataError, Result};
use crate::image_folder::{self, DEFAULT_SIZE};
use crate::integrity::{Checksums, Mode};

/// Environment variable naming the data folder.
pub const DATA_ENV: &str = "KILN_DATA";

/// The layouts [`load`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// A `cifar-10-batches-bin` folder (the path is that folder itself).
    CifarBinary(PathBuf),
    /// A `cifar-10-batches-py` folder (the path is that folder itself).
    CifarPython(PathBuf),
    /// An image-folder tree with `train/<class>/` and `test/<class>/` (the path is its root).
    ImageFolderSplit(PathBuf),
    /// An image-folder tree `<class>/` without a split; both splits load all of it.
    ImageFolder(PathBuf),
}

impl Layout {
    /// A short name of the layout.
    pub fn describe(&self) -> String {
        match self {
            Layout::CifarBinary(p) => format!("CIFAR-10 binary at {}", p.display()),
            Layout::CifarPython(p) => format!("CIFAR-10 python at {}", p.display()),
            Layout::ImageFolderSplit(p) => format!("image folder (train/test) at {}", p.display()),
            Layout::ImageFolder(p) => format!("image folder at {}", p.display()),
        }
    }

    /// The kind of layout, in words ("CIFAR-10 binary folder").
    pub fn name(&self) -> &'static str {
        match self {
            Layout::CifarBinary(_) => "CIFAR-10 binary folder",
            Layout::CifarPython(_) => "CIFAR-10 python folder",
            Layout::ImageFolderSplit(_) => "image folder (train/test)",
            Layout::ImageFolder(_) => "image folder",
        }
    }

    /// The layout's folder (where its checksum lists live).
    pub fn dir(&self) -> &Path {
        match self {
            Layout::CifarBinary(p)
            | Layout::CifarPython(p)
            | Layout::ImageFolderSplit(p)
            | Layout::ImageFolder(p) => p,
        }
    }
}

/// The folder named by `KILN_DATA`, when that variable is set and not empty.
pub fn default_data_dir() -> Option<PathBuf> {
    std::env::var_os(DATA_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Works out which layout `path` holds.
///
/// Accepted, in this order of preference: a folder containing `cifar-10-batches-bin/`, that
/// folder itself, a folder containing `cifar-10-batches-py/`, that folder itself, an image
/// folder with `train/` and `test/`, and an image folder of class sub-folders.
pub fn detect_layout(path: &Path) -> Result<Layout> {
    if !path.exists() {
        return Err(DataError::DataDirMissing {
            path: path.to_path_buf(),
        });
    }
    if !path.is_dir() {
        return Err(DataError::UnknownLayout {
            path: path.to_path_buf(),
            looked_for: format!(
                "a folder, but this is a file (unpack archives first); {}",
                looked_for()
            ),
        });
    }
    let bin = path.join(CIFAR10_BIN_DIR);
    if bin.is_dir() {
        return Ok(Layout::CifarBinary(bin));
    }
    if cifar_binary::looks_like_binary_dir(path) {
        return Ok(Layout::CifarBinary(path.to_path_buf()));
    }
    let py = path.join(CIFAR10_PY_DIR);
    if py.is_dir() {
        return Ok(Layout::CifarPython(py));
    }
    if cifar_python::looks_like_python_dir(path) {
        return Ok(Layout::CifarPython(path.to_path_buf()));
    }
    if image_folder::looks_like_split_image_folder(path) {
        return Ok(Layout::ImageFolderSplit(path.to_path_buf()));
    }
    if image_folder::looks_like_image_folder(path) {
        return Ok(Layout::ImageFolder(path.to_path_buf()));
    }
    Err(DataError::UnknownLayout {
        path: path.to_path_buf(),
        looked_for: looked_for(),
    })
}

fn looked_for() -> String {
    format!(
        "{CIFAR10_BIN_DIR}/ (or data_batch_1.bin / test_batch.bin directly), \
         {CIFAR10_PY_DIR}/ (or data_batch_1 / test_batch directly), \
         train/<class>/ and test/<class>/ image folders, \
         or <class>/ folders of .png/.jpg/.jpeg images"
    )
}

/// Detects the layout of `path` and loads `split` from it (images resized to 32x32 where the
/// layout is an image folder), verifying every file read against the folder's checksum lists
/// (see [`crate::integrity`]); [`Dataset::integrity`] tells what was verified.
pub fn load(path: &Path, split: Split) -> Result<Dataset> {
    load_with(path, split, Checksums::Verify)
}

/// Like [`load`], with checksum verification chosen.
pub fn load_with(path: &Path, split: Split, checksums: Checksums) -> Result<Dataset> {
    load_options(
        path,
        split,
        &LoadOptions {
            checksums,
            ..LoadOptions::default()
        },
    )
}

/// How [`load_options`] reads a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    pub checksums: Checksums,
    /// Side image folders are resized to (CIFAR files are 32x32 whatever this says).
    pub image_size: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            checksums: Checksums::Verify,
            image_size: DEFAULT_SIZE,
        }
    }
}

/// Like [`load`], with every option chosen.
pub fn load_options(path: &Path, split: Split, opts: &LoadOptions) -> Result<Dataset> {
    load_layout(
        &detect_layout(path)?,
        split,
        opts.image_size,
        &opts.checksums.into(),
    )
}

/// Loads `split` of a detected layout.
pub(crate) fn load_layout(
    layout: &Layout,
    split: Split,
    image_size: usize,
    mode: &Mode,
) -> Result<Dataset> {
    match layout {
        Layout::CifarBinary(dir) => cifar_binary::load(dir, split, mode),
        Layout::CifarPython(dir) => cifar_python::load(dir, split, mode),
        Layout::ImageFolderSplit(root) => image_folder::load_split(root, split, image_size, mode),
        Layout::ImageFolder(root) => image_folder::load_all(root, image_size, mode),
    }
}
