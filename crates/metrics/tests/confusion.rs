//! Confusion matrix, per-class statistics and tables against hand-computed cases.

use kiln_metrics::{ConfusionMatrix, MetricError, Normalization};

const NAMES: [&str; 4] = ["cat", "dog", "frog", "ship"];

/// 9 samples, 4 classes. By hand:
/// ```text
/// true\pred  cat dog frog ship | support
/// cat          2   1    0    1 | 4
/// dog          1   2    0    0 | 3
/// frog         1   1    0    0 | 2     frog is never predicted
/// ship         0   0    0    0 | 0     ship is never present (but predicted once)
/// predicted    4   4    0    1 | 9, correct 4
/// ```
fn sample() -> ConfusionMatrix {
    let labels = [0, 0, 0, 0, 1, 1, 1, 2, 2];
    let preds = [0, 0, 1, 3, 1, 1, 0, 0, 1];
    ConfusionMatrix::from_predictions(4, &preds, &labels).unwrap()
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-12)
}

#[test]
fn counts_and_totals() {
    let m = sample();
    assert_eq!(
        m.counts(),
        &[
            vec![2, 1, 0, 1],
            vec![1, 2, 0, 0],
            vec![1, 1, 0, 0],
            vec![0, 0, 0, 0]
        ]
    );
    assert_eq!(m.total(), 9);
    assert_eq!(m.correct(), 4);
    assert!(close(m.accuracy(), 4.0 / 9.0));
    assert_eq!(
        (0..4).map(|c| m.support(c)).collect::<Vec<_>>(),
        [4, 3, 2, 0]
    );
    assert_eq!(
        (0..4).map(|c| m.predicted(c)).collect::<Vec<_>>(),
        [4, 4, 0, 1]
    );
}

#[test]
fn per_class_precision_recall_f1() {
    let m = sample();
    // recall = per-class accuracy: cat 2/4, dog 2/3, frog 0/2, ship undefined.
    assert!(close(m.recall(0), 0.5));
    assert!(close(m.recall(1), 2.0 / 3.0));
    assert!(close(m.recall(2), 0.0));
    assert_eq!(m.recall(3), None);
    assert_eq!(m.per_class_accuracy()[3], None);
    // precision: cat 2/4, dog 2/4, frog undefined (never predicted), ship 0/1.
    assert!(close(m.precision(0), 0.5));
    assert!(close(m.precision(1), 0.5));
    assert_eq!(m.precision(2), None);
    assert!(close(m.precision(3), 0.0));
    // F1 = 2TP/(2TP+FP+FN): cat 4/8, dog 4/7; frog and ship undefined.
    assert!(close(m.f1(0), 0.5));
    assert!(close(m.f1(1), 4.0 / 7.0));
    assert_eq!(m.f1(2), None);
    assert_eq!(m.f1(3), None);
}

#[test]
fn macro_averages_say_over_how_many_classes() {
    let m = sample();
    let r = m.macro_recall();
    assert!(close(r.value, (0.5 + 2.0 / 3.0 + 0.0) / 3.0));
    assert_eq!((r.classes_used, r.classes_total), (3, 4));
    assert_eq!(r.excluded, [3]);
    let p = m.macro_precision();
    assert!(close(p.value, (0.5 + 0.5 + 0.0) / 3.0));
    assert_eq!(p.excluded, [2]);
    let f = m.macro_f1();
    assert!(close(f.value, (0.5 + 4.0 / 7.0) / 2.0));
    assert_eq!((f.classes_used, f.classes_total), (2, 4));
    assert_eq!(f.to_string(), "0.5357 (mean over 2 of 4 classes)");
}

#[test]
fn normalised_matrices() {
    let m = sample();
    let row = m.row_normalized();
    assert_eq!(row[0], [Some(0.5), Some(0.25), Some(0.0), Some(0.25)]);
    assert_eq!(row[3], [None, None, None, None]);
    let col = m.column_normalized();
    assert_eq!(col[0], [Some(0.5), Some(0.25), None, Some(1.0)]);
    assert_eq!(col[2], [Some(0.25), Some(0.25), None, Some(0.0)]);
    // Diagonals are recall and precision.
    for c in 0..4 {
        assert_eq!(row[c][c], m.recall(c));
        assert_eq!(col[c][c], m.precision(c));
    }
}

