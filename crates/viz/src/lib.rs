//! PNG pictures of a classifier and its training:
//!
//! - [`training_curves`] (loss and accuracy per epoch), [`line_chart`] and [`line_charts`]
//!   (panels of [`ChartPanel`]);
//! - [`heatmap`]: a confusion matrix with every cell annotated ([`CellFormat`]);
//! - [`image_grid`]: sample images with captions, wrong predictions framed in red
//!   ([`chw_to_rgb`] turns `[c][h][w]` bytes into an image);
//! - [`filter_grid`] and [`feature_map_grid`]: learned filters and activations.
//!
//! Inputs are plain data: `(x, y)` points, rows of cells, label slices (`&[String]` or
//! `&[&str]`), images as channel-major `[c][h][w]` bytes ([`chw_to_rgb`]) and filters or
//! activations as `f32` values. All text uses DejaVu Sans compiled into the library
//! (`assets/DejaVuSans.ttf`, licence beside it), so no system font library is needed.
//! Every function writes its PNG atomically (temporary file beside the target, then
//! rename; the folder must exist) and returns a [`VizError`] instead of panicking on bad
//! input.
//!
//! ```
//! use kiln_viz::{CellFormat, heatmap};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("confusion.png");
//! let names = ["cat", "dog"];
//! let counts = vec![vec![8.0, 2.0], vec![1.0, 9.0]];
//! heatmap(&path, "confusion", &counts, &names, &names, CellFormat::Integer)?;
//! let img = image::open(&path)?.to_rgb8();
//! assert!(img.width() > 100 && img.height() > 100);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
/// An 8-bit RGB picture (from the `image` crate): what [`chw_to_rgb`] makes and
/// [`image_grid`] draws.
pub use image::RgbImage;
pub use maps::{feature_map_grid, filter_grid};

/// Largest width or height, in pixels, of any picture drawn here.
pub const MAX_SIDE: u32 = 16_384;
