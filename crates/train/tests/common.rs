//! Shared helpers of the training tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use kiln_data::Dataset;
use kiln_nn::{Architecture, ConfigNetConfig, OptimizerConfig};
use kiln_tensor::Cpu;
use kiln_train::{
    DeviceInfo, FitData, FitOptions, RunConfig, RunOptions, RunOutcome, TrainConfig, made_by,
    train_run,
};

pub fn tiny_data(n: usize, seed: u64) -> Arc<Dataset> {
    Arc::new(kiln_data::synthetic(n, seed))
}

pub fn tiny_fit_data(train: usize, test: usize) -> FitData {
    FitData {
        train: tiny_data(train, 1),
        validation: None,
        test: tiny_data(test, 2),
    }
}

pub fn cpu() -> DeviceInfo {
    DeviceInfo {
        kind: "cpu".into(),
        precision: "f32".into(),
    }
}

pub fn tiny_run(epochs: usize, data: &FitData) -> RunConfig {
    RunConfig {
        model: Architecture::ConfigNet(ConfigNetConfig::new(4, 8, 16, 0.1)),
        train: TrainConfig {
            epochs,
            batch_size: 32,
            optimizer: OptimizerConfig::adam(2e-3),
            seed: 3,
            ..TrainConfig::default()
        },
        init_from: None,
        data: data.fingerprint(),
        device: cpu(),
        made_by: made_by(),
    }
}

pub fn options(resume: bool, max_epochs: Option<usize>) -> RunOptions {
    RunOptions {
        resume,
        fit: FitOptions {
            max_epochs_this_call: max_epochs,
            ..FitOptions::default()
        },
        tensorboard: None,
    }
}

pub fn run(
    dir: &Path,
    cfg: &RunConfig,
    data: &FitData,
    opts: &RunOptions,
) -> kiln_train::Result<RunOutcome> {
    train_run(dir, cfg, data, &Cpu, opts, &mut ())
}
