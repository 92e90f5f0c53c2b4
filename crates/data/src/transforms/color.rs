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
        r[i] = trunc_u8((a * r[i] as f32 + l).clamp(0.0, 255.0));
        g[i] = trunc_u8((a * g[i] as f32 + l).clamp(0.0, 255.0));
        bl[i] = trunc_u8((a * bl[i] as f32 + l).clamp(0.0, 255.0));
    }
}

/// `x as u8` (truncation) for `x` in [0, 256), without a scalar float-to-int conversion so
/// that loops vectorise: adding 2^23 rounds to the nearest integer `n`, held in the low
/// mantissa bits, and `n - 1` is taken where that rounded up.
#[inline(always)]
fn trunc_u8(x: f32) -> u8 {
    const TWO_23: f32 = 8_388_608.0;
    let y = x + TWO_23;
    let n = y.to_bits() & 0x1FF;
    let down = (y - TWO_23 > x) as u32;
    (n - down) as u8
}

/// One pixel through `_rgb2hsv`, the hue shift and `_hsv2rgb`, back to u8.
///
/// Branch-free (selects only) so that the loop over pixels vectorises, and without libm
/// calls: the `fmod`s and `floor` of torchvision's code act on values in small known ranges
/// here, where the comparisons below give exactly the same results.
#[inline(always)]
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
    let hr = bc - gc;
    let hg = 2.0 + rc - bc;
    let hb = 4.0 + gc - rc;
    let h = if maxc == r {
        hr
    } else if maxc == g {
        hg
    } else {
        hb
    };
    // fmod(h / 6 + 1, 1): the argument lies in [5/6, 11/6], and x - 1 is exact on [1, 2).
    let h = h / 6.0 + 1.0;
    let h = if h >= 1.0 { h - 1.0 } else { h };
    // torch.remainder(h + shift, 1) for h + shift in [-0.5, 1.5).
    let h = h + shift;
    let h = if h >= 1.0 { h - 1.0 } else { h };
    let h = if h < 0.0 { h + 1.0 } else { h };
    let v = maxc;
    let h6 = h * 6.0;
    // h6 >= 0, so truncation is floor; sector 6 (h rounded up to 1) wraps to 0.
    let i = h6 as i32;
    let f = h6 - i as f32;
    let i = if i == 6 { 0 } else { i };
    let p = (v * (1.0 - s)).clamp(0.0, 1.0);
    let q = (v * (1.0 - s * f)).clamp(0.0, 1.0);
    let t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0);
    // Sectors 0..5 give (v,t,p) (q,v,p) (p,v,t) (p,q,v) (t,p,v) (v,p,q).
    let ro = if i == 0 || i == 5 {
        v
    } else if i == 1 {
        q
    } else if i == 4 {
        t
    } else {
        p
    };
    let go = if i == 1 || i == 2 {
        v
    } else if i == 0 {
        t
    } else if i == 3 {
        q
    } else {
        p
    };
    let bo = if i == 3 || i == 4 {
        v
    } else if i == 2 {
        t
    } else if i == 5 {
        q
    } else {
        p
    };
    const SCALE: f32 = 255.999;
    // Values are in [0, 255.999): truncation as torch's uint8 conversion does.
    (
        trunc_u8(ro * SCALE),
        trunc_u8(go * SCALE),
        trunc_u8(bo * SCALE),
    )
}

pub(crate) fn hue_in_place(img: &mut Image, factor: f64) {
    let plane = img.plane();
    if img.channels != 3 || plane == 0 {
        return;
    }
    let shift = factor as f32;
    let (r, rest) = img.data.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
        (*r, *g, *b) = hue_pixel(*r, *g, *b, shift);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunc_u8_matches_a_plain_cast() {
        let mut xs: Vec<f32> = (0..256 * 4096).map(|k| k as f32 / 4096.0).collect();
        for n in 0..256 {
            let n = n as f32;
            xs.extend([
                n,
                n.next_down().max(0.0),
                n.next_up(),
                n + 0.5,
                (n + 0.5).next_down(),
            ]);
        }
        xs.push(255.999);
        for x in xs.into_iter().filter(|x| *x < 256.0) {
            assert_eq!(trunc_u8(x), x as u8, "x = {x}");
        }
    }

    #[test]
    fn jitter_with_zero_ranges_is_identity() {
        let img = Image::new((0..3 * 8 * 8).map(|v| (v * 5) as u8).collect(), [3, 8, 8]).unwrap();
        let mut out = img.clone();
        let mut rng = <SampleRng as rand::SeedableRng>::seed_from_u64(3);
        ColorJitter::new(0.0, 0.0, 0.0, 0.0).apply(&mut out, &mut Aux::default(), &mut rng);
        assert_eq!(out, img);
        let j = ColorJitter::new(0.2, 0.0, 0.0, 0.1);
        assert_eq!(j.brightness, Some((0.8, 1.2)));
        assert_eq!(j.hue, Some((-0.1, 0.1)));
        assert_eq!(j.contrast, None);
    }
}
