//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The workspace's sibling `shared/` folder, or the folder named by `env`.
pub fn shared_path(env: &str, rel: &str) -> PathBuf {
    match std::env::var_os(env) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared")
            .join(rel),
    }
}

/// Prints the standard skip line.
pub fn skip(what: &str, path: &std::path::Path) {
    kiln_tensor::testing::skip(
        kiln_tensor::testing::Need::Data,
        what,
        &format!("{} is absent", path.display()),
    );
}

/// The unpacked JPEG tree; removed on drop when it is private to this process.
pub struct JpegTree {
    /// Folder holding `train/` and `test/`.
    pub root: PathBuf,
    remove: Option<PathBuf>,
}

impl Drop for JpegTree {
    fn drop(&mut self) {
        if let Some(dir) = &self.remove {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Unpacks the JPEG tree `cifar10-jpg.tar.gz` (60,000 small files).
///
/// Creating that many files on a busy disk can take half a minute, against a second or two in
/// memory, so where `/dev/shm` (tmpfs) exists the tree goes there, private to this process and
/// removed afterwards. Elsewhere it is unpacked once into a cache folder of the temporary
/// directory keyed by the archive's size (unpacked under a temporary name, then renamed, so
/// concurrent test processes never see half a tree) and kept for later runs.
pub fn unpacked_jpeg_tree(tarball: &std::path::Path) -> JpegTree {
    let size = std::fs::metadata(tarball).unwrap().len();
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        let dir = shm.join(format!("kiln-jpg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        if kiln_data::download::unpack_tar_gz(tarball, &dir).is_ok() {
            return JpegTree {
                root: tree_root(&dir),
                remove: Some(dir),
            };
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    let cache = std::env::temp_dir().join(format!("kiln-jpg-{size}"));
    if cache.join("train").is_dir() && cache.join("test").is_dir() {
        return JpegTree {
            root: cache,
            remove: None,
        };
    }
    let tmp = std::env::temp_dir().join(format!("kiln-jpg-{size}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    kiln_data::download::unpack_tar_gz(tarball, &tmp).unwrap();
    if std::fs::rename(tree_root(&tmp), &cache).is_err() {
        // Another process won the race; use its copy.
        assert!(cache.join("train").is_dir());
    }
    let _ = std::fs::remove_dir_all(&tmp);
    JpegTree {
        root: cache,
        remove: None,
    }
}

/// The folder holding `train/`: `dir` itself or its one sub-folder that does.
fn tree_root(dir: &std::path::Path) -> PathBuf {
    if dir.join("train").is_dir() {
        return dir.to_path_buf();
    }
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("train").is_dir())
        .expect("the JPEG archive holds train/")
}
