//! `kiln train`: train a ConfigNet, test it after every epoch, draw the curves.

use std::path::PathBuf;

use kiln_nn::ConfigNetConfig;
use kiln_tensor::Backend;
use kiln_train::run::{BEST_FILE, CONFIG_FILE};
use kiln_train::{FitOptions, RunConfig, TrainConfig, fit};

use crate::args::{Common, TrainArgs};
use crate::data_source::load_pair;
use crate::device::Job;
use crate::{CliError, Result, io_err};
use kiln_viz::training_curves;

pub struct TrainJob {
    pub common: Common,
    pub args: TrainArgs,
}

fn run_name() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("train-{secs}")
}

impl Job for TrainJob {
    type Output = PathBuf;

    fn run<B: Backend>(self, dev: &B) -> Result<PathBuf> {
        let (c, a) = (&self.common, &self.args);
        let data = load_pair(c.data.as_deref(), c.train_size, c.test_size, c.seed)?;
        let (run_dir, cfg) = match &a.resume {
            Some(dir) => {
                let path = dir.join(CONFIG_FILE);
                let text = std::fs::read_to_string(&path).map_err(|_| {
                    CliError::Usage(format!(
                        "--resume {}: no {CONFIG_FILE} there; is it a kiln train run folder?",
                        dir.display()
                    ))
                })?;
                let mut cfg: RunConfig = serde_json::from_str(&text).map_err(|e| {
                    CliError::Usage(format!(
                        "{}: unreadable run configuration: {e}",
                        path.display()
                    ))
                })?;
                if let Some(e) = a.epochs {
                    cfg.train.epochs = e;
                }
                (dir.clone(), cfg)
            }
            None => {
                let m = &a.model;
                let model = ConfigNetConfig {
                    conv1_kernel: m.conv1_kernel,
                    ..ConfigNetConfig::new(m.c1, m.c2, m.l1, m.d1)
                };
                let train = TrainConfig {
                    epochs: a.epochs.unwrap_or(if data.synthetic { 3 } else { 10 }),
                    batch_size: a
                        .batch_size
                        .unwrap_or(if data.synthetic { 64 } else { 512 }),
                    lr: a.lr,
                    seed: c.seed,
                    augment: a.augment,
                    early_stop: a.early_stop,
                    workers: a.workers,
                    ..TrainConfig::default()
                };
                let name = a.name.clone().unwrap_or_else(run_name);
                (
                    c.out.join(name),
                    RunConfig {
                        model,
                        train,
                        init_from: a.from.clone(),
                    },
                )
            }
        };
        if let Some(w) = &cfg.init_from
            && !w.exists()
        {
            return Err(CliError::Usage(format!(
                "--from {}: no such weights file",
                w.display()
            )));
        }
        let m = cfg.model;
        eprintln!(
            "training ConfigNet(c1={}, c2={}, l1={}, d1={}, conv1 {}x{}) on {} for {} epochs, batch {}, lr {}{} → {}",
            m.c1,
            m.c2,
            m.l1,
            m.d1,
            m.conv1_kernel,
            m.conv1_kernel,
            dev.name(),
            cfg.train.epochs,
            cfg.train.batch_size,
            cfg.train.lr,
            if cfg.train.augment { ", augmented" } else { "" },
            run_dir.display()
        );
        let opts = FitOptions {
            resume: a.resume.is_some(),
            progress: true,
            max_epochs_this_call: None,
        };
        let out = fit(&run_dir, &cfg, data.train, data.test, dev, &opts)?;
        let series = |f: fn(&kiln_train::EpochRecord) -> f64| -> Vec<(f64, f64)> {
            out.history.iter().map(|r| (r.epoch as f64, f(r))).collect()
        };
        let loss = [
            ("train".to_string(), series(|r| r.train_loss)),
            ("test".to_string(), series(|r| r.test_loss)),
        ];
        let acc = [
            ("train".to_string(), series(|r| 100.0 * r.train_accuracy)),
            ("test".to_string(), series(|r| 100.0 * r.test_accuracy)),
        ];
        let plot = run_dir.join("curves.png");
        training_curves(&plot, "ConfigNet training", &loss, &acc)?;
        let last = out
            .history
            .last()
            .ok_or_else(|| CliError::Usage("no epoch was run".into()))?;
        println!("run folder: {}", run_dir.display());
        println!(
            "last epoch {}: test accuracy {:.2}%, test loss {:.4}",
            last.epoch,
            100.0 * last.test_accuracy,
            last.test_loss
        );
        println!(
            "best epoch {}: test accuracy {:.2}%, test loss {:.4}{} → {}",
            out.best_epoch,
            100.0 * out.best_test_accuracy,
            out.best_test_loss,
            if out.stopped_early {
                " (stopped early)"
            } else {
                ""
            },
            run_dir.join(BEST_FILE).display()
        );
        println!(
            "curves: {}   history: {}",
            plot.display(),
            run_dir.join("history.csv").display()
        );
        std::fs::metadata(&plot).map_err(io_err(&plot))?;
        Ok(run_dir)
    }
}
