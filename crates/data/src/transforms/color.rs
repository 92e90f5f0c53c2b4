//! Colour adjustments and `ColorJitter`, with torchvision's uint8 arithmetic.
//!
//! torchvision blends in f32 (`ratio * img + (1 - ratio) * other`), clamps to [0, 255] and
//! converts back to uint8 by truncation. Grayscale is `0.2989 r + 0.587 g + 0.114 b` truncated
//! to uint8 (`rgb_to_grayscale`). Hue converts to float in [0, 1] (`x / 255`), goes through
//! `_rgb2hsv`, shifts the hue modulo 1, comes back through `_hsv2rgb` and is converted with
//! `trunc(x * 255.999)` (`convert_image_dtype`). Every step below follows that f32 arithmetic.

use rand::RngExt;

use super::{Aux, Image, ImageOp, SampleRng};

/// `trunc(clamp(a * x + b, 0, 255))` in f32 for every byte value, as a lookup table.
fn blend_table(ratio: f64, other: f32) -> [u8; 256] {
    let a = ratio as f32;
    let b = (1.0 - ratio) as f32;
    let mut t = [0u8; 256];
    for (x, v) in t.iter_mut().enumerate() {
        *v = (a * x as f32 + b * other).clamp(0.0, 255.0) as u8;
    }
    t
}

/// torchvision's uint8 grayscale value of one pixel (truncated).
#[inline]
fn gray(r: u8, g: u8, b: u8) -> u8 {
    (0.2989f32 * r as f32 + 0.587f32 * g as f32 + 0.114f32 * b as f32) as u8
}

pub(crate) fn brightness_in_place(img: &mut Image, factor: f64) {
    let t = blend_table(factor, 0.0);
    img.data.iter_mut().for_each(|v| *v = t[*v as usize]);
}

pub(crate) fn contrast_in_place(img: &mut Image, factor: f64) {
    let plane = img.plane();
    if plane == 0 {
        return;
    }
    let mean = if img.channels == 3 {
        let (r, rest) = img.data.split_at(plane);
        let (g, b) = rest.split_at(plane);
        let sum: u64 = (0..plane).map(|i| gray(r[i], g[i], b[i]) as u64).sum();
        sum as f32 / plane as f32
    } else {
        let sum: u64 = img.data.iter().map(|&v| v as u64).sum();
        sum as f32 / img.data.len() as f32
    };
    let t = blend_table(factor, mean);
    img.data.iter_mut().for_each(|v| *v = t[*v as usize]);
}

pub(crate) fn saturation_in_place(img: &mut Image, factor: f64) {
    let plane = img.plane();
    if img.channels != 3 || plane == 0 {
        return; // torchvision leaves single-channel images unchanged
    }
    let a = factor as f32;
    let b = (1.0 - factor) as f32;
    let (r, rest) = img.data.split_at_mut(plane);
    let (g, bl) = rest.split_at_mut(plane);
    for i in 0..plane {
        let l = gray(r[i], g[i], bl[i]) as f32 * b;
        r[i] = (a * r[i] as f32 + l).clamp(0.0, 255.0) as u8;
        g[i] = (a * g[i] as f32 + l).clamp(0.0, 255.0) as u8;
        bl[i] = (a * bl[i] as f32 + l).clamp(0.0, 255.0) as u8;
    }
}

/// One pixel through `_rgb2hsv`, the hue shift and `_hsv2rgb`, back to u8.
#[inline]
fn hue_pixel(r8: u8, g8: u8, b8: u8, shift: f32) -> (u8, u8, u8) {
    let (r, g, b) = (r8 as f32 / 255.0, g8 as f32 / 255.0, b8 as f32 / 255.0);
    let maxc = r.max(g).max(b);
    let minc = r.min(g).min(b);
    let eqc = maxc == minc;
    let cr = maxc - minc;
    let s = cr / if eqc { 1.0 } else { maxc };
    let crd = if eqc { 1.0 } else { cr };
    let rc = (maxc - r) / crd;
    let gc = (maxc - g) / crd;
    let bc = (maxc - b) / crd;
    let h = if maxc == r {
        bc - gc
    } else if maxc == g {
        2.0 + rc - bc
    } else {
        4.0 + gc - rc
    };
    let h = (h / 6.0 + 1.0) % 1.0;
    // torch.remainder(h + shift, 1.0)
    let mut h = (h + shift) % 1.0;
    if h < 0.0 {
        h += 1.0;
    }
    let v = maxc;
    let h6 = h * 6.0;
    let i = h6.floor();
    let f = h6 - i;
    let i = (i as i32).rem_euclid(6);
    let p = (v * (1.0 - s)).clamp(0.0, 1.0);
    let q = (v * (1.0 - s * f)).clamp(0.0, 1.0);
    let t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0);
    let (ro, go, bo) = match i {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    const SCALE: f32 = 255.999;
    ((ro * SCALE) as u8, (go * SCALE) as u8, (bo * SCALE) as u8)
}

