//! Horizontal flip.

use rand::RngExt;

use super::{Aux, Image, ImageOp, SampleRng};

/// Mirrors every row in place (left ↔ right).
pub(crate) fn hflip_in_place(img: &mut Image) {
    if img.width == 0 {
        return;
    }
    for row in img.data.chunks_exact_mut(img.width) {
        row.reverse();
    }
}

/// Functional form: the image mirrored left to right (torchvision `F.hflip`).
pub fn hflip(img: &Image) -> Image {
    let mut out = img.clone();
    hflip_in_place(&mut out);
    out
}

/// Flips the image horizontally with probability `p` (torchvision `RandomHorizontalFlip`).
#[derive(Debug, Clone, Copy)]
pub struct RandomHorizontalFlip {
    /// Probability of flipping.
    pub p: f64,
}

impl RandomHorizontalFlip {
    /// Flip with probability `p` (clamped to [0, 1]).
    pub fn new(p: f64) -> Self {
        RandomHorizontalFlip {
            p: if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) },
        }
    }
}

impl ImageOp for RandomHorizontalFlip {
    fn apply(&self, img: &mut Image, _aux: &mut Aux, rng: &mut SampleRng) {
        if rng.random::<f64>() < self.p {
            hflip_in_place(img);
        }
    }
}
