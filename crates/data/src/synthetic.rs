//! A built-in synthetic dataset of 32x32 RGB images in ten classes, for runs without CIFAR-10.
//!
//! Five classes are solid shapes (disc, square, triangle, ring, cross) and five are textured
//! square patches (horizontal, vertical and diagonal stripes, checkerboard, dots). Each image
//! draws its own position, size, rotation, stripe period and phase, a background colour
//! independent of the class and a foreground colour whose hue leans towards the class's hue
//! but spreads over 0.3 of the colour wheel (overlapping its neighbours), then gets Gaussian
//! noise. Shape and texture decide
//! the class; the mean colour alone says little about it.

use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

use crate::dataset::Dataset;
use crate::transforms::SampleRng;

/// Class names of the synthetic dataset, in label order.
pub const SYNTHETIC_CLASSES: [&str; 10] = [
    "disc", "square", "triangle", "ring", "cross", "hstripes", "vstripes", "diagonal", "checker",
    "dots",
];

const SIZE: usize = 32;

/// `n` synthetic 3x32x32 images, labels cycling 0..9 (balanced), fully determined by `seed`.
pub fn synthetic(n: usize, seed: u64) -> Dataset {
    let plane = SIZE * SIZE;
    let mut images = vec![0u8; n * 3 * plane];
    images
        .par_chunks_mut(3 * plane)
        .enumerate()
        .for_each(|(i, img)| {
            let mut rng = SampleRng::seed_from_u64(crate::loader::mix(seed, 0x5EED_DA7A, i as u64));
            render(i % SYNTHETIC_CLASSES.len(), &mut rng, img);
        });
    let labels = (0..n).map(|i| i % SYNTHETIC_CLASSES.len()).collect();
    let names = SYNTHETIC_CLASSES.iter().map(|s| s.to_string()).collect();
    let source = format!(
        "SYNTHETIC shapes-and-textures dataset ({n} generated images, seed {seed}); \
         not real CIFAR-10"
    );
    Dataset::new(images, labels, [3, SIZE, SIZE], names, source)
        .expect("generated sizes and labels are consistent")
        .into_synthetic()
}

