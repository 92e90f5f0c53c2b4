//! Grids of learned filters and of feature maps, each tile min-max normalised.

use std::path::Path;

use image::{Rgb, RgbImage};

use crate::VizError;
use crate::canvas::{Anchor, Canvas, MUTED, TEXT, WHITE, checked_size, line_height, width_of};
use crate::output::save_png;
use crate::tiles::TileGrid;

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
        tiles.push(value_tile(&format!("filter {i}"), *c, *kh, *kw, w)?);
    }
    draw_tiles(
        path.as_ref(),
        "a filter grid",
        title,
        &tiles,
        cols,
        scale,
        "",
    )
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
        tiles.push(value_tile(&format!("feature map {i}"), 1, *h, *w, v)?);
        longest = longest.max(*h).max(*w);
    }
    let scale = (MAP_TARGET / longest).max(1) as u32;
    draw_tiles(
        path.as_ref(),
        "a feature-map grid",
        title,
        &tiles,
        cols,
        scale,
        "ch ",
    )
}

/// A tile of `[c][h][w]` values normalised to their own minimum and maximum: in colour
/// for three channels (normalised together), else grey from the mean over channels;
/// non-finite values magenta. `name` says which tile in the error.
///
/// # Errors
/// [`VizError::InvalidInput`] when `v` is not `c × h × w` long or a size is 0;
/// [`VizError::TooLarge`].
fn value_tile(name: &str, c: usize, h: usize, w: usize, v: &[f32]) -> Result<RgbImage, VizError> {
    let plane = h * w;
    if c == 0 || plane == 0 || v.len() != c * plane {
        return Err(VizError::InvalidInput(format!(
            "{name}: {} values do not make {c}×{h}×{w}",
            v.len()
        )));
    }
    let (width, height) = checked_size(w as u64, h as u64)?;
    if c == 3 {
        let (lo, hi) = min_max(v);
        return Ok(RgbImage::from_fn(width, height, |x, y| {
            let p = y as usize * w + x as usize;
            let ch = [v[p], v[plane + p], v[2 * plane + p]];
            if ch.iter().all(|x| x.is_finite()) {
                Rgb(ch.map(|x| normalise(x, lo, hi)))
            } else {
                NON_FINITE
            }
        }));
    }
    let mean: Vec<f32> = (0..plane)
        .map(|p| (0..c).map(|ch| v[ch * plane + p]).sum::<f32>() / c as f32)
        .collect();
    Ok(grey_tile(width, height, &mean))
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
/// there is room. `what` names the picture in errors.
fn draw_tiles(
    path: &Path,
    what: &str,
    title: &str,
    tiles: &[RgbImage],
    cols: usize,
    scale: u32,
    prefix: &str,
) -> Result<(), VizError> {
    let grid = TileGrid::new(what, tiles, cols, scale)?;
    let (tile_w, tile_h) = (grid.tile_w, grid.tile_h);
    let label_w = width_of(&format!("{prefix}{}", tiles.len() - 1), LABEL_PX)?;
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
    let (grid_w, grid_h) = grid.extent(cell_w, cell_h, GAP);
    let width = (2 * PAD + grid_w).max(title_w + 2 * PAD);
    let height = PAD + title_h + grid_h + PAD;
    let mut c = Canvas::new(width as u64, height as u64, WHITE)?;
    if !title.is_empty() {
        c.text(width / 2, PAD, title, TITLE_PX, TEXT, Anchor::Center)?;
    }
    let x0 = (width - grid_w) / 2;
    for (i, t) in tiles.iter().enumerate() {
        let (r, col) = grid.place(i);
        let x = x0 + col * (cell_w + GAP);
        let y = PAD + title_h + r * (cell_h + GAP);
        c.stroke_rect(x, y, cell_w, tile_h + 2, 1, Rgb([170, 170, 170]));
        c.blit_centred(x + 1, y + 1, tile_w, tile_h, t, scale);
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

    #[test]
    fn value_tiles_by_channel_count() {
        // 3 channels, 1×2: red ramps 0 → 4, green constant 2, blue 4 → 0 (range 0..4).
        let t = value_tile("t", 3, 1, 2, &[0.0, 4.0, 2.0, 2.0, 4.0, 0.0]).unwrap();
        assert_eq!(t.get_pixel(0, 0), &Rgb([0, 128, 255]));
        assert_eq!(t.get_pixel(1, 0), &Rgb([255, 128, 0]));
        // 2 channels: grey from the mean, (1+3)/2 = 2 and (5+7)/2 = 6.
        let t = value_tile("t", 2, 1, 2, &[1.0, 5.0, 3.0, 7.0]).unwrap();
        assert_eq!(
            (t.get_pixel(0, 0), t.get_pixel(1, 0)),
            (&Rgb([0; 3]), &Rgb([255; 3]))
        );
        let t = value_tile("t", 3, 1, 1, &[0.0, f32::NAN, 1.0]).unwrap();
        assert_eq!(t.get_pixel(0, 0), &NON_FINITE);
        let err = value_tile("map 2", 1, 2, 2, &[0.0; 3])
            .unwrap_err()
            .to_string();
        assert!(err.contains("map 2: 3 values do not make 1×2×2"), "{err}");
        assert!(value_tile("t", 0, 1, 1, &[]).is_err());
    }
}
