//! Line charts (loss and accuracy per epoch), drawn on the canvas with the embedded font.

use std::path::Path;

use image::Rgb;

use crate::VizError;
use crate::canvas::{Anchor, Canvas, MUTED, TEXT, WHITE, line_height, widest};
use crate::colormap::SERIES;
use crate::output::save_png;
use crate::ticks::nice_ticks;

const PANEL_W: i64 = 560;
const PANEL_H: i64 = 420;
const PAD: i64 = 16;
const TITLE_PX: f32 = 24.0;
const PANEL_TITLE_PX: f32 = 20.0;
const TICK_PX: f32 = 14.0;
const AXIS_PX: f32 = 16.0;
const LEGEND_PX: f32 = 14.0;
const GRID: Rgb<u8> = Rgb([228, 228, 228]);
const AXIS: Rgb<u8> = Rgb([70, 70, 70]);
/// Series with more points than this are drawn without point markers.
const MARKER_LIMIT: usize = 60;

/// One panel of a line chart: a title, axis names and named series of `(x, y)` points.
#[derive(Debug, Clone, Copy)]
pub struct ChartPanel<'a, S = String> {
    /// Title above the panel (may be empty).
    pub title: &'a str,
    /// Name of the x axis, e.g. `"epoch"`.
    pub x_label: &'a str,
    /// Name of the y axis, e.g. `"loss"`.
    pub y_label: &'a str,
    /// `(name, points)` per line, e.g. `("train", ...)`, `("test", ...)`.
    pub series: &'a [(S, Vec<(f64, f64)>)],
}

/// Draws one panel of lines and writes it to `path` as PNG (atomically).
///
/// Each series gets its own colour, point markers (up to 60 points) and a legend entry.
/// Non-finite points are skipped; a panel with no finite point says "no data". When all
/// x values are whole numbers (epochs), only whole-number ticks are used.
///
/// # Errors
/// I/O and encoding errors.
pub fn line_chart<S: AsRef<str>>(
    path: impl AsRef<Path>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(S, Vec<(f64, f64)>)],
) -> Result<(), VizError> {
    let panel = ChartPanel {
        title: "",
        x_label,
        y_label,
        series,
    };
    line_charts(path, title, &[panel])
}

/// Draws several panels side by side under a common title (empty: none) and writes them
/// to `path` as PNG (atomically); see [`line_chart`] for how each panel is drawn.
///
/// # Errors
/// [`VizError::InvalidInput`] when `panels` is empty; I/O and encoding errors.
pub fn line_charts<S: AsRef<str>>(
    path: impl AsRef<Path>,
    title: &str,
    panels: &[ChartPanel<'_, S>],
) -> Result<(), VizError> {
    if panels.is_empty() {
        return Err(VizError::InvalidInput("a chart needs a panel".into()));
    }
    let title_h = if title.is_empty() {
        0
    } else {
        PAD + line_height(TITLE_PX)?
    };
    let width = PANEL_W * panels.len() as i64;
    let mut c = Canvas::new(width as u64, (PANEL_H + title_h) as u64, WHITE)?;
    if !title.is_empty() {
        c.text(width / 2, PAD, title, TITLE_PX, TEXT, Anchor::Center)?;
    }
    for (i, panel) in panels.iter().enumerate() {
        draw_panel(&mut c, i as i64 * PANEL_W, title_h, panel)?;
    }
    save_png(path.as_ref(), &c.into_image())
}

/// Loss and accuracy per epoch side by side: `loss` and `accuracy` are `(name, points)`
/// series such as `("train", [(1.0, 2.1), (2.0, 1.7)])` and `("test", ...)`.
///
/// # Errors
/// As [`line_charts`].
pub fn training_curves<S: AsRef<str>>(
    path: impl AsRef<Path>,
    title: &str,
    loss: &[(S, Vec<(f64, f64)>)],
    accuracy: &[(S, Vec<(f64, f64)>)],
) -> Result<(), VizError> {
    let panels = [
        ChartPanel {
            title: "loss",
            x_label: "epoch",
            y_label: "loss",
            series: loss,
        },
        ChartPanel {
            title: "accuracy",
            x_label: "epoch",
            y_label: "accuracy",
            series: accuracy,
        },
    ];
    line_charts(path, title, &panels)
}

/// Axis range of `values` widened by `pad` of its span on each side; a single value
/// gets a range around it.
fn padded_range(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        let d = (lo.abs() * 0.1).max(0.5);
        return (lo - d, hi + d);
    }
    let p = (hi - lo) * pad;
    (lo - p, hi + p)
}

