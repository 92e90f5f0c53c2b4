//! Checksum lists in coreutils' format, as `sha256sum` and `md5sum` write them: one
//! `<hex>  <name>` line a file (`<hex> *<name>` in binary mode), names relative to the list's
//! folder, and a leading `\` when the name is escaped (`\\` for `\`, `\n` for a newline).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::error::{DataError, Result};

/// File name of a SHA-256 list.
pub const SHA256SUMS: &str = "SHA256SUMS";
/// File name of an MD5 list.
pub const MD5SUMS: &str = "MD5SUMS";

/// A digest algorithm of a checksum list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256 (`SHA256SUMS`).
    Sha256,
    /// MD5 (`MD5SUMS`).
    Md5,
}

impl Algorithm {
    /// The name of the list file of this algorithm.
    pub fn list_name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => SHA256SUMS,
            Algorithm::Md5 => MD5SUMS,
        }
    }

    /// The coreutils program that writes such lists.
    pub fn tool(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256sum",
            Algorithm::Md5 => "md5sum",
        }
    }

    /// Hex digits of one digest.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Md5 => 32,
        }
    }

    /// The digest of `bytes`, lower-case hex.
    pub fn digest(self, bytes: &[u8]) -> String {
        match self {
            Algorithm::Sha256 => hex(&Sha256::digest(bytes)),
            Algorithm::Md5 => hex(&Md5::digest(bytes)),
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Md5 => "MD5",
        })
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a list of expected digests came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChecksumSource {
    /// A list file beside the data.
    File(PathBuf),
    /// The MD5s of the official CIFAR-10 python release, as torchvision lists them.
    OfficialCifarPython,
}

impl std::fmt::Display for ChecksumSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChecksumSource::File(p) => write!(f, "{}", p.display()),
            ChecksumSource::OfficialCifarPython => {
                f.write_str("the official CIFAR-10 python release (MD5s as torchvision lists them)")
            }
        }
    }
}

/// Expected digests of files, by name relative to the list's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumList {
    /// Where the digests came from.
    pub source: ChecksumSource,
    /// Their algorithm.
    pub algorithm: Algorithm,
    /// Name -> lower-case hex digest.
    pub entries: BTreeMap<String, String>,
}

impl ChecksumList {
    /// Parses the text of a list file at `path`. A line that is not `<hex>  <name>` (or
    /// `<hex> *<name>`) with a digest of the algorithm's length, or a name listed twice with
    /// different digests, is an error naming the line.
    pub fn parse(path: &Path, algorithm: Algorithm, text: &str) -> Result<ChecksumList> {
        let mut entries = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() {
                continue;
            }
            let bad = |why: &str| DataError::Format {
                path: path.to_path_buf(),
                reason: format!(
                    "line {}: {why}; expected '<{} hex digits>  <file name>' as {} writes it",
                    i + 1,
                    algorithm.hex_len(),
                    algorithm.tool(),
                ),
            };
            let (escaped, line) = match line.strip_prefix('\\') {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let n = algorithm.hex_len();
            let digest = line
                .get(..n)
                .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
            let Some(digest) = digest else {
                return Err(bad("no digest of the right length"));
            };
            let name = match line.get(n..n + 2) {
                Some("  ") | Some(" *") => &line[n + 2..],
                _ => return Err(bad("the digest is not followed by two spaces or ' *'")),
            };
            let name = if escaped {
                unescape(name)
            } else {
                name.to_string()
            };
            let name = name.strip_prefix("./").unwrap_or(&name).to_string();
            if name.is_empty() {
                return Err(bad("no file name"));
            }
            let digest = digest.to_ascii_lowercase();
            if let Some(old) = entries.insert(name.clone(), digest.clone())
                && old != digest
            {
                return Err(bad(&format!(
                    "{name} is listed twice with different digests"
                )));
            }
        }
        Ok(ChecksumList {
            source: ChecksumSource::File(path.to_path_buf()),
            algorithm,
            entries,
        })
    }

