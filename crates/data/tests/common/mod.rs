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
