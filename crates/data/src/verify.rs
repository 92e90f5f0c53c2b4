//! Whole-folder checks: verifying every file of a dataset folder, and writing its checksum list.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::checksum::{Algorithm, ChecksumList, ChecksumSource, MD5SUMS, SHA256SUMS, write_atomic};
use crate::cifar_python::OFFICIAL_MD5;
use crate::dataset::Split;
use crate::detect::{Layout, detect_layout, load_layout};
use crate::error::{DataError, Result};
use crate::image_folder::DEFAULT_SIZE;
use crate::integrity::{Integrity, Mode, Recorded, read_layout_file};

/// What [`verify_folder`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderCheck {
    /// The layout of the folder.
    pub layout: Layout,
    /// Images in the train and test splits.
    pub images: [usize; 2],
    /// Both splits' verification together, plus the list entries that no load reads.
    pub integrity: Integrity,
}

/// Loads both splits of the dataset at `path` with every check (checksums, sizes, formats,
/// labels, duplicates), then verifies the entries of the folder's checksum lists that the
/// loads do not read, as `sha256sum -c` would. Any failure is the error of the first problem.
pub fn verify_folder(path: &Path) -> Result<FolderCheck> {
    let layout = detect_layout(path)?;
    let train = load_layout(&layout, Split::Train, DEFAULT_SIZE, &Mode::Verify)?;
    let test = load_layout(&layout, Split::Test, DEFAULT_SIZE, &Mode::Verify)?;
    let mut integrity = train.integrity().clone();
    integrity.merge(test.integrity());
    let read: Vec<String> = integrity.verified.clone();
    for list in ChecksumList::find(layout.dir())? {
        for (name, expected) in &list.entries {
            if read.contains(name) {
                continue;
            }
            let file = layout.dir().join(name);
            let found = list.algorithm.digest(&read_layout_file(&file, &layout)?);
            if &found != expected {
                return Err(DataError::ChecksumMismatch {
                    path: file,
                    algorithm: list.algorithm,
                    expected: expected.clone(),
                    found,
                    list: list.source.clone(),
                });
            }
            if !integrity.verified.contains(name) {
                integrity.verified.push(name.clone());
            }
        }
    }
    Ok(FolderCheck {
        layout,
        images: [train.len(), test.len()],
        integrity,
    })
}

/// What [`write_checksums`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenLists {
    /// The list files written.
    pub lists: Vec<PathBuf>,
    /// The list files that already held exactly this (not rewritten).
    pub up_to_date: Vec<PathBuf>,
    /// The files listed (both splits; relative to the layout's folder).
    pub files: Vec<String>,
    /// Files whose SHA-256 differs from the `SHA256SUMS` replaced, or that it did not list.
    pub changed: Vec<String>,
    /// CIFAR-10 python files whose MD5 is not the official release's.
    pub not_official: Vec<String>,
}

/// Records the files of the dataset at `path`: loads both splits with every check except
/// checksums (sizes, formats, labels, duplicates) and writes `SHA256SUMS` in the layout's
/// folder (and `MD5SUMS`, when one is there already) listing exactly the files the loads read.
/// Each list is written to a temporary name and renamed; a list that already says exactly
/// this is not rewritten.
pub fn write_checksums(path: &Path) -> Result<WrittenLists> {
    let layout = detect_layout(path)?;
    let dir = layout.dir().to_path_buf();
    let python = matches!(layout, Layout::CifarPython(_));
    let with_md5 = dir.join(MD5SUMS).exists();
    let mut algorithms = vec![Algorithm::Sha256];
    if with_md5 || python {
        algorithms.push(Algorithm::Md5);
    }
    let recorded = Arc::new(Mutex::new(Recorded::new()));
    let mode = Mode::Record(recorded.clone(), algorithms);
    load_layout(&layout, Split::Train, DEFAULT_SIZE, &mode)?;
    load_layout(&layout, Split::Test, DEFAULT_SIZE, &mode)?;
    let recorded = std::mem::take(&mut *recorded.lock().unwrap_or_else(PoisonError::into_inner));

    let list_of = |algorithm: Algorithm| ChecksumList {
        source: ChecksumSource::File(dir.join(algorithm.list_name())),
        algorithm,
        entries: recorded
            .iter()
            .filter_map(|(name, d)| Some((name.clone(), d.get(&algorithm)?.clone())))
            .collect(),
    };
    let sha = list_of(Algorithm::Sha256);
    let old = ChecksumList::read(&dir, Algorithm::Sha256).ok().flatten();
    let changed = sha
        .entries
        .iter()
        .filter(|(n, d)| old.as_ref().and_then(|o| o.get(n)) != Some(d.as_str()))
        .map(|(n, _)| n.clone())
        .collect();
    let not_official = match python {
        false => Vec::new(),
        true => OFFICIAL_MD5
            .iter()
            .filter(|(n, d)| {
                recorded
                    .get(*n)
                    .is_some_and(|m| m.get(&Algorithm::Md5).map(String::as_str) != Some(*d))
            })
            .map(|(n, _)| n.to_string())
            .collect(),
    };
    let mut todo = vec![(dir.join(SHA256SUMS), sha.render())];
    if with_md5 {
        todo.push((dir.join(MD5SUMS), list_of(Algorithm::Md5).render()));
    }
    let (mut lists, mut up_to_date) = (Vec::new(), Vec::new());
    for (path, text) in todo {
        // An unchanged list is left alone (a read-only folder stays untouched).
        if std::fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
            up_to_date.push(path);
        } else {
            write_atomic(&path, text.as_bytes())?;
            lists.push(path);
        }
    }
    Ok(WrittenLists {
        lists,
        up_to_date,
        files: sha.entries.keys().cloned().collect(),
        changed,
        not_official,
    })
}
