//! `ToTensor` + `Normalize`: u8 → f32 `(x / 255 - mean) / std`, per channel.

use super::Image;
use crate::error::{DataError, Result};

/// Per-channel normalisation of u8 images into f32, through a 256-entry table per channel.
#[derive(Debug, Clone)]
pub struct Normalize {
    mean: Vec<f32>,
    std: Vec<f32>,
    tables: Vec<[f32; 256]>,
}

impl Normalize {
    /// `mean` and `std` hold one value per channel (or one for all); every std must be > 0.
    pub fn new(mean: &[f32], std: &[f32]) -> Result<Self> {
        if mean.is_empty() || mean.len() != std.len() {
            return Err(DataError::Invalid(format!(
                "normalize needs as many means as stds (got {} and {})",
                mean.len(),
                std.len()
            )));
        }
        if let Some(s) = std.iter().find(|s| !(**s > 0.0 && s.is_finite())) {
            return Err(DataError::Invalid(format!(
                "normalize std must be positive and finite, got {s}"
            )));
        }
        let tables = mean
            .iter()
            .zip(std)
            .map(|(&m, &s)| {
                let mut t = [0f32; 256];
                for (x, v) in t.iter_mut().enumerate() {
                    *v = normalize_value(x as u8, m, s);
                }
                t
            })
            .collect();
        Ok(Normalize {
            mean: mean.to_vec(),
            std: std.to_vec(),
            tables,
        })
    }

    /// Mean 0.5 and std 0.5 on every channel: maps [0, 255] to [-1, 1].
    pub fn half() -> Self {
        Normalize::new(&[0.5], &[0.5]).expect("constant parameters are valid")
    }

    /// No normalisation beyond scaling to [0, 1] (mean 0, std 1).
    pub fn unit() -> Self {
        Normalize::new(&[0.0], &[1.0]).expect("constant parameters are valid")
    }

    /// The means, as given.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// The standard deviations, as given.
    pub fn std(&self) -> &[f32] {
        &self.std
    }

    /// Writes the normalised image into `out` (`img.data.len()` values).
    pub fn apply_into(&self, img: &Image, out: &mut [f32]) {
        let plane = img.plane();
        for (c, (src, dst)) in img
            .data
            .chunks_exact(plane.max(1))
            .zip(out.chunks_exact_mut(plane.max(1)))
            .enumerate()
        {
            let table = &self.tables[c.min(self.tables.len() - 1)];
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = table[s as usize];
            }
        }
    }

    /// The range of output values: `[(0 - mean) / std, (1 - mean) / std]` over all channels.
    pub fn output_range(&self) -> (f32, f32) {
        let lo = self
            .tables
            .iter()
            .map(|t| t[0])
            .fold(f32::INFINITY, f32::min);
        let hi = self
            .tables
            .iter()
            .map(|t| t[255])
            .fold(f32::NEG_INFINITY, f32::max);
        (lo, hi)
    }
}

/// torchvision's arithmetic: `x.to(float32) / 255`, then `sub_(mean).div_(std)` in f32.
fn normalize_value(x: u8, mean: f32, std: f32) -> f32 {
    (x as f32 / 255.0 - mean) / std
}

/// Functional form: converts `img` to f32 in [0, 1] and normalises each channel.
pub fn normalize(img: &Image, mean: &[f32], std: &[f32]) -> Result<Vec<f32>> {
    let n = Normalize::new(mean, std)?;
    if n.tables.len() != 1 && n.tables.len() != img.channels {
        return Err(DataError::Invalid(format!(
            "normalize has {} channel parameters for a {}-channel image",
            n.tables.len(),
            img.channels
        )));
    }
    let mut out = vec![0f32; img.data.len()];
    n.apply_into(img, &mut out);
    Ok(out)
}
