//! Training augmentation as plain data, so that a run records exactly what it trained with:
//! the walkthrough's (rotation, brightness, hue, flip) and the usual CIFAR recipe's (random
//! crop with padding, flip, cutout), in any combination.

use serde::{Deserialize, Serialize};

use super::{
    ColorJitter, Compose, Cutout, Interpolation, Normalize, RandomCrop, RandomHorizontalFlip,
    RandomRotation,
};

/// Which random transforms a training pipeline applies, in this order: rotation, colour
/// jitter, padded crop, horizontal flip (on u8 images), then normalisation, then cutout.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Augmentation {
    /// Largest rotation in degrees (nearest neighbour, fill 0); 0 for none.
    pub rotation: f64,
    /// Brightness jitter factor (torchvision `ColorJitter(brightness=...)`).
    pub brightness: f64,
    /// Hue jitter (torchvision `ColorJitter(hue=...)`, at most 0.5).
    pub hue: f64,
    /// Pad by this many pixels, then crop back to the image size at a random place; 0 for none.
    pub crop_padding: usize,
    /// Horizontal flip with probability 0.5.
    pub flip: bool,
    /// Side of the cutout square; 0 for none.
    pub cutout: usize,
}

impl Augmentation {
    /// No augmentation.
    pub const NONE: Augmentation = Augmentation {
        rotation: 0.0,
        brightness: 0.0,
        hue: 0.0,
        crop_padding: 0,
        flip: false,
        cutout: 0,
    };

    /// The walkthrough's: rotation 20°, brightness 0.2, hue 0.1, flip.
    pub fn walkthrough() -> Self {
        Augmentation {
            rotation: 20.0,
            brightness: 0.2,
            hue: 0.1,
            flip: true,
            ..Self::NONE
        }
    }

    /// The usual CIFAR recipe: pad 4 and crop, flip, and cutout of `cutout` pixels (0: none).
    pub fn crop_flip(cutout: usize) -> Self {
        Augmentation {
            crop_padding: 4,
            flip: true,
            cutout,
            ..Self::NONE
        }
    }

    /// Whether it changes anything.
    pub fn is_none(&self) -> bool {
        *self == Self::NONE
    }

    /// The pipeline for images of side `size` (square or not: crops keep `height x width`;
    /// the crop op takes the larger side for non-square images, padding the rest).
    pub fn compose(&self, normalize: Normalize, height: usize, width: usize) -> Compose {
        let mut c = Compose::new(normalize);
        if self.rotation > 0.0 {
            c = c.then(RandomRotation::new(
                self.rotation,
                Interpolation::Nearest,
                0,
            ));
        }
        if self.brightness > 0.0 || self.hue > 0.0 {
            c = c.then(ColorJitter::new(self.brightness, 0.0, 0.0, self.hue));
        }
        if self.crop_padding > 0 {
            c = c.then(RandomCrop::new(height.max(width), self.crop_padding, 0));
        }
        if self.flip {
            c = c.then(RandomHorizontalFlip::new(0.5));
        }
        if self.cutout > 0 {
            c = c.then_tensor(Cutout { size: self.cutout });
        }
        c
    }

    /// A short description: "rotation 20°, brightness 0.2, hue 0.1, flip" or "none".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.rotation > 0.0 {
            parts.push(format!("rotation {}°", self.rotation));
        }
        if self.brightness > 0.0 {
            parts.push(format!("brightness {}", self.brightness));
        }
        if self.hue > 0.0 {
            parts.push(format!("hue {}", self.hue));
        }
        if self.crop_padding > 0 {
            parts.push(format!("crop (pad {})", self.crop_padding));
        }
        if self.flip {
            parts.push("flip".into());
        }
        if self.cutout > 0 {
            parts.push(format!("cutout {}", self.cutout));
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::{Image, Transform};

    #[test]
    fn cutout_blanks_a_square_to_the_mean_and_crop_keeps_the_size() {
        let img = Image::new(vec![200; 3 * 16 * 16], [3, 16, 16]).unwrap();
        let aug = Augmentation {
            cutout: 6,
            ..Augmentation::NONE
        };
        let c = aug.compose(Normalize::half(), 16, 16);
        let out = c.apply_one(&img, 7);
        let zeros = out.iter().filter(|&&v| v == 0.0).count();
        // 6x6 inside, or clipped at a border (at least 3x3), in all 3 channels
        assert!((27..=108).contains(&zeros) && zeros % 3 == 0, "{zeros}");
        assert_eq!(
            c.output_shape([3, 16, 16]),
            [3, 16, 16],
            "cutout keeps the shape"
        );
        let crop = Augmentation::crop_flip(0).compose(Normalize::half(), 16, 16);
        assert_eq!(crop.apply_one(&img, 3).len(), 3 * 16 * 16);
        assert_eq!(Augmentation::NONE.describe(), "none");
        assert_eq!(
            Augmentation::crop_flip(8).describe(),
            "crop (pad 4), flip, cutout 8"
        );
    }
}
