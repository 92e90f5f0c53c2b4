//! `Tensor<B>`: storage shared behind an `Arc`, a layout, and (when it needs a gradient) the
//! node of the computation graph that produced it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::autograd::{self, BackwardFn, Node};
use crate::{Backend, Layout, Result, TensorError};

/// Identity of a tensor, stable across clones; gradients are keyed by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(u64);

impl TensorId {
    fn fresh() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        TensorId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// An n-dimensional f32 array on backend `B`. Cloning is cheap and keeps the identity.
#[derive(Clone)]
pub struct Tensor<B: Backend> {
    id: TensorId,
    storage: Arc<B::Storage>,
    layout: Layout,
    device: B,
    node: Option<Arc<Node<B>>>,
    requires_grad: bool,
}

impl<B: Backend> std::fmt::Debug for Tensor<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tensor({:?}, {}, shape {:?})",
            self.id,
            self.device.name(),
            self.layout.shape()
        )
    }
}

impl<B: Backend> Tensor<B> {
    // ---------------------------------------------------------------- creation

    /// Wraps a contiguous storage as a leaf tensor of `shape`.
    pub fn from_storage(storage: B::Storage, shape: &[usize], device: &B) -> Result<Self> {
        Self::from_shared_storage(Arc::new(storage), shape, device)
    }

    /// Copies host data of `shape` to the device.
    pub fn from_slice(data: &[f32], shape: &[usize], device: &B) -> Result<Self> {
        let expected: usize = shape.iter().product();
        if data.len() != expected {
            return Err(TensorError::DataLength {
                len: data.len(),
                shape: shape.to_vec(),
                expected,
            });
        }
        Self::from_storage(device.copy_from_host(data)?, shape, device)
    }

    pub fn full(value: f32, shape: &[usize], device: &B) -> Result<Self> {
        let n = shape.iter().product();
        Self::from_storage(device.full(n, value)?, shape, device)
    }
    pub fn zeros(shape: &[usize], device: &B) -> Result<Self> {
        Self::full(0.0, shape, device)
    }
    pub fn ones(shape: &[usize], device: &B) -> Result<Self> {
        Self::full(1.0, shape, device)
    }
    pub fn zeros_like(&self) -> Result<Self> {
        Self::zeros(self.shape(), &self.device)
    }
    pub fn ones_like(&self) -> Result<Self> {
        Self::ones(self.shape(), &self.device)
    }

    /// A tensor over storage that other tensors may share (no graph node).
    pub(crate) fn from_shared_storage(
        storage: Arc<B::Storage>,
        shape: &[usize],
        device: &B,
    ) -> Result<Self> {
        let expected: usize = shape.iter().product();
        let len = B::len(&storage);
        if len != expected {
            return Err(TensorError::DataLength {
                len,
                shape: shape.to_vec(),
                expected,
            });
        }
        Ok(Tensor {
            id: TensorId::fresh(),
            storage,
            layout: Layout::contiguous(shape),
            device: device.clone(),
            node: None,
            requires_grad: false,
        })
    }

    /// The result of an op: records a graph node when gradients are on and an input needs one.
    pub(crate) fn from_op(
        storage: B::Storage,
        shape: &[usize],
        device: &B,
        name: &'static str,
        inputs: &[&Tensor<B>],
        backward: impl Fn(&Tensor<B>) -> Result<Vec<Option<Tensor<B>>>> + Send + Sync + 'static,
    ) -> Result<Self> {
        Self::from_shared_op(Arc::new(storage), shape, device, name, inputs, backward)
    }

    /// [`Tensor::from_op`] over storage the backward rule may also hold (e.g. a fused
    /// activation's output, whose sign its gradient needs).
    pub(crate) fn from_shared_op(
        storage: Arc<B::Storage>,
        shape: &[usize],
        device: &B,
        name: &'static str,
        inputs: &[&Tensor<B>],
        backward: impl Fn(&Tensor<B>) -> Result<Vec<Option<Tensor<B>>>> + Send + Sync + 'static,
    ) -> Result<Self> {
        let mut t = Self::from_shared_storage(storage, shape, device)?;
        if autograd::is_enabled() && inputs.iter().any(|i| i.tracks_grad()) {
            let backward: BackwardFn<B> = Box::new(backward);
            t.node = Some(Arc::new(Node {
                name,
                inputs: inputs.iter().map(|&i| i.clone()).collect(),
                backward,
            }));
        }
        Ok(t)
    }

