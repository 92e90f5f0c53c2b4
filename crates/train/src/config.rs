//! What a training run is made of: the network and the training settings.

use std::path::PathBuf;

use kiln_nn::ConfigNetConfig;
use serde::{Deserialize, Serialize};

/// Training settings (the walkthrough's defaults: Adam, cross-entropy, batch 512, lr 1e-3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f32,
    pub seed: u64,
    /// The walkthrough's augmentation: rotation 20°, brightness 0.2, hue 0.1, flip.
    pub augment: bool,
    /// Early-stopping patience (epochs without test-loss improvement); `None` trains all epochs.
    pub early_stop: Option<usize>,
    pub min_delta: f64,
    pub label_smoothing: f32,
    /// Loader worker threads.
    pub workers: usize,
    /// Print early-stopping messages ("early stop counter: 2/3").
    pub verbose: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 512,
            lr: 1e-3,
            seed: 0,
            augment: false,
            early_stop: None,
            min_delta: 0.0,
            label_smoothing: 0.0,
            workers: 2,
            verbose: true,
        }
    }
}

/// A whole run: network, training settings, and the weights it starts from (fine-tuning).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub model: ConfigNetConfig,
    pub train: TrainConfig,
    pub init_from: Option<PathBuf>,
}
