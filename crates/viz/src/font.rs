//! The embedded font (DejaVu Sans, see `assets/DejaVuSans-LICENSE.txt`) and text layout.
//!
//! Text never touches system font libraries: glyphs are rasterised by `ab_glyph` from the
//! font bytes compiled into the binary.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont, point};

use crate::VizError;

/// The TrueType bytes of DejaVu Sans.
static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The parsed embedded font.
pub(crate) fn font() -> Result<&'static FontRef<'static>, VizError> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).ok())
        .as_ref()
        .ok_or(VizError::Font)
}

/// Height of a line box (ascent + |descent|) at `px` pixels.
pub(crate) fn line_box_height(px: f32) -> Result<f32, VizError> {
    let sf = font()?.as_scaled(PxScale::from(px));
    Ok(sf.ascent() - sf.descent())
}

/// Lays out one line of `text` at `px` pixels: calls `place(glyph, x)` with each glyph
/// and the x of its origin (kerning applied) and returns the advance width of the line.
fn layout(text: &str, px: f32, mut place: impl FnMut(GlyphId, f32)) -> Result<f32, VizError> {
    let sf = font()?.as_scaled(PxScale::from(px));
    let mut caret = 0.0;
    let mut prev = None;
    for c in text.chars() {
        let id = sf.glyph_id(c);
        if let Some(p) = prev {
            caret += sf.kern(p, id);
        }
        place(id, caret);
        caret += sf.h_advance(id);
        prev = Some(id);
    }
    Ok(caret)
}

/// Advance width of `text` at `px` pixels.
pub(crate) fn text_width(text: &str, px: f32) -> Result<f32, VizError> {
    layout(text, px, |_, _| {})
}

/// Rasterises one line of `text` at `px` pixels; `plot(x, y, coverage)` receives pixel
/// positions relative to the top-left corner of the line box.
pub(crate) fn rasterize(
    text: &str,
    px: f32,
    mut plot: impl FnMut(i32, i32, f32),
) -> Result<(), VizError> {
    let font = font()?;
    let ascent = font.as_scaled(PxScale::from(px)).ascent();
    layout(text, px, |id, x| {
        let glyph = id.with_scale_and_position(px, point(x, ascent));
        if let Some(outline) = font.outline_glyph(glyph) {
            let b = outline.px_bounds();
            let (x0, y0) = (b.min.x as i32, b.min.y as i32);
            outline.draw(|x, y, cov| plot(x0 + x as i32, y0 + y as i32, cov));
        }
    })?;
    Ok(())
}

/// Splits `text` into lines no wider than `max_width` at `px` pixels: at explicit `\n`
/// breaks; then, where a line is too wide, at its ` / ` separators (which the line break
/// replaces); then greedily at spaces. A single word wider than the limit stays whole.
pub(crate) fn wrap(text: &str, px: f32, max_width: f32) -> Result<Vec<String>, VizError> {
    let mut lines = Vec::new();
    for para in text.split('\n') {
        if text_width(para, px)? <= max_width {
            lines.push(para.trim().to_string());
            continue;
        }
        let mut line = String::new();
        for part in para.split(" / ") {
            let joined = format!("{line} / {part}");
            if !line.is_empty() && text_width(&joined, px)? <= max_width {
                line = joined;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            for word in part.split(' ').filter(|w| !w.is_empty()) {
                let candidate = if line.is_empty() {
                    word.to_string()
                } else {
                    format!("{line} {word}")
                };
                if line.is_empty() || text_width(&candidate, px)? <= max_width {
                    line = candidate;
                } else {
                    lines.push(std::mem::take(&mut line));
                    line = word.to_string();
                }
            }
        }
        lines.push(line);
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn font_loads_and_measures() {
        assert!(font().is_ok());
        let w = text_width("automobile", 13.0).unwrap();
        assert!(w > 40.0 && w < 100.0, "{w}");
        let h = line_box_height(20.0).unwrap();
        assert!((h - 20.0).abs() < 0.5, "{h}");
        let mut inked = 0;
        rasterize("Hg", 20.0, |_, _, c| {
            if c > 0.5 {
                inked += 1
            }
        })
        .unwrap();
        assert!(inked > 20);
    }

    #[test]
    fn wrap_breaks_at_spaces_and_newlines() {
        let lines = wrap("truth: automobile pred: airplane", 12.0, 110.0).unwrap();
        assert_eq!(lines, ["truth: automobile", "pred: airplane"]);
        let lines = wrap("truth: cat / pred: dog", 12.0, 80.0).unwrap();
        assert_eq!(lines, ["truth: cat", "pred: dog"]);
        let lines = wrap("truth: cat / pred: dog", 12.0, 500.0).unwrap();
        assert_eq!(lines, ["truth: cat / pred: dog"]);
        let lines = wrap("a / b / c", 12.0, 25.0).unwrap();
        assert_eq!(lines, ["a / b", "c"]);
        let lines = wrap("a\nb", 12.0, 500.0).unwrap();
        assert_eq!(lines, ["a", "b"]);
    }
}