/// RGB in [0, 1] from hue (turns), saturation and value.
fn hsv(h: f32, s: f32, v: f32) -> [f32; 3] {
    let h6 = h.rem_euclid(1.0) * 6.0;
    let i = h6.floor();
    let f = h6 - i;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    match i as i32 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// Whether the point at local coordinates (`u`, `v`) (in pixels, object centre at 0,
/// rotated frame) is foreground for `class`.
fn inside(class: usize, u: f32, v: f32, r: f32, period: f32, phase: f32) -> bool {
    let (a, b) = (u / r, v / r);
    let in_patch = a.abs() <= 1.0 && b.abs() <= 1.0;
    let band = |x: f32| ((x + phase) / period).floor().rem_euclid(2.0) < 1.0;
    match class {
        0 => a * a + b * b <= 1.0,
        1 => a.abs() <= 0.9 && b.abs() <= 0.9,
        2 => (-0.85..=0.85).contains(&b) && a.abs() <= (b + 0.85) / 1.7 * 0.95,
        3 => (0.3..=1.0).contains(&(a * a + b * b)),
        4 => (a.abs() <= 0.28 && b.abs() <= 1.0) || (b.abs() <= 0.28 && a.abs() <= 1.0),
        5 => in_patch && band(v),
        6 => in_patch && band(u),
        7 => in_patch && band((u + v) * std::f32::consts::FRAC_1_SQRT_2),
        8 => in_patch && (band(u) != band(v)),
        _ => {
            let cu = (u + phase).rem_euclid(period) - 0.5 * period;
            let cv = (v + phase).rem_euclid(period) - 0.5 * period;
            in_patch && cu * cu + cv * cv <= (0.3 * period) * (0.3 * period)
        }
    }
}

/// Draws one image of `class` into `img` (CHW, 3x32x32).
fn render(class: usize, rng: &mut SampleRng, img: &mut [u8]) {
    let plane = SIZE * SIZE;
    // Background: any hue, muted; foreground: hue near the class's, contrasting in value.
    let bg_v = rng.random_range(0.1f32..0.9);
    let bg = hsv(rng.random(), rng.random_range(0.0..0.6), bg_v);
    // Class hues step by 0.3 turns, so classes of similar shape (disc and square, diagonal
    // stripes and checkerboard) lean towards distant hues while each spans 0.3 of the wheel.
    let class_hue = (class * 3 % SYNTHETIC_CLASSES.len()) as f32 / SYNTHETIC_CLASSES.len() as f32;
    let fg_hue = class_hue + rng.random_range(-0.15f32..0.15);
    let delta = rng.random_range(0.35f32..0.6);
    let fg_v = if bg_v + delta <= 1.0 && (bg_v - delta < 0.0 || rng.random_bool(0.5)) {
        bg_v + delta
    } else {
        bg_v - delta
    };
    let fg = hsv(fg_hue, rng.random_range(0.5..1.0), fg_v.clamp(0.0, 1.0));
    let r = rng.random_range(8.0f32..13.0);
    let cx = 16.0 + rng.random_range(-5.0f32..5.0);
    let cy = 16.0 + rng.random_range(-5.0f32..5.0);
    let angle = rng.random_range(-0.35f32..0.35);
    let (sin, cos) = angle.sin_cos();
    let period = rng.random_range(4.0f32..6.0);
    let phase = rng.random_range(0.0..period);
    let noise = Normal::new(0.0f32, 10.0).expect("valid normal");
    for y in 0..SIZE {
        for x in 0..SIZE {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            let u = cos * dx + sin * dy;
            let v = -sin * dx + cos * dy;
            let col = if inside(class, u, v, r, period, phase) {
                fg
            } else {
                bg
            };
            for c in 0..3 {
                let val = col[c] * 255.0 + noise.sample(rng);
                img[c * plane + y * SIZE + x] = val.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_balanced_and_marked() {
        let a = synthetic(50, 7);
        let b = synthetic(50, 7);
        assert_eq!(a, b);
        assert_ne!(a.images(), synthetic(50, 8).images());
        assert_eq!(a.counts_per_class(), vec![5; 10]);
        assert!(a.is_synthetic());
        assert!(a.source().contains("SYNTHETIC"));
        assert_eq!(a.image_shape(), [3, 32, 32]);
    }

    /// Nearest-centroid classification on the mean colour alone stays far from solving it
    /// (chance is 10%; a small CNN reaches about 90% after one epoch on 12,000 images).
    #[test]
    fn mean_colour_alone_does_not_separate_the_classes() {
        let ds = synthetic(4000, 11);
        let mean_rgb = |i: usize| -> [f64; 3] {
            let img = ds.image(i);
            std::array::from_fn(|c| {
                img[c * 1024..(c + 1) * 1024]
                    .iter()
                    .map(|&v| v as f64)
                    .sum::<f64>()
                    / 1024.0
            })
        };
        let mut centroids = [[0f64; 3]; 10];
        for i in 0..2000 {
            let m = mean_rgb(i);
            (0..3).for_each(|c| centroids[ds.label(i)][c] += m[c] / 200.0);
        }
        let correct = (2000..4000)
            .filter(|&i| {
                let m = mean_rgb(i);
                let dist = |k: usize| {
                    (0..3)
                        .map(|c| (m[c] - centroids[k][c]).powi(2))
                        .sum::<f64>()
                };
                (0..10).min_by(|&a, &b| dist(a).total_cmp(&dist(b))) == Some(ds.label(i))
            })
            .count();
        let acc = correct as f64 / 2000.0;
        assert!(
            acc < 0.35,
            "mean colour separates the classes too well: {acc}"
        );
    }
}
