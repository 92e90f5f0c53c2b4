//! Rotation about the image centre, as torchvision's `F.rotate` on tensors.
//!
//! torchvision builds the inverse affine matrix of a rotation by `-angle`
//! (`_get_inverse_affine_matrix`), maps every output pixel centre through it into normalised
//! coordinates and samples the input with `grid_sample(align_corners=False, padding_mode=
//! "zeros")`. A mask channel of ones goes through the same sampling: nearest marks pixels whose
//! source lies outside as fill, bilinear blends with the fill by the mask's weight. The f32
//! result is rounded half to even back to u8. Positive angles turn the image counter-clockwise.
//!
//! The sampling positions depend only on the angle and the size, so they are computed once per
//! image and then applied to every channel.

use rand::RngExt;

use super::{Aux, Image, ImageOp, SampleRng};

/// How a rotated pixel is sampled from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolation {
    /// The nearest input pixel (ties to even, as `grid_sample` does).
    Nearest,
    /// Bilinear interpolation of the four surrounding pixels.
    Bilinear,
}

/// The inverse matrix `[a, b, c, d, e, f]` torchvision uses for a rotation by `degrees` about
/// the centre (in coordinates centred on the image), rounded to f32 as torch does.
fn inverse_matrix(degrees: f64) -> [f32; 6] {
    let rot = (-degrees).to_radians();
    let (sin, cos) = rot.sin_cos();
    [cos as f32, sin as f32, 0.0, -sin as f32, cos as f32, 0.0]
}

/// For each output pixel, its source position in input pixel coordinates `(x, y)`.
fn for_each_source(h: usize, w: usize, degrees: f64, mut f: impl FnMut(usize, f32, f32)) {
    let m = inverse_matrix(degrees);
    let (hw, hh) = (0.5 * w as f32, 0.5 * h as f32);
    // `theta.transpose(1, 2) / [0.5 w, 0.5 h]`, applied to (x, y, 1).
    let (r00, r10, r20) = (m[0] / hw, m[1] / hw, m[2] / hw);
    let (r01, r11, r21) = (m[3] / hh, m[4] / hh, m[5] / hh);
    for j in 0..h {
        let y = -hh + 0.5 + j as f32;
        for i in 0..w {
            let x = -hw + 0.5 + i as f32;
            let gx = x * r00 + y * r10 + r20;
            let gy = x * r01 + y * r11 + r21;
            // grid_sample's unnormalisation with align_corners=False.
            let ix = (gx + 1.0) * hw - 0.5;
            let iy = (gy + 1.0) * hh - 0.5;
            f(j * w + i, ix, iy);
        }
    }
}

