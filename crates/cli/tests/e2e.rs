//! End-to-end tests of the built `kiln` binary on a small synthetic set.

mod common;

use common::{kiln, text};
use std::path::{Path, PathBuf};

use std::sync::OnceLock;

/// Decodes a PNG and checks its size and that it is not blank.
fn check_png(path: &Path, min_w: u32, min_h: u32) -> (u32, u32) {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    let (w, h) = img.dimensions();
    assert!(w >= min_w && h >= min_h, "{}: {w}x{h}", path.display());
    let mut colours = std::collections::HashSet::new();
    for p in img.pixels() {
        colours.insert(p.0);
        if colours.len() > 8 {
            break;
        }
    }
    assert!(colours.len() > 8, "{} looks blank", path.display());
    (w, h)
}

struct Trained {
    _dir: tempfile::TempDir,
    root: PathBuf,
    weights: PathBuf,
}

/// One small training run shared by the tests.
fn trained() -> &'static Trained {
    static T: OnceLock<Trained> = OnceLock::new();
    T.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let o = kiln(
            &root,
            &[
                "train",
                "--train-size",
                "600",
                "--test-size",
                "200",
                "--epochs",
                "1",
                "--c1",
                "8",
                "--c2",
                "16",
                "--l1",
                "32",
                "--batch-size",
                "50",
                "--name",
                "run",
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
        let t = text(&o);
        assert!(
            t.contains("SYNTHETIC"),
            "the user is told the data is synthetic: {t}"
        );
        let weights = root.join("runs/run/best.safetensors");
        Trained {
            _dir: dir,
            root,
            weights,
        }
    })
}

