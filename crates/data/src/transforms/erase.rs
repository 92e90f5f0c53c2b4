//! Random erasing (cutout) on the normalised f32 image, as torchvision's `RandomErasing`.

use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

use super::{SampleRng, TensorOp};

/// What an erased rectangle is filled with.
#[derive(Debug, Clone, PartialEq)]
pub enum EraseValue {
    /// One value for every channel (0.0 after normalisation is the mean colour).
    Constant(f32),
    /// One value per channel.
    PerChannel(Vec<f32>),
    /// Standard normal noise, drawn per element.
    Random,
}

/// Functional form: fills rows `top..top + h` and columns `left..left + w` of every channel
/// of `data` (shape `[c, height, width]`) with `value` (rectangle clipped to the image).
/// [`EraseValue::Random`] draws its noise from `rng`.
pub fn erase(
    data: &mut [f32],
    [c, height, width]: [usize; 3],
    (top, left, h, w): (usize, usize, usize, usize),
    value: &EraseValue,
    rng: &mut SampleRng,
) {
    let y1 = (top + h).min(height);
    let x1 = (left + w).min(width);
    for ch in 0..c {
        let v = match value {
            EraseValue::Constant(v) => *v,
            EraseValue::PerChannel(vs) if !vs.is_empty() => vs[ch.min(vs.len() - 1)],
            _ => 0.0,
        };
        for y in top.min(y1)..y1 {
            let row = &mut data[(ch * height + y) * width..(ch * height + y) * width + width];
            for px in &mut row[left.min(x1)..x1] {
                *px = match value {
                    EraseValue::Random => StandardNormal.sample(rng),
                    _ => v,
                };
            }
        }
    }
}

/// With probability `p`, erases a rectangle covering a `scale` fraction of the image with an
/// aspect ratio in `ratio` (drawn log-uniformly), like torchvision's `RandomErasing`
/// (up to 10 attempts to fit the rectangle, else nothing is erased).
#[derive(Debug, Clone, PartialEq)]
pub struct RandomErasing {
    /// Probability of erasing.
    pub p: f64,
    /// Range of the erased area as a fraction of the image.
    pub scale: (f64, f64),
    /// Range of the rectangle's aspect ratio (height / width).
    pub ratio: (f64, f64),
    /// Fill.
    pub value: EraseValue,
}

impl RandomErasing {
    /// torchvision's defaults: p 0.5, scale (0.02, 0.33), ratio (0.3, 3.3), value 0.
    pub fn new(p: f64) -> Self {
        RandomErasing {
            p,
            scale: (0.02, 0.33),
            ratio: (0.3, 3.3),
            value: EraseValue::Constant(0.0),
        }
    }

    /// Draws the rectangle `(top, left, h, w)` for an image of `height x width`, if one fits.
    pub fn draw_rect(
        &self,
        height: usize,
        width: usize,
        rng: &mut SampleRng,
    ) -> Option<(usize, usize, usize, usize)> {
        let area = (height * width) as f64;
        let (lr0, lr1) = (self.ratio.0.ln(), self.ratio.1.ln());
        for _ in 0..10 {
            let erase_area =
                area * (self.scale.0 + (self.scale.1 - self.scale.0) * rng.random::<f64>());
            let aspect = (lr0 + (lr1 - lr0) * rng.random::<f64>()).exp();
            let h = (erase_area * aspect).sqrt().round_ties_even();
            let w = (erase_area / aspect).sqrt().round_ties_even();
            if !(h.is_finite() && w.is_finite()) || h as usize >= height || w as usize >= width {
                continue;
            }
            let (h, w) = (h as usize, w as usize);
            let top = rng.random_range(0..=height - h);
            let left = rng.random_range(0..=width - w);
            return Some((top, left, h, w));
        }
        None
    }
}

impl TensorOp for RandomErasing {
    fn apply(&self, data: &mut [f32], shape: [usize; 3], rng: &mut SampleRng) {
        if rng.random::<f64>() >= self.p {
            return;
        }
        if let Some(rect) = self.draw_rect(shape[1], shape[2], rng) {
            erase(data, shape, rect, &self.value, rng);
        }
    }
}

/// Cutout (DeVries & Taylor, 2017): a `size x size` square at a uniformly random centre,
/// clipped to the image, set to 0 after normalisation (the mean colour), every time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutout {
    pub size: usize,
}

impl TensorOp for Cutout {
    fn apply(&self, data: &mut [f32], [c, h, w]: [usize; 3], rng: &mut SampleRng) {
        if self.size == 0 || h == 0 || w == 0 {
            return;
        }
        let (cy, cx) = (rng.random_range(0..h), rng.random_range(0..w));
        let half = self.size / 2;
        let (top, left) = (cy.saturating_sub(half), cx.saturating_sub(half));
        let bottom = (cy + self.size - half).min(h);
        let right = (cx + self.size - half).min(w);
        let rect = (top, left, bottom - top, right - left);
        erase(data, [c, h, w], rect, &EraseValue::Constant(0.0), rng);
    }
}
