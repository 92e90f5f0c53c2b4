//! Helpers for parity tests, shared by every crate's tests: the relative error used for all
//! comparisons, and the location of the PyTorch fixture.

use std::path::PathBuf;

/// Relative error of `a` against the reference `b`: `‖a − b‖₂ / ‖b‖₂` (the denominator
/// floored at 1e-12). Panics when the lengths differ.
pub fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "compared slices differ in length");
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum::<f64>().sqrt();
    num / den.max(1e-12)
}

/// The PyTorch parity fixture folder: `$KILN_PARITY_FIXTURE`, else `shared/fixtures/pytorch-parity`
/// beside the workspace (found from the build-time path, then from the current directory).
/// Reports a skip of `what` (see [`skip`]) and returns `None` when it is absent.
pub fn parity_fixture(what: &str) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("KILN_PARITY_FIXTURE") {
        candidates.push(PathBuf::from(dir));
    }
    candidates.push(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/pytorch-parity"),
    );
    for base in ["shared", "../shared", "../../shared", "../../../shared"] {
        candidates.push(PathBuf::from(base).join("fixtures/pytorch-parity"));
    }
    for dir in &candidates {
        if dir.join("meta.json").exists() {
            return Some(dir.clone());
        }
    }
    skip(
        Need::Fixtures,
        what,
        &format!(
            "the PyTorch parity fixture is absent (looked in {candidates:?}; set KILN_PARITY_FIXTURE)"
        ),
    );
    None
}

/// What a check may need that a machine can lack. `KILN_REQUIRE` (a comma-separated list of
/// [`Need::name`]s, or `all`) says which ones the caller provides: there a skip is a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Real CIFAR-10 (`KILN_DATA` or `../shared/data`).
    Data,
    /// PyTorch reference values (`../shared/fixtures`).
    Fixtures,
    /// A `python3` (and, for some checks, packages it installs into a throwaway venv).
    Python,
    /// A C++20 compiler (the CUDA kernels' CPU emulator).
    Cxx,
    /// An NVIDIA GPU with CUDA 13's libraries.
    Gpu,
    /// Root rights (mounting a small file system).
    Root,
    /// CUDA 13's NVRTC library (compiling the kernels; no GPU needed).
    Nvrtc,
}

impl Need {
    /// The name `KILN_REQUIRE` uses.
    pub fn name(self) -> &'static str {
        match self {
            Need::Data => "data",
            Need::Fixtures => "fixtures",
            Need::Python => "python",
            Need::Cxx => "cxx",
            Need::Gpu => "gpu",
            Need::Root => "root",
            Need::Nvrtc => "nvrtc",
        }
    }

    /// Whether `KILN_REQUIRE` lists this need.
    pub fn required(self) -> bool {
        std::env::var("KILN_REQUIRE").is_ok_and(|v| {
            v.split(',').map(str::trim).any(|n| {
                (n == "all" && !matches!(self, Need::Gpu | Need::Root | Need::Nvrtc))
                    || n == self.name()
            })
        })
    }
}

/// Reports that the check `what` did not run because `why`: prints `SKIPPED (need): what:
/// why` (shown with `--nocapture`) and appends the same line to the file named by
/// `KILN_SKIP_LOG`, so a test run can say how many checks it skipped and why. Panics instead
/// when `KILN_REQUIRE` lists `need`: whoever set it provides what the check needs, so the skip
/// would hide a failure.
pub fn skip(need: Need, what: &str, why: &str) {
    let line = format!("SKIPPED ({}): {what}: {why}", need.name());
    if need.required() {
        panic!("{line} -- but KILN_REQUIRE lists `{}`", need.name());
    }
    eprintln!("{line}");
    if let Some(log) = std::env::var_os("KILN_SKIP_LOG") {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}
