//! Per-class statistics, macro averages and the printable classification report.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ConfusionMatrix;
use crate::table::{Align, TextTable, class_name};

/// Statistics of one class, read off a [`ConfusionMatrix`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassStats {
    /// Class index.
    pub class: usize,
    /// Class name (`class i` when none was given).
    pub name: String,
    /// Samples whose true class this is (row sum).
    pub support: u64,
    /// Samples predicted as this class (column sum).
    pub predicted: u64,
    /// Samples of this class predicted correctly.
    pub true_positives: u64,
    /// Recall = per-class accuracy; `None` when the class never occurs (support 0).
    pub recall: Option<f64>,
    /// Precision; `None` when the class is never predicted.
    pub precision: Option<f64>,
    /// F1; `None` when precision or recall is undefined.
    pub f1: Option<f64>,
}

impl ClassStats {
    /// Why recall is undefined, if it is.
    fn recall_note(&self) -> &'static str {
        "n/a (never present)"
    }

    /// Why precision is undefined, if it is.
    fn precision_note(&self) -> &'static str {
        "n/a (never predicted)"
    }

    /// Why F1 is undefined, if it is.
    fn f1_note(&self) -> &'static str {
        match (self.support == 0, self.predicted == 0) {
            (true, true) => "n/a (never present nor predicted)",
            (true, false) => "n/a (never present)",
            _ => "n/a (never predicted)",
        }
    }
}

/// Unweighted mean of a per-class statistic over the classes where it is defined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MacroAverage {
    /// The mean; `None` when no class has the statistic defined.
    pub value: Option<f64>,
    /// Classes the mean was taken over.
    pub classes_used: usize,
    /// All classes.
    pub classes_total: usize,
    /// Indices of the classes left out because their statistic is undefined.
    pub excluded: Vec<usize>,
}

impl MacroAverage {
    /// Mean of the defined values.
    pub fn of(values: &[Option<f64>]) -> Self {
        let defined: Vec<f64> = values.iter().flatten().copied().collect();
        let excluded = values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_none())
            .map(|(i, _)| i)
            .collect();
        Self {
            value: (!defined.is_empty())
                .then(|| defined.iter().sum::<f64>() / defined.len() as f64),
            classes_used: defined.len(),
            classes_total: values.len(),
            excluded,
        }
    }
}

impl fmt::Display for MacroAverage {
    /// E.g. `0.6667 (mean over 3 of 4 classes)` or `n/a (defined for no class)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value {
            Some(v) => write!(
                f,
                "{v:.4} (mean over {} of {} classes)",
                self.classes_used, self.classes_total
            ),
            None => write!(f, "n/a (defined for no class)"),
        }
    }
}

/// Everything `kiln eval` reports about a classifier: per-class statistics, macro
/// averages, overall accuracy and the confusion matrix. Serialises to JSON (undefined
/// values become `null`); [`fmt::Display`] prints the per-class table and the averages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationReport {
    /// Names of the classes, one per class.
    pub class_names: Vec<String>,
    /// Number of samples.
    pub total: u64,
    /// Samples predicted correctly.
    pub correct: u64,
    /// Overall accuracy; `None` without samples.
    pub accuracy: Option<f64>,
    /// One entry per class, in class order.
    pub classes: Vec<ClassStats>,
    /// Macro-averaged recall (= mean per-class accuracy).
    pub macro_recall: MacroAverage,
    /// Macro-averaged precision.
    pub macro_precision: MacroAverage,
    /// Macro-averaged F1.
    pub macro_f1: MacroAverage,
    /// The confusion matrix the report was read from.
    pub confusion: ConfusionMatrix,
}

impl ConfusionMatrix {
    /// Statistics of every class; missing names become `class i`.
    pub fn class_stats<S: AsRef<str>>(&self, class_names: &[S]) -> Vec<ClassStats> {
        (0..self.num_classes())
            .map(|c| ClassStats {
                class: c,
                name: class_name(class_names, c),
                support: self.support(c),
                predicted: self.predicted(c),
                true_positives: self.count(c, c),
                recall: self.recall(c),
                precision: self.precision(c),
                f1: self.f1(c),
            })
            .collect()
    }