pub(crate) fn hue_in_place(img: &mut Image, factor: f64) {
    let plane = img.plane();
    if img.channels != 3 || plane == 0 {
        return;
    }
    let shift = factor as f32;
    let (r, rest) = img.data.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for i in 0..plane {
        (r[i], g[i], b[i]) = hue_pixel(r[i], g[i], b[i], shift);
    }
}

/// Functional form: multiplies intensities by `factor` (torchvision `F.adjust_brightness`).
pub fn adjust_brightness(img: &Image, factor: f64) -> Image {
    let mut out = img.clone();
    brightness_in_place(&mut out, factor);
    out
}

/// Functional form: blends with the mean grayscale level (torchvision `F.adjust_contrast`).
pub fn adjust_contrast(img: &Image, factor: f64) -> Image {
    let mut out = img.clone();
    contrast_in_place(&mut out, factor);
    out
}

/// Functional form: blends with the grayscale image (torchvision `F.adjust_saturation`).
pub fn adjust_saturation(img: &Image, factor: f64) -> Image {
    let mut out = img.clone();
    saturation_in_place(&mut out, factor);
    out
}

/// Functional form: shifts the hue by `hue_factor` turns, in [-0.5, 0.5]
/// (torchvision `F.adjust_hue`; out-of-range factors are clamped).
pub fn adjust_hue(img: &Image, hue_factor: f64) -> Image {
    let mut out = img.clone();
    hue_in_place(&mut out, hue_factor.clamp(-0.5, 0.5));
    out
}

/// Randomly changes brightness, contrast, saturation and hue, in a random order
/// (torchvision `ColorJitter`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColorJitter {
    /// Brightness factor range, or `None` to leave brightness alone.
    pub brightness: Option<(f64, f64)>,
    /// Contrast factor range.
    pub contrast: Option<(f64, f64)>,
    /// Saturation factor range.
    pub saturation: Option<(f64, f64)>,
    /// Hue shift range (within [-0.5, 0.5]).
    pub hue: Option<(f64, f64)>,
}

impl ColorJitter {
    /// torchvision's scalar form: factors in `[max(0, 1 - v), 1 + v]` for brightness, contrast
    /// and saturation, hue shifts in `[-hue, hue]` (hue clamped to 0.5); a zero leaves that
    /// property unchanged.
    pub fn new(brightness: f64, contrast: f64, saturation: f64, hue: f64) -> Self {
        let factor = |v: f64| {
            let v = if v.is_finite() { v.abs() } else { 0.0 };
            (v > 0.0).then(|| ((1.0 - v).max(0.0), 1.0 + v))
        };
        let h = if hue.is_finite() {
            hue.abs().min(0.5)
        } else {
            0.0
        };
        ColorJitter {
            brightness: factor(brightness),
            contrast: factor(contrast),
            saturation: factor(saturation),
            hue: (h > 0.0).then_some((-h, h)),
        }
    }
}

fn draw(rng: &mut SampleRng, range: Option<(f64, f64)>) -> Option<f64> {
    range.map(|(lo, hi)| lo + (hi - lo) * rng.random::<f64>())
}

impl ImageOp for ColorJitter {
    fn apply(&self, img: &mut Image, _aux: &mut Aux, rng: &mut SampleRng) {
        // torch.randperm(4), then the four factors, then apply in the permuted order.
        let mut order = [0usize, 1, 2, 3];
        for i in (1..4).rev() {
            let j = rng.random_range(0..=i);
            order.swap(i, j);
        }
        let b = draw(rng, self.brightness);
        let c = draw(rng, self.contrast);
        let s = draw(rng, self.saturation);
        let h = draw(rng, self.hue);
        for k in order {
            match (k, b, c, s, h) {
                (0, Some(f), ..) => brightness_in_place(img, f),
                (1, _, Some(f), ..) => contrast_in_place(img, f),
                (2, _, _, Some(f), _) => saturation_in_place(img, f),
                (3, .., Some(f)) => hue_in_place(img, f),
                _ => {}
            }
        }
    }
}