#[test]
fn train_writes_weights_history_and_a_plot() {
    let t = trained();
    let run = t.root.join("runs/run");
    for f in [
        "best.safetensors",
        "last.safetensors",
        "checkpoint.safetensors",
        "history.csv",
        "history.jsonl",
        "run.json",
    ] {
        assert!(run.join(f).exists(), "{f}");
    }
    let csv = std::fs::read_to_string(run.join("history.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "header and one epoch: {csv}");
    check_png(&run.join("curves.png"), 600, 300);
}

#[test]
fn eval_prints_tables_and_draws_three_heatmaps() {
    let t = trained();
    let w = t.weights.to_str().unwrap();
    let o = kiln(
        &t.root,
        &["eval", "--weights", w, "--test-size", "200", "--out", "ev"],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("accuracy") && out.contains("precision") && out.contains("recall"),
        "{out}"
    );
    assert!(out.contains("confusion matrix"), "{out}");
    for f in [
        "confusion_counts.png",
        "confusion_recall.png",
        "confusion_precision.png",
    ] {
        check_png(&t.root.join("ev/eval").join(f), 400, 400);
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(t.root.join("ev/eval/eval.json")).unwrap())
            .unwrap();
    assert!(json["accuracy"].as_f64().unwrap() >= 0.0);
    assert_eq!(json["report"]["classes"].as_array().unwrap().len(), 10);
}

#[test]
fn samples_predict_filters_and_features_draw_pictures() {
    let t = trained();
    let w = t.weights.to_str().unwrap();
    let o = kiln(
        &t.root,
        &[
            "samples",
            "--weights",
            w,
            "--n",
            "8",
            "--test-size",
            "50",
            "--out",
            "pics",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.starts_with('[') && l.contains(" | "))
            .count(),
        8
    );
    check_png(&t.root.join("pics/samples.png"), 300, 200);

    // predict on a PNG written from a test image
    let img_path = t.root.join("pics/one.png");
    let data = kiln_data::synthetic(1, 5);
    let rgb = kiln_viz::chw_to_rgb(3, 32, 32, data.image(0)).unwrap();
    rgb.save(&img_path).unwrap();
    let o = kiln(
        &t.root,
        &["predict", "--weights", w, img_path.to_str().unwrap()],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("top 3") && out.contains('%'), "{out}");

    let o = kiln(
        &t.root,
        &[
            "filters",
            "--weights",
            w,
            "--layer",
            "conv1",
            "--out",
            "pics",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    check_png(&t.root.join("pics/filters_conv1.png"), 100, 50);
    let o = kiln(
        &t.root,
        &[
            "filters",
            "--weights",
            w,
            "--layer",
            "conv3",
            "--channel",
            "2",
            "--out",
            "pics",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    check_png(&t.root.join("pics/filters_conv3_ch2.png"), 100, 50);

    let o = kiln(
        &t.root,
        &[
            "features",
            "--weights",
            w,
            img_path.to_str().unwrap(),
            "--out",
            "pics",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    for l in ["conv1", "conv2", "conv3", "conv4"] {
        check_png(&t.root.join(format!("pics/features_{l}.png")), 200, 100);
    }
}

/// Fails with exit code != 0, one clear `error:` line naming `needle`, and no panic; returns
/// the output.
fn fails_clearly(dir: &Path, args: &[&str], needle: &str) -> String {
    let o = kiln(dir, args);
    let out = text(&o);
    assert!(!o.status.success(), "{args:?} should fail: {out}");
    assert!(
        !out.contains("panicked") && !out.contains("backtrace") && !out.contains("RUST_BACKTRACE"),
        "{out}"
    );
    assert!(
        out.contains(needle),
        "{args:?}: expected {needle:?} in: {out}"
    );
    let errors = out.lines().filter(|l| l.starts_with("error")).count();
    assert_eq!(errors, 1, "one error line: {out}");
    out
}

/// The one `hint:` line of an output.
fn hint_line(out: &str) -> &str {
    let hints: Vec<&str> = out.lines().filter(|l| l.starts_with("hint: ")).collect();
    assert_eq!(hints.len(), 1, "one hint line: {out}");
    hints[0]
}

#[test]
fn bad_input_ends_in_one_clear_error() {
    let t = trained();
    let w = t.weights.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fails_clearly(d, &["train", "--no-such-flag"], "--no-such-flag");
    fails_clearly(
        d,
        &["eval", "--weights", "missing.safetensors"],
        "missing.safetensors",
    );
    fails_clearly(
        d,
        &["eval", "--weights", w, "--c1", "12"],
        "names its own network",
    );
    std::fs::write(d.join("broken.png"), b"not a picture").unwrap();
    fails_clearly(d, &["predict", "--weights", w, "broken.png"], "broken.png");
    // A missing image the user named: plainly "no such file", no hint about datasets.
    let out = fails_clearly(
        d,
        &["predict", "--weights", w, "missing.png"],
        "error: no such file: missing.png",
    );
    assert!(!out.contains("hint") && !out.contains("download"), "{out}");
    std::fs::create_dir_all(d.join("junkdata/whatever")).unwrap();
    std::fs::write(d.join("junkdata/whatever/readme.txt"), b"hi").unwrap();
    let out = fails_clearly(
        d,
        &["eval", "--weights", w, "--data", "junkdata"],
        "junkdata holds no dataset in a known layout",
    );
    let hint = hint_line(&out);
    assert!(
        hint.contains("--data PATH (or KILN_DATA)")
            && hint.contains("`kiln data download --dir data`"),
        "{out}"
    );
    // A data folder that does not exist: the fact from the library, the commands in the hint.
    let out = fails_clearly(
        d,
        &["eval", "--weights", w, "--data", "nodata"],
        "error: data folder nodata does not exist",
    );
    let hint = hint_line(&out);
    assert!(
        hint.contains("`kiln data download --dir nodata`") && hint.contains("`--data nodata`"),
        "{out}"
    );
    fails_clearly(
        d,
        &[
            "train",
            "--device",
            "cuda",
            "--epochs",
            "1",
            "--train-size",
            "10",
        ],
        "cuda",
    );
    std::fs::write(d.join("junk.safetensors"), b"garbage").unwrap();
    fails_clearly(
        d,
        &["eval", "--weights", "junk.safetensors"],
        "junk.safetensors",
    );
}

/// A small image folder `root/{train,test}/c<k>/<k>.png`, one image per class and split.
fn image_tree(root: &Path) {
    for split in ["train", "test"] {
        for k in 0..10u8 {
            let v = k * 20 + (split == "test") as u8;
            let img =
                image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([v, x as u8 * 8, y as u8 * 8]));
            let path = root.join(split).join(format!("c{k}/{k}.png"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            img.save(&path).unwrap();
        }
    }
}

#[test]
fn data_verify_warns_writes_and_catches_a_changed_file() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    image_tree(&d.join("imgs"));
    // No list: the check passes with one warning and the hint to record checksums.
    let o = kiln(d, &["data", "verify", "--data", "imgs"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("10 train and 10 test images"), "{out}");
    assert_eq!(out.matches("warning: ").count(), 1, "{out}");
    assert!(
        out.contains("warning: imgs has no SHA256SUMS or MD5SUMS"),
        "{out}"
    );
    assert!(
        hint_line(&out).contains("`kiln data verify --write --data imgs`"),
        "{out}"
    );
    // Training reads both splits, and still warns once.
    let o = kiln(
        d,
        &[
            "train",
            "--data",
            "imgs",
            "--epochs",
            "1",
            "--c1",
            "4",
            "--c2",
            "4",
            "--l1",
            "8",
            "--batch-size",
            "2",
            "--name",
            "t",
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_eq!(out.matches("warning: ").count(), 1, "{out}");

    // --write records the files; verifying then matches them all, without a warning.
    let o = kiln(d, &["data", "verify", "--write", "--data", "imgs"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("wrote imgs/SHA256SUMS (20 files)"), "{out}");
    let list = std::fs::read_to_string(d.join("imgs/SHA256SUMS")).unwrap();
    assert!(list.contains("  train/c1/1.png\n"), "{list}");
    let o = kiln(d, &["data", "verify", "--data", "imgs"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("checksums: 20 file(s) match imgs/SHA256SUMS"),
        "{out}"
    );
    assert!(!out.contains("warning"), "{out}");

    // One changed byte: an error naming the file, and the hint for both cases.
    let png = d.join("imgs/train/c1/1.png");
    let mut bytes = std::fs::read(&png).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&png, bytes).unwrap();
    let out = fails_clearly(
        d,
        &["data", "verify", "--data", "imgs"],
        "error: imgs/train/c1/1.png has SHA-256",
    );
    let hint = hint_line(&out);
    assert!(
        hint.contains("`kiln data verify --write --data imgs`"),
        "{out}"
    );
    assert!(hint.contains("kiln data download --dir NEW_DIR"), "{out}");
    // The same failure stops training before it starts.
    fails_clearly(
        d,
        &["train", "--data", "imgs", "--epochs", "1"],
        "imgs/train/c1/1.png has SHA-256",
    );
    fails_clearly(d, &["data", "verify"], "pass --data PATH or set KILN_DATA");
}
