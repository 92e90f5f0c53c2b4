//! `kiln search`: the walkthrough's grid search with early stopping, shardable. A trial is
//! reused only when its finished result is of exactly the same configuration.

use kiln_tensor::Backend;
use kiln_train::search::{SearchSpace, Shard, collect, run_trial};
use kiln_train::{FitOptions, RunConfig, RunOptions, made_by};

use crate::Result;
use crate::args::{Common, SearchArgs};
use crate::data_source::load_fit_data;
use crate::device::{Job, device_info};
use crate::progress::Progress;
use crate::recipe::{RunValues, architecture, train_config};

pub struct SearchJob {
    pub common: Common,
    pub args: SearchArgs,
}

impl Job for SearchJob {
    type Output = ();

    fn run<B: Backend>(self, dev: &B) -> Result<()> {
        let (c, a) = (&self.common, &self.args);
        let dir = c.out.join(&a.name);
        let mut space = match &a.space {
            Some(p) => SearchSpace::from_file(p)?,
            None => SearchSpace::default(),
        };
        space.c1.extend(&a.c1);
        space.c2.extend(&a.c2);
        space.l1.extend(&a.l1);
        space.d1.extend(&a.d1);
        space.lr.extend(&a.lr);
        space.batch_size.extend(&a.batch_size);
        space.epochs.extend(&a.epochs);
        space.conv1_kernel.extend(&a.conv1_kernel);
        let shard = match &a.shard {
            Some(s) => Shard::parse(s)?,
            None => Shard::from_slurm_env()?.unwrap_or(Shard::ALL),
        };
        let synthetic = c.data.is_none() && kiln_data::default_data_dir().is_none();
        let values = RunValues {
            early_stop: Some(a.early_stop),
            epochs: synthetic.then_some(2),
            ..RunValues::default()
        };
        let train = train_config(&a.recipe, values, c.seed, synthetic)?;
        train.validate()?;
        let model = architecture(&a.model, None)?;
        let (data, _) = load_fit_data(c, train.val_split)?;
        let base = RunConfig {
            model,
            train,
            init_from: None,
            data: data.fingerprint(),
            device: device_info(dev, c),
            made_by: made_by(),
        };
        let trials = space.trials(&base)?;
        let opts = RunOptions {
            resume: true,
            fit: FitOptions {
                workers: a.recipe.workers,
                ..FitOptions::default()
            },
            tensorboard: None,
        };
        if !a.collect {
            let mine: Vec<_> = trials.iter().filter(|t| shard.includes(t.index)).collect();
            eprintln!(
                "grid search: {} trials{} on {} in {}",
                trials.len(),
                if shard.count > 1 {
                    format!(
                        " (shard {}/{}: {} of them)",
                        shard.index,
                        shard.count,
                        mine.len()
                    )
                } else {
                    String::new()
                },
                dev.name(),
                dir.display()
            );
            for (n, trial) in mine.iter().enumerate() {
                eprintln!("trial {}/{} {}", n + 1, mine.len(), trial.name);
                let epochs = trial.config.train.epochs;
                let mut progress = Progress::new(epochs, true);
                let (r, reused) = run_trial(&dir, trial, &data, dev, &opts, &mut progress)?;
                if reused {
                    eprintln!(
                        "trial {}/{} {}: already finished with these very settings and data, reused ({:.2}%)",
                        n + 1,
                        mine.len(),
                        trial.name,
                        100.0 * r.accuracy
                    );
                }
            }
        }
        let report = collect(&dir, &trials)?;
        report.write(&dir)?;
        print!("{}", report.table());
        println!(
            "report: {} and {}",
            dir.join("report.csv").display(),
            dir.join("report.json").display()
        );
        Ok(())
    }
}
