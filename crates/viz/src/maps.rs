//! Grids of learned filters and of feature maps, each tile min-max normalised.

use std::path::Path;

use image::{Rgb, RgbImage};

use crate::VizError;
use crate::canvas::{Anchor, Canvas, MUTED, TEXT, WHITE, checked_size, line_height, width_of};
use crate::output::save_png;

const PAD: i64 = 12;
const GAP: i64 = 6;
const TITLE_PX: f32 = 20.0;
const LABEL_PX: f32 = 11.0;
/// Colour of non-finite values.
const NON_FINITE: Rgb<u8> = Rgb([255, 0, 255]);
/// Feature maps are enlarged to about this many pixels on their longer side (a whole factor).
const MAP_TARGET: usize = 96;

/// Draws convolution filters, one tile each, and writes them to `path` as PNG.
///
/// Each filter is `(channels, kh, kw, weights)` with weights in `[c][kh][kw]` order. Every
/// filter is normalised to its own minimum and maximum (like torchvision's
/// `make_grid(normalize=True, scale_each=True)`), so its smallest weight is black and its
/// largest white. Three-channel filters draw in colour (channel 0 red, 1 green, 2 blue,
/// the three normalised together); any other channel count draws grey, from the mean
/// over channels. A constant filter draws black; NaN and infinite weights magenta.
/// Tiles are enlarged `scale` times and laid out `cols` to a row, numbered under each.
///
/// # Errors
/// [`VizError::InvalidInput`] for no filters, `cols == 0`, `scale == 0` or a filter
/// whose weights are not `c × kh × kw` long; [`VizError::TooLarge`]; I/O and encoding.
pub fn filter_grid(
    path: impl AsRef<Path>,
    title: &str,
    filters: &[(usize, usize, usize, Vec<f32>)],
    cols: usize,
    scale: u32,
) -> Result<(), VizError> {
    let mut tiles = Vec::with_capacity(filters.len());
    for (i, (c, kh, kw, w)) in filters.iter().enumerate() {
        let plane = kh * kw;
        if *c == 0 || plane == 0 || w.len() != c * plane {
            return Err(VizError::InvalidInput(format!(
                "filter {i}: {} weights do not make {c}×{kh}×{kw}",
                w.len()
            )));
        }
        let (width, height) = checked_size(*kw as u64, *kh as u64)?;
        let tile = if *c == 3 {
            let (lo, hi) = min_max(w);
            RgbImage::from_fn(width, height, |x, y| {
                let p = y as usize * kw + x as usize;
                let ch = [w[p], w[plane + p], w[2 * plane + p]];
                if ch.iter().all(|v| v.is_finite()) {
                    Rgb(ch.map(|v| normalise(v, lo, hi)))
                } else {
                    NON_FINITE
                }
            })
        } else {
            let mean: Vec<f32> = (0..plane)
                .map(|p| (0..*c).map(|ch| w[ch * plane + p]).sum::<f32>() / *c as f32)
                .collect();
            grey_tile(width, height, &mean)
        };
        tiles.push(tile);
    }
    draw_tiles(path.as_ref(), title, &tiles, cols, scale, "")
}

/// Draws feature maps (activations of one sample, one map per channel) as grey tiles and
/// writes them to `path` as PNG.
///
/// Each map is `(height, width, values)` row-major and is normalised to its own minimum
/// and maximum (a constant map, e.g. a dead ReLU channel, draws black; NaN and infinite
/// values magenta). Tiles are enlarged by a whole factor to about 96 pixels on their
/// longer side, laid out `cols` to a row, and labelled `ch i` underneath.
///
/// # Errors
/// [`VizError::InvalidInput`] for no maps, `cols == 0` or a map whose values are not
/// `height × width` long; [`VizError::TooLarge`]; I/O and encoding.
pub fn feature_map_grid(
    path: impl AsRef<Path>,
    title: &str,
    maps: &[(usize, usize, Vec<f32>)],
    cols: usize,
) -> Result<(), VizError> {
    let mut tiles = Vec::with_capacity(maps.len());
    let mut longest = 1;
    for (i, (h, w, v)) in maps.iter().enumerate() {
        if h * w == 0 || v.len() != h * w {
            return Err(VizError::InvalidInput(format!(
                "feature map {i}: {} values do not make {h}×{w}",
                v.len()
            )));
        }
        let (width, height) = checked_size(*w as u64, *h as u64)?;
        longest = longest.max(*h).max(*w);
        tiles.push(grey_tile(width, height, v));
    }
    let scale = (MAP_TARGET / longest).max(1) as u32;
    draw_tiles(path.as_ref(), title, &tiles, cols, scale, "ch ")
}