/// Rotates `img` into `aux.bytes` and swaps it in.
pub(crate) fn rotate_in_place(
    img: &mut Image,
    aux: &mut Aux,
    degrees: f64,
    interpolation: Interpolation,
    fill: u8,
) {
    let angle = degrees.rem_euclid(360.0);
    let (h, w, plane) = (img.height, img.width, img.plane());
    if angle == 0.0 || plane == 0 {
        return;
    }
    aux.bytes.clear();
    aux.bytes.resize(img.data.len(), 0);
    match interpolation {
        Interpolation::Nearest => {
            const OUTSIDE: u32 = u32::MAX;
            aux.index.clear();
            aux.index.resize(plane, OUTSIDE);
            let index = &mut aux.index;
            for_each_source(h, w, angle, |k, ix, iy| {
                let (x, y) = (ix.round_ties_even(), iy.round_ties_even());
                if x >= 0.0 && y >= 0.0 && x < w as f32 && y < h as f32 {
                    index[k] = y as u32 * w as u32 + x as u32;
                }
            });
            for (src, dst) in img
                .data
                .chunks_exact(plane)
                .zip(aux.bytes.chunks_exact_mut(plane))
            {
                for (d, &i) in dst.iter_mut().zip(index.iter()) {
                    *d = if i == OUTSIDE { fill } else { src[i as usize] };
                }
            }
        }
        Interpolation::Bilinear => {
            aux.corners.clear();
            aux.corners.resize(plane, [0; 4]);
            aux.weights.clear();
            aux.weights.resize(plane, [0.0; 4]);
            let (corners, weights) = (&mut aux.corners, &mut aux.weights);
            for_each_source(h, w, angle, |k, ix, iy| {
                let (x0, y0) = (ix.floor(), iy.floor());
                let (we, wn) = (ix - x0, iy - y0);
                let (ww, ws) = (1.0 - we, 1.0 - wn);
                // nw, ne, sw, se, as grid_sample orders them.
                let cand = [
                    (x0, y0, ws * ww),
                    (x0 + 1.0, y0, ws * we),
                    (x0, y0 + 1.0, wn * ww),
                    (x0 + 1.0, y0 + 1.0, wn * we),
                ];
                for (c, &(x, y, wt)) in cand.iter().enumerate() {
                    if x >= 0.0 && y >= 0.0 && x < w as f32 && y < h as f32 {
                        corners[k][c] = y as u32 * w as u32 + x as u32;
                        weights[k][c] = wt;
                    }
                }
            });
            let fill = fill as f32;
            for (src, dst) in img
                .data
                .chunks_exact(plane)
                .zip(aux.bytes.chunks_exact_mut(plane))
            {
                for ((d, c), wt) in dst.iter_mut().zip(corners.iter()).zip(weights.iter()) {
                    let v = src[c[0] as usize] as f32 * wt[0]
                        + src[c[1] as usize] as f32 * wt[1]
                        + src[c[2] as usize] as f32 * wt[2]
                        + src[c[3] as usize] as f32 * wt[3];
                    let mask = wt[0] + wt[1] + wt[2] + wt[3];
                    let blended = (v - fill) * mask + fill;
                    *d = blended.round_ties_even().clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
    std::mem::swap(&mut img.data, &mut aux.bytes);
}

/// Functional form: `img` rotated by `degrees` (counter-clockwise when positive) about its
/// centre, keeping its size; uncovered pixels take `fill` (torchvision `F.rotate`).
pub fn rotate(img: &Image, degrees: f64, interpolation: Interpolation, fill: u8) -> Image {
    let mut out = img.clone();
    rotate_in_place(&mut out, &mut Aux::default(), degrees, interpolation, fill);
    out
}

/// Rotates by an angle drawn uniformly from `[min, max]` degrees (torchvision `RandomRotation`).
#[derive(Debug, Clone, Copy)]
pub struct RandomRotation {
    /// Smallest angle, degrees.
    pub min: f64,
    /// Largest angle, degrees.
    pub max: f64,
    /// Sampling method.
    pub interpolation: Interpolation,
    /// Value of pixels that come from outside the input.
    pub fill: u8,
}

impl RandomRotation {
    /// Angles in `[-degrees, degrees]`.
    pub fn new(degrees: f64, interpolation: Interpolation, fill: u8) -> Self {
        let d = if degrees.is_finite() {
            degrees.abs()
        } else {
            0.0
        };
        RandomRotation {
            min: -d,
            max: d,
            interpolation,
            fill,
        }
    }

    /// Angles in `[min, max]` (swapped when given in the wrong order).
    pub fn with_range(min: f64, max: f64, interpolation: Interpolation, fill: u8) -> Self {
        let (min, max) = if min <= max { (min, max) } else { (max, min) };
        RandomRotation {
            min,
            max,
            interpolation,
            fill,
        }
    }
}

impl ImageOp for RandomRotation {
    fn apply(&self, img: &mut Image, aux: &mut Aux, rng: &mut SampleRng) {
        let angle = self.min + (self.max - self.min) * rng.random::<f64>();
        rotate_in_place(img, aux, angle, self.interpolation, self.fill);
    }
}
