//! Trains a network of your own with the crates alone: a `#[derive(Module)]` CNN, the built-in
//! synthetic dataset (ten classes of shapes and textures, chance is 10%), Adam and
//! `kiln_train::fit`, with a callback that prints one line per epoch.
//!
//! cargo run --release -p kiln-train --example train_custom

use std::sync::Arc;

use kiln_nn::layers::{BatchNorm2d, Conv2d, Conv2dConfig, GlobalAvgPool2d, Linear, MaxPool2d};
use kiln_nn::{Context, Module, OptimizerConfig};
use kiln_tensor::{Backend, Cpu, Tensor};
use kiln_train::{Callbacks, EpochEnd, FitData, FitOptions, FitState, TrainConfig, fit};

#[derive(Module)]
struct SmallCnn<B: Backend> {
    conv1: Conv2d<B>,
    bn1: BatchNorm2d<B>,
    conv2: Conv2d<B>,
    bn2: BatchNorm2d<B>,
    pool: MaxPool2d,
    gap: GlobalAvgPool2d,
    fc: Linear<B>,
}

impl<B: Backend> SmallCnn<B> {
    fn new(seed: u64, dev: &B) -> kiln_nn::Result<Self> {
        let conv = |i, o, s| Conv2d::new(Conv2dConfig::new(i, o, 3).padding(1).bias(false), s, dev);
        Ok(SmallCnn {
            conv1: conv(3, 16, seed)?,
            bn1: BatchNorm2d::new_2d(16, dev)?,
            conv2: conv(16, 32, seed + 1)?,
            bn2: BatchNorm2d::new_2d(32, dev)?,
            pool: MaxPool2d::new(2),
            gap: GlobalAvgPool2d,
            fc: Linear::new(32, 10, true, seed + 2, dev)?,
        })
    }

    /// conv-bn-relu, max pool, conv-bn-gelu, global average pool, linear.
    fn forward(&mut self, x: &Tensor<B>, ctx: &mut Context) -> kiln_nn::Result<Tensor<B>> {
        let h = self.conv1.forward(x, ctx)?;
        let h = self
            .pool
            .forward(&self.bn1.forward(&h, ctx)?.relu()?, ctx)?;
        let h = self.conv2.forward(&h, ctx)?;
        let h = self.gap.forward(&self.bn2.forward(&h, ctx)?.gelu()?, ctx)?;
        self.fc.forward(&h.flatten_from(1)?, ctx)
    }
}

/// Prints one line per finished epoch.
struct PrintEpochs;

impl<B: Backend> Callbacks<B> for PrintEpochs {
    fn epoch_end(&mut self, end: &EpochEnd<'_, B>) -> kiln_train::Result<()> {
        let r = end.record;
        let (train, test) = (100.0 * r.train_accuracy, 100.0 * r.test_accuracy);
        println!(
            "epoch {}: loss {:.3}, train accuracy {train:.1}%, test accuracy {test:.1}%",
            r.epoch, r.train_loss
        );
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = FitData {
        train: Arc::new(kiln_data::synthetic(4000, 0)),
        validation: None,
        test: Arc::new(kiln_data::synthetic(1000, 1)),
    };
    let cfg = TrainConfig {
        epochs: 2,
        batch_size: 64,
        optimizer: OptimizerConfig::adam(3e-3),
        ..TrainConfig::default()
    };
    let mut model = SmallCnn::new(0, &Cpu)?;
    let mut opt = cfg.optimizer.build(&Cpu)?;
    fit(
        &mut model,
        opt.as_mut(),
        &data,
        &cfg,
        &mut FitState::new(&cfg),
        &Cpu,
        &FitOptions::default(),
        &mut PrintEpochs,
    )?;
    Ok(())
}
