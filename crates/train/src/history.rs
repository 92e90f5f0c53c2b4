//! The per-epoch history of a run, written as JSON lines and CSV in the run's folder.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Result;

/// One epoch's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Counting from 1.
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    /// On the held-out validation set, when the run has one.
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    pub test_loss: f64,
    pub test_accuracy: f64,
    /// The learning rate of the epoch's last step.
    pub lr: f32,
    pub seconds: f64,
    pub train_images_per_sec: f64,
    /// The monitored loss (validation, else test) improved and the best weights were saved.
    pub improved: bool,
}

impl EpochRecord {
    /// The loss early stopping and the best weights go by: validation if any, else test.
    pub fn monitored_loss(&self) -> f64 {
        self.val_loss.unwrap_or(self.test_loss)
    }
}

/// Rewrites `history.jsonl` and `history.csv` in `dir` from the whole history (atomically).
pub fn write(dir: &Path, history: &[EpochRecord]) -> Result<()> {
    let mut jsonl = String::new();
    let mut csv = String::from(
        "epoch,train_loss,train_accuracy,val_loss,val_accuracy,test_loss,test_accuracy,lr,seconds,train_images_per_sec,improved\n",
    );
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
    for r in history {
        jsonl.push_str(
            &serde_json::to_string(r).map_err(|e| crate::TrainError::Config(e.to_string()))?,
        );
        jsonl.push('\n');
        csv.push_str(&format!(
            "{},{:.6},{:.6},{},{},{:.6},{:.6},{},{:.3},{:.1},{}\n",
            r.epoch,
            r.train_loss,
            r.train_accuracy,
            opt(r.val_loss),
            opt(r.val_accuracy),
            r.test_loss,
            r.test_accuracy,
            r.lr,
            r.seconds,
            r.train_images_per_sec,
            r.improved
        ));
    }
    kiln_nn::state_dict::write_atomic(&dir.join("history.jsonl"), jsonl.as_bytes())?;
    kiln_nn::state_dict::write_atomic(&dir.join("history.csv"), csv.as_bytes())?;
    Ok(())
}
