//! A small RGB canvas: rectangles, nearest-neighbour blits and anti-aliased text.

use image::{Rgb, RgbImage};

use crate::font::{line_box_height, rasterize, text_width};
use crate::{MAX_SIDE, VizError};

/// Common colours.
pub(crate) const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
pub(crate) const TEXT: Rgb<u8> = Rgb([30, 30, 30]);
pub(crate) const MUTED: Rgb<u8> = Rgb([90, 90, 90]);
pub(crate) const WRONG: Rgb<u8> = Rgb([210, 30, 30]);

/// A clipping box `(x0, y0, x1, y1)`, end-exclusive.
pub(crate) type Clip = (i64, i64, i64, i64);

/// Horizontal anchor of a text line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    Left,
    Center,
    Right,
}

/// Checks a requested picture size against [`MAX_SIDE`] and converts it to `u32`.
pub(crate) fn checked_size(width: u64, height: u64) -> Result<(u32, u32), VizError> {
    if width == 0 || height == 0 || width > MAX_SIDE as u64 || height > MAX_SIDE as u64 {
        return Err(VizError::TooLarge {
            width,
            height,
            max: MAX_SIDE,
        });
    }
    Ok((width as u32, height as u32))
}

/// An RGB picture being drawn.
pub(crate) struct Canvas {
    img: RgbImage,
}

impl Canvas {
    /// A canvas of `width × height` filled with `background`.
    pub(crate) fn new(width: u64, height: u64, background: Rgb<u8>) -> Result<Self, VizError> {
        let (w, h) = checked_size(width, height)?;
        Ok(Self {
            img: RgbImage::from_pixel(w, h, background),
        })
    }

    /// The finished picture.
    pub(crate) fn into_image(self) -> RgbImage {
        self.img
    }

    /// Blends `color` over pixel `(x, y)` with opacity `alpha`; outside pixels are ignored.
    fn blend(&mut self, x: i64, y: i64, color: Rgb<u8>, alpha: f32) {
        if x < 0 || y < 0 || x >= self.img.width() as i64 || y >= self.img.height() as i64 {
            return;
        }
        let a = alpha.clamp(0.0, 1.0);
        let p = self.img.get_pixel_mut(x as u32, y as u32);
        for (d, s) in p.0.iter_mut().zip(color.0) {
            *d = (*d as f32 * (1.0 - a) + s as f32 * a).round() as u8;
        }
    }

    /// Blends `color` with opacity `alpha` at `(x, y)` if it lies inside `clip`
    /// (`x0, y0, x1, y1`, end-exclusive).
    fn blend_clipped(&mut self, x: i64, y: i64, color: Rgb<u8>, alpha: f32, clip: Clip) {
        let (x0, y0, x1, y1) = clip;
        if x >= x0 && x < x1 && y >= y0 && y < y1 {
            self.blend(x, y, color, alpha);
        }
    }