    /// Reads `dir/SHA256SUMS` or `dir/MD5SUMS`; `None` when that file does not exist.
    pub fn read(dir: &Path, algorithm: Algorithm) -> Result<Option<ChecksumList>> {
        let path = dir.join(algorithm.list_name());
        match std::fs::read(&path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| DataError::Format {
                    path: path.clone(),
                    reason: "a checksum list must be UTF-8 text".into(),
                })?;
                Ok(Some(ChecksumList::parse(&path, algorithm, &text)?))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(DataError::io(&path, e)),
        }
    }

    /// The lists in `dir`: `SHA256SUMS` and `MD5SUMS`, those that exist.
    pub fn find(dir: &Path) -> Result<Vec<ChecksumList>> {
        let mut lists = Vec::new();
        for algorithm in [Algorithm::Sha256, Algorithm::Md5] {
            lists.extend(ChecksumList::read(dir, algorithm)?);
        }
        Ok(lists)
    }

    /// The expected digest of `name`, when the list has one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries.get(name).map(String::as_str)
    }

    /// The list as coreutils writes it (sorted by name).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, digest) in &self.entries {
            if name.contains(['\\', '\n']) {
                let esc = name.replace('\\', "\\\\").replace('\n', "\\n");
                out.push_str(&format!("\\{digest}  {esc}\n"));
            } else {
                out.push_str(&format!("{digest}  {name}\n"));
            }
        }
        out
    }
}

fn unescape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Writes `bytes` to `path` through a temporary name in the same folder and a rename, so a
/// reader sees the old file or the whole new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let stem = path
        .file_name()
        .map_or("file".into(), |n| n.to_string_lossy());
    let tmp = crate::download::temp_sibling(dir, &stem);
    let write_err = |source| DataError::Write {
        path: path.to_path_buf(),
        source,
    };
    let result = (|| {
        let mut file = std::fs::File::create(&tmp).map_err(write_err)?;
        file.write_all(bytes).map_err(write_err)?;
        file.sync_all().map_err(write_err)?;
        std::fs::rename(&tmp, path).map_err(write_err)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_text_and_binary_markers_and_escapes() {
        let a = "a".repeat(64);
        let b = "B".repeat(64);
        let text = format!("{a}  x.bin\r\n\n{b} *./y z.bin\n\\{a}  back\\\\slash\n");
        let list = ChecksumList::parse(Path::new("L"), Algorithm::Sha256, &text).unwrap();
        assert_eq!(list.get("x.bin"), Some(a.as_str()));
        assert_eq!(list.get("y z.bin"), Some("b".repeat(64).as_str()));
        assert_eq!(list.get("back\\slash"), Some(a.as_str()));
        let again = ChecksumList::parse(Path::new("L"), Algorithm::Sha256, &list.render()).unwrap();
        assert_eq!(again.entries, list.entries);
    }

    #[test]
    fn rejects_malformed_lines_naming_the_line() {
        let md5 = "0".repeat(32);
        for (text, needle) in [
            (format!("{md5}  a\n{md5} a\n"), "line 2"),
            (format!("{md5}0  a\n"), "line 1"),
            ("xyz  a\n".to_string(), "line 1"),
            (format!("{md5}  a\n{}  a\n", "1".repeat(32)), "twice"),
            (format!("{md5}  \n"), "no file name"),
        ] {
            let err = ChecksumList::parse(Path::new("MD5SUMS"), Algorithm::Md5, &text)
                .unwrap_err()
                .to_string();
            assert!(err.contains("MD5SUMS") && err.contains(needle), "{err}");
        }
    }

    #[test]
    fn digests_match_known_values() {
        // FIPS 180-2 and RFC 1321 test vectors for "abc".
        assert_eq!(
            Algorithm::Sha256.digest(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            Algorithm::Md5.digest(b"abc"),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }
}
