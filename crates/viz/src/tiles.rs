//! Layout shared by the grids of pictures (sample images, filters, feature maps).

use image::RgbImage;

use crate::VizError;

/// A grid of tiles: at most `cols` a row, each tile in a box of `tile_w × tile_h` pixels
/// that fits the largest tile enlarged `scale` times.
pub(crate) struct TileGrid {
    pub(crate) cols: usize,
    pub(crate) rows: usize,
    pub(crate) tile_w: i64,
    pub(crate) tile_h: i64,
}

impl TileGrid {
    /// Lays out `tiles`; `what` names the picture in the error, e.g. `"an image grid"`.
    ///
    /// # Errors
    /// [`VizError::InvalidInput`] for no tiles, `cols == 0` or `scale == 0`.
    pub(crate) fn new(
        what: &str,
        tiles: &[RgbImage],
        cols: usize,
        scale: u32,
    ) -> Result<Self, VizError> {
        let n = tiles.len();
        if n == 0 || cols == 0 || scale == 0 {
            return Err(VizError::InvalidInput(format!(
                "{what} needs at least one tile, one column and a scale of 1 or more \
                 (got {n} tiles, {cols} columns, scale {scale})"
            )));
        }
        let cols = cols.min(n);
        let side = |len: fn(&RgbImage) -> u32| {
            tiles.iter().map(|t| len(t) as i64).max().unwrap_or(1) * scale as i64
        };
        Ok(Self {
            cols,
            rows: n.div_ceil(cols),
            tile_w: side(RgbImage::width),
            tile_h: side(RgbImage::height),
        })
    }

    /// Row and column of tile `i`.
    pub(crate) fn place(&self, i: usize) -> (i64, i64) {
        ((i / self.cols) as i64, (i % self.cols) as i64)
    }

    /// Width and height of all cells of `cell_w × cell_h` pixels with `gap` pixels between.
    pub(crate) fn extent(&self, cell_w: i64, cell_h: i64, gap: i64) -> (i64, i64) {
        let span = |n: usize, cell: i64| n as i64 * cell + (n as i64 - 1) * gap;
        (span(self.cols, cell_w), span(self.rows, cell_h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_the_largest_tile() {
        let tiles = [
            RgbImage::new(3, 2),
            RgbImage::new(2, 5),
            RgbImage::new(1, 1),
        ];
        let g = TileGrid::new("a grid", &tiles, 2, 4).unwrap();
        assert_eq!((g.cols, g.rows, g.tile_w, g.tile_h), (2, 2, 12, 20));
        assert_eq!(g.place(2), (1, 0));
        assert_eq!(g.extent(10, 20, 3), (23, 43));
        let g = TileGrid::new("a grid", &tiles, 8, 1).unwrap();
        assert_eq!((g.cols, g.rows), (3, 1));
        let err = TileGrid::new("a grid", &[], 2, 1)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("a grid needs at least one tile"), "{err}");
        assert!(err.contains("(got 0 tiles, 2 columns, scale 1)"), "{err}");
        assert!(TileGrid::new("a grid", &tiles, 0, 1).is_err());
        assert!(TileGrid::new("a grid", &tiles, 2, 0).is_err());
    }
}
