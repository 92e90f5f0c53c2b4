//! Losses.

use kiln_tensor::{Backend, Tensor};

use crate::{NnError, Result};

/// `nn.CrossEntropyLoss()` with mean reduction and optional label smoothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct CrossEntropyLoss {
    pub label_smoothing: f32,
}

impl CrossEntropyLoss {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn with_label_smoothing(s: f32) -> Result<Self> {
        if !(0.0..1.0).contains(&s) {
            return Err(NnError::Config(format!(
                "label smoothing must be in [0, 1), got {s}"
            )));
        }
        Ok(CrossEntropyLoss { label_smoothing: s })
    }
    /// Loss of logits `[n, k]` against class indices `[n]` (f32 values).
    pub fn forward<B: Backend>(&self, logits: &Tensor<B>, labels: &Tensor<B>) -> Result<Tensor<B>> {
        Ok(logits.cross_entropy(labels, self.label_smoothing)?)
    }
}
