//! Reverse-mode automatic differentiation, written once for every backend.
//!
//! Each op that needs a gradient records a [`Node`]: its inputs and a closure (the backward
//! rule, kept beside the op's forward) that maps the output's gradient to its inputs'
//! gradients. [`Tensor::backward`] walks the graph in reverse topological order and sums the
//! gradients of tensors used more than once.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::{Backend, Result, Tensor, TensorError, TensorId};

pub(crate) type BackwardFn<B> =
    Box<dyn Fn(&Tensor<B>) -> Result<Vec<Option<Tensor<B>>>> + Send + Sync>;

/// One recorded operation of the graph.
pub(crate) struct Node<B: Backend> {
    pub(crate) name: &'static str,
    pub(crate) inputs: Vec<Tensor<B>>,
    pub(crate) backward: BackwardFn<B>,
}

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether ops currently record the graph (per thread).
pub fn is_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// While alive, ops on this thread record nothing (evaluation, optimizer steps).
pub struct NoGradGuard {
    previous: bool,
}

impl NoGradGuard {
    pub fn new() -> Self {
        let previous = GRAD_ENABLED.with(|g| g.replace(false));
        NoGradGuard { previous }
    }
}

impl Default for NoGradGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.previous));
    }
}

/// Runs `f` without recording a graph.
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _guard = NoGradGuard::new();
    f()
}

/// The gradients of the leaves that require one, by tensor identity.
pub struct GradStore<B: Backend> {
    grads: HashMap<TensorId, Tensor<B>>,
}

impl<B: Backend> GradStore<B> {
    /// The gradient of `t`, if it took part in the computation.
    pub fn get(&self, t: &Tensor<B>) -> Option<&Tensor<B>> {
        self.grads.get(&t.id())
    }
    pub fn get_by_id(&self, id: TensorId) -> Option<&Tensor<B>> {
        self.grads.get(&id)
    }
    pub fn remove(&mut self, t: &Tensor<B>) -> Option<Tensor<B>> {
        self.grads.remove(&t.id())
    }
    pub fn len(&self) -> usize {
        self.grads.len()
    }
    pub fn is_empty(&self) -> bool {
        self.grads.is_empty()
    }
}

impl<B: Backend> Tensor<B> {
    /// Gradients of this (one-element) tensor with respect to every leaf that requires one.
    pub fn backward(&self) -> Result<GradStore<B>> {
        if self.numel() != 1 {
            return Err(TensorError::invalid(
                "backward",
                format!(
                    "needs a single-value tensor (a loss), got shape {:?}",
                    self.shape()
                ),
            ));
        }
        let seed = Tensor::ones(self.shape(), self.device())?;
        self.backward_with(seed)
    }

    /// Back-propagates `grad` (of this tensor's shape) through the graph.
    pub fn backward_with(&self, grad: Tensor<B>) -> Result<GradStore<B>> {
        let _guard = NoGradGuard::new();
        let order = topological_order(self);
        let mut pending: HashMap<TensorId, Tensor<B>> = HashMap::new();
        pending.insert(self.id(), grad);
        let mut store = GradStore {
            grads: HashMap::new(),
        };
        for t in order.iter().rev() {
            let Some(g) = pending.remove(&t.id()) else {
                continue;
            };
            if let Some(node) = t.node() {
                let grads = (node.backward)(&g)?;
                for (input, gi) in node.inputs.iter().zip(grads) {
                    let Some(gi) = gi else { continue };
                    if !input.tracks_grad() {
                        continue;
                    }
                    if gi.shape() != input.shape() {
                        return Err(TensorError::invalid(
                            "backward",
                            format!(
                                "rule of {} gave a gradient of shape {:?} for an input of shape {:?}",
                                node.name,
                                gi.shape(),
                                input.shape()
                            ),
                        ));
                    }
                    accumulate(&mut pending, input.id(), gi)?;
                }
            } else if t.requires_grad() {
                accumulate(&mut store.grads, t.id(), g)?;
            }
        }
        Ok(store)
    }
}

fn accumulate<B: Backend>(
    map: &mut HashMap<TensorId, Tensor<B>>,
    id: TensorId,
    g: Tensor<B>,
) -> Result<()> {
    let g = match map.remove(&id) {
        Some(prev) => prev.add(&g)?,
        None => g,
    };
    map.insert(id, g);
    Ok(())
}

/// Tensors reachable from `root` through tracked inputs, each after all of its inputs.
fn topological_order<B: Backend>(root: &Tensor<B>) -> Vec<Tensor<B>> {
    let mut order = Vec::new();
    let mut visited: HashSet<TensorId> = HashSet::new();
    // iterative post-order DFS: (tensor, children pushed?)
    let mut stack: Vec<(Tensor<B>, bool)> = vec![(root.clone(), false)];
    while let Some((t, expanded)) = stack.pop() {
        if expanded {
            order.push(t);
            continue;
        }
        if !visited.insert(t.id()) {
            continue;
        }
        let node: Option<Arc<Node<B>>> = t.node().cloned();
        stack.push((t, true));
        if let Some(node) = node {
            for input in &node.inputs {
                if input.tracks_grad() && !visited.contains(&input.id()) {
                    stack.push((input.clone(), false));
                }
            }
        }
    }
    order
}
