//! `kiln eval` on weights PyTorch trained and saved with `torch.save(model.state_dict(), path)`:
//! Kiln's test accuracy and loss on real CIFAR-10 equal PyTorch's own (recorded beside the
//! weights by `scripts/fixtures/train_torch_confignet.py`).

mod common;

use std::path::PathBuf;

use common::{kiln, text};
use kiln_tensor::testing::{Need, skip};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The real CIFAR-10 folder: `KILN_DATA`, else `shared/data` beside the workspace.
fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("KILN_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    if dir.join("cifar-10-batches-bin/test_batch.bin").exists() {
        Some(dir)
    } else {
        skip(
            Need::Data,
            "kiln eval of a torch.save ConfigNet against PyTorch's accuracy and loss",
            &format!(
                "{} has no CIFAR-10 binary files (set KILN_DATA)",
                dir.display()
            ),
        );
        None
    }
}

#[test]
fn kiln_eval_of_a_torch_save_file_matches_pytorch() {
    let Some(data) = data_dir() else { return };
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("confignet_8_16_32.json")).unwrap())
            .unwrap();
    let weights = fixture(reference["weights"].as_str().unwrap());
    let out = tempfile::tempdir().unwrap();
    let o = kiln(
        out.path(),
        &[
            "--data",
            data.to_str().unwrap(),
            "--out",
            "runs",
            "eval",
            "--weights",
            weights.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let eval: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("runs/eval/eval.json")).unwrap(),
    )
    .unwrap();
    let n = reference["test_images"].as_u64().unwrap() as f64;
    let (acc, loss) = (
        eval["accuracy"].as_f64().unwrap(),
        eval["loss"].as_f64().unwrap(),
    );
    let (torch_acc, torch_loss) = (
        reference["test_accuracy"].as_f64().unwrap(),
        reference["test_loss"].as_f64().unwrap(),
    );
    let rel = (loss - torch_loss).abs() / torch_loss.abs();
    eprintln!(
        "kiln: accuracy {acc}, loss {loss}; PyTorch: accuracy {torch_acc}, loss {torch_loss} ({rel:.1e} relative)"
    );
    let images_apart = ((acc - torch_acc) * n).abs().round();
    assert!(
        images_apart <= 1.0,
        "accuracy {acc} vs PyTorch's {torch_acc}: {images_apart} images apart"
    );
    assert!(
        rel <= 1e-4,
        "loss {loss} vs PyTorch's {torch_loss}: {rel:e} relative"
    );
    assert!(
        text(&o).contains(&format!("on {n} images")),
        "the whole test set was used: {}",
        text(&o)
    );
}

#[test]
fn kiln_eval_notes_a_stripped_data_parallel_prefix() {
    // PyTorch's DataParallel state dict (tiny ConfigNet), on the built-in synthetic data
    let weights = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../nn/tests/fixtures/torch/dataparallel.pt");
    let out = tempfile::tempdir().unwrap();
    let o = kiln(
        out.path(),
        &[
            "--test-size",
            "20",
            "eval",
            "--weights",
            weights.to_str().unwrap(),
        ],
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("note: ") && l.contains("`module.`")),
        "{stderr}"
    );
}

#[test]
fn kiln_eval_refuses_a_legacy_torch_file_with_the_fix() {
    let weights =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../nn/tests/fixtures/torch/legacy.pt");
    let out = tempfile::tempdir().unwrap();
    let o = kiln(
        out.path(),
        &["eval", "--weights", weights.to_str().unwrap()],
    );
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("legacy format"), "{t}");
    assert!(t.contains("torch.save(model.state_dict(), path)"), "{t}");
}
