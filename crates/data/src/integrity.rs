//! Content checks of every load: the files read are verified against the checksum lists
//! beside them, and batch files must differ from one another.
//!
//! The rule, for every layout: the lists of the layout's own folder (`SHA256SUMS`, `MD5SUMS`,
//! coreutils' format) are checked for every file the load reads, and a mismatch is an error.
//! A CIFAR-10 python folder without a list of its own is checked against the MD5s of the
//! official release instead (what torchvision does), so a folder of python batches made by
//! hand needs a list of its own. Any other folder without a list loads with a
//! [`DataWarning::NoChecksumList`] in its [`Integrity`]; a read file that the list does not
//! name gives a [`DataWarning::NotInList`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::checksum::{Algorithm, ChecksumList, ChecksumSource};
use crate::detect::Layout;
use crate::error::{DataError, Result};

/// Whether a load verifies file contents against checksum lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Checksums {
    /// Verify every file read (the default).
    #[default]
    Verify,
    /// Check sizes, formats and duplicates only.
    Skip,
}

/// Something the caller should tell the user although the data loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataWarning {
    /// The folder has no checksum list: sizes and formats were checked, contents were not.
    NoChecksumList {
        /// The folder that holds the files.
        dir: PathBuf,
    },
    /// Files the load read that the folder's checksum list does not name.
    NotInList {
        /// The list.
        list: PathBuf,
        /// The files, relative to the list's folder.
        files: Vec<String>,
    },
}

impl std::fmt::Display for DataWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataWarning::NoChecksumList { dir } => write!(
                f,
                "{} has no SHA256SUMS or MD5SUMS: file sizes and formats were checked, \
                 contents were not",
                dir.display()
            ),
            DataWarning::NotInList { list, files } => {
                let shown: Vec<&str> = files.iter().take(3).map(String::as_str).collect();
                let more = files.len().saturating_sub(shown.len());
                write!(
                    f,
                    "{} does not list {} file(s) that were read, so they were not verified: {}{}",
                    list.display(),
                    files.len(),
                    shown.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                )
            }
        }
    }
}

/// What a load checked, and what the caller should tell the user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Integrity {
    /// The files verified against a checksum list, relative to the list's folder.
    pub verified: Vec<String>,
    /// The lists they were verified against.
    pub sources: Vec<ChecksumSource>,
    /// Warnings (empty when every file read was verified).
    pub warnings: Vec<DataWarning>,
}

impl Integrity {
    /// Adds what `other` verified and warned (each item once), e.g. the other split's.
    pub fn merge(&mut self, other: &Integrity) {
        for v in &other.verified {
            if !self.verified.contains(v) {
                self.verified.push(v.clone());
            }
        }
        for s in &other.sources {
            if !self.sources.contains(s) {
                self.sources.push(s.clone());
            }
        }
        for w in &other.warnings {
            if !self.warnings.contains(w) {
                self.warnings.push(w.clone());
            }
        }
    }
}

/// Digests recorded while loading (for writing a list), by file name.
pub(crate) type Recorded = BTreeMap<String, BTreeMap<Algorithm, String>>;

/// How a loader treats file contents.
#[derive(Debug, Clone)]
pub(crate) enum Mode {
    Verify,
    Skip,
    /// Record the digests of the given algorithms of every file read.
    Record(Arc<Mutex<Recorded>>, Vec<Algorithm>),
}

impl From<Checksums> for Mode {
    fn from(c: Checksums) -> Mode {
        match c {
            Checksums::Verify => Mode::Verify,
            Checksums::Skip => Mode::Skip,
        }
    }
}

/// Checks the files one load reads from one folder.
pub(crate) struct Verifier {
    dir: PathBuf,
    lists: Vec<ChecksumList>,
    mode: Mode,
}

