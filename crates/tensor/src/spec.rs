//! Plain parameter types of the backend contract: op selectors and operation geometry.
//! They depend on nothing else in the crate.

/// Elementwise function of one operand.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryOp {
    Neg,
    Exp,
    Log,
    Sqrt,
    Sqr,
    Abs,
    Relu,
    Tanh,
    Sigmoid,
    Recip,
    /// `x * mul + add`.
    Affine {
        mul: f32,
        add: f32,
    },
    /// `x ^ exponent`.
    Powf(f32),
    /// `1` where `x > 0`, else `0` (the derivative of relu).
    Step,
}

/// Elementwise function of two operands of the same (broadcast) shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
}

/// Reduction over the rows of a `[rows, cols]` matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Max,
    Min,
    /// Index of the first maximum, as an f32.
    ArgMax,
}

/// One operand of a (batched) matrix product, described by strides into its storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatOperand {
    pub offset: usize,
    pub batch_stride: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

/// `out[b] = lhs[b] (m x k) · rhs[b] (k x n)`, `out` contiguous `[batch, m, n]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatmulSpec {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub lhs: MatOperand,
    pub rhs: MatOperand,
}

/// Geometry of a 2-D convolution: input `[n, c_in, h, w]`, weight `[c_out, c_in, kh, kw]`,
/// output `[n, c_out, out_h, out_w]`. Pairs are (height, width).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conv2dSpec {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    pub dilation: (usize, usize),
}

impl Conv2dSpec {
    /// Output height; zero when the kernel does not fit.
    pub fn out_h(&self) -> usize {
        out_size(
            self.h,
            self.kh,
            self.stride.0,
            self.padding.0,
            self.dilation.0,
        )
    }
    /// Output width; zero when the kernel does not fit.
    pub fn out_w(&self) -> usize {
        out_size(
            self.w,
            self.kw,
            self.stride.1,
            self.padding.1,
            self.dilation.1,
        )
    }
    pub fn input_shape(&self) -> [usize; 4] {
        [self.n, self.c_in, self.h, self.w]
    }
    pub fn weight_shape(&self) -> [usize; 4] {
        [self.c_out, self.c_in, self.kh, self.kw]
    }
    pub fn output_shape(&self) -> [usize; 4] {
        [self.n, self.c_out, self.out_h(), self.out_w()]
    }
    /// Multiply-adds of the forward pass times two.
    pub fn forward_flops(&self) -> f64 {
        2.0 * (self.n * self.c_out * self.out_h() * self.out_w() * self.c_in * self.kh * self.kw)
            as f64
    }
}

/// Geometry of a 2-D pooling window over `[n, c, h, w]` (PyTorch defaults: no ceil mode;
/// average pooling counts padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pool2dSpec {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub padding: (usize, usize),
}

impl Pool2dSpec {
    pub fn out_h(&self) -> usize {
        out_size(self.h, self.kernel.0, self.stride.0, self.padding.0, 1)
    }
    pub fn out_w(&self) -> usize {
        out_size(self.w, self.kernel.1, self.stride.1, self.padding.1, 1)
    }
    pub fn output_shape(&self) -> [usize; 4] {
        [self.n, self.c, self.out_h(), self.out_w()]
    }
}

/// `floor((size + 2 pad - dil (k - 1) - 1) / stride) + 1`, or 0 when the window never fits.
pub fn out_size(size: usize, k: usize, stride: usize, pad: usize, dil: usize) -> usize {
    let span = dil * (k.max(1) - 1) + 1;
    let padded = size + 2 * pad;
    if padded < span || stride == 0 {
        0
    } else {
        (padded - span) / stride + 1
    }
}

/// Batch-norm geometry: `x` is `[n, c, spatial]` (spatial = 1 for BatchNorm1d on `[n, c]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormSpec {
    pub n: usize,
    pub c: usize,
    pub spatial: usize,
    pub eps: f32,
}

/// Which statistics a batch-norm forward normalises with.
#[derive(Debug, Clone, Copy)]
pub enum BatchNormStats<'a, S> {
    /// Statistics of this batch (training).
    Batch,
    /// Given running mean and (unbiased) running variance (evaluation).
    Running { mean: &'a S, var: &'a S },
}

/// Outputs of a batch-norm forward: `y`, the mean and the biased variance used to normalise.
pub struct BatchNormOutput<S> {
    pub y: S,
    pub mean: S,
    pub var: S,
}

/// Hyperparameters of one fused Adam/AdamW step (`step` counts from 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    pub lr: f32,
    /// The betas are f64 as PyTorch's Python floats: `1 - 0.999` formed from an f32 beta is
    /// 1.3e-5 off `0.001`, and so would be every second moment.
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f32,
    pub weight_decay: f32,
    /// AdamW: decay the weights directly instead of adding `wd * p` to the gradient.
    pub decoupled: bool,
    pub step: u64,
}

/// The f32 scalars of one Adam step, formed in f64 on the host as PyTorch's single-tensor
/// Adam forms them from Python floats (shared by the CPU and CUDA backends).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdamScalars {
    pub beta1: f32,
    pub one_minus_beta1: f32,
    pub beta2: f32,
    pub one_minus_beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub decoupled: bool,
    /// AdamW's weight factor `1 - lr * weight_decay`.
    pub decay: f32,
    /// `lr / (1 - beta1^t)`.
    pub step_size: f32,
    /// `sqrt(1 - beta2^t)`.
    pub bc2_sqrt: f32,
}

impl AdamStep {
    pub(crate) fn scalars(&self) -> AdamScalars {
        let t = self.step.max(1) as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        AdamScalars {
            beta1: self.beta1 as f32,
            one_minus_beta1: (1.0 - self.beta1) as f32,
            beta2: self.beta2 as f32,
            one_minus_beta2: (1.0 - self.beta2) as f32,
            eps: self.eps,
            weight_decay: self.weight_decay,
            decoupled: self.decoupled,
            decay: (1.0 - self.lr as f64 * self.weight_decay as f64) as f32,
            step_size: (self.lr as f64 / bc1) as f32,
            bc2_sqrt: bc2.sqrt() as f32,
        }
    }
}

/// Hyperparameters of one fused SGD step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdStep {
    pub lr: f32,
    pub momentum: f32,
    pub dampening: f32,
    pub weight_decay: f32,
    pub nesterov: bool,
    /// First step: the momentum buffer is initialised with the gradient (PyTorch).
    pub first: bool,
}
