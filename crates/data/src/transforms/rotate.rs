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

/// Rounds half to even like `nearbyint`, without a libm call (baseline x86-64 has no
/// rounding instruction): adding and subtracting 2^23 (with the sign of `x`) leaves the
/// nearest integer under the default round-to-nearest-even mode. Values of magnitude 2^23
/// and above are already integers.
#[inline(always)]
pub(crate) fn round_half_even(x: f32) -> f32 {
    const TWO_23: f32 = 8_388_608.0;
    let magic = TWO_23.copysign(x);
    if x.abs() < TWO_23 {
        (x + magic) - magic
    } else {
        x
    }
}

/// `floor`, without a libm call (see [`round_half_even`]).
#[inline(always)]
fn floor_fast(x: f32) -> f32 {
    let r = round_half_even(x);
    if r > x { r - 1.0 } else { r }
}

/// Rounds half to even into a byte, for `x` in (-0.5, 255.5]: adding 2^23 leaves the
/// rounded value in the low mantissa bits (no scalar float-to-int conversion).
#[inline(always)]
fn round_u8(x: f32) -> u8 {
    let n = (x + 8_388_608.0).to_bits() & 0x1FF;
    n.min(255) as u8
}

/// The inverse matrix `[a, b, c, d, e, f]` torchvision uses for a rotation by `degrees` about
/// the centre (in coordinates centred on the image), rounded to f32 as torch does.
fn inverse_matrix(degrees: f64) -> [f32; 6] {
    let rot = (-degrees).to_radians();
    let (sin, cos) = rot.sin_cos();
    [cos as f32, sin as f32, 0.0, -sin as f32, cos as f32, 0.0]
}

/// The affine map from output pixel (`i`, `j`) to input coordinates, as torch evaluates it:
/// `gx = x * r00 + y * r10 + r20` (x, y centred pixel coordinates), then grid_sample's
/// unnormalisation `(g + 1) * size / 2 - 0.5` (align_corners=False).
struct Grid {
    r: [f32; 6],
    hw: f32,
    hh: f32,
}

impl Grid {
    fn new(h: usize, w: usize, degrees: f64) -> Self {
        let m = inverse_matrix(degrees);
        let (hw, hh) = (0.5 * w as f32, 0.5 * h as f32);
        // `theta.transpose(1, 2) / [0.5 w, 0.5 h]`.
        let r = [
            m[0] / hw,
            m[1] / hw,
            m[2] / hw,
            m[3] / hh,
            m[4] / hh,
            m[5] / hh,
        ];
        Grid { r, hw, hh }
    }

    /// Centred x coordinate of every column.
    fn columns(&self, w: usize, xs: &mut Vec<f32>) {
        xs.clear();
        xs.extend((0..w).map(|i| -self.hw + 0.5 + i as f32));
    }