impl Verifier {
    /// Reads the lists of `dir`; `official` stands in when there are none.
    pub(crate) fn new(dir: &Path, official: Option<ChecksumList>, mode: &Mode) -> Result<Self> {
        let mut lists = match mode {
            Mode::Verify => ChecksumList::find(dir)?,
            Mode::Skip | Mode::Record(..) => Vec::new(),
        };
        if lists.is_empty() && matches!(mode, Mode::Verify) {
            lists.extend(official);
        }
        Ok(Verifier {
            dir: dir.to_path_buf(),
            lists,
            mode: mode.clone(),
        })
    }

    /// Checks `bytes`, the content of `name` (relative to the folder); true when a list named it.
    pub(crate) fn check(&self, name: &str, bytes: &[u8]) -> Result<bool> {
        if let Mode::Record(recorded, algorithms) = &self.mode {
            let digests = algorithms.iter().map(|a| (*a, a.digest(bytes))).collect();
            if let Ok(mut map) = recorded.lock() {
                map.insert(name.to_string(), digests);
            }
            return Ok(false);
        }
        let mut named = false;
        for list in &self.lists {
            let Some(expected) = list.get(name) else {
                continue;
            };
            named = true;
            let found = list.algorithm.digest(bytes);
            if found != expected {
                return Err(DataError::ChecksumMismatch {
                    path: self.dir.join(name),
                    algorithm: list.algorithm,
                    expected: expected.to_string(),
                    found,
                    list: list.source.clone(),
                });
            }
        }
        Ok(named)
    }

    /// The report of a load that read `read` (name, whether a list named it).
    pub(crate) fn finish(&self, read: &[(String, bool)]) -> Integrity {
        let mut out = Integrity::default();
        if !matches!(self.mode, Mode::Verify) {
            return out;
        }
        if self.lists.is_empty() {
            out.warnings.push(DataWarning::NoChecksumList {
                dir: self.dir.clone(),
            });
            return out;
        }
        out.sources = self.lists.iter().map(|l| l.source.clone()).collect();
        out.verified = read.iter().filter(|r| r.1).map(|r| r.0.clone()).collect();
        let unlisted: Vec<String> = read.iter().filter(|r| !r.1).map(|r| r.0.clone()).collect();
        if !unlisted.is_empty() {
            let list = match &self.lists[0].source {
                ChecksumSource::File(p) => p.clone(),
                ChecksumSource::OfficialCifarPython => self.dir.clone(),
            };
            out.warnings.push(DataWarning::NotInList {
                list,
                files: unlisted,
            });
        }
        out
    }
}

/// Reads a file of a layout; a missing one is [`DataError::Missing`] naming the layout.
pub(crate) fn read_layout_file(path: &Path, layout: &Layout) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DataError::Missing {
            path: path.to_path_buf(),
            layout: layout.clone(),
        },
        _ => DataError::io(path, e),
    })
}

/// Reads the batch files `files` of `dir` in parallel, each checked by `check` (e.g. its size)
/// and against the checksum list; fails on the first error in file order, or when two of the
/// layout's batch files `all` are copies. Returns each file's bytes and whether it was listed.
pub(crate) fn read_batches(
    dir: &Path,
    files: &[&str],
    all: &[&str],
    layout: &Layout,
    verifier: &Verifier,
    check: impl Fn(&Path, &[u8]) -> Result<()> + Sync,
) -> Result<Vec<(Vec<u8>, bool)>> {
    use rayon::prelude::*;
    let contents: Vec<Result<(Vec<u8>, bool)>> = files
        .par_iter()
        .map(|name| {
            let path = dir.join(name);
            let bytes = read_layout_file(&path, layout)?;
            check(&path, &bytes)?;
            let listed = verifier.check(name, &bytes)?;
            Ok((bytes, listed))
        })
        .collect();
    let contents = contents.into_iter().collect::<Result<Vec<_>>>()?;
    let loaded: Vec<(&str, &[u8])> = files
        .iter()
        .zip(&contents)
        .map(|(n, (b, _))| (*n, b.as_slice()))
        .collect();
    check_distinct(dir, all, &loaded)?;
    Ok(contents)
}

/// Reads an optional file; `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DataError::io(path, e)),
    }
}

