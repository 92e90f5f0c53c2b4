//! What the end-to-end tests share: running the built `kiln` binary.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `kiln args` in `dir`, without the user's `KILN_DATA`.
pub fn kiln(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .current_dir(dir)
        .args(args)
        .env_remove("KILN_DATA")
        .output()
        .expect("kiln runs")
}

/// Its stdout and stderr, together.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