/// Minimum and maximum of the finite values (`(0, 0)` when there are none).
fn min_max(v: &[f32]) -> (f32, f32) {
    let mut it = v.iter().copied().filter(|x| x.is_finite());
    let first = it.next().unwrap_or(0.0);
    it.fold((first, first), |(lo, hi), x| (lo.min(x), hi.max(x)))
}

/// `v` mapped from `[lo, hi]` to `0..=255`; a constant range maps to 0.
fn normalise(v: f32, lo: f32, hi: f32) -> u8 {
    if hi > lo {
        (((v - lo) / (hi - lo)) * 255.0).round().clamp(0.0, 255.0) as u8
    } else {
        0
    }
}

/// A grey tile from row-major values, normalised to their own range.
fn grey_tile(width: u32, height: u32, v: &[f32]) -> RgbImage {
    let (lo, hi) = min_max(v);
    RgbImage::from_fn(width, height, |x, y| {
        let val = v[y as usize * width as usize + x as usize];
        if val.is_finite() {
            Rgb([normalise(val, lo, hi); 3])
        } else {
            NON_FINITE
        }
    })
}

/// Lays out tiles enlarged `scale` times with a title; numbers them `prefix i` when
/// there is room.
fn draw_tiles(
    path: &Path,
    title: &str,
    tiles: &[RgbImage],
    cols: usize,
    scale: u32,
    prefix: &str,
) -> Result<(), VizError> {
    let n = tiles.len();
    if n == 0 || cols == 0 || scale == 0 {
        return Err(VizError::InvalidInput(format!(
            "a tile grid needs tiles, columns and a scale ({n} tiles, {cols} columns, scale {scale})"
        )));
    }
    let cols = cols.min(n);
    let rows = n.div_ceil(cols);
    let s = scale as i64;
    let tile_w = tiles.iter().map(|t| t.width() as i64).max().unwrap_or(1) * s;
    let tile_h = tiles.iter().map(|t| t.height() as i64).max().unwrap_or(1) * s;
    let label_w = width_of(&format!("{prefix}{}", n - 1), LABEL_PX)?;
    let labelled = label_w <= tile_w + GAP;
    let label_h = if labelled {
        line_height(LABEL_PX)? + 2
    } else {
        0
    };
    let cell_w = tile_w + 2;
    let cell_h = tile_h + 2 + label_h;
    let title_h = if title.is_empty() {
        0
    } else {
        line_height(TITLE_PX)? + 10
    };
    let title_w = if title.is_empty() {
        0
    } else {
        width_of(title, TITLE_PX)?
    };
    let grid_w = cols as i64 * cell_w + (cols as i64 - 1) * GAP;
    let width = (2 * PAD + grid_w).max(title_w + 2 * PAD);
    let height = PAD + title_h + rows as i64 * cell_h + (rows as i64 - 1) * GAP + PAD;
    let mut c = Canvas::new(width as u64, height as u64, WHITE)?;
    if !title.is_empty() {
        c.text(width / 2, PAD, title, TITLE_PX, TEXT, Anchor::Center)?;
    }
    let x0 = (width - grid_w) / 2;
    for (i, t) in tiles.iter().enumerate() {
        let (r, col) = ((i / cols) as i64, (i % cols) as i64);
        let x = x0 + col * (cell_w + GAP);
        let y = PAD + title_h + r * (cell_h + GAP);
        c.stroke_rect(x, y, cell_w, tile_h + 2, 1, Rgb([170, 170, 170]));
        let ix = x + 1 + (tile_w - t.width() as i64 * s) / 2;
        let iy = y + 1 + (tile_h - t.height() as i64 * s) / 2;
        c.blit_scaled(ix, iy, t, scale);
        if labelled {
            let label = format!("{prefix}{i}");
            c.text(
                x + cell_w / 2,
                y + tile_h + 3,
                &label,
                LABEL_PX,
                MUTED,
                Anchor::Center,
            )?;
        }
    }
    save_png(path, &c.into_image())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_max_normalisation() {
        assert_eq!(min_max(&[f32::NAN, 2.0, -1.0]), (-1.0, 2.0));
        assert_eq!(normalise(-1.0, -1.0, 2.0), 0);
        assert_eq!(normalise(2.0, -1.0, 2.0), 255);
        assert_eq!(normalise(0.5, -1.0, 2.0), 128);
        assert_eq!(normalise(3.0, 3.0, 3.0), 0);
        let t = grey_tile(2, 1, &[f32::INFINITY, 1.0]);
        assert_eq!(t.get_pixel(0, 0), &NON_FINITE);
    }
}
