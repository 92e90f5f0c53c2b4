//! Writes sample pictures of every renderer into /tmp/kiln-render-samples (or the folder
//! given as the first argument), for people to look at:
//! `cargo run -p kiln-viz --release --example render_samples`.
//!
//! Images come from the CIFAR-10 test batch when it is found (`KILN_CIFAR_DIR`, else
//! `../shared/data/cifar-10-batches-bin` beside the workspace); otherwise synthetic ones.

use std::path::{Path, PathBuf};

use kiln_viz::{
    CellFormat, RgbImage, chw_to_rgb, feature_map_grid, filter_grid, heatmap, image_grid,
    line_chart, training_curves,
};

/// The CIFAR-10 class names, in label order.
const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/kiln-render-samples"));
    std::fs::create_dir_all(&out)?;

    // Training curves: the calibration run of shared/data/README.md, plus made-up train values.
    let test_acc = [47.2, 55.3, 58.5, 60.8, 64.4, 65.9, 67.0, 68.4, 69.0, 68.7];
    let train_acc = [38.0, 50.1, 56.0, 60.2, 63.5, 66.0, 68.1, 69.9, 71.2, 72.5];
    let test_loss = [1.45, 1.25, 1.17, 1.10, 1.01, 0.97, 0.94, 0.90, 0.89, 0.90];
    let train_loss = [1.70, 1.38, 1.23, 1.12, 1.04, 0.97, 0.91, 0.86, 0.82, 0.78];
    let per_epoch = |v: &[f64], s: f64| -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .map(|(i, &y)| ((i + 1) as f64, y * s))
            .collect()
    };
    let loss = [
        ("train", per_epoch(&train_loss, 1.0)),
        ("test", per_epoch(&test_loss, 1.0)),
    ];
    let acc = [
        ("train", per_epoch(&train_acc, 0.01)),
        ("test", per_epoch(&test_acc, 0.01)),
    ];
    training_curves(out.join("curves.png"), "ConfigNet on CIFAR-10", &loss, &acc)?;
    let steps: Vec<(f64, f64)> = (0..400)
        .map(|i| {
            (
                i as f64 * 0.025,
                2.3 * (-(i as f64) / 120.0).exp() + 0.6 + 0.05 * (i as f64).sin(),
            )
        })
        .collect();
    line_chart(
        out.join("line.png"),
        "loss per step",
        "epoch",
        "loss",
        &[("train", steps)],
    )?;

    // Confusion matrix, counts and row-normalised; class "frog" never predicted.
    let counts = confusion();
    heatmap(
        out.join("confusion.png"),
        "confusion matrix (test, counts)",
        &counts,
        &CLASSES,
        &CLASSES,
        CellFormat::Integer,
    )?;
    let normalised: Vec<Vec<Option<f64>>> = counts
        .iter()
        .map(|r| {
            let s: f64 = r.iter().sum();
            r.iter().map(|&c| (s > 0.0).then(|| c / s)).collect()
        })
        .collect();
    heatmap(
        out.join("confusion-recall.png"),
        "confusion matrix (row-normalised = recall)",
        &normalised,
        &CLASSES,
        &CLASSES,
        CellFormat::Fixed(2),
    )?;

    // Small matrix with a class never present (undefined row) and one never predicted.
    let small = ["cat", "dog", "frog", "ship"];
    let rows: Vec<Vec<Option<f64>>> = vec![
        vec![Some(0.5), Some(0.25), Some(0.0), Some(0.25)],
        vec![Some(1.0 / 3.0), Some(2.0 / 3.0), Some(0.0), Some(0.0)],
        vec![Some(0.5), Some(0.5), Some(0.0), Some(0.0)],
        vec![None, None, None, None],
    ];
    heatmap(
        out.join("confusion-na.png"),
        "recall (ship never present)",
        &rows,
        &small,
        &small,
        CellFormat::Fixed(2),
    )?;
    // Long names turn the column labels vertical.
    let long: Vec<String> = CLASSES.iter().map(|c| format!("{c} (class)")).collect();
    let twelve: Vec<Vec<f64>> = (0..10)
        .map(|i| {
            (0..10)
                .map(|j| if i == j { 950.0 } else { ((i * j) % 7) as f64 })
                .collect()
        })
        .collect();
    heatmap(
        out.join("confusion-long-names.png"),
        "long class names",
        &twelve,
        &long,
        &long,
        CellFormat::Integer,
    )?;

    // Predictions grid.
    let (images, labels) = cifar_or_synthetic(16);
    let preds: Vec<usize> = labels
        .iter()
        .enumerate()
        .map(|(i, &l)| if i % 3 == 2 { (l + 3) % 10 } else { l })
        .collect();
    let captions: Vec<String> = labels
        .iter()
        .zip(&preds)
        .map(|(&l, &p)| format!("truth: {} / pred: {}", CLASSES[l], CLASSES[p]))
        .collect();
    let wrong: Vec<bool> = labels.iter().zip(&preds).map(|(l, p)| l != p).collect();
    image_grid(
        out.join("predictions.png"),
        "test images and predictions",
        &images,
        &captions,
        &wrong,
        8,
        4,
    )?;

    // Filters: 48 synthetic oriented 5×5 RGB filters, as a first conv layer learns.
    let filters: Vec<(usize, usize, usize, Vec<f32>)> =
        (0..48).map(|k| (3, 5, 5, gabor(k))).collect();
    filter_grid(
        out.join("filters.png"),
        "conv1 filters (48 × 3×5×5)",
        &filters,
        12,
        10,
    )?;
    let grey: Vec<(usize, usize, usize, Vec<f32>)> = (0..16)
        .map(|k| {
            (
                8,
                3,
                3,
                (0..72).map(|i| ((i * (k + 3)) % 11) as f32 - 5.0).collect(),
            )
        })
        .collect();
    filter_grid(
        out.join("filters-grey.png"),
        "conv2 filters (mean over 8 input channels)",
        &grey,
        8,
        12,
    )?;

    // Feature maps: the first image convolved with 16 of the filters.
    let maps: Vec<(usize, usize, Vec<f32>)> = filters
        .iter()
        .take(16)
        .map(|f| (32, 32, convolve(&images[0], &f.3)))
        .collect();
    feature_map_grid(
        out.join("feature-maps.png"),
        "conv1 activations of the first test image",
        &maps,
        8,
    )?;

    println!("wrote samples into {}", out.display());
    Ok(())
}

