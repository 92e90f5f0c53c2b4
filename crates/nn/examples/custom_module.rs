//! A CNN of your own in a few lines: `#[derive(Module)]` names its tensors as PyTorch would
//! (`conv1.weight`, `fc.bias`), and `forward` is yours. Runs one batch of random images.
//!
//! cargo run --release -p kiln-nn --example custom_module

use kiln_nn::layers::{Conv2d, Conv2dConfig, Linear, MaxPool2d};
use kiln_nn::module::{describe, parameter_count};
use kiln_nn::{Context, Module};
use kiln_tensor::{Backend, Cpu, Tensor};

#[derive(Module)]
struct SmallCnn<B: Backend> {
    conv1: Conv2d<B>,
    conv2: Conv2d<B>,
    pool: MaxPool2d,
    fc: Linear<B>,
}

impl<B: Backend> SmallCnn<B> {
    fn new(seed: u64, dev: &B) -> kiln_nn::Result<Self> {
        Ok(SmallCnn {
            conv1: Conv2d::new(Conv2dConfig::new(3, 16, 3).padding(1), seed, dev)?,
            conv2: Conv2d::new(Conv2dConfig::new(16, 32, 3).padding(1), seed + 1, dev)?,
            pool: MaxPool2d::new(2),
            fc: Linear::new(32 * 8 * 8, 10, true, seed + 2, dev)?,
        })
    }

    fn forward(&mut self, x: &Tensor<B>, ctx: &mut Context) -> kiln_nn::Result<Tensor<B>> {
        let h = self.pool.forward(&self.conv1.forward_relu(x)?, ctx)?;
        let h = self.pool.forward(&self.conv2.forward_relu(&h)?, ctx)?;
        self.fc.forward(&h.flatten_from(1)?, ctx)
    }
}

fn main() -> kiln_nn::Result<()> {
    let mut net = SmallCnn::new(0, &Cpu)?;
    for (name, shape, kind) in describe(&net) {
        println!("{name:<13} {shape:?} {kind:?}");
    }
    println!("{} parameters", parameter_count(&net));
    let images = Tensor::rand_normal(&[4, 3, 32, 32], 0.0, 1.0, 7, &Cpu)?;
    let logits = net.forward(&images, &mut Context::eval())?;
    println!("logits {:?}: {:?}", logits.shape(), &logits.to_vec()?[..10]);
    Ok(())
}