    /// A view of the same storage with another layout; the backward rule maps the gradient back.
    pub(crate) fn view_op(
        &self,
        layout: Layout,
        name: &'static str,
        backward: impl Fn(&Tensor<B>) -> Result<Vec<Option<Tensor<B>>>> + Send + Sync + 'static,
    ) -> Self {
        let node = (autograd::is_enabled() && self.tracks_grad()).then(|| {
            let backward: BackwardFn<B> = Box::new(backward);
            Arc::new(Node {
                name,
                inputs: vec![self.clone()],
                backward,
            })
        });
        Tensor {
            id: TensorId::fresh(),
            storage: self.storage.clone(),
            layout,
            device: self.device.clone(),
            node,
            requires_grad: false,
        }
    }

    // ---------------------------------------------------------------- accessors

    pub fn id(&self) -> TensorId {
        self.id
    }
    pub fn shape(&self) -> &[usize] {
        self.layout.shape()
    }
    pub fn dims4(&self, op: &'static str) -> Result<[usize; 4]> {
        match *self.shape() {
            [a, b, c, d] => Ok([a, b, c, d]),
            _ => Err(TensorError::invalid(
                op,
                format!(
                    "expected a 4-D tensor [n, c, h, w], got shape {:?}",
                    self.shape()
                ),
            )),
        }
    }
    pub fn rank(&self) -> usize {
        self.layout.rank()
    }
    pub fn numel(&self) -> usize {
        self.layout.numel()
    }
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    pub fn device(&self) -> &B {
        &self.device
    }
    /// The underlying storage (may be larger than the view: see [`Tensor::layout`]).
    pub fn storage(&self) -> &B::Storage {
        &self.storage
    }
    /// Mutable access to a contiguous tensor's storage, copied first if it is shared.
    /// Used by optimizers to update parameters in place.
    pub fn storage_mut(&mut self) -> Result<&mut B::Storage> {
        if !self.layout.is_contiguous()
            || self.layout.offset() != 0
            || B::len(&self.storage) != self.numel()
        {
            return Err(TensorError::invalid(
                "storage_mut",
                "in-place update needs a dense tensor (call contiguous() first)",
            ));
        }
        Ok(Arc::make_mut(&mut self.storage))
    }

    /// Marks a leaf as needing a gradient (a parameter).
    pub fn set_requires_grad(mut self, requires: bool) -> Self {
        self.requires_grad = requires;
        self
    }
    /// True when this leaf collects a gradient.
    pub fn requires_grad(&self) -> bool {
        self.requires_grad
    }
    /// True when a gradient flows through this tensor (a marked leaf or the result of one).
    pub fn tracks_grad(&self) -> bool {
        self.requires_grad || self.node.is_some()
    }
    pub(crate) fn node(&self) -> Option<&Arc<Node<B>>> {
        self.node.as_ref()
    }
    /// The same values, cut from the graph.
    pub fn detach(&self) -> Self {
        Tensor {
            id: TensorId::fresh(),
            storage: self.storage.clone(),
            layout: self.layout.clone(),
            device: self.device.clone(),
            node: None,
            requires_grad: false,
        }
    }

    // ---------------------------------------------------------------- host copies

    /// The values in row-major order, on the host.
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        if self.layout.is_contiguous()
            && self.layout.offset() == 0
            && B::len(&self.storage) == self.numel()
        {
            self.device.copy_to_host(&self.storage)
        } else {
            let s = self.device.copy_strided(&self.storage, &self.layout)?;
            self.device.copy_to_host(&s)
        }
    }

    /// The single value of a one-element tensor.
    pub fn to_scalar(&self) -> Result<f32> {
        if self.numel() != 1 {
            return Err(TensorError::invalid(
                "to_scalar",
                format!("tensor of shape {:?} is not a single value", self.shape()),
            ));
        }
        Ok(self.to_vec()?[0])
    }

    /// A dense row-major storage of exactly this view, sharing when already dense.
    pub(crate) fn dense_storage(&self) -> Result<Arc<B::Storage>> {
        if self.layout.is_contiguous()
            && self.layout.offset() == 0
            && B::len(&self.storage) == self.numel()
        {
            Ok(self.storage.clone())
        } else {
            Ok(Arc::new(
                self.device.copy_strided(&self.storage, &self.layout)?,
            ))
        }
    }

    /// Moves the values to another backend (through the host).
    pub fn to_device<C: Backend>(&self, device: &C) -> Result<Tensor<C>> {
        Tensor::from_slice(&self.to_vec()?, self.shape(), device)
    }
}
