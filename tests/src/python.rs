//! Throwaway Python venvs for tests that check Kiln's files with Python's own readers
//! (TensorBoard, ONNX Runtime, ...).
//!
//! [`venv`] builds `target/py-venv-<hash of the packages>` once, with packages from PyPI, and
//! reuses it across test runs and processes. A venv is built under a temporary name and renamed
//! into place when complete, so a racing process either finds it whole or builds its own and
//! throws it away when the rename loses.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Serializes the builds of this process (tests run on threads).
static BUILD: Mutex<()> = Mutex::new(());

/// Names the file that marks a venv complete; it holds the venv's key.
const MARKER: &str = "kiln-venv.txt";

/// The python executable of a venv holding `packages` (pip requirement strings such as
/// `"tensorboard"` or `"onnx==1.17"`), creating the venv first if needed. The base interpreter
/// is `$KILN_PYTHON`, else `python3`. Pip's output is kept and shown only when it fails.
///
/// `Err` says why there is none (no python3, no venv module, no network, no such package):
/// pass it to `kiln_tensor::testing::skip(Need::Python, ..)`.
pub fn venv(packages: &[&str]) -> Result<PathBuf, String> {
    let base = std::env::var("KILN_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let mut sorted: Vec<&str> = packages.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let key = format!("{base}\n{}\n", sorted.join("\n"));
    let name = format!("py-venv-{:016x}", fnv1a(key.as_bytes()));
    let root = target_dir();
    let dir = root.join(&name);

    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if is_ready(&dir, &key) {
        return Ok(python_in(&dir));
    }
    std::fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    remove_stale(&root, &name);
    let started = Instant::now();
    let tmp = root.join(format!("{name}.tmp-{}-{}", std::process::id(), now_nanos()));
    let built = build(&base, &tmp, &sorted, &key);
    if let Err(why) = built {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(why);
    }
    if dir.exists() && !is_ready(&dir, &key) {
        // Broken (its base interpreter gone, say): move it aside, then delete it.
        let aside = root.join(format!("{name}.broken-{}", std::process::id()));
        if std::fs::rename(&dir, &aside).is_ok() {
            let _ = std::fs::remove_dir_all(&aside);
        }
    }
    if std::fs::rename(&tmp, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
        if !is_ready(&dir, &key) {
            return Err(format!("cannot move the new venv into {}", dir.display()));
        }
        // Another process finished first; use its venv.
    } else {
        eprintln!(
            "created Python venv {} ({}) in {:.1} s",
            dir.display(),
            sorted.join(" "),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(python_in(&dir))
}

/// Creates the venv in `dir`, installs `packages` and writes the marker.
fn build(base: &str, dir: &Path, packages: &[&str], key: &str) -> Result<(), String> {
    let out = run(Command::new(base).arg("--version"))
        .map_err(|e| format!("cannot run `{base}` ({e}); install Python 3 or set KILN_PYTHON"))?;
    check(&out, &format!("`{base} --version`"))?;
    let out = run(Command::new(base).args(["-m", "venv"]).arg(dir))
        .map_err(|e| format!("cannot run `{base} -m venv`: {e}"))?;
    check(
        &out,
        &format!("`{base} -m venv` (Debian and Ubuntu need the python3-venv package)"),
    )?;
    let python = python_in(dir);
    let out = run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
        ])
        .args(packages))
    .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    check(
        &out,
        &format!(
            "`pip install {}` (no network, or no such package?)",
            packages.join(" ")
        ),
    )?;
    std::fs::write(dir.join(MARKER), key).map_err(|e| format!("cannot write the marker: {e}"))
}

/// Whether `dir` is a complete venv for `key` whose python starts.
fn is_ready(dir: &Path, key: &str) -> bool {
    std::fs::read_to_string(dir.join(MARKER)).is_ok_and(|k| k == key)
        && run(Command::new(python_in(dir)).args(["-c", "pass"]))
            .is_ok_and(|out| out.status.success())
}

fn python_in(dir: &Path) -> PathBuf {
    if cfg!(windows) {
        dir.join("Scripts").join("python.exe")
    } else {
        dir.join("bin").join("python")
    }
}

fn run(cmd: &mut Command) -> std::io::Result<Output> {
    cmd.stdin(std::process::Stdio::null()).output()
}

/// `Err` naming `what` and the end of its output when it failed.
fn check(out: &Output, what: &str) -> Result<(), String> {
    if out.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n");
    Err(format!("{what} failed ({}):\n{tail}", out.status))
}

/// Deletes temporary venvs named after `name` that a killed process left over an hour ago.
fn remove_stale(root: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let prefix = format!("{name}.tmp-");
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(3600));
        if old && entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The workspace's `target/`: the test binary lives in `target/<profile>/deps/`.
fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let deps = exe.parent()?;
            (deps.file_name()? == "deps").then(|| deps.parent()?.parent().map(Path::to_path_buf))?
        })
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// 64-bit FNV-1a: a stable name for a package list.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_its_reference_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn the_target_folder_holds_this_test_binary() {
        let exe = std::env::current_exe().unwrap();
        assert!(
            exe.starts_with(target_dir()),
            "{exe:?} vs {:?}",
            target_dir()
        );
        assert_ne!(exe.parent().unwrap(), target_dir());
    }
}
