//! Beyond the one network: a 3-class image folder at 48x48 trained from a model file, whose
//! weights then evaluate, predict and export with their own class names and size; and the
//! built-in ResNet by name.

mod common;

use common::{kiln, text};
use std::path::Path;

/// `root/{train,test}/{bird,cat,dog}/*.png`, 64x64 pictures a small net can tell apart: each
/// class its own colour and stripe direction, with noise.
fn three_classes(root: &Path) {
    let mut s = 7u32;
    let mut noise = move || {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (s >> 24) as u8 / 4
    };
    for (split, n) in [("train", 30), ("test", 10)] {
        for (k, class) in ["bird", "cat", "dog"].iter().enumerate() {
            for i in 0..n {
                let img = image::RgbImage::from_fn(64, 64, |x, y| {
                    let stripe = match k {
                        0 => (x / 8) % 2,
                        1 => (y / 8) % 2,
                        _ => ((x + y) / 8) % 2,
                    } as u8;
                    let base = [[200, 60, 60], [60, 200, 60], [60, 60, 200]][k];
                    let mut v = |c: u8| c / 2 + stripe * 100 + noise();
                    image::Rgb([v(base[0]), v(base[1]), v(base[2])])
                });
                let path = root.join(split).join(class).join(format!("{i:03}.png"));
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                img.save(&path).unwrap();
            }
        }
    }
}

const NET: &str = r#"
[[layer]]
type = "conv2d"
out_channels = 8
kernel_size = 3
padding = 1
[[layer]]
type = "batchnorm2d"
[[layer]]
type = "gelu"
[[layer]]
type = "residual"
body = [ { type = "conv2d", out_channels = 8, kernel_size = 3, padding = 1, bias = false },
         { type = "batchnorm2d" }, { type = "relu" } ]
[[layer]]
type = "maxpool2d"
kernel_size = 4
[[layer]]
type = "adaptiveavgpool2d"
[[layer]]
type = "flatten"
[[layer]]
type = "linear"
"#;

#[test]
fn a_three_class_folder_at_48_pixels_trains_from_a_model_file_and_keeps_its_names() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    three_classes(&d.join("pets"));
    std::fs::write(d.join("net.toml"), NET).unwrap();
    let o = kiln(
        d,
        &[
            "--data",
            "pets",
            "--image-size",
            "48",
            "train",
            "--model",
            "net.toml",
            "--epochs",
            "4",
            "--batch-size",
            "16",
            "--lr",
            "0.01",
            "--name",
            "pets",
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("training net (8 layers)"), "{out}");
    let w = d.join("runs/pets/best.safetensors");
    let meta = kiln_nn::state_dict::read_weights(&w).unwrap().meta.unwrap();
    assert_eq!(meta.class_names, ["bird", "cat", "dog"]);
    assert_eq!(meta.input, [3, 48, 48]);
    let w = w.to_str().unwrap();

    // the image folder is read at the network's own size (no --image-size needed)
    let o = kiln(d, &["--data", "pets", "eval", "--weights", w]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for name in ["bird", "cat", "dog"] {
        assert!(out.contains(name), "eval names its classes: {out}");
    }
    assert!(!out.contains("airplane"), "{out}");
    let acc: f64 = out
        .split("accuracy ")
        .nth(1)
        .and_then(|s| s.split('%').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap();
    assert!(acc > 60.0, "it learned something: {acc}% ({out})");

    // the weights know their size: eval at another size is refused
    let o = kiln(
        d,
        &[
            "--data",
            "pets",
            "--image-size",
            "40",
            "eval",
            "--weights",
            w,
        ],
    );
    let out = text(&o);
    assert!(
        !o.status.success() && out.contains("--image-size 48"),
        "{out}"
    );

    // predict needs no data: names and size come from the weights
    let img = d.join("pets/test/cat/000.png");
    let o = kiln(d, &["predict", "--weights", w, img.to_str().unwrap()]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        ["bird", "cat", "dog"]
            .iter()
            .any(|n| out.contains(&format!(": {n}"))),
        "{out}"
    );
    let o = kiln(d, &["filters", "--weights", w, "--layer", "3.body.0"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = kiln(d, &["features", "--weights", w, img.to_str().unwrap()]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(d.join("runs/features_0.png").exists(), "{out}");
}

#[test]
fn the_builtin_resnet_trains_by_name_and_a_bad_model_name_is_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = kiln(
        d,
        &[
            "--train-size",
            "200",
            "--test-size",
            "32",
            "train",
            "--model",
            "resnet9-half",
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--recipe",
            "modern",
            "--name",
            "r",
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("resnet9-half") && out.contains("one-cycle"),
        "{out}"
    );
    let o = kiln(d, &["train", "--model", "resnet50"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("neither a built-in network") && out.contains("resnet9"),
        "{out}"
    );
    let o = kiln(d, &["train", "--model", "resnet9", "--c1", "8"]);
    assert!(text(&o).contains("shape a ConfigNet"), "{}", text(&o));
}
