//! Elementwise ops: unary functions, and binary ops with numpy broadcasting.

use crate::backend::BackendBase;
use crate::layout::broadcast_shapes;
use crate::{Backend, Layout, Result, Tensor};

pub(crate) mod cpu;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;

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
    /// `x Φ(x)` with the exact normal CDF Φ (PyTorch's default `GELU`).
    Gelu,
    /// `Φ(x) + x φ(x)`, the derivative of [`UnaryOp::Gelu`] (no gradient of its own).
    GeluGrad,
}

impl UnaryOp {
    /// Every op (with placeholder parameters), for tests and kernel registries.
    pub const ALL: [UnaryOp; 15] = [
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::Sqr,
        UnaryOp::Abs,
        UnaryOp::Relu,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::Recip,
        UnaryOp::Affine { mul: 1.0, add: 0.0 },
        UnaryOp::Powf(1.0),
        UnaryOp::Step,
        UnaryOp::Gelu,
        UnaryOp::GeluGrad,
    ];

    /// The op's two scalar parameters (zero where it has none).
    pub fn params(self) -> (f32, f32) {
        match self {
            UnaryOp::Affine { mul, add } => (mul, add),
            UnaryOp::Powf(e) => (e, 0.0),
            _ => (0.0, 0.0),
        }
    }
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

impl BinaryOp {
    /// Every op, for tests and kernel registries.
    pub const ALL: [BinaryOp; 6] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Max,
        BinaryOp::Min,
    ];
}

/// Each op's name, and the device kernels named after it: `unary_<name>`, and
/// `binary_<name>_dense` / `_strided_u32` / `_strided_u64` (see `elementwise.cu`).
macro_rules! op_names {
    ($($u:pat => $un:literal),* ; $($b:ident => $bn:literal),*) => {
        impl UnaryOp {
            /// Lower-case name.
            pub fn name(self) -> &'static str {
                match self { $($u => $un),* }
            }
            /// The device kernel that computes the op.
            pub fn kernel(self) -> &'static str {
                match self { $($u => concat!("unary_", $un)),* }
            }
        }
        impl BinaryOp {
            /// Lower-case name.
            pub fn name(self) -> &'static str {
                match self { $(BinaryOp::$b => $bn),* }
            }
            /// The device kernels for (dense, strided 32-bit, strided 64-bit) operands.
            pub fn kernels(self) -> [&'static str; 3] {
                match self {
                    $(BinaryOp::$b => [
                        concat!("binary_", $bn, "_dense"),
                        concat!("binary_", $bn, "_strided_u32"),
                        concat!("binary_", $bn, "_strided_u64"),
                    ]),*
                }
            }
        }
    };
}

op_names!(
    UnaryOp::Neg => "neg", UnaryOp::Exp => "exp", UnaryOp::Log => "log",
    UnaryOp::Sqrt => "sqrt", UnaryOp::Sqr => "sqr", UnaryOp::Abs => "abs",
    UnaryOp::Relu => "relu", UnaryOp::Tanh => "tanh", UnaryOp::Sigmoid => "sigmoid",
    UnaryOp::Recip => "recip", UnaryOp::Affine { .. } => "affine", UnaryOp::Powf(_) => "powf",
    UnaryOp::Step => "step", UnaryOp::Gelu => "gelu", UnaryOp::GeluGrad => "gelu_grad";
    Add => "add", Sub => "sub", Mul => "mul", Div => "div", Max => "max", Min => "min"
);

/// The elementwise kernels of a device.
pub trait ElementwiseKernels: BackendBase {
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
}

impl<B: Backend> Tensor<B> {
    fn unary_op(&self, op: UnaryOp, name: &'static str) -> Result<Tensor<B>> {
        let x = self.dense_storage()?;
        let out = self.device().unary(op, &x)?;
        let saved_x = self.detach();
        Tensor::from_op(out, self.shape(), self.device(), name, &[self], move |g| {
            Ok(vec![Some(unary_grad(op, g, &saved_x)?)])
        })
    }

