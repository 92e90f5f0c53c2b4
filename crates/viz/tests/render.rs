//! Each renderer writes a decodable, non-blank PNG of the expected size, with text.

use std::collections::HashSet;
use std::path::Path;

use kiln_viz::{
    CellFormat, ChartPanel, RgbImage, VizError, chw_to_rgb, feature_map_grid, filter_grid, heatmap,
    image_grid, line_chart, line_charts, training_curves,
};

fn decode(path: &Path) -> RgbImage {
    image::open(path).expect("decodable PNG").to_rgb8()
}

/// Number of distinct colours.
fn colours(img: &RgbImage) -> usize {
    img.pixels().map(|p| p.0).collect::<HashSet<_>>().len()
}

/// Pixels in the box that are dark grey/black (text ink), as opposed to white paper.
fn dark_pixels(img: &RgbImage, x0: u32, y0: u32, x1: u32, y1: u32) -> usize {
    let mut n = 0;
    for y in y0..y1.min(img.height()) {
        for x in x0..x1.min(img.width()) {
            let [r, g, b] = img.get_pixel(x, y).0;
            if r < 100 && g < 100 && b < 100 {
                n += 1;
            }
        }
    }
    n
}

fn epochs(v: &[f64]) -> Vec<(f64, f64)> {
    v.iter()
        .enumerate()
        .map(|(i, &y)| ((i + 1) as f64, y))
        .collect()
}

#[test]
fn training_curves_two_panels() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("curves.png");
    let loss = vec![
        ("train".to_string(), epochs(&[2.0, 1.5, 1.2, 1.0])),
        ("test".to_string(), epochs(&[1.8, 1.4, 1.3, 1.25])),
    ];
    let acc = vec![
        ("train".to_string(), epochs(&[0.3, 0.45, 0.55, 0.62])),
        ("test".to_string(), epochs(&[0.35, 0.47, 0.52, 0.55])),
    ];
    training_curves(&path, "ConfigNet on CIFAR-10", &loss, &acc).unwrap();
    let img = decode(&path);
    assert_eq!((img.width(), img.height()), (1120, 460));
    assert!(colours(&img) > 20);
    // Title text in the top strip, centred.
    assert!(dark_pixels(&img, 400, 0, 720, 44) > 100);
    // Both series colours appear in each panel.
    for (x0, x1) in [(0, 560), (560, 1120)] {
        let mut blue = 0;
        let mut orange = 0;
        for y in 0..img.height() {
            for x in x0..x1 {
                match img.get_pixel(x, y).0 {
                    [31, 100, 200] => blue += 1,
                    [235, 120, 20] => orange += 1,
                    _ => {}
                }
            }
        }
        assert!(blue > 50 && orange > 50, "{blue} {orange}");
    }
}

#[test]
fn single_chart_and_degenerate_series() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.png");
    let series = [("loss", vec![(1.0, 0.5)]), ("nan", vec![(1.0, f64::NAN)])];
    line_chart(&path, "one point", "epoch", "loss", &series).unwrap();
    let img = decode(&path);
    assert_eq!((img.width(), img.height()), (560, 460));
    assert!(colours(&img) > 10);

    let empty: [(&str, Vec<(f64, f64)>); 0] = [];
    let panel = ChartPanel {
        title: "empty",
        x_label: "x",
        y_label: "y",
        series: &empty,
    };
    line_charts(dir.path().join("empty.png"), "", &[panel]).unwrap();
    let none: [ChartPanel<'_, &str>; 0] = [];
    assert!(matches!(
        line_charts(dir.path().join("x.png"), "", &none),
        Err(VizError::InvalidInput(_))
    ));
}

#[test]
fn heatmap_counts_and_normalised() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["cat", "dog", "frog", "ship"];
    let counts = vec![
        vec![2.0, 1.0, 0.0, 1.0],
        vec![1.0, 2.0, 0.0, 0.0],
        vec![1.0, 1.0, 0.0, 0.0],
        vec![0.0, 0.0, 0.0, 0.0],
    ];
    let path = dir.path().join("counts.png");
    heatmap(
        &path,
        "confusion (counts)",
        &counts,
        &names,
        &names,
        CellFormat::Integer,
    )
    .unwrap();
    let img = decode(&path);
    assert!(img.width() > 300 && img.height() > 300);
    assert!(colours(&img) > 30);
    // The darkest scale colour marks the maximum cells.
    assert!(img.pixels().any(|p| p.0 == [8, 48, 107]));

    let row: Vec<Vec<Option<f64>>> = vec![
        vec![Some(0.5), Some(0.25), Some(0.0), Some(0.25)],
        vec![Some(1.0 / 3.0), Some(2.0 / 3.0), Some(0.0), Some(0.0)],
        vec![Some(0.5), Some(0.5), Some(0.0), Some(0.0)],
        vec![None, None, None, None],
    ];
    let path = dir.path().join("row.png");
    heatmap(&path, "recall", &row, &names, &names, CellFormat::Fixed(2)).unwrap();
    let img = decode(&path);
    // The undefined row is drawn in the grey "n/a" fill.
    assert!(img.pixels().filter(|p| p.0 == [222, 222, 222]).count() > 1000);

    let bad = vec![vec![1.0, 2.0], vec![3.0]];
    assert!(
        heatmap(
            dir.path().join("b.png"),
            "",
            &bad,
            &["a", "b"],
            &["a", "b"],
            CellFormat::Integer
        )
        .is_err()
    );
    assert!(
        heatmap(
            dir.path().join("b.png"),
            "",
            &counts,
            &["a"],
            &names,
            CellFormat::Integer
        )
        .is_err()
    );
}

