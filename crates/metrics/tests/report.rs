//! The classification report: table text, undefined values, JSON.

use kiln_metrics::ConfusionMatrix;

fn sample() -> ConfusionMatrix {
    // Same matrix as tests/confusion.rs: frog never predicted, ship never present.
    let labels = [0, 0, 0, 0, 1, 1, 1, 2, 2];
    let preds = [0, 0, 1, 3, 1, 1, 0, 0, 1];
    ConfusionMatrix::from_predictions(4, &preds, &labels).unwrap()
}

#[test]
fn per_class_table_prints_reasons_not_nan() {
    let r = sample().report(&["cat", "dog", "frog", "ship"]);
    let text = r.to_string();
    println!("{text}");
    let expected_table = "\
class      support  predicted      accuracy/recall              precision                     F1
---------  -------  ---------  -------------------  ---------------------  ---------------------
cat              4          4               0.5000                 0.5000                 0.5000
dog              3          4               0.6667                 0.5000                 0.5714
frog             2          0               0.0000  n/a (never predicted)  n/a (never predicted)
ship             0          1  n/a (never present)                 0.0000    n/a (never present)
---------  -------  ---------  -------------------  ---------------------  ---------------------
macro avg        9          9               0.3889                 0.3333                 0.5357
";
    assert_eq!(r.per_class_table(), expected_table);
    let expected_summary = "\
accuracy:        0.4444 (4 of 9 samples)
macro recall:    0.3889 (mean over 3 of 4 classes); left out: ship
macro precision: 0.3333 (mean over 3 of 4 classes); left out: frog
macro F1:        0.5357 (mean over 2 of 4 classes); left out: frog, ship
";
    assert_eq!(r.summary(), expected_summary);
    assert!(!text.contains("NaN"));
    assert!(
        r.confusion_table()
            .starts_with("true \\ predicted  cat  dog  frog  ship")
    );
}

#[test]
fn class_never_present_nor_predicted() {
    let m = ConfusionMatrix::from_predictions(3, &[0, 1], &[0, 0]).unwrap();
    let r = m.report(&["a", "b", "c"]);
    let c = &r.classes[2];
    assert_eq!((c.support, c.predicted), (0, 0));
    assert_eq!((c.recall, c.precision, c.f1), (None, None, None));
    assert!(
        r.per_class_table()
            .contains("n/a (never present nor predicted)")
    );
    // b is predicted once but never present; a present, recall 1/2, precision 1/1.
    assert_eq!(r.classes[0].recall, Some(0.5));
    assert_eq!(r.classes[0].precision, Some(1.0));
    assert_eq!(r.macro_f1.classes_used, 1);
}

#[test]
fn missing_names_fall_back_to_indices() {
    let r = sample().report(&["cat"]);
    assert_eq!(r.class_names, ["cat", "class 1", "class 2", "class 3"]);
}

#[test]
fn empty_matrix_reports_no_samples() {
    let r = ConfusionMatrix::new(2).unwrap().report(&["x", "y"]);
    assert_eq!(r.accuracy, None);
    assert!(r.summary().contains("accuracy:        n/a (no samples)"));
    assert!(
        r.summary()
            .contains("macro F1:        n/a (defined for no class)")
    );
}

#[test]
fn report_serialises_undefined_as_null() {
    let r = sample().report(&["cat", "dog", "frog", "ship"]);
    let v: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(v["classes"][2]["name"], "frog");
    assert!(v["classes"][2]["precision"].is_null());
    assert!(v["classes"][3]["recall"].is_null());
    assert_eq!(v["macro_f1"]["classes_used"], 2);
    assert_eq!(v["confusion"]["counts"][0][3], 1);
    let back: kiln_metrics::ClassificationReport = serde_json::from_value(v).unwrap();
    assert_eq!(back, r);
}
