//! Shared helpers of the training tests.
#![allow(dead_code)]

use std::sync::Arc;

use kiln_data::Dataset;
use kiln_nn::ConfigNetConfig;
use kiln_train::{RunConfig, TrainConfig};

pub fn tiny_data(n: usize, seed: u64) -> Arc<Dataset> {
    Arc::new(kiln_data::synthetic(n, seed))
}

pub fn tiny_run(epochs: usize) -> RunConfig {
    RunConfig {
        model: ConfigNetConfig::new(4, 8, 16, 0.1),
        train: TrainConfig {
            epochs,
            batch_size: 32,
            lr: 2e-3,
            seed: 3,
            workers: 2,
            ..TrainConfig::default()
        },
        init_from: None,
    }
}
