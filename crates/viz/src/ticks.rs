//! Round tick values for axes and colour bars.

/// Tick values at multiples of a round step (1, 2, 2.5 or 5 × 10ⁿ) inside `[lo, hi]`:
/// the smallest such step that gives at most `max_count` ticks. With `integer` the step
/// is at least 1 and a whole number. Returns the ticks and the decimals that label them
/// exactly; an empty or non-finite range gives no ticks.
pub(crate) fn nice_ticks(lo: f64, hi: f64, max_count: usize, integer: bool) -> (Vec<f64>, usize) {
    let span = hi - lo;
    if !span.is_finite() || span <= 0.0 || max_count == 0 {
        return (Vec::new(), 0);
    }
    let count = |step: f64| (hi / step + 1e-9).floor() - (lo / step - 1e-9).ceil() + 1.0;
    let top = span.log10().floor() as i32 + 1;
    let mut best = (10f64.powi(top), top, 1.0);
    'search: for e in (top - 15..=top).rev() {
        for m in [5.0, 2.5, 2.0, 1.0] {
            let step = m * 10f64.powi(e);
            if count(step) > max_count as f64 || (integer && step < 1.0) {
                break 'search;
            }
            best = (step, e, m);
        }
    }
    let (step, e, m) = best;
    let mut decimals = (-e).max(0) as usize;
    if m == 2.5 && e <= 0 {
        decimals += 1;
    }
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    let ticks = (first..=last).map(|k| k as f64 * step).collect();
    (ticks, decimals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_steps() {
        let t = nice_ticks(0.0, 820.0, 5, true);
        assert_eq!(t, (vec![0.0, 200.0, 400.0, 600.0, 800.0], 0));
        let t = nice_ticks(0.0, 820.0, 4, true);
        assert_eq!(t, (vec![0.0, 250.0, 500.0, 750.0], 0));
        let (t, d) = nice_ticks(0.35, 0.75, 8, false);
        assert_eq!((t.len(), d), (4, 1)); // step 0.1: 0.05 would give 9 ticks
        let (t, d) = nice_ticks(0.36, 0.74, 8, false);
        assert_eq!((t.len(), d), (7, 2)); // step 0.05: 0.40 to 0.70
        let (t, d) = nice_ticks(0.7, 1.75, 8, false);
        assert_eq!((t.len(), d), (5, 1)); // step 0.2: 0.8 to 1.6
        let (t, d) = nice_ticks(0.82, 10.18, 10, true);
        assert_eq!((t.len(), d), (10, 0)); // step 1
        let (t, _) = nice_ticks(0.9, 3.1, 10, true);
        assert_eq!(t, [1.0, 2.0, 3.0]); // never below 1 for integers
        let (t, d) = nice_ticks(0.0, 1.0, 5, false);
        assert_eq!((t, d), (vec![0.0, 0.25, 0.5, 0.75, 1.0], 2));
        assert_eq!(nice_ticks(1.0, 1.0, 5, false).0.len(), 0);
    }
}