/// Maps data coordinates to pixels inside the plot box.
struct Frame {
    left: f64,
    top: f64,
    right: f64,
    bottom: f64,
    x: (f64, f64),
    y: (f64, f64),
}

impl Frame {
    fn px(&self, x: f64) -> f64 {
        self.left + (x - self.x.0) / (self.x.1 - self.x.0) * (self.right - self.left)
    }

    fn py(&self, y: f64) -> f64 {
        self.bottom - (y - self.y.0) / (self.y.1 - self.y.0) * (self.bottom - self.top)
    }

    fn clip(&self) -> (i64, i64, i64, i64) {
        (
            self.left as i64,
            self.top as i64 - 4,
            self.right as i64 + 4,
            self.bottom as i64 + 1,
        )
    }
}

fn draw_panel<S: AsRef<str>>(
    c: &mut Canvas,
    ox: i64,
    oy: i64,
    panel: &ChartPanel<'_, S>,
) -> Result<(), VizError> {
    let series: Vec<(&str, Vec<(f64, f64)>)> = panel
        .series
        .iter()
        .map(|(name, pts)| {
            let pts = pts
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            (name.as_ref(), pts)
        })
        .collect();
    let all = || series.iter().flat_map(|(_, p)| p.iter().copied());
    let any = all().next().is_some();
    let integer_x = any && all().all(|(x, _)| x.fract() == 0.0);
    let x = padded_range(all().map(|p| p.0), 0.03);
    let y = padded_range(all().map(|p| p.1), 0.06);
    let (x_ticks, x_dec) = nice_ticks(x.0, x.1, 10, integer_x);
    let (y_ticks, y_dec) = nice_ticks(y.0, y.1, 8, false);
    let y_labels: Vec<String> = y_ticks.iter().map(|v| format!("{v:.y_dec$}")).collect();

    // Layout.
    let tick_h = line_height(TICK_PX)?;
    let axis_h = line_height(AXIS_PX)?;
    let y_label_w = widest(&y_labels, TICK_PX)?;
    let mut top = oy + PAD;
    if !panel.title.is_empty() {
        c.text(
            ox + PANEL_W / 2,
            top,
            panel.title,
            PANEL_TITLE_PX,
            TEXT,
            Anchor::Center,
        )?;
        top += line_height(PANEL_TITLE_PX)? + 6;
    }
    top += 6;
    let left = ox + PAD + axis_h + 10 + y_label_w + 8;
    let right = ox + PANEL_W - PAD - 8;
    let bottom = oy + PANEL_H - PAD - axis_h - 8 - tick_h - 8;
    let f = Frame {
        left: left as f64,
        top: top as f64,
        right: right as f64,
        bottom: bottom as f64,
        x,
        y,
    };

    // Grid, ticks and their labels.
    for (v, label) in y_ticks.iter().zip(&y_labels) {
        let py = f.py(*v).round() as i64;
        c.fill_rect(left, py, right - left, 1, GRID);
        c.fill_rect(left - 5, py, 5, 1, AXIS);
        c.text(
            left - 8,
            py - tick_h / 2,
            label,
            TICK_PX,
            TEXT,
            Anchor::Right,
        )?;
    }
    for v in &x_ticks {
        let px = f.px(*v).round() as i64;
        c.fill_rect(px, top, 1, bottom - top, GRID);
        c.fill_rect(px, bottom, 1, 5, AXIS);
        let label = format!("{v:.x_dec$}");
        c.text(px, bottom + 8, &label, TICK_PX, TEXT, Anchor::Center)?;
    }
    c.fill_rect(left, top, 1, bottom - top + 1, AXIS);
    c.fill_rect(left, bottom, right - left + 1, 1, AXIS);

    // Axis titles.
    let x_title_top = bottom + 8 + tick_h + 8;
    c.text(
        (left + right) / 2,
        x_title_top,
        panel.x_label,
        AXIS_PX,
        TEXT,
        Anchor::Center,
    )?;
    c.text_vertical(ox + PAD, (top + bottom) / 2, panel.y_label, AXIS_PX, TEXT)?;

    if !any {
        let cy = (top + bottom) / 2 - line_height(18.0)? / 2;
        c.text(
            (left + right) / 2,
            cy,
            "no data",
            18.0,
            MUTED,
            Anchor::Center,
        )?;
        return Ok(());
    }

    // Lines and markers.
    let clip = f.clip();
    for (i, (_, pts)) in series.iter().enumerate() {
        let color = series_color(i);
        for w in pts.windows(2) {
            let (a, b) = (w[0], w[1]);
            c.line(f.px(a.0), f.py(a.1), f.px(b.0), f.py(b.1), 2.2, color, clip);
        }
        if pts.len() <= MARKER_LIMIT {
            for &(px, py) in pts {
                c.disc(f.px(px), f.py(py), 3.5, color, clip);
            }
        }
    }
    draw_legend(c, &f, &series)
}

