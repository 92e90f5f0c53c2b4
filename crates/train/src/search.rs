//! Grid search (the walkthrough's `HyperSearch`): every combination of the listed values, each
//! trained with early stopping in its own folder, named after its settings and a hash of its
//! whole configuration (data included). A trial is reused only when its finished result is of
//! exactly the same configuration; a [`Shard`] (or a Slurm array job) runs every N-th trial,
//! and [`collect`] merges the shards' results into one report.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use kiln_nn::{Architecture, ConfigNetConfig};
use kiln_tensor::Backend;
use serde::{Deserialize, Serialize};

use crate::callbacks::Callbacks;
use crate::run::{RunOptions, train_run};
use crate::{FitData, Result, RunConfig, TrainError};

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

    /// Every combination, in a fixed order, applied to `base`. The network settings
    /// (c1, c2, l1, d1, conv1_kernel) apply to a ConfigNet only.
    pub fn trials(&self, base: &RunConfig) -> Result<Vec<Trial>> {
        fn or<T: Clone>(v: &[T], d: T) -> Vec<T> {
            if v.is_empty() { vec![d] } else { v.to_vec() }
        }
        let arch_lists = !(self.c1.is_empty()
            && self.c2.is_empty()
            && self.l1.is_empty()
            && self.d1.is_empty()
            && self.conv1_kernel.is_empty());
        let m = match &base.model {
            Architecture::ConfigNet(m) => *m,
            Architecture::Layers { name, .. } if arch_lists => {
                return Err(TrainError::Config(format!(
                    "c1, c2, l1, d1 and conv1_kernel describe a ConfigNet, not {name}: search over lr, batch size and epochs instead"
                )));
            }
            Architecture::Layers { .. } => ConfigNetConfig::default(),
        };
        let t = &base.train;
        let mut out = Vec::new();
        for &c1 in &or(&self.c1, m.c1) {
            for &c2 in &or(&self.c2, m.c2) {
                for &l1 in &or(&self.l1, m.l1) {
                    for &d1 in &or(&self.d1, m.d1) {
                        for &k in &or(&self.conv1_kernel, m.conv1_kernel) {
                            for &lr in &or(&self.lr, t.optimizer.lr()) {
                                for &bs in &or(&self.batch_size, t.batch_size) {
                                    for &ep in &or(&self.epochs, t.epochs) {
                                        let mut cfg = base.clone();
                                        let label =
                                            if let Architecture::ConfigNet(c) = &mut cfg.model {
                                                *c = ConfigNetConfig {
                                                    c1,
                                                    c2,
                                                    l1,
                                                    d1,
                                                    conv1_kernel: k,
                                                    ..*c
                                                };
                                                format!("c1-{c1}_c2-{c2}_l1-{l1}_d1-{d1}_k-{k}_")
                                            } else {
                                                String::new()
                                            };
                                        cfg.train.optimizer = cfg.train.optimizer.with_lr(lr);
                                        cfg.train.batch_size = bs;
                                        cfg.train.epochs = ep;
                                        let name = format!(
                                            "{label}lr-{lr}_bs-{bs}_ep-{ep}_{}",
                                            identity(&cfg)
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
        Ok(out)
    }
}

/// The first 8 hex digits of a SHA-256 of the whole configuration (data, recipe, device):
/// trials that differ in anything get different folders.
fn identity(cfg: &RunConfig) -> String {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_vec(cfg).unwrap_or_default();
    Sha256::digest(&json)[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
    /// Of the best epoch, on the monitored set (validation if the run has one, else test).
    pub accuracy: f64,
    pub loss: f64,
    /// Of the best epoch, on the test set.
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

/// Runs one trial in its folder under `search_dir`, or returns its result when the folder
/// holds a finished result of exactly this configuration (`reused` is then true). A trial
/// interrupted earlier resumes where it stopped.
pub fn run_trial<B: Backend>(
    search_dir: &Path,
    trial: &Trial,
    data: &FitData,
    dev: &B,
    opts: &RunOptions,
    cb: &mut dyn Callbacks<B>,
) -> Result<(TrialResult, bool)> {
    let dir = trial_dir(search_dir, trial);
    let result_path = dir.join(RESULT_FILE);
    if let Some(r) = read_result(&result_path)?
        && r.config == trial.config
    {
        return Ok((r, true));
    }
    let start = Instant::now();
    let opts = RunOptions {
        resume: true,
        ..opts.clone()
    };
    let out = train_run(&dir, &trial.config, data, dev, &opts, cb)?;
    let best = out.best.as_ref();
    let r = TrialResult {
        index: trial.index,
        name: trial.name.clone(),
        accuracy: best.map_or(f64::NAN, |b| b.val_accuracy.unwrap_or(b.test_accuracy)),
        loss: best.map_or(f64::NAN, |b| b.monitored_loss()),
        test_accuracy: best.map_or(f64::NAN, |b| b.test_accuracy),
        test_loss: best.map_or(f64::NAN, |b| b.test_loss),
        best_epoch: best.map_or(0, |b| b.epoch),
        epochs_run: out.history.len(),
        stopped_early: out.stopped_early,
        seconds: start.elapsed().as_secs_f64(),
        config: trial.config.clone(),
    };
    let json = serde_json::to_string_pretty(&r).map_err(|e| TrainError::Config(e.to_string()))?;
    kiln_nn::state_dict::write_atomic(&result_path, json.as_bytes())?;
    Ok((r, false))
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
    /// Lowest monitored loss.
    pub best: Option<TrialResult>,
    /// Trials in the grid (finished or not).
    pub trials: usize,
}

/// Gathers the finished results of the grid's `trials` under `search_dir` (also those other
/// shards wrote), in grid order, with the best one (lowest monitored loss). Folders of other
/// grids (other data, settings or recipe) are left out, however they got there.
pub fn collect(search_dir: &Path, trials: &[Trial]) -> Result<SearchReport> {
    let mut results = Vec::new();
    for t in trials {
        if let Some(r) = read_result(&trial_dir(search_dir, t).join(RESULT_FILE))?
            && r.config == t.config
        {
            results.push(r);
        }
    }
    let best = results
        .iter()
        .filter(|r| r.loss.is_finite())
        .min_by(|a, b| a.loss.total_cmp(&b.loss))
        .cloned();
    Ok(SearchReport {
        results,
        best,
        trials: trials.len(),
    })
}

/// The network columns of a result: ConfigNet's settings, or the architecture's name.
fn net_columns(cfg: &RunConfig) -> [String; 5] {
    match &cfg.model {
        Architecture::ConfigNet(m) => [
            m.c1.to_string(),
            m.c2.to_string(),
            m.l1.to_string(),
            m.d1.to_string(),
            m.conv1_kernel.to_string(),
        ],
        Architecture::Layers { name, .. } => {
            [name.clone(), "-".into(), "-".into(), "-".into(), "-".into()]
        }
    }
}

impl SearchReport {
    /// The walkthrough's report table: run, accuracy, loss, c1, c2, l1, d1, lr, batch, epochs.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let monitored = self
            .results
            .first()
            .is_some_and(|r| r.config.data.validation.is_some());
        let set = if monitored { "validation" } else { "test" };
        let _ = writeln!(
            s,
            "{:>4} {:>9} {:>8} {:>9} {:>5} {:>5} {:>5} {:>5} {:>3} {:>9} {:>6} {:>7} {:>5}",
            "run",
            "accuracy",
            "loss",
            "test acc",
            "c1",
            "c2",
            "l1",
            "d1",
            "k",
            "lr",
            "batch",
            "epochs",
            "best"
        );
        for r in &self.results {
            let [c1, c2, l1, d1, k] = net_columns(&r.config);
            let t = &r.config.train;
            let _ = writeln!(
                s,
                "{:>4} {:>8.2}% {:>8.4} {:>8.2}% {:>5} {:>5} {:>5} {:>5} {:>3} {:>9} {:>6} {:>7} {:>5}",
                r.index,
                100.0 * r.accuracy,
                r.loss,
                100.0 * r.test_accuracy,
                c1,
                c2,
                l1,
                d1,
                k,
                t.optimizer.lr(),
                t.batch_size,
                format!("{}{}", r.epochs_run, if r.stopped_early { "*" } else { "" }),
                r.best_epoch
            );
        }
        let _ = writeln!(
            s,
            "accuracy and loss on the {set} set at each trial's best epoch; {} of {} trials finished",
            self.results.len(),
            self.trials
        );
        if self.results.iter().any(|r| r.stopped_early) {
            s.push_str("(* stopped early)\n");
        }
        if let Some(b) = &self.best {
            let [c1, c2, l1, d1, k] = net_columns(&b.config);
            let _ = writeln!(
                s,
                "best (lowest {set} loss): run {} c1={c1} c2={c2} l1={l1} d1={d1} k={k} lr={} batch={}: accuracy {:.2}%, loss {:.4} (test accuracy {:.2}%, loss {:.4})",
                b.index,
                b.config.train.optimizer.lr(),
                b.config.train.batch_size,
                100.0 * b.accuracy,
                b.loss,
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
            "run,name,accuracy,loss,test_accuracy,test_loss,c1,c2,l1,d1,conv1_kernel,lr,batch_size,epochs,epochs_run,best_epoch,stopped_early\n",
        );
        for r in &self.results {
            let [c1, c2, l1, d1, k] = net_columns(&r.config);
            let t = &r.config.train;
            let _ = writeln!(
                csv,
                "{},{},{:.6},{:.6},{:.6},{:.6},{c1},{c2},{l1},{d1},{k},{},{},{},{},{},{}",
                r.index,
                r.name,
                r.accuracy,
                r.loss,
                r.test_accuracy,
                r.test_loss,
                t.optimizer.lr(),
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