    pub fn neg(&self) -> Result<Tensor<B>> {
        self.unary_op(UnaryOp::Neg, "neg")
    }
    pub fn exp(&self) -> Result<Tensor<B>> {
        self.unary_op(UnaryOp::Exp, "exp")
    }
    pub fn log(&self) -> Result<Tensor<B>> {
        self.unary_op(UnaryOp::Log, "log")
    }
    pub fn sqrt(&self) -> Result<Tensor<B>> {
        self.unary_op(UnaryOp::Sqrt, "sqrt")
    }
    pub fn sqr(&self) -> Result<Tensor<B>> {
        self.unary_op(UnaryOp::Sqr, "sqr")
    }
    pub fn abs(&self) -> Result<Tensor<B>> {
        self.unary_op(UnaryOp::Abs, "abs")
    }
    pub fn relu(&self) -> Result<Tensor<B>> {
        self.unary_op(UnaryOp::Relu, "relu")
    }
    pub fn tanh(&self) -> Result<Tensor<B>> {
        self.unary_op(UnaryOp::Tanh, "tanh")
    }
    pub fn sigmoid(&self) -> Result<Tensor<B>> {
        self.unary_op(UnaryOp::Sigmoid, "sigmoid")
    }
    pub fn recip(&self) -> Result<Tensor<B>> {
        self.unary_op(UnaryOp::Recip, "recip")
    }
    /// `self * mul + add`.
    pub fn affine(&self, mul: f32, add: f32) -> Result<Tensor<B>> {
        self.unary_op(UnaryOp::Affine { mul, add }, "affine")
    }
    pub fn scale(&self, mul: f32) -> Result<Tensor<B>> {
        self.affine(mul, 0.0)
    }
    pub fn add_scalar(&self, add: f32) -> Result<Tensor<B>> {
        self.affine(1.0, add)
    }
    pub fn powf(&self, exponent: f32) -> Result<Tensor<B>> {
        self.unary_op(UnaryOp::Powf(exponent), "powf")
    }
    /// `x Φ(x)`, the exact GELU (PyTorch's `nn.GELU()` default, not the tanh approximation).
    pub fn gelu(&self) -> Result<Tensor<B>> {
        self.unary_op(UnaryOp::Gelu, "gelu")
    }
    /// 1 where the element is positive, else 0 (no gradient).
    pub fn step(&self) -> Result<Tensor<B>> {
        let x = self.dense_storage()?;
        Tensor::from_storage(
            self.device().unary(UnaryOp::Step, &x)?,
            self.shape(),
            self.device(),
        )
    }

    /// `self` where `mask > 0`, else 0, times `scale`. The gradient flows to `self` only.
    pub fn masked_scale(&self, mask: &Tensor<B>, scale: f32) -> Result<Tensor<B>> {
        if mask.shape() != self.shape() {
            return Err(crate::TensorError::ShapeMismatch {
                op: "masked_scale",
                lhs: self.shape().to_vec(),
                rhs: mask.shape().to_vec(),
            });
        }
        let x = self.dense_storage()?;
        let m = mask.detach();
        let ms = m.dense_storage()?;
        let out = self.device().masked_scale(&x, &ms, scale)?;
        Tensor::from_op(
            out,
            self.shape(),
            self.device(),
            "masked_scale",
            &[self],
            move |g| Ok(vec![Some(g.masked_scale(&m, scale)?)]),
        )
    }

    fn binary_op(&self, rhs: &Tensor<B>, op: BinaryOp, name: &'static str) -> Result<Tensor<B>> {
        let shape = broadcast_shapes(name, self.shape(), rhs.shape())?;
        let ll = self.layout().broadcast_to(&shape)?;
        let rl = rhs.layout().broadcast_to(&shape)?;
        let out = self
            .device()
            .binary(op, self.storage(), &ll, rhs.storage(), &rl)?;
        let (a, b) = (self.detach(), rhs.detach());
        Tensor::from_op(out, &shape, self.device(), name, &[self, rhs], move |g| {
            let (ga, gb) = binary_grad(op, g, &a, &b)?;
            Ok(vec![
                Some(ga.sum_to_shape(a.shape())?),
                Some(gb.sum_to_shape(b.shape())?),
            ])
        })
    }

