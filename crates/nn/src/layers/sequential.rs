//! `Sequential`: modules applied in order, named `0`, `1`, ... as in PyTorch.

use kiln_tensor::{Backend, Tensor};

use crate::module::{visit_child, visit_child_mut};
use crate::{Context, Module, Result, TensorKind};

/// A chain of modules.
pub struct Sequential<B: Backend> {
    layers: Vec<Box<dyn Module<B>>>,
}

impl<B: Backend> Default for Sequential<B> {
    fn default() -> Self {
        Sequential { layers: Vec::new() }
    }
}

impl<B: Backend> Sequential<B> {
    pub fn new() -> Self {
        Self::default()
    }
    /// Appends a layer (builder style).
    pub fn push(mut self, layer: impl Module<B> + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }
    /// Appends a boxed layer.
    pub fn push_boxed(&mut self, layer: Box<dyn Module<B>>) {
        self.layers.push(layer);
    }
    /// The layers, in order (layer `i` has the state-dict prefix `i.`).
    pub fn layers_mut(&mut self) -> &mut [Box<dyn Module<B>>] {
        &mut self.layers
    }
    pub fn len(&self) -> usize {
        self.layers.len()
    }
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl<B: Backend> Module<B> for Sequential<B> {
    fn forward(&mut self, x: &Tensor<B>, ctx: &mut Context) -> Result<Tensor<B>> {
        let mut h = x.clone();
        for l in &mut self.layers {
            h = l.forward(&h, ctx)?;
        }
        Ok(h)
    }
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B>, TensorKind)) {
        for (i, l) in self.layers.iter().enumerate() {
            visit_child(&i.to_string(), l.as_ref(), f);
        }
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B>, TensorKind)) {
        for (i, l) in self.layers.iter_mut().enumerate() {
            visit_child_mut(&i.to_string(), l.as_mut(), f);
        }
    }
}
