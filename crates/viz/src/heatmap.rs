//! Annotated heat maps, for confusion matrices.

use std::path::Path;

use image::Rgb;

use crate::VizError;
use crate::canvas::{Anchor, Canvas, MUTED, TEXT, WHITE, line_height, widest, width_of};
use crate::colormap::{blues, text_on};
use crate::output::save_png;
use crate::ticks::nice_ticks;

/// How the value in each heat-map cell (and on the colour bar) is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellFormat {
    /// Rounded to a whole number, e.g. counts: `87`.
    Integer,
    /// Fixed number of decimals, e.g. `Fixed(2)` for normalised matrices: `0.87`.
    Fixed(usize),
}

impl CellFormat {
    fn format(self, v: f64) -> String {
        match self {
            CellFormat::Integer => format!("{:.0}", v.round()),
            CellFormat::Fixed(d) => format!("{v:.d$}"),
        }
    }
}

const PAD: i64 = 16;
const TITLE_PX: f32 = 20.0;
const LABEL_PX: f32 = 14.0;
const AXIS_PX: f32 = 16.0;
const TICK_PX: f32 = 12.0;
const BAR_W: i64 = 16;
const NA_FILL: Rgb<u8> = Rgb([222, 222, 222]);

/// Draws `matrix` (rows × columns) as a heat map with every cell annotated and writes it
/// to `path` as PNG (atomically).
///
/// Rows are labelled with `row_labels` under the axis title "true" (left), columns with
/// `col_labels` under "predicted" (bottom; turned vertical when names are too long for
/// the cells). Colours run from white (the smaller of 0 and the minimum) to navy (the
/// maximum), with a colour bar on the right. Cells may be `f64` or `Option<f64>`: `None`
/// and non-finite cells are drawn grey with "n/a" (e.g. a row-normalised row of a class
/// that never occurs). Cell text shrinks for big matrices and is left out only when a
/// cell is under 20 pixels (more than about 60 classes).
///
/// # Errors
/// [`VizError::InvalidInput`] for an empty or ragged matrix or label counts that do
/// not match; [`VizError::TooLarge`]; I/O and encoding errors.
pub fn heatmap<C, R, L>(
    path: impl AsRef<Path>,
    title: &str,
    matrix: &[Vec<C>],
    row_labels: &[R],
    col_labels: &[L],
    format: CellFormat,
) -> Result<(), VizError>
where
    C: Copy + Into<Option<f64>>,
    R: AsRef<str>,
    L: AsRef<str>,
{
    let rows = matrix.len();
    let cols = matrix.first().map_or(0, Vec::len);
    if rows == 0 || cols == 0 {
        return Err(VizError::InvalidInput("the heat map is empty".into()));
    }
    if let Some(i) = matrix.iter().position(|r| r.len() != cols) {
        return Err(VizError::InvalidInput(format!(
            "heat-map row {i} has {} cells, row 0 has {cols}",
            matrix[i].len()
        )));
    }
    if row_labels.len() != rows || col_labels.len() != cols {
        return Err(VizError::InvalidInput(format!(
            "{rows}×{cols} heat map with {} row labels and {} column labels",
            row_labels.len(),
            col_labels.len()
        )));
    }
    let cells: Vec<Vec<Option<f64>>> = matrix
        .iter()
        .map(|r| {
            r.iter()
                .map(|&c| c.into().filter(|v| v.is_finite()))
                .collect()
        })
        .collect();
    let finite: Vec<f64> = cells.iter().flatten().flatten().copied().collect();
    let vmin = finite.iter().copied().fold(0.0f64, f64::min);
    let mut vmax = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if vmax <= vmin {
        vmax = vmin + 1.0;
    }

    // Cell size: wide enough for the values and, when they fit, horizontal column names.
    let n = rows.max(cols);
    let value_px: f32 = if n <= 20 {
        14.0
    } else if n <= 40 {
        10.0
    } else {
        8.0
    };
    let values = finite.iter().map(|v| format.format(*v));
    let value_w = widest(values.chain(["n/a".to_string()]), value_px)?;
    let col_w = widest(col_labels, LABEL_PX)?;
    let base = if n <= 20 {
        48
    } else if n <= 40 {
        30
    } else {
        20
    };
    let horizontal = n <= 20 && col_w + 10 <= 100;
    let mut cell = base.max(value_w + 10);
    if horizontal {
        cell = cell.max(col_w + 10);
    }
    let annotate = cell >= 20 && value_w + 4 <= cell;

    // Margins.
    let label_h = line_height(LABEL_PX)?;
    let axis_h = line_height(AXIS_PX)?;
    let title_h = if title.is_empty() {
        0
    } else {
        line_height(TITLE_PX)?
    };
    let row_w = widest(row_labels, LABEL_PX)?;
    let col_block = if horizontal { label_h } else { col_w };
    let tick_marks = ticks(vmin, vmax, format);
    let tick_w = widest(tick_marks.iter().map(|t| &t.1), TICK_PX)?;

    let left = PAD + axis_h + 8 + row_w + 8;
    let top = PAD + title_h + if title_h > 0 { 14 } else { 0 };
    let grid_w = cell * cols as i64;
    let grid_h = cell * rows as i64;
    let right = 18 + BAR_W + 6 + tick_w + PAD;
    let bottom = 8 + col_block + 8 + axis_h + PAD;
    let title_w = if title.is_empty() {
        0
    } else {
        width_of(title, TITLE_PX)?
    };
    let width = (left + grid_w + right).max(title_w + 2 * PAD);
    let height = top + grid_h + bottom;
    let mut c = Canvas::new(width as u64, height as u64, WHITE)?;

    if !title.is_empty() {
        c.text(width / 2, PAD, title, TITLE_PX, TEXT, Anchor::Center)?;
    }
    // Cells.
    for (i, row) in cells.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            let (x, y) = (left + j as i64 * cell, top + i as i64 * cell);
            let (fill, text) = match v {
                Some(v) => (blues((v - vmin) / (vmax - vmin)), format.format(*v)),
                None => (NA_FILL, "n/a".to_string()),
            };
            c.fill_rect(x, y, cell, cell, fill);
            if annotate {
                let ink = if v.is_some() { text_on(fill) } else { MUTED };
                let ty = y + (cell - line_height(value_px)?) / 2;
                c.text(x + cell / 2, ty, &text, value_px, ink, Anchor::Center)?;
            }
        }
    }
    c.stroke_rect(
        left - 1,
        top - 1,
        grid_w + 2,
        grid_h + 2,
        1,
        Rgb([150, 150, 150]),
    );

    // Row labels and the "true" axis title.
    for (i, l) in row_labels.iter().enumerate() {
        let y = top + i as i64 * cell + (cell - label_h) / 2;
        c.text(left - 8, y, l.as_ref(), LABEL_PX, TEXT, Anchor::Right)?;
    }
    c.text_vertical(PAD, top + grid_h / 2, "true", AXIS_PX, TEXT)?;

    // Column labels and the "predicted" axis title.
    let label_top = top + grid_h + 8;
    for (j, l) in col_labels.iter().enumerate() {
        let cx = left + j as i64 * cell + cell / 2;
        if horizontal {
            c.text(cx, label_top, l.as_ref(), LABEL_PX, TEXT, Anchor::Center)?;
        } else {
            let x = cx - label_h / 2;
            c.text_vertical_from_top(x, label_top, l.as_ref(), LABEL_PX, TEXT)?;
        }
    }
    let axis_top = label_top + col_block + 8;
    c.text(
        left + grid_w / 2,
        axis_top,
        "predicted",
        AXIS_PX,
        TEXT,
        Anchor::Center,
    )?;

    // Colour bar with ticks.
    let bar_x = left + grid_w + 18;
    for y in 0..grid_h {
        let t = 1.0 - y as f64 / (grid_h - 1).max(1) as f64;
        c.fill_rect(bar_x, top + y, BAR_W, 1, blues(t));
    }
    c.stroke_rect(
        bar_x - 1,
        top - 1,
        BAR_W + 2,
        grid_h + 2,
        1,
        Rgb([150, 150, 150]),
    );
    let tick_h = line_height(TICK_PX)?;
    for (t, text) in &tick_marks {
        let y = top + ((1.0 - (t - vmin) / (vmax - vmin)) * (grid_h - 1) as f64).round() as i64;
        c.fill_rect(bar_x + BAR_W, y, 4, 1, MUTED);
        let ty = (y - tick_h / 2).clamp(top - tick_h / 2, top + grid_h - tick_h / 2);
        c.text(bar_x + BAR_W + 6, ty, text, TICK_PX, TEXT, Anchor::Left)?;
    }
    save_png(path.as_ref(), &c.into_image())
}

/// Colour-bar ticks: four to six round values, labelled in the cell format.
fn ticks(vmin: f64, vmax: f64, format: CellFormat) -> Vec<(f64, String)> {
    let (values, _) = nice_ticks(vmin, vmax, 6, format == CellFormat::Integer);
    values.into_iter().map(|v| (v, format.format(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_ticks() {
        let t: Vec<String> = ticks(0.0, 820.0, CellFormat::Integer)
            .into_iter()
            .map(|x| x.1)
            .collect();
        assert_eq!(t, ["0", "200", "400", "600", "800"]);
        let t: Vec<String> = ticks(0.0, 0.82, CellFormat::Fixed(2))
            .into_iter()
            .map(|x| x.1)
            .collect();
        assert_eq!(t, ["0.00", "0.20", "0.40", "0.60", "0.80"]);
        assert_eq!(ticks(0.0, 2.0, CellFormat::Integer).len(), 3);
    }
}