    pub fn add(&self, rhs: &Tensor<B>) -> Result<Tensor<B>> {
        self.binary_op(rhs, BinaryOp::Add, "add")
    }
    pub fn sub(&self, rhs: &Tensor<B>) -> Result<Tensor<B>> {
        self.binary_op(rhs, BinaryOp::Sub, "sub")
    }
    pub fn mul(&self, rhs: &Tensor<B>) -> Result<Tensor<B>> {
        self.binary_op(rhs, BinaryOp::Mul, "mul")
    }
    pub fn div(&self, rhs: &Tensor<B>) -> Result<Tensor<B>> {
        self.binary_op(rhs, BinaryOp::Div, "div")
    }
    pub fn maximum(&self, rhs: &Tensor<B>) -> Result<Tensor<B>> {
        self.binary_op(rhs, BinaryOp::Max, "maximum")
    }
    pub fn minimum(&self, rhs: &Tensor<B>) -> Result<Tensor<B>> {
        self.binary_op(rhs, BinaryOp::Min, "minimum")
    }
}

/// Gradient of a unary op, recomputing what it needs from the input (nothing extra is kept).
fn unary_grad<B: Backend>(op: UnaryOp, g: &Tensor<B>, x: &Tensor<B>) -> Result<Tensor<B>> {
    match op {
        UnaryOp::Neg => g.neg(),
        UnaryOp::Exp => g.mul(&x.exp()?),
        UnaryOp::Log => g.div(x),
        UnaryOp::Sqrt => g.div(&x.sqrt()?.scale(2.0)?),
        UnaryOp::Sqr => g.mul(&x.scale(2.0)?),
        UnaryOp::Abs => g.mul(&x.step()?.scale(2.0)?.add_scalar(-1.0)?),
        UnaryOp::Relu => g.masked_scale(x, 1.0),
        // d tanh = 1 - tanh²
        UnaryOp::Tanh => g.mul(&x.tanh()?.sqr()?.affine(-1.0, 1.0)?),
        // d sigmoid = s (1 - s)
        UnaryOp::Sigmoid => {
            let s = x.sigmoid()?;
            g.mul(&s.mul(&s.affine(-1.0, 1.0)?)?)
        }
        UnaryOp::Recip => g.div(&x.sqr()?)?.neg(),
        UnaryOp::Affine { mul, .. } => g.scale(mul),
        UnaryOp::Powf(e) => g.mul(&x.powf(e - 1.0)?.scale(e)?),
        UnaryOp::Step | UnaryOp::GeluGrad => g.zeros_like(),
        UnaryOp::Gelu => {
            let d = Tensor::from_storage(
                x.device().unary(UnaryOp::GeluGrad, &*x.dense_storage()?)?,
                x.shape(),
                x.device(),
            )?;
            g.mul(&d)
        }
    }
}

fn binary_grad<B: Backend>(
    op: BinaryOp,
    g: &Tensor<B>,
    a: &Tensor<B>,
    b: &Tensor<B>,
) -> Result<(Tensor<B>, Tensor<B>)> {
    Ok(match op {
        BinaryOp::Add => (g.clone(), g.clone()),
        BinaryOp::Sub => (g.clone(), g.neg()?),
        BinaryOp::Mul => (g.mul(b)?, g.mul(a)?),
        BinaryOp::Div => (g.div(b)?, g.mul(a)?.div(&b.sqr()?)?.neg()?),
        BinaryOp::Max | BinaryOp::Min => {
            // The winner takes the gradient; ties go to the left operand.
            let diff = if op == BinaryOp::Max {
                b.sub(a)?
            } else {
                a.sub(b)?
            };
            let right_wins = diff.step()?;
            let left_wins = right_wins.affine(-1.0, 1.0)?;
            (g.mul(&left_wins)?, g.mul(&right_wins)?)
        }
    })
}
