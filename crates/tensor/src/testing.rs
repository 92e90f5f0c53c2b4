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
/// Prints a SKIPPED line naming `what` and returns `None` when it is absent.
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
    eprintln!(
        "SKIPPED: {what}, because the PyTorch parity fixture is absent (looked in {candidates:?}; \
         set KILN_PARITY_FIXTURE)"
    );
    None
}
