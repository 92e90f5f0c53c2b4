//! PNG pictures: training curves, confusion-matrix heat maps,
//! grids of sample images, learned filters and feature maps.
//!
//! All text uses DejaVu Sans compiled into the binary (`assets/DejaVuSans.ttf`, licence
//! beside it), so no system font library is needed. Every function writes its PNG
//! atomically (temporary file, then rename) and returns a [`VizError`] instead of
//! panicking on bad input.

mod canvas;
mod chart;
mod colormap;
mod error;
mod font;
mod grid;
mod heatmap;
mod maps;
mod output;
mod ticks;
mod tiles;

pub use chart::{ChartPanel, line_chart, line_charts, training_curves};
pub use error::VizError;
pub use grid::{chw_to_rgb, image_grid};
pub use heatmap::{CellFormat, heatmap};
pub use image::RgbImage;
pub use maps::{feature_map_grid, filter_grid};

/// Largest width or height, in pixels, of any picture drawn here.
pub const MAX_SIDE: u32 = 16_384;
