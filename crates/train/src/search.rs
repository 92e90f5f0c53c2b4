//! Grid search (the walkthrough's `HyperSearch`): every combination of the listed values, each
//! trained with early stopping in its own folder named after its configuration. Finished trials
//! are skipped when the search runs again; `--shard i/N` (or a Slurm array job) runs every N-th
//! trial, and `collect` merges the shards' results into one report.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use kiln_data::Dataset;
use kiln_tensor::Backend;
use serde::{Deserialize, Serialize};

use crate::run::{FitOptions, fit};
use crate::{Result, RunConfig, TrainError};

/// Values to try for each setting; an empty list keeps the base configuration's value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchSpace {
    pub c1: Vec<usize>,
    pub c2: Vec<usize>,
    pub l1: Vec<usize>,
    pub d1: Vec<f32>,
    pub lr: Vec<f32>,
    pub batch_size: Vec<usize>,
    pub epochs: Vec<usize>,
    pub conv1_kernel: Vec<usize>,
}

impl SearchSpace {
    /// Reads a space from a TOML or JSON file (by extension).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(crate::error::io_err(path))?;
        let bad = |e: String| TrainError::Config(format!("search space {}: {e}", path.display()));
        if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))
        } else {
            toml::from_str(&text).map_err(|e| bad(e.to_string()))
        }
    }

    /// Every combination, in a fixed order, applied to `base`.
    pub fn trials(&self, base: &RunConfig) -> Vec<Trial> {
        fn or<T: Clone>(v: &[T], d: T) -> Vec<T> {
            if v.is_empty() { vec![d] } else { v.to_vec() }
        }
        let m = base.model;
        let t = &base.train;
        let mut out = Vec::new();
        for &c1 in &or(&self.c1, m.c1) {
            for &c2 in &or(&self.c2, m.c2) {
                for &l1 in &or(&self.l1, m.l1) {
                    for &d1 in &or(&self.d1, m.d1) {
                        for &k in &or(&self.conv1_kernel, m.conv1_kernel) {
                            for &lr in &or(&self.lr, t.lr) {
                                for &bs in &or(&self.batch_size, t.batch_size) {
                                    for &ep in &or(&self.epochs, t.epochs) {
                                        let mut cfg = base.clone();
                                        cfg.model.c1 = c1;
                                        cfg.model.c2 = c2;
                                        cfg.model.l1 = l1;
                                        cfg.model.d1 = d1;
                                        cfg.model.conv1_kernel = k;
                                        cfg.train.lr = lr;
                                        cfg.train.batch_size = bs;
                                        cfg.train.epochs = ep;
                                        let name = format!(
                                            "c1-{c1}_c2-{c2}_l1-{l1}_d1-{d1}_k-{k}_lr-{lr}_bs-{bs}_ep-{ep}"
                                        );
                                        out.push(Trial {
                                            index: out.len(),
                                            name,
                                            config: cfg,
                                        });
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

/// One configuration of the grid.
#[derive(Debug, Clone)]
pub struct Trial {
    pub index: usize,
    pub name: String,
    pub config: RunConfig,
}

/// Which part of the grid this process runs: trials with `index % count == index_of_shard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `i/N` (0-based `i`).
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || {
            TrainError::Config(format!(
                "shard `{s}`: expected i/N with 0 <= i < N, e.g. 0/4"
            ))
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// From a Slurm array job (`SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_COUNT`, and
    /// `SLURM_ARRAY_TASK_MIN` when the array does not start at 0), if present.
    pub fn from_slurm_env() -> Result<Option<Self>> {
        let get = |k: &str| std::env::var(k).ok().map(|v| (k.to_string(), v));
        let (Some((_, id)), Some((_, count))) =
            (get("SLURM_ARRAY_TASK_ID"), get("SLURM_ARRAY_TASK_COUNT"))
        else {
            return Ok(None);
        };
        let num = |v: &str| -> Result<usize> {
            v.parse()
                .map_err(|_| TrainError::Config(format!("unreadable Slurm array variable: {v}")))
        };
        let min = match get("SLURM_ARRAY_TASK_MIN") {
            Some((_, m)) => num(&m)?,
            None => 0,
        };
        let (id, count) = (num(&id)?, num(&count)?);
        let index = id.checked_sub(min).filter(|&i| i < count).ok_or_else(|| {
            TrainError::Config(format!(
                "Slurm task {id} is outside an array of {count} starting at {min}"
            ))
        })?;
        Ok(Some(Shard { index, count }))
    }

    pub fn includes(&self, trial: usize) -> bool {
        trial % self.count == self.index
    }
}

/// The outcome of one trial (`result.json` in its folder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialResult {
    pub index: usize,
    pub name: String,
    pub test_accuracy: f64,
    pub test_loss: f64,
    pub best_epoch: usize,
    pub epochs_run: usize,
    pub stopped_early: bool,
    pub seconds: f64,
    pub config: RunConfig,
}

const RESULT_FILE: &str = "result.json";

fn trial_dir(search_dir: &Path, trial: &Trial) -> PathBuf {
    search_dir.join("trials").join(&trial.name)
}

/// Runs this shard's trials of the grid in `search_dir`, skipping finished ones; returns the
/// results of this shard's trials (finished earlier or now).
#[allow(clippy::too_many_arguments)]
pub fn run_search<B: Backend>(
    search_dir: &Path,
    space: &SearchSpace,
    base: &RunConfig,
    train: Arc<Dataset>,
    test: Arc<Dataset>,
    dev: &B,
    shard: Shard,
    progress: bool,
) -> Result<Vec<TrialResult>> {
    let trials = space.trials(base);
    let mine: Vec<&Trial> = trials.iter().filter(|t| shard.includes(t.index)).collect();
    let mut results = Vec::new();
    for (n, trial) in mine.iter().enumerate() {
        let dir = trial_dir(search_dir, trial);
        let result_path = dir.join(RESULT_FILE);
        if let Some(r) = read_result(&result_path)? {
            if progress {
                eprintln!(
                    "trial {}/{} {}: already finished, skipped",
                    n + 1,
                    mine.len(),
                    trial.name
                );
            }
            results.push(r);
            continue;
        }
        if progress {
            eprintln!("trial {}/{} {}", n + 1, mine.len(), trial.name);
        }
        let start = Instant::now();
        let opts = FitOptions {
            resume: true,
            progress,
            max_epochs_this_call: None,
        };
        let out = fit(&dir, &trial.config, train.clone(), test.clone(), dev, &opts)?;
        let r = TrialResult {
            index: trial.index,
            name: trial.name.clone(),
            test_accuracy: out.best_test_accuracy,
            test_loss: out.best_test_loss,
            best_epoch: out.best_epoch,
            epochs_run: out.history.len(),
            stopped_early: out.stopped_early,
            seconds: start.elapsed().as_secs_f64(),
            config: trial.config.clone(),
        };
        let json =
            serde_json::to_string_pretty(&r).map_err(|e| TrainError::Config(e.to_string()))?;
        kiln_nn::state_dict::write_atomic(&result_path, json.as_bytes())?;
        results.push(r);
    }
    Ok(results)
}

fn read_result(path: &Path) -> Result<Option<TrialResult>> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(crate::error::io_err(path))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| TrainError::Checkpoint {
            path: path.to_path_buf(),
            reason: format!("unreadable trial result: {e}"),
        })
}

/// Every finished trial of a search folder (all shards), in grid order, with the best one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchReport {
    pub results: Vec<TrialResult>,
    /// Lowest test loss.
    pub best: Option<TrialResult>,
}

/// Gathers the results of every trial under `search_dir` (the collect step of sharded runs).
pub fn collect(search_dir: &Path) -> Result<SearchReport> {
    let trials = search_dir.join("trials");
    let mut results = Vec::new();
    if trials.is_dir() {
        for entry in std::fs::read_dir(&trials).map_err(crate::error::io_err(&trials))? {
            let entry = entry.map_err(crate::error::io_err(&trials))?;
            if let Some(r) = read_result(&entry.path().join(RESULT_FILE))? {
                results.push(r);
            }
        }
    }
    results.sort_by_key(|r| r.index);
    let best = results
        .iter()
        .min_by(|a, b| a.test_loss.total_cmp(&b.test_loss))
        .cloned();
    Ok(SearchReport { results, best })
}

impl SearchReport {
    /// The walkthrough's report table: run, accuracy, loss, c1, c2, l1, d1, lr, batch, epochs.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:>4} {:>9} {:>8} {:>5} {:>5} {:>5} {:>5} {:>3} {:>9} {:>6} {:>7} {:>5}",
            "run", "accuracy", "loss", "c1", "c2", "l1", "d1", "k", "lr", "batch", "epochs", "best"
        );
        for r in &self.results {
            let m = r.config.model;
            let t = &r.config.train;
            let _ = writeln!(
                s,
                "{:>4} {:>8.2}% {:>8.4} {:>5} {:>5} {:>5} {:>5} {:>3} {:>9} {:>6} {:>7} {:>5}",
                r.index,
                100.0 * r.test_accuracy,
                r.test_loss,
                m.c1,
                m.c2,
                m.l1,
                m.d1,
                m.conv1_kernel,
                t.lr,
                t.batch_size,
                format!("{}{}", r.epochs_run, if r.stopped_early { "*" } else { "" }),
                r.best_epoch
            );
        }
        if self.results.iter().any(|r| r.stopped_early) {
            s.push_str("(* stopped early)\n");
        }
        if let Some(b) = &self.best {
            let m = b.config.model;
            let _ = writeln!(
                s,
                "best (lowest test loss): run {} c1={} c2={} l1={} d1={} k={} lr={} batch={}: accuracy {:.2}%, loss {:.4}",
                b.index,
                m.c1,
                m.c2,
                m.l1,
                m.d1,
                m.conv1_kernel,
                b.config.train.lr,
                b.config.train.batch_size,
                100.0 * b.test_accuracy,
                b.test_loss
            );
        }
        s
    }

    /// Writes `report.json` and `report.csv` into the search folder.
    pub fn write(&self, search_dir: &Path) -> Result<()> {
        let json =
            serde_json::to_string_pretty(self).map_err(|e| TrainError::Config(e.to_string()))?;
        kiln_nn::state_dict::write_atomic(&search_dir.join("report.json"), json.as_bytes())?;
        let mut csv = String::from(
            "run,name,test_accuracy,test_loss,c1,c2,l1,d1,conv1_kernel,lr,batch_size,epochs,epochs_run,best_epoch,stopped_early\n",
        );
        for r in &self.results {
            let m = r.config.model;
            let t = &r.config.train;
            let _ = writeln!(
                csv,
                "{},{},{:.6},{:.6},{},{},{},{},{},{},{},{},{},{},{}",
                r.index,
                r.name,
                r.test_accuracy,
                r.test_loss,
                m.c1,
                m.c2,
                m.l1,
                m.d1,
                m.conv1_kernel,
                t.lr,
                t.batch_size,
                t.epochs,
                r.epochs_run,
                r.best_epoch,
                r.stopped_early
            );
        }
        kiln_nn::state_dict::write_atomic(&search_dir.join("report.csv"), csv.as_bytes())?;
        Ok(())
    }
}
