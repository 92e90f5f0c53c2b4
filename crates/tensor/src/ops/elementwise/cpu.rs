//! CPU elementwise kernels.

use crate::backend::BackendBase;
use crate::cpu::Cpu;
use crate::cpu::par::{gather, map, zip_map};
use crate::ops::elementwise::{BinaryOp, ElementwiseKernels, UnaryOp};
use std::f64::consts::FRAC_1_SQRT_2;

use crate::{Layout, Result};

/// `1 / sqrt(2 pi)`.
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// The complementary error function, with a fractional error below 1.2e-7 everywhere
/// (Chebyshev fit of Numerical Recipes' `erfcc`), in f64: ample for f32 results.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[inline]
fn unary_fn(op: UnaryOp) -> impl Fn(f32) -> f32 + Sync {
    move |x: f32| match op {
        UnaryOp::Neg => -x,
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Sqr => x * x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Relu => x.max(0.0),
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        UnaryOp::Recip => 1.0 / x,
        UnaryOp::Affine { mul, add } => x * mul + add,
        UnaryOp::Powf(e) => x.powf(e),
        UnaryOp::Gelu => (0.5 * x as f64 * erfc(-x as f64 * FRAC_1_SQRT_2)) as f32,
        UnaryOp::GeluGrad => {
            let x = x as f64;
            (0.5 * erfc(-x * FRAC_1_SQRT_2) + x * (-0.5 * x * x).exp() * FRAC_1_SQRT_2PI) as f32
        }
        UnaryOp::Step => {
            if x > 0.0 {
                1.0
            } else {
                0.0
            }
        }
    }
}

#[inline]
fn binary_fn(op: BinaryOp) -> impl Fn(f32, f32) -> f32 + Sync {
    move |a: f32, b: f32| match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Max => a.max(b),
        BinaryOp::Min => a.min(b),
    }
}

fn dense_slice<'a>(src: &'a [f32], layout: &Layout) -> Option<&'a [f32]> {
    let o = layout.offset();
    (layout.is_contiguous() && !layout.strides().contains(&0) || layout.numel() <= 1)
        .then(|| &src[o..o + layout.numel()])
}

impl ElementwiseKernels for Cpu {
    fn unary(&self, op: UnaryOp, x: &Vec<f32>) -> Result<Vec<f32>> {
        Ok(map(x, unary_fn(op)))
    }

    fn binary(
        &self,
        op: BinaryOp,
        a: &Vec<f32>,
        al: &Layout,
        b: &Vec<f32>,
        bl: &Layout,
    ) -> Result<Vec<f32>> {
        let f = binary_fn(op);
        Ok(match (dense_slice(a, al), dense_slice(b, bl)) {
            (Some(a), Some(b)) => zip_map(a, b, f),
            (Some(a), None) => zip_map(a, &gather(b, bl), f),
            (None, Some(b)) => zip_map(&gather(a, al), b, f),
            (None, None) => zip_map(&gather(a, al), &gather(b, bl), f),
        })
    }

    fn masked_scale(&self, x: &Vec<f32>, mask: &Vec<f32>, scale: f32) -> Result<Vec<f32>> {
        Cpu::check_len("masked_scale", mask, x.len())?;
        Ok(zip_map(
            x,
            mask,
            move |x, m| {
                if m > 0.0 { x * scale } else { 0.0 }
            },
        ))
    }
}
