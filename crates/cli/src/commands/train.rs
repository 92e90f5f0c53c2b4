//! `kiln train`: train a network, testing it after every epoch, and draw the curves. A run
//! folder knows what it is; `--resume` continues only the same run.

use std::path::{Path, PathBuf};

use kiln_data::Normalize;
use kiln_tensor::Backend;
use kiln_train::run::{BEST_FILE, CONFIG_FILE, file_sha256, read_run_config};
use kiln_train::{FitOptions, InitFrom, RunConfig, RunOptions, made_by, train_run};
use kiln_viz::training_curves;

use crate::args::{Common, TrainArgs};
use crate::data_source::load_fit_data;
use crate::device::{Job, device_info};
use crate::progress::Progress;
use crate::recipe::{RunValues, architecture, train_config};
use crate::{CliError, Result, io_err};

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
        if let Some(w) = &a.from
            && !w.is_file()
        {
            return Err(CliError::Usage(format!(
                "--from {}: no such weights file",
                w.display()
            )));
        }
        let values = RunValues {
            epochs: a.epochs,
            lr: a.lr,
            batch_size: a.batch_size,
            early_stop: a.early_stop,
        };
        let (run_dir, cfg, data) = match &a.resume {
            Some(dir) => {
                if !dir.join(CONFIG_FILE).is_file() {
                    return Err(CliError::Usage(format!(
                        "--resume {}: no {CONFIG_FILE} there; is it a kiln train run folder?",
                        dir.display()
                    )));
                }
                let given = run_flags_given(a);
                if !given.is_empty() {
                    return Err(CliError::Usage(format!(
                        "{}: a resumed run keeps the settings it was made with (only --epochs may extend it); start a new run with --name to train with other settings",
                        given.join(", ")
                    )));
                }
                let mut cfg = read_run_config(dir)?;
                let (data, _) = load_fit_data(c, cfg.train.val_split)?;
                // the data and device must be the run's: train_run lists every difference
                cfg.data = data.fingerprint();
                cfg.device = device_info(dev, c);
                cfg.made_by = made_by();
                if let Some(e) = a.epochs {
                    cfg.train.epochs = e;
                }
                (dir.clone(), cfg, data)
            }
            None => {
                let synthetic = c.data.is_none() && kiln_data::default_data_dir().is_none();
                let train = train_config(&a.recipe, values, c.seed, synthetic)?;
                // everything the flags decide is checked before any image is read
                train.validate()?;
                let model = architecture(&a.model.model, Some(&a.model))?;
                let (data, _) = load_fit_data(c, train.val_split)?;
                let init_from = match &a.from {
                    Some(w) => Some(InitFrom {
                        path: w.clone(),
                        sha256: file_sha256(w)?,
                    }),
                    None => None,
                };
                let cfg = RunConfig {
                    model,
                    train,
                    init_from,
                    data: data.fingerprint(),
                    device: device_info(dev, c),
                    made_by: made_by(),
                };
                let name = a.name.clone().unwrap_or_else(run_name);
                (c.out.join(name), cfg, data)
            }
        };
        eprintln!(
            "training {} on {} for {} epochs, batch {}, {}, {} schedule, augmentation: {}{} → {}",
            cfg.model.describe(),
            dev.name(),
            cfg.train.epochs,
            cfg.train.batch_size,
            cfg.train.optimizer.describe(),
            schedule_name(&cfg),
            cfg.train.augment.describe(),
            if cfg.train.flip_tta { ", flip TTA" } else { "" },
            run_dir.display()
        );
        let opts = RunOptions {
            resume: a.resume.is_some(),
            fit: FitOptions {
                normalize: Normalize::half(),
                workers: a.recipe.workers,
                eval_batch_size: cfg.train.batch_size.max(256),
                max_epochs_this_call: None,
            },
            tensorboard: a.recipe.tensorboard.clone(),
        };
        let mut progress = Progress::new(cfg.train.epochs, cfg.train.early_stop.is_some());
        let out = train_run(&run_dir, &cfg, &data, dev, &opts, &mut progress)?;
        report(&run_dir, &cfg, &out)?;
        Ok(run_dir)
    }
}

