//! The `Module` abstraction: a forward pass in training or evaluation mode, and named
//! parameters and buffers with PyTorch's dotted names.

use kiln_tensor::{Backend, Tensor};

use crate::Result;

/// What a named tensor of a module is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorKind {
    /// Learned by the optimizer.
    Parameter,
    /// State that is saved but not learned (running statistics).
    Buffer,
    /// An integer counter (saved as int64, e.g. `num_batches_tracked`).
    Counter,
}

/// Per-forward settings: the mode, and a stream of seeds for the random layers.
#[derive(Debug, Clone)]
pub struct Context {
    training: bool,
    seed: u64,
    calls: u64,
}

impl Context {
    /// Training mode: dropout active, batch norm on batch statistics (and updating its running
    /// statistics). `seed` makes the dropout masks reproducible.
    pub fn train(seed: u64) -> Self {
        Context {
            training: true,
            seed,
            calls: 0,
        }
    }
    /// Evaluation mode: dropout off, batch norm on running statistics.
    pub fn eval() -> Self {
        Context {
            training: false,
            seed: 0,
            calls: 0,
        }
    }
    pub fn is_training(&self) -> bool {
        self.training
    }
    /// A fresh seed for the next random layer.
    pub fn next_seed(&mut self) -> u64 {
        self.calls += 1;
        kiln_tensor::rng::hash64(self.seed, self.calls)
    }
}

/// A layer or a network.
pub trait Module<B: Backend>: Send {
    /// Runs the module. In training mode it may update its buffers (batch norm).
    fn forward(&mut self, x: &Tensor<B>, ctx: &mut Context) -> Result<Tensor<B>>;

    /// Calls `f` with every named tensor (parameters, buffers, counters), depth first, in
    /// declaration order.
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B>, TensorKind));

    /// Like [`Module::visit`], with mutable access.
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B>, TensorKind));
}

/// Joins a prefix and a name with a dot (PyTorch's `state_dict` naming).
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Visits a child module with its name as prefix.
pub fn visit_child<B: Backend, M: Module<B> + ?Sized>(
    prefix: &str,
    child: &M,
    f: &mut dyn FnMut(&str, &Tensor<B>, TensorKind),
) {
    child.visit(&mut |n, t, k| f(&join(prefix, n), t, k));
}

/// Visits a child module mutably with its name as prefix.
pub fn visit_child_mut<B: Backend, M: Module<B> + ?Sized>(
    prefix: &str,
    child: &mut M,
    f: &mut dyn FnMut(&str, &mut Tensor<B>, TensorKind),
) {
    child.visit_mut(&mut |n, t, k| f(&join(prefix, n), t, k));
}

/// The names, shapes and kinds of a module's tensors.
pub fn describe<B: Backend, M: Module<B> + ?Sized>(m: &M) -> Vec<(String, Vec<usize>, TensorKind)> {
    let mut out = Vec::new();
    m.visit(&mut |n, t, k| out.push((n.to_string(), t.shape().to_vec(), k)));
    out
}

/// Number of learned scalars.
pub fn parameter_count<B: Backend, M: Module<B> + ?Sized>(m: &M) -> usize {
    let mut n = 0;
    m.visit(&mut |_, t, k| {
        if k == TensorKind::Parameter {
            n += t.numel()
        }
    });
    n
}