fn series_color(i: usize) -> Rgb<u8> {
    SERIES[i % SERIES.len()]
}

/// Legend in the upper right, or the lower right when the lines end in the upper half.
fn draw_legend(
    c: &mut Canvas,
    f: &Frame,
    series: &[(&str, Vec<(f64, f64)>)],
) -> Result<(), VizError> {
    let entries: Vec<(usize, &str)> = series
        .iter()
        .enumerate()
        .filter(|(_, (_, p))| !p.is_empty())
        .map(|(i, (n, _))| (i, *n))
        .collect();
    let ends: Vec<f64> = series
        .iter()
        .filter_map(|(_, p)| p.last().map(|q| q.1))
        .collect();
    let mean_end = ends.iter().sum::<f64>() / ends.len().max(1) as f64;
    let low = mean_end > (f.y.0 + f.y.1) / 2.0;

    let row_h = line_height(LEGEND_PX)? + 4;
    let name_w = widest(entries.iter().map(|e| e.1), LEGEND_PX)?;
    let (w, h) = (
        10 + 26 + 8 + name_w + 10,
        8 + row_h * entries.len() as i64 + 4,
    );
    let x = f.right as i64 - 12 - w;
    let y = if low {
        f.bottom as i64 - 12 - h
    } else {
        f.top as i64 + 12
    };
    c.fill_rect(x, y, w, h, WHITE);
    c.stroke_rect(x, y, w, h, 1, Rgb([190, 190, 190]));
    let clip = (x, y, x + w, y + h);
    for (k, (i, name)) in entries.iter().enumerate() {
        let ry = y + 8 + k as i64 * row_h;
        let mid = (ry + row_h / 2 - 2) as f64;
        let color = series_color(*i);
        c.line((x + 10) as f64, mid, (x + 36) as f64, mid, 2.2, color, clip);
        if series[*i].1.len() <= MARKER_LIMIT {
            c.disc((x + 23) as f64, mid, 3.5, color, clip);
        }
        c.text(x + 44, ry, name, LEGEND_PX, TEXT, Anchor::Left)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_padded() {
        assert_eq!(padded_range([1.0, 3.0].into_iter(), 0.05), (0.9, 3.1));
        assert_eq!(padded_range([2.0].into_iter(), 0.05), (1.5, 2.5));
        assert_eq!(padded_range(std::iter::empty(), 0.05), (0.0, 1.0));
    }
}
