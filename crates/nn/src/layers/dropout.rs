//! `Dropout`: active in training mode only (the original notebook's functional dropout stayed
//! on during evaluation; we do not copy that bug).

use kiln_tensor::{Backend, Tensor};

use crate::{Context, Module, NnError, Result, TensorKind};

/// Inverted dropout with probability `p`.
#[derive(Debug, Clone, Copy)]
pub struct Dropout {
    pub p: f32,
}

impl Dropout {
    pub fn new(p: f32) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(NnError::Config(format!(
                "dropout probability must be in [0, 1), got {p}"
            )));
        }
        Ok(Dropout { p })
    }
}

impl<B: Backend> Module<B> for Dropout {
    fn forward(&mut self, x: &Tensor<B>, ctx: &mut Context) -> Result<Tensor<B>> {
        if !ctx.is_training() || self.p == 0.0 {
            return Ok(x.clone());
        }
        Ok(x.dropout(self.p, ctx.next_seed())?)
    }
    fn visit(&self, _f: &mut dyn FnMut(&str, &Tensor<B>, TensorKind)) {}
    fn visit_mut(&mut self, _f: &mut dyn FnMut(&str, &mut Tensor<B>, TensorKind)) {}
}