/// The flags given that shape a run (besides --epochs), by name.
fn run_flags_given(a: &TrainArgs) -> Vec<&'static str> {
    let r = &a.recipe;
    let m = &a.model;
    [
        ("--lr", a.lr.is_some()),
        ("--batch-size", a.batch_size.is_some()),
        ("--early-stop", a.early_stop.is_some()),
        ("--from", a.from.is_some()),
        ("--model", m.model != "confignet"),
        ("--c1", m.c1.is_some()),
        ("--c2", m.c2.is_some()),
        ("--l1", m.l1.is_some()),
        ("--d1", m.d1.is_some()),
        ("--conv1-kernel", m.conv1_kernel.is_some()),
        ("--recipe", r.recipe != crate::args::RecipeArg::Walkthrough),
        ("--optimizer", r.optimizer.is_some()),
        ("--momentum", r.momentum.is_some()),
        ("--nesterov", r.nesterov),
        ("--weight-decay", r.weight_decay.is_some()),
        ("--schedule", r.schedule.is_some()),
        ("--warmup-epochs", r.warmup_epochs.is_some()),
        ("--label-smoothing", r.label_smoothing.is_some()),
        ("--augment", r.augment.is_some()),
        ("--cutout", r.cutout.is_some()),
        ("--val-split", r.val_split.is_some()),
        ("--tta", r.tta),
    ]
    .into_iter()
    .filter_map(|(name, given)| given.then_some(name))
    .collect()
}

fn schedule_name(cfg: &RunConfig) -> &'static str {
    match cfg.train.schedule.kind {
        kiln_nn::ScheduleKind::Constant => "constant",
        kiln_nn::ScheduleKind::Step { .. } => "step",
        kiln_nn::ScheduleKind::Cosine { .. } => "cosine",
        kiln_nn::ScheduleKind::OneCycle { .. } => "one-cycle",
    }
}

fn report(run_dir: &Path, cfg: &RunConfig, out: &kiln_train::RunOutcome) -> Result<()> {
    let series = |f: fn(&kiln_train::EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        out.history
            .iter()
            .filter_map(|r| f(r).map(|v| (r.epoch as f64, v)))
            .collect()
    };
    let mut loss = vec![
        ("train".to_string(), series(|r| Some(r.train_loss))),
        ("test".to_string(), series(|r| Some(r.test_loss))),
    ];
    let mut acc = vec![
        (
            "train".to_string(),
            series(|r| Some(100.0 * r.train_accuracy)),
        ),
        (
            "test".to_string(),
            series(|r| Some(100.0 * r.test_accuracy)),
        ),
    ];
    if cfg.data.validation.is_some() {
        loss.push(("validation".into(), series(|r| r.val_loss)));
        acc.push((
            "validation".into(),
            series(|r| r.val_accuracy.map(|a| 100.0 * a)),
        ));
    }
    let plot = run_dir.join("curves.png");
    training_curves(
        &plot,
        &format!("{} training", cfg.model.describe()),
        &loss,
        &acc,
    )?;
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
    if let Some(b) = &out.best {
        let on = match (b.val_loss, b.val_accuracy) {
            (Some(l), Some(a)) => format!(
                " (chosen on validation: accuracy {:.2}%, loss {:.4})",
                100.0 * a,
                l
            ),
            _ => String::new(),
        };
        println!(
            "best epoch {}: test accuracy {:.2}%, test loss {:.4}{on}{} → {}",
            b.epoch,
            100.0 * b.test_accuracy,
            b.test_loss,
            if out.stopped_early {
                " (stopped early)"
            } else {
                ""
            },
            run_dir.join(BEST_FILE).display()
        );
    }
    println!(
        "curves: {}   history: {}",
        plot.display(),
        run_dir.join("history.csv").display()
    );
    std::fs::metadata(&plot).map_err(io_err(&plot))?;
    Ok(())
}
