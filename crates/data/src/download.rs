//! Downloading and unpacking the CIFAR-10 binary archive, with nothing half-done left behind.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use md5::{Digest, Md5};

use crate::checksum::hex;
use crate::cifar_binary::{self, CIFAR10_BIN_DIR, RECORD_BYTES, RECORDS_PER_BATCH};
use crate::dataset::Split;
use crate::error::{DataError, Result};
use crate::verify::write_checksums;

pub use crate::error::CIFAR10_BINARY_URL;

/// MD5 of the official `cifar-10-binary.tar.gz`.
pub const CIFAR10_BINARY_MD5: &str = "c32a1d4ab5d03f1284b67883e8d87530";
/// File name of the official archive.
pub const CIFAR10_ARCHIVE: &str = "cifar-10-binary.tar.gz";

/// Downloads the CIFAR-10 binary archive from `url` into `dest_dir`, checks its MD5 against
/// the official one, and unpacks it; returns the path of `dest_dir/cifar-10-batches-bin`.
///
/// See [`download_cifar10_with_md5`].
pub fn download_cifar10(dest_dir: &Path, url: &str) -> Result<PathBuf> {
    download_cifar10_with_md5(dest_dir, url, CIFAR10_BINARY_MD5)
}

/// Like [`download_cifar10`] with the expected MD5 (lower-case hex) given.
///
/// - When `dest_dir/cifar-10-batches-bin` is already complete, nothing is downloaded.
/// - When `dest_dir/cifar-10-binary.tar.gz` already exists with the expected MD5 (put there
///   by hand), it is unpacked without downloading.
/// - Otherwise the archive is fetched with a progress bar into a temporary name, its MD5 is
///   checked, it is renamed into place, then unpacked into a temporary folder which is renamed
///   to `cifar-10-batches-bin` only once complete and checked (sizes, labels, duplicates), with
///   a `SHA256SUMS` of its files written in it, so that every later load verifies them.
///   Any failure removes the temporary files.
pub fn download_cifar10_with_md5(
    dest_dir: &Path,
    url: &str,
    expected_md5: &str,
) -> Result<PathBuf> {
    let target = dest_dir.join(CIFAR10_BIN_DIR);
    if target.exists() {
        if is_complete_binary_dir(&target) {
            return Ok(target);
        }
        return Err(DataError::Format {
            path: target,
            reason: "exists but is incomplete (missing batch files or wrong sizes); remove it and \
                     download again"
                .into(),
        });
    }
    std::fs::create_dir_all(dest_dir).map_err(|e| DataError::io(dest_dir, e))?;
    let archive = dest_dir.join(CIFAR10_ARCHIVE);
    let expected_md5 = expected_md5.to_ascii_lowercase();
    let have_archive = archive.is_file() && md5_file(&archive)? == expected_md5;
    if !have_archive {
        fetch(url, dest_dir, &archive, &expected_md5)?;
    }
    let record = |inner: &Path| {
        if !is_complete_binary_dir(inner) {
            return Err(DataError::Format {
                path: archive.clone(),
                reason: format!("the archive does not hold a complete {CIFAR10_BIN_DIR}/ folder"),
            });
        }
        write_checksums(inner).map(|_| ())
    };
    extract_dir_then(&archive, dest_dir, CIFAR10_BIN_DIR, &record)?;
    Ok(target)
}

/// True when `dir` holds all six batch files with the official size.
pub fn is_complete_binary_dir(dir: &Path) -> bool {
    let expected = (RECORDS_PER_BATCH * RECORD_BYTES) as u64;
    [Split::Train, Split::Test]
        .iter()
        .flat_map(|s| cifar_binary::batch_files(*s).iter())
        .all(|f| std::fs::metadata(dir.join(f)).is_ok_and(|m| m.len() == expected))
}

/// MD5 of a file, lower-case hex (read in pieces: archives can be large).
pub fn md5_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// A unique temporary name in `dir` (the folder of the final name, so a rename is atomic).
pub(crate) fn temp_sibling(dir: &Path, stem: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{stem}.kiln-tmp-{}-{n}", std::process::id()))
}