/// A plausible CIFAR-10 confusion matrix (1,000 test images a class), frog never predicted.
fn confusion() -> Vec<Vec<f64>> {
    let diag = [
        712.0, 801.0, 553.0, 470.0, 640.0, 586.0, 0.0, 733.0, 820.0, 760.0,
    ];
    (0..10)
        .map(|t| {
            let rest = 1000.0 - diag[t];
            let mut row: Vec<f64> = (0..10)
                .map(|p| {
                    if p == t || p == 6 {
                        0.0
                    } else {
                        ((t * 7 + p * 3) % 9 + 1) as f64
                    }
                })
                .collect();
            let s: f64 = row.iter().sum();
            for v in &mut row {
                *v = (*v / s * rest).round();
            }
            row[t] = diag[t];
            row
        })
        .collect()
}

fn cifar_dir() -> PathBuf {
    std::env::var_os("KILN_CIFAR_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cifar-10-batches-bin")
        })
}

/// The first `n` test images with labels, or synthetic ones when the data is absent.
fn cifar_or_synthetic(n: usize) -> (Vec<RgbImage>, Vec<usize>) {
    let path = cifar_dir().join("test_batch.bin");
    if let Ok(bytes) = std::fs::read(&path) {
        let recs: Vec<&[u8]> = bytes.chunks_exact(3073).take(n).collect();
        if recs.len() == n {
            let imgs = recs
                .iter()
                .filter_map(|r| chw_to_rgb(3, 32, 32, &r[1..]).ok())
                .collect();
            return (imgs, recs.iter().map(|r| r[0] as usize % 10).collect());
        }
    }
    eprintln!("{} is absent: using synthetic images", path.display());
    let imgs = (0..n)
        .map(|k| {
            RgbImage::from_fn(32, 32, |x, y| {
                image::Rgb([(x * 8) as u8, (y * 8) as u8, (k * 16) as u8])
            })
        })
        .collect();
    (imgs, (0..n).map(|k| k % 10).collect())
}

/// An oriented 5×5 colour filter.
fn gabor(k: usize) -> Vec<f32> {
    let theta = k as f32 * 0.41;
    let freq = 0.6 + (k % 4) as f32 * 0.25;
    let mut w = Vec::with_capacity(75);
    for c in 0..3 {
        let tint = [1.0, 0.6 - (k % 3) as f32 * 0.5, -0.4 + (k % 5) as f32 * 0.3][c];
        for y in 0..5 {
            for x in 0..5 {
                let (dx, dy) = (x as f32 - 2.0, y as f32 - 2.0);
                let u = dx * theta.cos() + dy * theta.sin();
                let env = (-(dx * dx + dy * dy) / 6.0).exp();
                w.push(tint * env * (freq * u).cos());
            }
        }
    }
    w
}

/// `same`-padded correlation of an RGB image (scaled to [0, 1]) with a 3×5×5 filter.
fn convolve(img: &RgbImage, f: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; 32 * 32];
    for y in 0..32i32 {
        for x in 0..32i32 {
            let mut s = 0.0;
            for c in 0..3 {
                for ky in 0..5i32 {
                    for kx in 0..5i32 {
                        let (ix, iy) = (x + kx - 2, y + ky - 2);
                        if (0..32).contains(&ix) && (0..32).contains(&iy) {
                            let p = img.get_pixel(ix as u32, iy as u32).0[c] as f32 / 255.0;
                            s += p * f[c * 25 + (ky * 5 + kx) as usize];
                        }
                    }
                }
            }
            out[(y * 32 + x) as usize] = s.max(0.0);
        }
    }
    out
}
