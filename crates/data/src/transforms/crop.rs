//! Pad-then-crop (`RandomCrop` with padding).

use rand::RngExt;

use super::{Aux, Image, ImageOp, SampleRng};

/// Crops a `size x size` window at (`top`, `left`) of `img` padded by `padding` pixels of
/// `fill` on every side, writing into `aux.bytes` and swapping it in. Pixels of the window
/// outside the padded image also take `fill`.
pub(crate) fn crop_padded_in_place(
    img: &mut Image,
    aux: &mut Aux,
    padding: usize,
    top: usize,
    left: usize,
    size: usize,
    fill: u8,
) {
    let (c, h, w) = (img.channels, img.height, img.width);
    aux.bytes.clear();
    aux.bytes.resize(c * size * size, fill);
    for ch in 0..c {
        let src = &img.data[ch * h * w..(ch + 1) * h * w];
        let dst = &mut aux.bytes[ch * size * size..(ch + 1) * size * size];
        for y in 0..size {
            // Row in the original image: top + y - padding.
            let Some(sy) = (top + y).checked_sub(padding).filter(|&sy| sy < h) else {
                continue;
            };
            // Output columns whose source column left + x - padding lies in [0, w).
            let x0 = padding.saturating_sub(left);
            let x1 = (w + padding).saturating_sub(left).min(size);
            if x0 >= x1 {
                continue;
            }
            let sx0 = left + x0 - padding;
            dst[y * size + x0..y * size + x1]
                .copy_from_slice(&src[sy * w + sx0..sy * w + sx0 + (x1 - x0)]);
        }
    }
    std::mem::swap(&mut img.data, &mut aux.bytes);
    img.height = size;
    img.width = size;
}

/// Functional form: pads `img` by `padding` pixels of `fill` on every side, then crops the
/// `size x size` window whose top-left corner is (`top`, `left`) in the padded image
/// (torchvision `F.pad` then `F.crop`).
pub fn crop_padded(
    img: &Image,
    padding: usize,
    top: usize,
    left: usize,
    size: usize,
    fill: u8,
) -> Image {
    let mut out = img.clone();
    crop_padded_in_place(
        &mut out,
        &mut Aux::default(),
        padding,
        top,
        left,
        size,
        fill,
    );
    out
}

/// Pads by `padding` pixels of `fill`, then crops a random `size x size` window
/// (torchvision `RandomCrop(size, padding, fill=fill)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomCrop {
    /// Side of the output window.
    pub size: usize,
    /// Padding added on every side first.
    pub padding: usize,
    /// Padding value.
    pub fill: u8,
}

impl RandomCrop {
    /// A `size x size` crop after padding by `padding`.
    pub fn new(size: usize, padding: usize, fill: u8) -> Self {
        RandomCrop {
            size,
            padding,
            fill,
        }
    }
}

impl ImageOp for RandomCrop {
    fn apply(&self, img: &mut Image, aux: &mut Aux, rng: &mut SampleRng) {
        let ph = img.height + 2 * self.padding;
        let pw = img.width + 2 * self.padding;
        // When the window is larger than the padded image it is anchored at the corner and
        // the excess filled (torchvision would pad further; this keeps the output size).
        let top = rng.random_range(0..=ph.saturating_sub(self.size));
        let left = rng.random_range(0..=pw.saturating_sub(self.size));
        crop_padded_in_place(img, aux, self.padding, top, left, self.size, self.fill);
    }

    fn output_shape(&self, input: [usize; 3]) -> [usize; 3] {
        [input[0], self.size, self.size]
    }
}
