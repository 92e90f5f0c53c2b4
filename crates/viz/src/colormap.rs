//! Colour scales.

use image::Rgb;

/// Anchors of a sequential white-to-navy scale, evenly spaced on `[0, 1]`.
const BLUES: [[f32; 3]; 5] = [
    [247.0, 251.0, 255.0],
    [200.0, 220.0, 240.0],
    [110.0, 175.0, 215.0],
    [35.0, 115.0, 182.0],
    [8.0, 48.0, 107.0],
];

/// Colour of `t` in `[0, 1]` on the sequential blue scale (clamped; NaN maps to 0).
pub(crate) fn blues(t: f64) -> Rgb<u8> {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) } as f32;
    let pos = t * (BLUES.len() - 1) as f32;
    let i = (pos.floor() as usize).min(BLUES.len() - 2);
    let f = pos - i as f32;
    let (a, b) = (BLUES[i], BLUES[i + 1]);
    Rgb(std::array::from_fn(|c| {
        (a[c] + (b[c] - a[c]) * f).round() as u8
    }))
}

/// Black or white, whichever reads better on `bg`.
pub(crate) fn text_on(bg: Rgb<u8>) -> Rgb<u8> {
    let [r, g, b] = bg.0.map(|v| v as f32 / 255.0);
    let luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    if luminance < 0.5 {
        Rgb([255, 255, 255])
    } else {
        Rgb([20, 20, 20])
    }
}

/// Distinct line colours for chart series, in order of use.
pub(crate) const SERIES: [Rgb<u8>; 8] = [
    Rgb([31, 100, 200]),
    Rgb([235, 120, 20]),
    Rgb([40, 160, 60]),
    Rgb([200, 40, 50]),
    Rgb([130, 90, 190]),
    Rgb([140, 90, 75]),
    Rgb([220, 110, 190]),
    Rgb([110, 110, 110]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_and_contrast() {
        assert_eq!(blues(0.0), Rgb([247, 251, 255]));
        assert_eq!(blues(1.0), Rgb([8, 48, 107]));
        assert_eq!(blues(f64::NAN), blues(0.0));
        assert_eq!(text_on(blues(1.0)), Rgb([255, 255, 255]));
        assert_eq!(text_on(blues(0.0)), Rgb([20, 20, 20]));
    }
}
