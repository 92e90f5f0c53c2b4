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
    println!("SKIPPED: {what} because {} is absent", path.display());
}

/// Unpacks the JPEG tree `cifar10-jpg.tar.gz` once into a cache folder keyed by its size
/// (shared by test processes: unpacked into a temporary name, then renamed) and returns it.
pub fn unpacked_jpeg_tree(tarball: &std::path::Path) -> PathBuf {
    let size = std::fs::metadata(tarball).unwrap().len();
    let cache = std::env::temp_dir().join(format!("kiln-jpg-{size}"));
    if cache.join("train").is_dir() && cache.join("test").is_dir() {
        return cache;
    }
    let tmp = std::env::temp_dir().join(format!("kiln-jpg-{size}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    kiln_data::download::unpack_tar_gz(tarball, &tmp).unwrap();
    // The archive may hold train/ and test/ at its top or inside one folder.
    let root = if tmp.join("train").is_dir() {
        tmp.clone()
    } else {
        std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.join("train").is_dir())
            .expect("the JPEG archive holds train/")
    };
    if std::fs::rename(&root, &cache).is_err() {
        // Another process won the race; use its copy.
        assert!(cache.join("train").is_dir());
    }
    let _ = std::fs::remove_dir_all(&tmp);
    cache
}
