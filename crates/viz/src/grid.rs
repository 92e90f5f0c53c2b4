//! Grids of enlarged sample images with captions, e.g. CIFAR predictions.

use std::path::Path;

use image::{Rgb, RgbImage};

use crate::VizError;
use crate::canvas::{Anchor, Canvas, TEXT, WHITE, WRONG, line_height};
use crate::font::{text_width, wrap};
use crate::output::save_png;
use crate::tiles::TileGrid;

const PAD: i64 = 12;
const TITLE_PX: f32 = 20.0;
const CAPTION_PX: f32 = 13.0;
const BORDER: i64 = 3;
const MIN_CELL_W: i64 = 140;

/// Builds an RGB image from planar channel-major bytes (`[c][h][w]`, as CIFAR stores
/// them); `channels` must be 1 (grey) or 3 (RGB).
///
/// # Errors
/// [`VizError::InvalidInput`] for another channel count, a zero size or a length that
/// is not `channels × height × width`.
pub fn chw_to_rgb(
    channels: usize,
    height: usize,
    width: usize,
    data: &[u8],
) -> Result<RgbImage, VizError> {
    if channels != 1 && channels != 3 {
        return Err(VizError::InvalidInput(format!(
            "images need 1 or 3 channels, not {channels}"
        )));
    }
    let plane = height * width;
    if plane == 0 || data.len() != channels * plane {
        return Err(VizError::InvalidInput(format!(
            "{} bytes do not make a {channels}×{height}×{width} image",
            data.len()
        )));
    }
    let (w, h) = crate::canvas::checked_size(width as u64, height as u64)?;
    Ok(RgbImage::from_fn(w, h, |x, y| {
        let i = y as usize * width + x as usize;
        if channels == 3 {
            Rgb([data[i], data[plane + i], data[2 * plane + i]])
        } else {
            Rgb([data[i]; 3])
        }
    }))
}

/// Draws `images` in a grid of `cols` columns, each enlarged `scale` times (nearest
/// neighbour, so pixels stay crisp), with its caption underneath, and writes it to `path`
/// as PNG (atomically).
///
/// `captions` is empty (no captions) or one per image; a caption may hold `\n`. When a
/// caption is too wide for its cell, all captions break at their ` / ` separators (so
/// `"truth: cat / pred: dog"` becomes two lines), and lines still too wide wrap at
/// spaces. `wrong` is empty (nothing marked) or one flag per image: a flagged image gets
/// a red frame and a red caption, and a legend line says so. An empty `title` leaves the
/// title out. Images of different sizes are centred in tiles that fit the largest.
///
/// # Errors
/// [`VizError::InvalidInput`] for no images, `cols == 0`, `scale == 0` or
/// caption/flag counts that do not match; [`VizError::TooLarge`]; I/O and encoding.
pub fn image_grid(
    path: impl AsRef<Path>,
    title: &str,
    images: &[RgbImage],
    captions: &[String],
    wrong: &[bool],
    cols: usize,
    scale: u32,
) -> Result<(), VizError> {
    let grid = TileGrid::new("an image grid", images, cols, scale)?;
    let n = images.len();
    if (!captions.is_empty() && captions.len() != n) || (!wrong.is_empty() && wrong.len() != n) {
        return Err(VizError::InvalidInput(format!(
            "{n} images but {} captions and {} wrong/right flags",
            captions.len(),
            wrong.len()
        )));
    }
    let (tile_w, tile_h) = (grid.tile_w, grid.tile_h);
    let cell_w = (tile_w + 2 * BORDER).max(MIN_CELL_W);
    let text_w = (cell_w - 6) as f32;

    // When any caption is too wide for one line, every caption breaks at its " / "
    // separators, so the grid reads uniformly.
    let mut split = false;
    for c in captions {
        split |= text_width(c, CAPTION_PX)? > text_w;
    }
    let mut wrapped = Vec::with_capacity(captions.len());
    for c in captions {
        let c = if split {
            c.replace(" / ", "\n")
        } else {
            c.clone()
        };
        wrapped.push(wrap(&c, CAPTION_PX, text_w)?);
    }
    let max_lines = wrapped.iter().map(Vec::len).max().unwrap_or(0) as i64;
    let line_h = line_height(CAPTION_PX)?;
    let caption_h = if max_lines > 0 {
        4 + max_lines * line_h
    } else {
        0
    };
    let cell_h = tile_h + 2 * BORDER + caption_h;

    let any_wrong = wrong.iter().any(|&w| w);
    let title_h = if title.is_empty() {
        0
    } else {
        line_height(TITLE_PX)? + 6
    };
    let legend_h = if any_wrong {
        line_height(CAPTION_PX)? + 6
    } else {
        0
    };
    let head = PAD + title_h + legend_h + if title_h + legend_h > 0 { 8 } else { 0 };
    let gap = 16;
    let (grid_w, grid_h) = grid.extent(cell_w, cell_h, gap);
    let width = 2 * PAD + grid_w;
    let height = head + grid_h + PAD;
    let mut c = Canvas::new(width as u64, height as u64, WHITE)?;

    let mut y = PAD;
    if !title.is_empty() {
        c.text(width / 2, y, title, TITLE_PX, TEXT, Anchor::Center)?;
        y += title_h;
    }
    if any_wrong {
        let count = wrong.iter().filter(|&&w| w).count();
        let legend = format!("red frame and caption: wrong prediction ({count} of {n})");
        c.text(width / 2, y, &legend, CAPTION_PX, WRONG, Anchor::Center)?;
    }

    for (i, img) in images.iter().enumerate() {
        let (r, col) = grid.place(i);
        let x = PAD + col * (cell_w + gap);
        let y = head + r * (cell_h + gap);
        let is_wrong = wrong.get(i).copied().unwrap_or(false);
        // Frame box centred in the cell, image centred in the frame.
        let frame_w = tile_w + 2 * BORDER;
        let fx = x + (cell_w - frame_w) / 2;
        let frame = if is_wrong {
            WRONG
        } else {
            Rgb([215, 215, 215])
        };
        let t = if is_wrong { BORDER } else { 1 };
        c.stroke_rect(
            fx + BORDER - t,
            y + BORDER - t,
            tile_w + 2 * t,
            tile_h + 2 * t,
            t,
            frame,
        );
        c.blit_centred(fx + BORDER, y + BORDER, tile_w, tile_h, img, scale);
        if let Some(lines) = wrapped.get(i) {
            let ink = if is_wrong { WRONG } else { TEXT };
            let mut ty = y + tile_h + 2 * BORDER + 4;
            for line in lines {
                c.text(x + cell_w / 2, ty, line, CAPTION_PX, ink, Anchor::Center)?;
                ty += line_h;
            }
        }
    }
    save_png(path.as_ref(), &c.into_image())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chw_layout() {
        // 1×2 image: pixel 0 = (1, 3, 5), pixel 1 = (2, 4, 6).
        let img = chw_to_rgb(3, 1, 2, &[1, 2, 3, 4, 5, 6]).unwrap();
        assert_eq!(img.get_pixel(0, 0), &Rgb([1, 3, 5]));
        assert_eq!(img.get_pixel(1, 0), &Rgb([2, 4, 6]));
        let grey = chw_to_rgb(1, 1, 2, &[7, 9]).unwrap();
        assert_eq!(grey.get_pixel(1, 0), &Rgb([9, 9, 9]));
        assert!(chw_to_rgb(3, 2, 2, &[0; 11]).is_err());
        assert!(chw_to_rgb(2, 1, 1, &[0; 2]).is_err());
    }
}