/// Downloads `url` to `archive` via a temporary file, checking the MD5 on the way.
fn fetch(url: &str, dest_dir: &Path, archive: &Path, expected_md5: &str) -> Result<()> {
    let download_err = |reason: String| DataError::Download {
        url: url.to_string(),
        dest: dest_dir.to_path_buf(),
        reason,
    };
    let config = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut response = agent
        .get(url)
        .call()
        .map_err(|e| download_err(e.to_string()))?;
    let total = response.body().content_length();
    let tmp = temp_sibling(dest_dir, CIFAR10_ARCHIVE);
    let result = (|| {
        let write_err = |source| DataError::Write {
            path: tmp.clone(),
            source,
        };
        let mut file = std::fs::File::create(&tmp).map_err(write_err)?;
        let bar = match total {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        if let Ok(style) = ProgressStyle::with_template(
            "downloading CIFAR-10 {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style);
        }
        let mut reader = response.body_mut().as_reader();
        let mut hasher = Md5::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut received = 0u64;
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| download_err(e.to_string()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n]).map_err(write_err)?;
            received += n as u64;
            bar.set_position(received);
        }
        bar.finish_and_clear();
        if let Some(n) = total
            && received != n
        {
            return Err(download_err(format!("received {received} of {n} bytes")));
        }
        file.sync_all().map_err(write_err)?;
        let actual = hex(&hasher.finalize());
        if actual != expected_md5 {
            return Err(DataError::Checksum {
                path: archive.to_path_buf(),
                dest: dest_dir.to_path_buf(),
                expected: expected_md5.to_string(),
                actual,
            });
        }
        std::fs::rename(&tmp, archive).map_err(|e| DataError::io(archive, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Unpacks the `.tar.gz` at `archive` into a temporary folder inside `dest_dir` and moves the
/// top-level folder `name` from it to `dest_dir/name`; the temporary folder is removed whatever
/// happens, so a failed or interrupted unpack leaves no half-extracted `name`.
pub fn extract_dir_from_tar_gz(archive: &Path, dest_dir: &Path, name: &str) -> Result<PathBuf> {
    extract_dir_then(archive, dest_dir, name, &|_| Ok(()))
}

/// Like [`extract_dir_from_tar_gz`], calling `prepare` on the unpacked folder before it is
/// renamed into place; an error of `prepare` fails the unpack and leaves nothing behind.
fn extract_dir_then(
    archive: &Path,
    dest_dir: &Path,
    name: &str,
    prepare: &dyn Fn(&Path) -> Result<()>,
) -> Result<PathBuf> {
    let target = dest_dir.join(name);
    if target.exists() {
        return Err(DataError::Invalid(format!(
            "{} already exists; not overwriting it",
            target.display()
        )));
    }
    let tmp = temp_sibling(dest_dir, name);
    let result = (|| {
        unpack_tar_gz(archive, &tmp)?;
        let inner = tmp.join(name);
        if !inner.is_dir() {
            return Err(DataError::Format {
                path: archive.to_path_buf(),
                reason: format!("the archive holds no top-level {name}/ folder"),
            });
        }
        prepare(&inner)?;
        std::fs::rename(&inner, &target).map_err(|e| DataError::io(&target, e))?;
        Ok(target.clone())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// Unpacks every entry of the `.tar.gz` at `archive` into `dir` (created if needed).
pub fn unpack_tar_gz(archive: &Path, dir: &Path) -> Result<()> {
    let file = std::fs::File::open(archive).map_err(|e| DataError::io(archive, e))?;
    let gz = flate2::read::GzDecoder::new(std::io::BufReader::new(file));
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    tar::Archive::new(gz)
        .unpack(dir)
        .map_err(|e| DataError::Format {
            path: archive.to_path_buf(),
            reason: format!("cannot unpack the .tar.gz archive: {e}"),
        })
}
