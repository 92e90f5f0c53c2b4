//! `kiln search`: the walkthrough's grid search with early stopping, shardable.

use kiln_nn::ConfigNetConfig;
use kiln_tensor::Backend;
use kiln_train::search::{SearchSpace, Shard, collect, run_search};
use kiln_train::{RunConfig, TrainConfig};

use crate::Result;
use crate::args::{Common, SearchArgs};
use crate::data_source::load_pair;
use crate::device::Job;

pub struct SearchJob {
    pub common: Common,
    pub args: SearchArgs,
}

impl Job for SearchJob {
    type Output = ();

    fn run<B: Backend>(self, dev: &B) -> Result<()> {
        let (c, a) = (&self.common, &self.args);
        let dir = c.out.join(&a.name);
        if !a.collect {
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
            let data = load_pair(c.data.as_deref(), c.train_size, c.test_size, c.seed)?;
            let base = RunConfig {
                model: ConfigNetConfig::default(),
                train: TrainConfig {
                    epochs: if data.synthetic { 2 } else { 10 },
                    batch_size: if data.synthetic { 64 } else { 512 },
                    early_stop: Some(a.early_stop),
                    augment: a.augment,
                    seed: c.seed,
                    workers: a.workers,
                    ..TrainConfig::default()
                },
                init_from: None,
            };
            let trials = space.trials(&base).len();
            eprintln!(
                "grid search: {trials} trials{} on {} in {}",
                if shard.count > 1 {
                    format!(" (shard {}/{})", shard.index, shard.count)
                } else {
                    String::new()
                },
                dev.name(),
                dir.display()
            );
            run_search(&dir, &space, &base, data.train, data.test, dev, shard, true)?;
        }
        let report = collect(&dir)?;
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