    /// Macro-averaged recall over the classes that occur.
    pub fn macro_recall(&self) -> MacroAverage {
        MacroAverage::of(&self.per_class_accuracy())
    }

    /// Macro-averaged precision over the classes that are predicted.
    pub fn macro_precision(&self) -> MacroAverage {
        let v: Vec<_> = (0..self.num_classes()).map(|c| self.precision(c)).collect();
        MacroAverage::of(&v)
    }

    /// Macro-averaged F1 over the classes where it is defined.
    pub fn macro_f1(&self) -> MacroAverage {
        let v: Vec<_> = (0..self.num_classes()).map(|c| self.f1(c)).collect();
        MacroAverage::of(&v)
    }

    /// The full report; missing names become `class i`, extra names are ignored.
    pub fn report<S: AsRef<str>>(&self, class_names: &[S]) -> ClassificationReport {
        ClassificationReport {
            class_names: (0..self.num_classes())
                .map(|c| class_name(class_names, c))
                .collect(),
            total: self.total(),
            correct: self.correct(),
            accuracy: self.accuracy(),
            classes: self.class_stats(class_names),
            macro_recall: self.macro_recall(),
            macro_precision: self.macro_precision(),
            macro_f1: self.macro_f1(),
            confusion: self.clone(),
        }
    }
}

impl ClassificationReport {
    /// Per-class table: class, support, predicted, accuracy/recall, precision, F1;
    /// undefined values print `n/a (never predicted)` / `n/a (never present)`.
    pub fn per_class_table(&self) -> String {
        let headers = [
            "class",
            "support",
            "predicted",
            "accuracy/recall",
            "precision",
            "F1",
        ];
        let aligns = vec![
            Align::Left,
            Align::Right,
            Align::Right,
            Align::Right,
            Align::Right,
            Align::Right,
        ];
        let mut t = TextTable::new(headers.iter().map(|h| h.to_string()).collect(), aligns);
        for s in &self.classes {
            t.row(vec![
                s.name.clone(),
                s.support.to_string(),
                s.predicted.to_string(),
                fmt_opt(s.recall, s.recall_note()),
                fmt_opt(s.precision, s.precision_note()),
                fmt_opt(s.f1, s.f1_note()),
            ]);
        }
        t.rule();
        t.row(vec![
            "macro avg".to_string(),
            self.total.to_string(),
            self.total.to_string(),
            fmt_opt(self.macro_recall.value, "n/a"),
            fmt_opt(self.macro_precision.value, "n/a"),
            fmt_opt(self.macro_f1.value, "n/a"),
        ]);
        t.render()
    }

    /// The averages as lines naming the classes left out of each.
    pub fn summary(&self) -> String {
        let mut out = match self.accuracy {
            Some(a) => format!(
                "accuracy:        {a:.4} ({} of {} samples)\n",
                self.correct, self.total
            ),
            None => "accuracy:        n/a (no samples)\n".to_string(),
        };
        for (label, avg) in [
            ("macro recall:    ", &self.macro_recall),
            ("macro precision: ", &self.macro_precision),
            ("macro F1:        ", &self.macro_f1),
        ] {
            out.push_str(label);
            out.push_str(&avg.to_string());
            if !avg.excluded.is_empty() {
                let names: Vec<&str> = avg
                    .excluded
                    .iter()
                    .filter_map(|&c| self.class_names.get(c).map(String::as_str))
                    .collect();
                out.push_str(&format!("; left out: {}", names.join(", ")));
            }
            out.push('\n');
        }
        out
    }

    /// The confusion-matrix counts table with the report's class names.
    pub fn confusion_table(&self) -> String {
        self.confusion.table(&self.class_names)
    }
}

impl fmt::Display for ClassificationReport {
    /// The per-class table followed by the summary lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n{}", self.per_class_table(), self.summary())
    }
}

/// `0.1234`, or the note when undefined.
fn fmt_opt(v: Option<f64>, note: &str) -> String {
    match v {
        Some(v) => format!("{v:.4}"),
        None => note.to_string(),
    }
}