    /// Draws an anti-aliased line segment `width` pixels wide with round ends.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn line(
        &mut self,
        ax: f64,
        ay: f64,
        bx: f64,
        by: f64,
        width: f64,
        color: Rgb<u8>,
        clip: Clip,
    ) {
        let r = width / 2.0;
        let (dx, dy) = (bx - ax, by - ay);
        let len2 = dx * dx + dy * dy;
        let xs = (ax.min(bx) - r - 1.0).floor() as i64..=(ax.max(bx) + r + 1.0).ceil() as i64;
        for y in (ay.min(by) - r - 1.0).floor() as i64..=(ay.max(by) + r + 1.0).ceil() as i64 {
            for x in xs.clone() {
                let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
                let t = if len2 > 0.0 {
                    (((px - ax) * dx + (py - ay) * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (qx, qy) = (ax + t * dx - px, ay + t * dy - py);
                let cov = (r + 0.5 - (qx * qx + qy * qy).sqrt()).clamp(0.0, 1.0);
                if cov > 0.0 {
                    self.blend_clipped(x, y, color, cov as f32, clip);
                }
            }
        }
    }

    /// Draws an anti-aliased filled disc.
    pub(crate) fn disc(&mut self, cx: f64, cy: f64, r: f64, color: Rgb<u8>, clip: Clip) {
        self.line(cx, cy, cx, cy, 2.0 * r, color, clip);
    }

    /// Fills a rectangle (clipped to the canvas).
    pub(crate) fn fill_rect(&mut self, x: i64, y: i64, w: i64, h: i64, color: Rgb<u8>) {
        let x0 = x.max(0);
        let y0 = y.max(0);
        let x1 = (x + w).min(self.img.width() as i64);
        let y1 = (y + h).min(self.img.height() as i64);
        for yy in y0..y1 {
            for xx in x0..x1 {
                self.img.put_pixel(xx as u32, yy as u32, color);
            }
        }
    }

    /// Draws a rectangle outline `thickness` pixels wide, inside the given box.
    pub(crate) fn stroke_rect(&mut self, x: i64, y: i64, w: i64, h: i64, t: i64, c: Rgb<u8>) {
        self.fill_rect(x, y, w, t, c);
        self.fill_rect(x, y + h - t, w, t, c);
        self.fill_rect(x, y, t, h, c);
        self.fill_rect(x + w - t, y, t, h, c);
    }

    /// Copies `src` enlarged `scale` times (nearest neighbour), centred in the box of
    /// `w × h` pixels whose top-left corner is `(x, y)`.
    pub(crate) fn blit_centred(
        &mut self,
        x: i64,
        y: i64,
        w: i64,
        h: i64,
        src: &RgbImage,
        scale: u32,
    ) {
        let s = scale.max(1) as i64;
        let x = x + (w - src.width() as i64 * s) / 2;
        let y = y + (h - src.height() as i64 * s) / 2;
        for (sx, sy, p) in src.enumerate_pixels() {
            self.fill_rect(x + sx as i64 * s, y + sy as i64 * s, s, s, *p);
        }
    }

    /// Draws one line of text whose line box has its top at `y` and is anchored at `x`.
    pub(crate) fn text(
        &mut self,
        x: i64,
        y: i64,
        text: &str,
        px: f32,
        color: Rgb<u8>,
        anchor: Anchor,
    ) -> Result<(), VizError> {
        let w = text_width(text, px)? as i64;
        let x0 = match anchor {
            Anchor::Left => x,
            Anchor::Center => x - w / 2,
            Anchor::Right => x - w,
        };
        rasterize(text, px, |tx, ty, cov| {
            self.blend(x0 + tx as i64, y + ty as i64, color, cov)
        })
    }

    /// Draws a line of text rotated a quarter turn anticlockwise (read bottom to top),
    /// centred vertically on `cy`, with the left edge of its line box at `x`.
    pub(crate) fn text_vertical(
        &mut self,
        x: i64,
        cy: i64,
        text: &str,
        px: f32,
        color: Rgb<u8>,
    ) -> Result<(), VizError> {
        let w = text_width(text, px)? as i64;
        let bottom = cy + w / 2;
        rasterize(text, px, |tx, ty, cov| {
            self.blend(x + ty as i64, bottom - tx as i64, color, cov)
        })
    }

    /// Draws a line of text rotated a quarter turn anticlockwise whose end (the top of the
    /// rotated text) is at `top`, with the left edge of its line box at `x`.
    pub(crate) fn text_vertical_from_top(
        &mut self,
        x: i64,
        top: i64,
        text: &str,
        px: f32,
        color: Rgb<u8>,
    ) -> Result<(), VizError> {
        let w = text_width(text, px)? as i64;
        self.text_vertical(x, top + w / 2, text, px, color)
    }
}

/// Height in whole pixels of a line of text at `px` pixels.
pub(crate) fn line_height(px: f32) -> Result<i64, VizError> {
    Ok(line_box_height(px)?.ceil() as i64)
}

/// Width in whole pixels of `text` at `px` pixels.
pub(crate) fn width_of(text: &str, px: f32) -> Result<i64, VizError> {
    Ok(text_width(text, px)?.ceil() as i64)
}

/// Width in whole pixels of the widest of `texts` at `px` pixels (0 for none).
pub(crate) fn widest(
    texts: impl IntoIterator<Item = impl AsRef<str>>,
    px: f32,
) -> Result<i64, VizError> {
    let mut w = 0;
    for t in texts {
        w = w.max(width_of(t.as_ref(), px)?);
    }
    Ok(w)
}
