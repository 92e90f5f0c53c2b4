//! The Metric implementations: accuracy, top-k (with ties), mean loss.

use kiln_metrics::{Accuracy, BatchOutput, ConfusionMatrix, MeanLoss, Metric, MetricError, TopK};

/// 4 samples, 4 classes.
const LOGITS: [f32; 16] = [
    0.9,
    0.1,
    0.0,
    0.0, // label 0: rank 0
    2.0,
    2.0,
    2.0,
    0.0, // label 2: tie of three, rank 2 (indices 0 and 1 rank first)
    0.0,
    0.3,
    0.2,
    0.1, // label 3: rank 2
    f32::NAN,
    0.0,
    -1.0,
    -2.0, // label 0: NaN ranks last, rank 3
];
const LABELS: [usize; 4] = [0, 2, 3, 0];

fn batch(loss: Option<f64>) -> BatchOutput<'static> {
    BatchOutput::new(&LOGITS, 4, &LABELS, loss).unwrap()
}

#[test]
fn accuracy_counts_argmax_hits() {
    let mut a = Accuracy::new();
    assert_eq!(a.value(), None);
    assert_eq!(a.summary(), "accuracy: n/a (no samples)");
    a.update(&batch(None)).unwrap();
    assert_eq!(a.value(), Some(0.25));
    assert_eq!(a.count(), 4);
    assert_eq!(a.summary(), "accuracy: 25.00% (1 of 4)");
    a.update(&batch(None)).unwrap();
    assert_eq!(a.correct(), 2);
    a.reset();
    assert_eq!((a.value(), a.count()), (None, 0));
}

#[test]
fn top_k_with_ties_breaks_by_lower_index() {
    let ks: Vec<Option<f64>> = (1..=4)
        .map(|k| {
            let mut m = TopK::new(k).unwrap();
            m.update(&batch(None)).unwrap();
            m.value()
        })
        .collect();
    // ranks are [0, 2, 2, 3]
    assert_eq!(ks, [Some(0.25), Some(0.25), Some(0.75), Some(1.0)]);
    assert_eq!(TopK::new(0).unwrap_err(), MetricError::ZeroK);
    let m = TopK::new(5).unwrap();
    assert_eq!(m.name(), "top-5 accuracy");
}

#[test]
fn top_1_equals_accuracy() {
    let mut a = Accuracy::new();
    let mut t = TopK::new(1).unwrap();
    a.update(&batch(None)).unwrap();
    t.update(&batch(None)).unwrap();
    assert_eq!(a.value(), t.value());
}

#[test]
fn mean_loss_is_weighted_by_batch_size() {
    let mut l = MeanLoss::new();
    let big = [0.0f32; 6];
    let small = [0.0f32; 2];
    l.update(&BatchOutput::new(&big, 2, &[0, 1, 0], Some(1.0)).unwrap())
        .unwrap();
    l.update(&BatchOutput::new(&small, 2, &[1], Some(4.0)).unwrap())
        .unwrap();
    // (3·1 + 1·4) / 4 = 1.75, not the unweighted 2.5.
    assert_eq!(l.value(), Some(1.75));
    assert_eq!(l.summary(), "loss: 1.7500 (mean over 4 samples)");
    // An empty batch changes nothing; a batch without loss is an error.
    l.update(&BatchOutput::new(&[], 2, &[], Some(100.0)).unwrap())
        .unwrap();
    assert_eq!(l.value(), Some(1.75));
    assert!(matches!(
        l.update(&batch(None)),
        Err(MetricError::MissingLoss { .. })
    ));
    assert_eq!(l.count(), 4);
    l.reset();
    assert_eq!(l.value(), None);
}

#[test]
fn confusion_matrix_is_a_metric() {
    let mut m = ConfusionMatrix::new(4).unwrap();
    m.update(&batch(None)).unwrap();
    assert_eq!(m.value(), Some(0.25));
    assert_eq!(m.count(0, 0), 1);
    assert_eq!(m.count(2, 0), 1);
    let mut wrong = ConfusionMatrix::new(3).unwrap();
    assert!(matches!(
        wrong.update(&batch(None)),
        Err(MetricError::ClassCountMismatch { .. })
    ));
    let e = Metric::entry(&m);
    assert_eq!(
        (e.name.as_str(), e.value, e.count),
        ("confusion matrix", Some(0.25), 4)
    );
    Metric::reset(&mut m);
    assert_eq!(m.total(), 0);
}

#[test]
fn metrics_work_as_trait_objects() {
    let mut all: Vec<Box<dyn Metric>> = vec![
        Box::new(Accuracy::new()),
        Box::new(TopK::new(3).unwrap()),
        Box::new(MeanLoss::new()),
    ];
    for m in &mut all {
        m.update(&batch(Some(0.5))).unwrap();
    }
    let lines: Vec<String> = all.iter().map(|m| m.summary()).collect();
    assert_eq!(
        lines,
        [
            "accuracy: 25.00% (1 of 4)",
            "top-3 accuracy: 75.00% (3 of 4)",
            "loss: 0.5000 (mean over 4 samples)"
        ]
    );
    let json = serde_json::to_string(&all[0].entry()).unwrap();
    assert_eq!(json, r#"{"name":"accuracy","value":0.25,"count":4}"#);
}
