//! Every deterministic transform against torchvision's output on real CIFAR-10 images
//! (fixture folder from KILN_TRANSFORM_FIXTURE, default ../shared/fixtures/torchvision-transforms).

mod common;

use kiln_data::Image;
use kiln_data::transforms::{
    Interpolation, adjust_brightness, adjust_contrast, adjust_hue, adjust_saturation, crop_padded,
    hflip, normalize, rotate,
};
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

fn num(case: &Value, key: &str) -> f64 {
    case[key]
        .as_f64()
        .unwrap_or_else(|| panic!("meta.json case lacks number '{key}': {case}"))
}

fn floats(case: &Value, key: &str) -> Vec<f32> {
    case[key]
        .as_array()
        .unwrap_or_else(|| panic!("meta.json case lacks list '{key}'"))
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

enum Expected {
    U8(Vec<u8>),
    F32(Vec<f32>),
}

#[test]
fn transforms_match_torchvision_fixture() {
    let dir = common::shared_path("KILN_TRANSFORM_FIXTURE", "fixtures/torchvision-transforms");
    let meta_path = dir.join("meta.json");
    if !meta_path.exists() {
        common::skip("torchvision transform parity", &meta_path);
        return;
    }
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    let bytes = std::fs::read(dir.join("transforms.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let input = st.tensor("images_u8").unwrap();
    assert_eq!(input.dtype(), Dtype::U8);
    let &[n, c, h, w] = input.shape() else {
        panic!("images_u8 must be NCHW, got {:?}", input.shape())
    };
    let per = c * h * w;
    let images: Vec<Image> = (0..n)
        .map(|i| Image::new(input.data()[i * per..(i + 1) * per].to_vec(), [c, h, w]).unwrap())
        .collect();

    let cases = meta["cases"].as_object().expect("meta.json has cases");
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for (name, case) in cases {
        let op = case["op"].as_str().expect("case has op");
        let view = st
            .tensor(name)
            .unwrap_or_else(|_| panic!("no tensor '{name}'"));
        let expected = match view.dtype() {
            Dtype::U8 => Expected::U8(view.data().to_vec()),
            Dtype::F32 => Expected::F32(
                view.data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                    .collect(),
            ),
            d => panic!("unexpected dtype {d:?} for {name}"),
        };
        let exact = matches!(op, "hflip" | "pad then crop") || op.starts_with("to float");
        let mut ours_u8 = Vec::new();
        let mut ours_f32 = Vec::new();
        for img in &images {
            match op {
                "hflip" => ours_u8.extend(hflip(img).data),
                "rotate" => {
                    let interp = match case["interpolation"].as_str().unwrap() {
                        "nearest" => Interpolation::Nearest,
                        "bilinear" => Interpolation::Bilinear,
                        other => panic!("unknown interpolation {other}"),
                    };
                    let fill = num(case, "fill") as u8;
                    ours_u8.extend(rotate(img, num(case, "degrees"), interp, fill).data)
                }
                "adjust_brightness" => {
                    ours_u8.extend(adjust_brightness(img, num(case, "factor")).data)
                }
                "adjust_contrast" => ours_u8.extend(adjust_contrast(img, num(case, "factor")).data),
                "adjust_saturation" => {
                    ours_u8.extend(adjust_saturation(img, num(case, "factor")).data)
                }
                "adjust_hue" => ours_u8.extend(adjust_hue(img, num(case, "hue_factor")).data),
                "pad then crop" => {
                    let size = num(case, "size") as usize;
                    let out = crop_padded(
                        img,
                        num(case, "padding") as usize,
                        num(case, "top") as usize,
                        num(case, "left") as usize,
                        size,
                        num(case, "fill") as u8,
                    );
                    ours_u8.extend(out.data)
                }
                op if op.starts_with("to float") => ours_f32
                    .extend(normalize(img, &floats(case, "mean"), &floats(case, "std")).unwrap()),
                other => panic!("case '{name}' has an op this test does not know: {other}"),
            }
        }
        match expected {
            Expected::U8(exp) => {
                assert_eq!(ours_u8.len(), exp.len(), "{name}: output size");
                let total = exp.len();
                let equal = ours_u8.iter().zip(&exp).filter(|(a, b)| a == b).count();
                let within1 = ours_u8
                    .iter()
                    .zip(&exp)
                    .filter(|(a, b)| (**a as i32 - **b as i32).abs() <= 1)
                    .count();
                let max = ours_u8
                    .iter()
                    .zip(&exp)
                    .map(|(a, b)| (*a as i32 - *b as i32).abs())
                    .max()
                    .unwrap_or(0);
                println!(
                    "{name:>16}: exact {:7.3}%  within 1 level {:7.3}%  max diff {max}",
                    100.0 * equal as f64 / total as f64,
                    100.0 * within1 as f64 / total as f64
                );
                if exact && equal != total {
                    failures.push(format!("{name}: must be exact, {equal}/{total} equal"));
                }
                if (within1 as f64) < 0.99 * total as f64 {
                    failures.push(format!("{name}: only {within1}/{total} within one level"));
                }
            }
            Expected::F32(exp) => {
                assert_eq!(ours_f32.len(), exp.len(), "{name}: output size");
                let equal = ours_f32.iter().zip(&exp).filter(|(a, b)| a == b).count();
                let max = ours_f32
                    .iter()
                    .zip(&exp)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                println!(
                    "{name:>16}: bit-exact {:7.3}%  max abs diff {max:e}",
                    100.0 * equal as f64 / exp.len() as f64
                );
                if equal != exp.len() {
                    failures.push(format!("{name}: {equal}/{} bit-exact", exp.len()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "mismatches: {failures:#?}");
}
