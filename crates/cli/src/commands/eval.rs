//! `kiln eval`: test loss and accuracy, per-class accuracy, precision, recall and F1, and the
//! confusion matrix as tables and as three heatmaps.

use std::path::PathBuf;

use kiln_metrics::Normalization;
use kiln_tensor::Backend;
use kiln_train::{EvalOptions, evaluate};
use serde::Serialize;

use crate::args::{Common, EvalArgs};
use crate::commands::{ensure_dir, write_json};
use crate::data_source::load_test;
use crate::device::Job;
use crate::model_file;
use crate::progress::Progress;
use crate::{CliError, Result};
use kiln_viz::{CellFormat, heatmap};

pub struct EvalJob {
    pub common: Common,
    pub args: EvalArgs,
}

#[derive(Serialize)]
struct EvalOutput<'a> {
    weights: &'a std::path::Path,
    data: &'a str,
    loss: f64,
    accuracy: f64,
    report: &'a kiln_metrics::ClassificationReport,
}

impl Job for EvalJob {
    type Output = PathBuf;

    fn run<B: Backend>(self, dev: &B) -> Result<PathBuf> {
        let (c, a) = (&self.common, &self.args);
        let w = &a.weights;
        if a.batch_size == 0 {
            return Err(CliError::Usage("--batch-size must be at least 1".into()));
        }
        let mut net = model_file::open(w, dev)?;
        let (test, _) = load_test(c, net.model.input_shape()[1])?;
        net.check_data(&test)?;
        let opts = EvalOptions {
            batch_size: a.batch_size,
            workers: 2,
            normalize: net.normalize.clone(),
            flip_tta: a.tta,
            name: "evaluating".into(),
        };
        let mut progress = Progress::new(0, false);
        let ev = evaluate(&mut net.model, &test, &opts, dev, &mut progress)?;
        let names = net.class_names.clone();
        let confusion = ev.confusion()?;
        let report = confusion.report(&names);
        println!(
            "test loss {:.4}, accuracy {:.2}% on {} images",
            ev.loss,
            100.0 * ev.accuracy,
            ev.labels.len()
        );
        println!();
        println!("{report}");
        println!("confusion matrix (rows: true class, columns: predicted)");
        println!("{}", confusion.table(&names));
        println!("row-normalised (recall)");
        println!("{}", confusion.normalized_table(&names, Normalization::Row));
        println!("column-normalised (precision)");
        println!(
            "{}",
            confusion.normalized_table(&names, Normalization::Column)
        );

        let dir = c.out.join("eval");
        ensure_dir(&dir)?;
        let counts = dir.join("confusion_counts.png");
        heatmap(
            &counts,
            "Confusion matrix (counts)",
            &confusion.counts_f64(),
            &names,
            &names,
            CellFormat::Integer,
        )?;
        let rows = dir.join("confusion_recall.png");
        heatmap(
            &rows,
            "Row-normalised (recall)",
            &confusion.row_normalized(),
            &names,
            &names,
            CellFormat::Fixed(2),
        )?;
        let cols = dir.join("confusion_precision.png");
        heatmap(
            &cols,
            "Column-normalised (precision)",
            &confusion.column_normalized(),
            &names,
            &names,
            CellFormat::Fixed(2),
        )?;
        let json = dir.join("eval.json");
        write_json(
            &json,
            &EvalOutput {
                weights: &w.weights,
                data: test.source(),
                loss: ev.loss,
                accuracy: ev.accuracy,
                report: &report,
            },
        )?;
        println!(
            "pictures: {}, {}, {}",
            counts.display(),
            rows.display(),
            cols.display()
        );
        println!("everything as JSON: {}", json.display());
        Ok(dir)
    }
}
