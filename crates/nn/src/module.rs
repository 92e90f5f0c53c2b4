//! The `Module` abstraction: a forward pass in training or evaluation mode, and named
//! parameters and buffers with PyTorch's dotted names.
//!
//! A network of your own derives `Module` (the options are in
//! [the derive's documentation](kiln_nn_derive::Module)) and writes its `forward`:
//!
//! ```
//! use kiln_nn::layers::{Conv2d, Conv2dConfig, Linear};
//! use kiln_nn::{Context, Module, module::describe};
//! use kiln_tensor::{Backend, Cpu, Tensor};
//!
//! #[derive(Module)]
//! struct Net<B: Backend> {
//!     conv: Conv2d<B>,
//!     fc: Linear<B>,
//!     #[module(skip)]
//!     note: String,
//! }
//!
//! impl<B: Backend> Net<B> {
//!     fn forward(&mut self, x: &Tensor<B>, ctx: &mut Context) -> kiln_nn::Result<Tensor<B>> {
//!         let h = self.conv.forward(x, ctx)?.relu()?.flatten_from(1)?;
//!         self.fc.forward(&h, ctx)
//!     }
//! }
//!
//! let mut net = Net {
//!     conv: Conv2d::new(Conv2dConfig::new(1, 2, 3), 0, &Cpu)?,
//!     fc: Linear::new(2 * 2 * 2, 3, true, 1, &Cpu)?,
//!     note: "a 4x4 toy".into(),
//! };
//! let names: Vec<String> = describe(&net).into_iter().map(|(n, ..)| n).collect();
//! assert_eq!(names, ["conv.weight", "conv.bias", "fc.weight", "fc.bias"]);
//! let y = Module::forward(&mut net, &Tensor::ones(&[1, 1, 4, 4], &Cpu)?, &mut Context::eval())?;
//! assert_eq!(y.shape(), &[1, 3]);
//! # Ok::<(), kiln_nn::NnError>(())
//! ```
//!
//! Without an inherent `forward` the derive does not compile (rather than calling itself):
//!
//! ```compile_fail,E0034
//! use kiln_nn::{Module, layers::Linear};
//! use kiln_tensor::Backend;
//!
//! #[derive(Module)]
//! struct Head<B: Backend> {
//!     fc: Linear<B>,
//! }
//! ```
//!
//! A field that is neither a module nor marked is refused with the options to use:
//!
//! ```compile_fail,E0277
//! use kiln_nn::{Context, Module, layers::Linear};
//! use kiln_tensor::{Backend, Tensor};
//!
//! #[derive(Module)]
//! struct Head<B: Backend> {
//!     fc: Linear<B>,
//!     label: String, // needs #[module(skip)]
//! }
//! impl<B: Backend> Head<B> {
//!     fn forward(&mut self, x: &Tensor<B>, ctx: &mut Context) -> kiln_nn::Result<Tensor<B>> {
//!         self.fc.forward(x, ctx)
//!     }
//! }
//! ```

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
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a kiln module (it does not implement `Module<{B}>`)",
    label = "not a module",
    note = "in a `#[derive(Module)]` struct, mark tensors `#[module(param)]` or `#[module(buffer)]`, and fields without tensors `#[module(skip)]`"
)]
pub trait Module<B: Backend>: Send {
    /// Runs the module. In training mode it may update its buffers (batch norm).
    fn forward(&mut self, x: &Tensor<B>, ctx: &mut Context) -> Result<Tensor<B>>;

    /// Calls `f` with every named tensor (parameters, buffers, counters), depth first, in
    /// declaration order.
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B>, TensorKind));

    /// Like [`Module::visit`], with mutable access.
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B>, TensorKind));
}

/// A boxed module is a module (so `Vec<Box<dyn Module<B>>>` fields derive like
/// `nn.ModuleList`).
impl<B: Backend, M: Module<B> + ?Sized> Module<B> for Box<M> {
    fn forward(&mut self, x: &Tensor<B>, ctx: &mut Context) -> Result<Tensor<B>> {
        (**self).forward(x, ctx)
    }
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B>, TensorKind)) {
        (**self).visit(f)
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B>, TensorKind)) {
        (**self).visit_mut(f)
    }
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
