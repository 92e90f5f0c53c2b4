//! Adam and AdamW, as `torch.optim.Adam` / `torch.optim.AdamW` (fused update per parameter).

use std::collections::BTreeMap;

use kiln_tensor::{AdamStep, Backend, GradStore, Tensor};

use super::{Optimizer, OptimizerState};
use crate::{Module, NnError, Result};

/// Adam hyperparameters (PyTorch defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    pub lr: f32,
    /// f64 as PyTorch's Python floats: `1 - beta2` must be `0.001`, not the `0.00099999`
    /// that an f32 `0.999` leaves.
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f32,
    pub weight_decay: f32,
    /// AdamW's decoupled weight decay.
    pub decoupled: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        }
    }
}

/// The Adam optimizer; moments are kept per parameter name on the parameters' device.
pub struct Adam<B: Backend> {
    pub config: AdamConfig,
    step: u64,
    moments: BTreeMap<String, (Tensor<B>, Tensor<B>)>,
    device: B,
}

impl<B: Backend> Adam<B> {
    pub fn new(config: AdamConfig, device: &B) -> Self {
        Adam {
            config,
            step: 0,
            moments: BTreeMap::new(),
            device: device.clone(),
        }
    }
    /// AdamW with decoupled weight decay (PyTorch's default 1e-2 when `weight_decay` is None).
    pub fn adamw(lr: f32, weight_decay: Option<f32>, device: &B) -> Self {
        Self::new(
            AdamConfig {
                lr,
                weight_decay: weight_decay.unwrap_or(1e-2),
                decoupled: true,
                ..AdamConfig::default()
            },
            device,
        )
    }
    pub fn steps_taken(&self) -> u64 {
        self.step
    }
}

impl<B: Backend> Optimizer<B> for Adam<B> {
    fn step(&mut self, model: &mut dyn Module<B>, grads: &GradStore<B>) -> Result<()> {
        self.step += 1;
        let c = self.config;
        let hp = AdamStep {
            lr: c.lr,
            beta1: c.beta1,
            beta2: c.beta2,
            eps: c.eps,
            weight_decay: c.weight_decay,
            decoupled: c.decoupled,
            step: self.step,
        };
        let moments = &mut self.moments;
        super::for_each_param_with_grad(model, grads, |name, p, g| {
            if !moments.contains_key(name) {
                moments.insert(name.to_string(), (p.zeros_like()?, p.zeros_like()?));
            }
            let (m, v) = moments.get_mut(name).expect("inserted above");
            p.adam_step_(g, m, v, &hp)?;
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
        for (name, (m, v)) in &self.moments {
            buffers.push((format!("exp_avg.{name}"), m.shape().to_vec(), m.to_vec()?));
            buffers.push((
                format!("exp_avg_sq.{name}"),
                v.shape().to_vec(),
                v.to_vec()?,
            ));
        }
        Ok(OptimizerState {
            kind: if self.config.decoupled {
                "adamw"
            } else {
                "adam"
            }
            .into(),
            step: self.step,
            lr: self.config.lr,
            buffers,
        })
    }
    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        let kind = if self.config.decoupled {
            "adamw"
        } else {
            "adam"
        };
        if state.kind != kind {
            return Err(NnError::Config(format!(
                "optimizer state is for {} but this optimizer is {kind}",
                state.kind
            )));
        }
        let mut m_map = BTreeMap::new();
        let mut v_map = BTreeMap::new();
        for (name, shape, data) in &state.buffers {
            let t = Tensor::from_slice(data, shape, &self.device)?;
            if let Some(p) = name.strip_prefix("exp_avg_sq.") {
                v_map.insert(p.to_string(), t);
            } else if let Some(p) = name.strip_prefix("exp_avg.") {
                m_map.insert(p.to_string(), t);
            }
        }
        let mut moments = BTreeMap::new();
        for (name, m) in m_map {
            let v = v_map.remove(&name).ok_or_else(|| {
                NnError::Config(format!("optimizer state lacks exp_avg_sq for {name}"))
            })?;
            moments.insert(name, (m, v));
        }
        self.moments = moments;
        self.step = state.step;
        self.config.lr = state.lr;
        Ok(())
    }
}