#[test]
fn from_logits_matches_argmax_predictions() {
    // Row 2 ties classes 1 and 2: the lower index (1) wins.
    let logits = [
        3.0, 1.0, 0.0, //
        0.0, 1.0, 0.5, //
        0.0, 2.0, 2.0, //
        0.1, 0.0, 0.2,
    ];
    let m = ConfusionMatrix::from_logits(3, &logits, &[0, 1, 2, 2]).unwrap();
    let expected = ConfusionMatrix::from_predictions(3, &[0, 1, 1, 2], &[0, 1, 2, 2]).unwrap();
    assert_eq!(m, expected);
}

#[test]
fn bad_input_is_rejected_and_leaves_matrix_unchanged() {
    let mut m = ConfusionMatrix::new(3).unwrap();
    assert_eq!(
        m.update_predictions(&[0, 1], &[0]),
        Err(MetricError::LengthMismatch {
            predictions: 2,
            labels: 1
        })
    );
    assert_eq!(
        m.update_predictions(&[0, 3], &[0, 0]),
        Err(MetricError::PredictionOutOfRange {
            index: 1,
            prediction: 3,
            classes: 3
        })
    );
    assert!(matches!(
        m.update_predictions(&[0, 0], &[0, 7]),
        Err(MetricError::LabelOutOfRange { .. })
    ));
    assert_eq!(m.total(), 0);
    assert_eq!(ConfusionMatrix::new(0), Err(MetricError::NoClasses));
    assert!(ConfusionMatrix::from_counts(vec![vec![1, 2], vec![3]]).is_err());
    let other = ConfusionMatrix::new(2).unwrap();
    assert!(m.merge(&other).is_err());
}

#[test]
fn merge_adds_counts() {
    let mut a = sample();
    a.merge(&sample()).unwrap();
    assert_eq!(a.total(), 18);
    assert_eq!(a.count(0, 0), 4);
}

#[test]
fn counts_table_has_names_on_both_axes_and_totals() {
    let t = sample().table(&NAMES);
    let expected = "\
true \\ predicted  cat  dog  frog  ship  total
----------------  ---  ---  ----  ----  -----
cat                 2    1     0     1      4
dog                 1    2     0     0      3
frog                1    1     0     0      2
ship                0    0     0     0      0
----------------  ---  ---  ----  ----  -----
total               4    4     0     1      9
";
    assert_eq!(t, expected);
}

#[test]
fn normalised_table_marks_undefined_rows() {
    let t = sample().normalized_table(&NAMES, Normalization::Row);
    assert!(
        t.contains("cat               0.50  0.25  0.00  0.25"),
        "{t}"
    );
    assert!(
        t.contains("ship               n/a   n/a   n/a   n/a"),
        "{t}"
    );
    assert!(
        t.contains("n/a: row ship is undefined (never present)"),
        "{t}"
    );
    assert!(!t.contains("NaN"));
}

#[test]
fn json_round_trip_and_validation() {
    let m = sample();
    let json = serde_json::to_string(&m).unwrap();
    assert_eq!(
        json,
        r#"{"num_classes":4,"counts":[[2,1,0,1],[1,2,0,0],[1,1,0,0],[0,0,0,0]]}"#
    );
    let back: ConfusionMatrix = serde_json::from_str(&json).unwrap();
    assert_eq!(back, m);
    let bad = r#"{"num_classes":3,"counts":[[1,0],[0,1]]}"#;
    assert!(serde_json::from_str::<ConfusionMatrix>(bad).is_err());
    let ragged = r#"{"num_classes":2,"counts":[[1,0],[0]]}"#;
    assert!(serde_json::from_str::<ConfusionMatrix>(ragged).is_err());
}
