//! `Residual`: a block whose body's output is added to its input (or to a shortcut's output
//! when the shapes differ). Its PyTorch twin holds `self.body = nn.Sequential(...)` (and
//! `self.shortcut`), so the state-dict names are `body.0.weight`, `shortcut.0.weight`.

use kiln_tensor::{Backend, Tensor};

use crate::layers::Sequential;
use crate::module::{visit_child, visit_child_mut};
use crate::{Context, Module, Result, TensorKind};

/// `body(x) + x`, or `body(x) + shortcut(x)`.
pub struct Residual<B: Backend> {
    pub body: Sequential<B>,
    pub shortcut: Option<Sequential<B>>,
}

impl<B: Backend> Module<B> for Residual<B> {
    fn forward(&mut self, x: &Tensor<B>, ctx: &mut Context) -> Result<Tensor<B>> {
        let y = self.body.forward(x, ctx)?;
        match &mut self.shortcut {
            Some(s) => Ok(y.add(&s.forward(x, ctx)?)?),
            None => Ok(y.add(x)?),
        }
    }
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B>, TensorKind)) {
        visit_child("body", &self.body, f);
        if let Some(s) = &self.shortcut {
            visit_child("shortcut", s, f);
        }
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B>, TensorKind)) {
        visit_child_mut("body", &mut self.body, f);
        if let Some(s) = &mut self.shortcut {
            visit_child_mut("shortcut", s, f);
        }
    }
}