    /// For row `j`: maps a column's centred x to the input coordinates `(ix, iy)`.
    #[inline(always)]
    fn row(&self, j: usize) -> impl Fn(f32) -> (f32, f32) + '_ {
        let y = -self.hh + 0.5 + j as f32;
        let [r00, r10, r20, r01, r11, r21] = self.r;
        let (yx, yy) = (y * r10, y * r11);
        move |x| {
            let gx = x * r00 + yx + r20;
            let gy = x * r01 + yy + r21;
            ((gx + 1.0) * self.hw - 0.5, (gy + 1.0) * self.hh - 0.5)
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
    let grid = Grid::new(h, w, angle);
    grid.columns(w, &mut aux.xs);
    aux.bytes.clear();
    aux.bytes.resize(img.data.len(), 0);
    // Input planes get one extra slot holding the fill, which "outside" indices point at.
    let outside = plane as u32;
    aux.padded.clear();
    aux.padded.resize(plane + 1, fill);
    let (wf, hf) = (w as f32, h as f32);
    match interpolation {
        Interpolation::Nearest => {
            aux.index.clear();
            aux.index.resize(plane, outside);
            for (j, row) in aux.index.chunks_exact_mut(w).enumerate() {
                let coords = grid.row(j);
                for (o, &x) in row.iter_mut().zip(&aux.xs) {
                    let (ix, iy) = coords(x);
                    let (rx, ry) = (round_half_even(ix), round_half_even(iy));
                    let inside = rx >= 0.0 && ry >= 0.0 && rx < wf && ry < hf;
                    // Exact in f32 for any image under 2^24 pixels.
                    let k = (ry * wf + rx) as i32 as u32;
                    *o = if inside { k } else { outside };
                }
            }
            for (src, dst) in img
                .data
                .chunks_exact(plane)
                .zip(aux.bytes.chunks_exact_mut(plane))
            {
                aux.padded[..plane].copy_from_slice(src);
                let padded = &aux.padded[..];
                for (d, &i) in dst.iter_mut().zip(&aux.index) {
                    *d = padded[i as usize];
                }
            }
        }
        Interpolation::Bilinear => {
            aux.corners.clear();
            aux.weights.clear();
            for j in 0..h {
                let coords = grid.row(j);
                for &x in &aux.xs {
                    let (ix, iy) = coords(x);
                    let (x0, y0) = (floor_fast(ix), floor_fast(iy));
                    let (we, wn) = (ix - x0, iy - y0);
                    let (ww, ws) = (1.0 - we, 1.0 - wn);
                    // nw, ne, sw, se, as grid_sample orders them; outside corners weigh nothing.
                    let x1 = x0 + 1.0;
                    let y1 = y0 + 1.0;
                    let (inx0, inx1) = (x0 >= 0.0 && x0 < wf, x1 >= 0.0 && x1 < wf);
                    let (iny0, iny1) = (y0 >= 0.0 && y0 < hf, y1 >= 0.0 && y1 < hf);
                    let inside = [inx0 && iny0, inx1 && iny0, inx0 && iny1, inx1 && iny1];
                    // One conversion per pixel; exact in f32 below 2^24 pixels.
                    let nw = (y0 * wf + x0) as i32 as u32;
                    let k = [
                        nw,
                        nw.wrapping_add(1),
                        nw.wrapping_add(w as u32),
                        nw.wrapping_add(w as u32 + 1),
                    ];
                    let wt = [ws * ww, ws * we, wn * ww, wn * we];
                    let mut c = [outside; 4];
                    let mut weights = [0.0f32; 4];
                    for q in 0..4 {
                        if inside[q] {
                            c[q] = k[q];
                            weights[q] = wt[q];
                        }
                    }
                    aux.corners.push(c);
                    aux.weights.push(weights);
                }
            }
            let fill = fill as f32;
            for (src, dst) in img
                .data
                .chunks_exact(plane)
                .zip(aux.bytes.chunks_exact_mut(plane))
            {
                aux.padded[..plane].copy_from_slice(src);
                let padded = &aux.padded[..];
                for ((d, c), wt) in dst.iter_mut().zip(&aux.corners).zip(&aux.weights) {
                    let v = padded[c[0] as usize] as f32 * wt[0]
                        + padded[c[1] as usize] as f32 * wt[1]
                        + padded[c[2] as usize] as f32 * wt[2]
                        + padded[c[3] as usize] as f32 * wt[3];
                    let mask = wt[0] + wt[1] + wt[2] + wt[3];
                    let blended = (v - fill) * mask + fill;
                    *d = round_u8(blended.clamp(0.0, 255.0));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<f32> {
        let mut xs: Vec<f32> = (-64 * 1024..64 * 1024).map(|k| k as f32 / 1024.0).collect();
        for n in -70..70 {
            let n = n as f32;
            for x in [n, n + 0.5, n - 0.5] {
                xs.extend([x, x.next_up(), x.next_down()]);
            }
        }
        xs.extend([1e7, -1e7, 4_194_304.5, 8_388_609.0]);
        xs
    }

    #[test]
    fn fast_rounding_matches_std() {
        for x in samples() {
            assert_eq!(round_half_even(x), x.round_ties_even(), "x = {x}");
            if x.abs() < 1e6 {
                assert_eq!(floor_fast(x), x.floor(), "x = {x}");
            }
            if (0.0..=255.0).contains(&x) {
                assert_eq!(round_u8(x), x.round_ties_even() as u8, "x = {x}");
            }
        }
    }

    #[test]
    fn quarter_turn_is_counter_clockwise() {
        // 3x3 single-channel image with a bright top-right corner.
        let mut img = Image::new(vec![0; 9], [1, 3, 3]).unwrap();
        img.data[2] = 255;
        let out = rotate(&img, 90.0, Interpolation::Nearest, 0);
        // Counter-clockwise: top-right goes to top-left.
        assert_eq!(out.data[0], 255, "{:?}", out.data);
        assert_eq!(out.data.iter().filter(|&&v| v == 255).count(), 1);
    }
}
