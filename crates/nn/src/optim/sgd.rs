//! SGD with momentum, dampening, Nesterov and weight decay, as `torch.optim.SGD`.

use std::collections::BTreeMap;

use kiln_tensor::{Backend, GradStore, SgdStep, Tensor};

use super::{Optimizer, OptimizerState};
use crate::{Module, NnError, Result};

/// SGD hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SgdConfig {
    pub lr: f32,
    pub momentum: f32,
    pub dampening: f32,
    pub weight_decay: f32,
    pub nesterov: bool,
}

/// Stochastic gradient descent.
pub struct Sgd<B: Backend> {
    pub config: SgdConfig,
    step: u64,
    buffers: BTreeMap<String, Tensor<B>>,
    device: B,
}

impl<B: Backend> Sgd<B> {
    pub fn new(config: SgdConfig, device: &B) -> Result<Self> {
        if config.nesterov && (config.momentum <= 0.0 || config.dampening != 0.0) {
            return Err(NnError::Config(
                "Nesterov momentum requires a momentum and zero dampening".into(),
            ));
        }
        Ok(Sgd {
            config,
            step: 0,
            buffers: BTreeMap::new(),
            device: device.clone(),
        })
    }
}

impl<B: Backend> Optimizer<B> for Sgd<B> {
    fn step(&mut self, model: &mut dyn Module<B>, grads: &GradStore<B>) -> Result<()> {
        self.step += 1;
        let c = self.config;
        let buffers = &mut self.buffers;
        super::for_each_param_with_grad(model, grads, |name, p, g| {
            let first = !buffers.contains_key(name);
            if first {
                buffers.insert(name.to_string(), p.zeros_like()?);
            }
            let hp = SgdStep {
                lr: c.lr,
                momentum: c.momentum,
                dampening: c.dampening,
                weight_decay: c.weight_decay,
                nesterov: c.nesterov,
                first,
            };
            let buf = buffers.get_mut(name).expect("inserted above");
            p.sgd_step_(g, buf, &hp)?;
            Ok(())
        })
    }
    fn learning_rate(&self) -> f32 {
        self.config.lr
    }
    fn set_learning_rate(&mut self, lr: f32) {
        self.config.lr = lr;
    }
    fn state(&self) -> Result<OptimizerState> {
        let mut buffers = Vec::new();
        for (name, b) in &self.buffers {
            buffers.push((
                format!("momentum_buffer.{name}"),
                b.shape().to_vec(),
                b.to_vec()?,
            ));
        }
        Ok(OptimizerState {
            kind: "sgd".into(),
            step: self.step,
            lr: self.config.lr,
            buffers,
        })
    }
    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        if state.kind != "sgd" {
            return Err(NnError::Config(format!(
                "optimizer state is for {} but this optimizer is sgd",
                state.kind
            )));
        }
        let mut buffers = BTreeMap::new();
        for (name, shape, data) in &state.buffers {
            if let Some(p) = name.strip_prefix("momentum_buffer.") {
                buffers.insert(
                    p.to_string(),
                    Tensor::from_slice(data, shape, &self.device)?,
                );
            }
        }
        self.buffers = buffers;
        self.step = state.step;
        self.config.lr = state.lr;
        Ok(())
    }
}
