//! The backend contract: a narrow set of f32 primitives that every device implements.
//!
//! Storage belongs to the backend; shapes, strides and offsets (the [`Layout`]) belong to the
//! tensor. Except where a method takes a layout, storages passed in are contiguous and row-major
//! with exactly the number of elements the accompanying spec describes. Backward passes are
//! primitives too, so that each device can make them fast.

use crate::spec::*;
use crate::{Layout, Result};

/// A compute device. Implementations are cheap handles (`Clone`), f32 only.
pub trait Backend: Clone + Send + Sync + std::fmt::Debug + 'static {
    /// A device buffer of f32.
    type Storage: Clone + Send + Sync + std::fmt::Debug;

    /// Short name for messages ("cpu", "cuda:0").
    fn name(&self) -> String;
    /// Number of f32 elements in a storage.
    fn len(storage: &Self::Storage) -> usize;
    /// Waits until queued work on the device is done (no-op on CPU).
    fn synchronize(&self) -> Result<()>;

    // ---- memory ----
    fn copy_from_host(&self, data: &[f32]) -> Result<Self::Storage>;
    fn copy_to_host(&self, storage: &Self::Storage) -> Result<Vec<f32>>;
    fn full(&self, len: usize, value: f32) -> Result<Self::Storage>;
    /// Gathers a strided view into a new contiguous storage of `layout.numel()` elements.
    fn copy_strided(&self, src: &Self::Storage, layout: &Layout) -> Result<Self::Storage>;

    // ---- elementwise ----
    fn unary(&self, op: UnaryOp, x: &Self::Storage) -> Result<Self::Storage>;
    /// Both layouts have the output's shape (broadcast dimensions have stride 0).
    fn binary(
        &self,
        op: BinaryOp,
        lhs: &Self::Storage,
        lhs_layout: &Layout,
        rhs: &Self::Storage,
        rhs_layout: &Layout,
    ) -> Result<Self::Storage>;
    /// `x` where `mask > 0`, else 0, times `scale`: relu backward and dropout in one kernel.
    fn masked_scale(
        &self,
        x: &Self::Storage,
        mask: &Self::Storage,
        scale: f32,
    ) -> Result<Self::Storage>;

    // ---- reductions ----
    /// Reduces each row of a contiguous `[rows, cols]` matrix to one value.
    fn reduce_rows(
        &self,
        op: ReduceOp,
        x: &Self::Storage,
        rows: usize,
        cols: usize,
    ) -> Result<Self::Storage>;

    // ---- linear algebra ----
    fn matmul(
        &self,
        lhs: &Self::Storage,
        rhs: &Self::Storage,
        spec: &MatmulSpec,
    ) -> Result<Self::Storage>;

    // ---- convolution ----
    fn conv2d(
        &self,
        x: &Self::Storage,
        weight: &Self::Storage,
        bias: Option<&Self::Storage>,
        spec: &Conv2dSpec,
    ) -> Result<Self::Storage>;
    /// `relu(conv2d(x, weight, bias))`. A backend may fuse the ReLU into the convolution's
    /// output (the CPU applies it per image while the image is in cache); this default runs
    /// the two one after the other.
    fn conv2d_relu(
        &self,
        x: &Self::Storage,
        weight: &Self::Storage,
        bias: Option<&Self::Storage>,
        spec: &Conv2dSpec,
    ) -> Result<Self::Storage> {
        let y = self.conv2d(x, weight, bias, spec)?;
        self.unary(UnaryOp::Relu, &y)
    }
    fn conv2d_backward_input(
        &self,
        grad_out: &Self::Storage,
        weight: &Self::Storage,
        spec: &Conv2dSpec,
    ) -> Result<Self::Storage>;
    fn conv2d_backward_weight(
        &self,
        x: &Self::Storage,
        grad_out: &Self::Storage,
        spec: &Conv2dSpec,
    ) -> Result<Self::Storage>;

    // ---- pooling ----
    /// Returns the output and, per output element, the flat index (within its `h x w` plane)
    /// of the input element chosen, as f32.
    fn max_pool2d(
        &self,
        x: &Self::Storage,
        spec: &Pool2dSpec,
    ) -> Result<(Self::Storage, Self::Storage)>;
    fn max_pool2d_backward(
        &self,
        grad_out: &Self::Storage,
        argmax: &Self::Storage,
        spec: &Pool2dSpec,
    ) -> Result<Self::Storage>;
    fn avg_pool2d(&self, x: &Self::Storage, spec: &Pool2dSpec) -> Result<Self::Storage>;
    fn avg_pool2d_backward(
        &self,
        grad_out: &Self::Storage,
        spec: &Pool2dSpec,
    ) -> Result<Self::Storage>;

    // ---- batch norm ----
    fn batch_norm(
        &self,
        x: &Self::Storage,
        gamma: &Self::Storage,
        beta: &Self::Storage,
        stats: BatchNormStats<'_, Self::Storage>,
        spec: &BatchNormSpec,
    ) -> Result<BatchNormOutput<Self::Storage>>;
    /// Returns `(grad_x, grad_gamma, grad_beta)`. With `batch_stats` the gradient flows through
    /// the batch mean and variance (training); otherwise `mean`/`var` are constants.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_backward(
        &self,
        x: &Self::Storage,
        gamma: &Self::Storage,
        mean: &Self::Storage,
        var: &Self::Storage,
        grad_y: &Self::Storage,
        batch_stats: bool,
        spec: &BatchNormSpec,
    ) -> Result<(Self::Storage, Self::Storage, Self::Storage)>;

    // ---- loss ----
    /// Mean softmax cross-entropy of `logits [n, k]` against class indices (as f32), with
    /// label smoothing. Returns the loss (one element) and the softmax probabilities.
    fn softmax_cross_entropy(
        &self,
        logits: &Self::Storage,
        labels: &Self::Storage,
        n: usize,
        k: usize,
        smoothing: f32,
    ) -> Result<(Self::Storage, Self::Storage)>;
    /// `grad_loss * (probs - target) / n`, where `grad_loss` is the loss's one-element gradient.
    fn softmax_cross_entropy_backward(
        &self,
        probs: &Self::Storage,
        labels: &Self::Storage,
        grad_loss: &Self::Storage,
        n: usize,
        k: usize,
        smoothing: f32,
    ) -> Result<Self::Storage>;

    // ---- random ----
    /// Uniform values in `[low, high)` from a counter-based generator: element `i` depends only
    /// on `(seed, i)`, so every backend produces the same numbers.
    fn rand_uniform(&self, len: usize, low: f32, high: f32, seed: u64) -> Result<Self::Storage>;
    /// Normal values (Box-Muller over the same counter-based generator).
    fn rand_normal(&self, len: usize, mean: f32, std: f32, seed: u64) -> Result<Self::Storage>;

    // ---- optimizers (in place) ----
    fn adam_step(
        &self,
        param: &mut Self::Storage,
        grad: &Self::Storage,
        m: &mut Self::Storage,
        v: &mut Self::Storage,
        hp: &AdamStep,
    ) -> Result<()>;
    fn sgd_step(
        &self,
        param: &mut Self::Storage,
        grad: &Self::Storage,
        momentum_buf: &mut Self::Storage,
        hp: &SgdStep,
    ) -> Result<()>;
}