#[test]
fn heatmap_with_long_names_turns_column_labels() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..12)
        .map(|i| format!("a rather long class name {i}"))
        .collect();
    let m: Vec<Vec<f64>> = (0..12)
        .map(|i| {
            (0..12)
                .map(|j| if i == j { 90.0 } else { (i * j % 7) as f64 })
                .collect()
        })
        .collect();
    let path = dir.path().join("long.png");
    heatmap(&path, "", &m, &names, &names, CellFormat::Integer).unwrap();
    let img = decode(&path);
    // Vertical labels make the picture taller than wide grid alone.
    assert!(img.height() > 12 * 48 + 150);
}

#[test]
fn image_grid_marks_wrong_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let mut images = Vec::new();
    for k in 0..6u8 {
        let data: Vec<u8> = (0..3 * 32 * 32)
            .map(|i| (i as u8).wrapping_mul(k + 1))
            .collect();
        images.push(chw_to_rgb(3, 32, 32, &data).unwrap());
    }
    let captions: Vec<String> = (0..6)
        .map(|i| {
            format!(
                "truth: cat / pred: {}",
                if i % 2 == 0 { "cat" } else { "automobile" }
            )
        })
        .collect();
    let wrong: Vec<bool> = (0..6).map(|i| i % 2 == 1).collect();
    let path = dir.path().join("grid.png");
    image_grid(&path, "test predictions", &images, &captions, &wrong, 3, 4).unwrap();
    let img = decode(&path);
    assert!(img.width() >= 3 * 128 && img.height() >= 2 * 128);
    assert!(colours(&img) > 100);
    let red = img.pixels().filter(|p| p.0 == [210, 30, 30]).count();
    // Three 3-pixel frames around 128×128 images, at least.
    assert!(red > 3 * 4 * 3 * 128, "{red}");
    assert!(dark_pixels(&img, 0, 0, img.width(), 30) > 100);

    assert!(
        image_grid(
            dir.path().join("x.png"),
            "",
            &images,
            &captions[..2],
            &[],
            3,
            4
        )
        .is_err()
    );
    assert!(image_grid(dir.path().join("x.png"), "", &images, &[], &[], 0, 4).is_err());
    assert!(image_grid(dir.path().join("x.png"), "", &[], &[], &[], 3, 4).is_err());
}

#[test]
fn filter_grid_normalises_each_filter() {
    let dir = tempfile::tempdir().unwrap();
    // Filter 0: RGB ramp; filter 1: single channel; filter 2: 2 channels (mean, grey).
    let rgb: Vec<f32> = (0..3 * 9).map(|i| i as f32 * 0.01 - 0.1).collect();
    let filters = vec![
        (3, 3, 3, rgb),
        (1, 3, 3, (0..9).map(|i| i as f32).collect()),
        (2, 3, 3, (0..18).map(|i| -(i as f32)).collect()),
    ];
    let path = dir.path().join("filters.png");
    filter_grid(&path, "conv1", &filters, 8, 10).unwrap();
    let img = decode(&path);
    assert!(colours(&img) > 10);
    // Each filter spans the full range: pure black and pure white pixels occur.
    assert!(img.pixels().any(|p| p.0 == [0, 0, 0]));
    assert!(img.pixels().filter(|p| p.0 == [255, 255, 255]).count() > 100);
    let bad = vec![(3, 3, 3, vec![0.0; 26])];
    assert!(filter_grid(dir.path().join("x.png"), "", &bad, 8, 10).is_err());
}

#[test]
fn feature_maps_grid() {
    let dir = tempfile::tempdir().unwrap();
    let maps: Vec<(usize, usize, Vec<f32>)> = (0..8)
        .map(|k| {
            let v = (0..16 * 16)
                .map(|i| ((i % 16) as f32 * (k as f32 + 1.0)).sin())
                .collect();
            (16, 16, v)
        })
        .collect();
    let path = dir.path().join("maps.png");
    feature_map_grid(&path, "conv2 activations", &maps, 4).unwrap();
    let img = decode(&path);
    // 16×16 maps enlarged 6× to 96 pixels, four a row.
    assert!(img.width() >= 4 * 96 && img.height() >= 2 * 96);
    assert!(colours(&img) > 30);
    assert!(dark_pixels(&img, 0, 0, img.width(), 30) > 50);
}

#[test]
fn writes_are_atomic_and_errors_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("a.png");
    let maps = vec![(2, 2, vec![0.0, 1.0, 2.0, 3.0])];
    assert!(matches!(
        feature_map_grid(&path, "", &maps, 1),
        Err(VizError::Io { .. })
    ));
    // Nothing but the finished file is left behind.
    let ok = dir.path().join("ok.png");
    feature_map_grid(&ok, "", &maps, 1).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["ok.png"]);
}
