//! `Residual`: a block whose body's output is added to its input (or to a shortcut's output
//! when the shapes differ). Its PyTorch twin holds `self.body = nn.Sequential(...)` (and
//! `self.shortcut`), so the state-dict names are `body.0.weight`, `shortcut.0.weight`.

use kiln_tensor::{Backend, Tensor};

use crate::layers::Sequential;
use crate::{Context, Module, Result};

/// `body(x) + x`, or `body(x) + shortcut(x)`.
#[derive(Module)]
pub struct Residual<B: Backend> {
    pub body: Sequential<B>,
    pub shortcut: Option<Sequential<B>>,
}

impl<B: Backend> Residual<B> {
    /// `body(x) + x`, or `body(x) + shortcut(x)` when there is a shortcut. `Module::forward`
    /// (derived) calls it; private, so that callers keep using the trait.
    fn forward(&mut self, x: &Tensor<B>, ctx: &mut Context) -> Result<Tensor<B>> {
        let y = self.body.forward(x, ctx)?;
        match &mut self.shortcut {
            Some(s) => Ok(y.add(&s.forward(x, ctx)?)?),
            None => Ok(y.add(x)?),
        }
    }
}