/// Bytes compared before two files are compared whole.
const PREFIX: usize = 64 << 10;

/// Fails when two of the batch files `names` of `dir` have the same content (one copied over
/// the other). Files in `loaded` are compared from memory; the others, where they exist, are
/// read only as far as needed: a prefix, and the whole file when size and prefix agree.
pub(crate) fn check_distinct(dir: &Path, names: &[&str], loaded: &[(&str, &[u8])]) -> Result<()> {
    let in_memory = |name: &str| loaded.iter().find(|(n, _)| *n == name).map(|(_, b)| *b);
    let mut seen: Vec<(&str, u64, Vec<u8>)> = Vec::new();
    for &name in names {
        let path = dir.join(name);
        let (size, prefix) = match in_memory(name) {
            Some(b) => (b.len() as u64, b[..b.len().min(PREFIX)].to_vec()),
            None => match read_prefix(&path)? {
                Some(sp) => sp,
                None => continue,
            },
        };
        for (other, other_size, other_prefix) in &seen {
            if *other_size != size || *other_prefix != prefix {
                continue;
            }
            let same = match (in_memory(name), in_memory(other)) {
                (Some(a), Some(b)) => a == b,
                _ => {
                    let whole = |n: &str| -> Result<Vec<u8>> {
                        match in_memory(n) {
                            Some(b) => Ok(b.to_vec()),
                            None => {
                                let p = dir.join(n);
                                std::fs::read(&p).map_err(|e| DataError::io(&p, e))
                            }
                        }
                    };
                    whole(name)? == whole(other)?
                }
            };
            if same {
                return Err(DataError::DuplicateFiles {
                    first: dir.join(other),
                    second: path,
                });
            }
        }
        seen.push((name, size, prefix));
    }
    Ok(())
}

/// Size and first [`PREFIX`] bytes of a file; `None` when it does not exist.
fn read_prefix(path: &Path) -> Result<Option<(u64, Vec<u8>)>> {
    use std::io::Read;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DataError::io(path, e)),
    };
    let size = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let mut prefix = Vec::with_capacity(PREFIX);
    file.take(PREFIX as u64)
        .read_to_end(&mut prefix)
        .map_err(|e| DataError::io(path, e))?;
    Ok(Some((size, prefix)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn official(name: &str, content: &[u8]) -> ChecksumList {
        ChecksumList {
            source: ChecksumSource::OfficialCifarPython,
            algorithm: Algorithm::Md5,
            entries: [(name.to_string(), Algorithm::Md5.digest(content))].into(),
        }
    }

    #[test]
    fn official_list_applies_only_without_a_local_one() {
        let tmp = tempfile::tempdir().unwrap();
        let v = Verifier::new(tmp.path(), Some(official("f", b"good")), &Mode::Verify).unwrap();
        assert!(v.check("f", b"good").unwrap());
        let err = v.check("f", b"evil").unwrap_err();
        assert!(matches!(err, DataError::ChecksumMismatch { .. }), "{err}");
        assert!(err.to_string().contains("official"), "{err}");
        let integrity = v.finish(&[("f".into(), true)]);
        assert_eq!(integrity.sources, [ChecksumSource::OfficialCifarPython]);
        assert!(integrity.warnings.is_empty());

        // A local list overrides the official MD5s.
        let local = format!("{}  f\n", Algorithm::Sha256.digest(b"evil"));
        std::fs::write(tmp.path().join("SHA256SUMS"), local).unwrap();
        let v = Verifier::new(tmp.path(), Some(official("f", b"good")), &Mode::Verify).unwrap();
        assert!(v.check("f", b"evil").unwrap());
        assert!(v.check("f", b"good").is_err());
    }

    #[test]
    fn skip_checks_nothing_and_warns_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let v = Verifier::new(tmp.path(), Some(official("f", b"good")), &Mode::Skip).unwrap();
        assert!(!v.check("f", b"evil").unwrap());
        assert_eq!(v.finish(&[("f".into(), false)]), Integrity::default());
    }
}
