//! The CPU backend: dense `Vec<f32>` storage, rayon parallelism, im2col + GEMM convolutions.

pub mod alloc;
mod batch_norm;
mod cross_entropy;
mod elementwise;
pub mod gemm;
#[cfg(test)]
mod gemm_tests;
mod matmul;
mod optim;
mod random;
mod reduce;

use crate::backend::Backend;
use crate::ops::{conv2d::cpu as conv, pool::cpu as pool};
use crate::spec::*;
use crate::{Layout, Result, TensorError};

/// The CPU device (a handle without state).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cpu;

fn check_len(op: &'static str, s: &[f32], expected: usize) -> Result<()> {
    if s.len() == expected {
        Ok(())
    } else {
        Err(TensorError::Backend {
            backend: "cpu",
            msg: format!(
                "{op}: buffer of {} values where {expected} were expected",
                s.len()
            ),
        })
    }
}

impl Backend for Cpu {
    type Storage = Vec<f32>;

    fn name(&self) -> String {
        "cpu".into()
    }
    fn len(storage: &Vec<f32>) -> usize {
        storage.len()
    }
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }

    fn copy_from_host(&self, data: &[f32]) -> Result<Vec<f32>> {
        Ok(data.to_vec())
    }
    fn copy_to_host(&self, storage: &Vec<f32>) -> Result<Vec<f32>> {
        Ok(storage.clone())
    }
    fn full(&self, len: usize, value: f32) -> Result<Vec<f32>> {
        Ok(vec![value; len])
    }
    fn copy_strided(&self, src: &Vec<f32>, layout: &Layout) -> Result<Vec<f32>> {
        Ok(elementwise::gather(src, layout))
    }

    fn unary(&self, op: UnaryOp, x: &Vec<f32>) -> Result<Vec<f32>> {
        Ok(elementwise::unary(op, x))
    }
    fn binary(
        &self,
        op: BinaryOp,
        lhs: &Vec<f32>,
        lhs_layout: &Layout,
        rhs: &Vec<f32>,
        rhs_layout: &Layout,
    ) -> Result<Vec<f32>> {
        Ok(elementwise::binary(op, lhs, lhs_layout, rhs, rhs_layout))
    }
    fn masked_scale(&self, x: &Vec<f32>, mask: &Vec<f32>, scale: f32) -> Result<Vec<f32>> {
        check_len("masked_scale", mask, x.len())?;
        Ok(elementwise::masked_scale(x, mask, scale))
    }

    fn reduce_rows(
        &self,
        op: ReduceOp,
        x: &Vec<f32>,
        rows: usize,
        cols: usize,
    ) -> Result<Vec<f32>> {
        check_len("reduce", x, rows * cols)?;
        Ok(reduce::reduce_rows(op, x, rows, cols))
    }

    fn matmul(&self, lhs: &Vec<f32>, rhs: &Vec<f32>, spec: &MatmulSpec) -> Result<Vec<f32>> {
        Ok(matmul::matmul(lhs, rhs, spec))
    }

    fn conv2d(
        &self,
        x: &Vec<f32>,
        weight: &Vec<f32>,
        bias: Option<&Vec<f32>>,
        spec: &Conv2dSpec,
    ) -> Result<Vec<f32>> {
        conv_forward(x, weight, bias, spec, false)
    }
    fn conv2d_relu(
        &self,
        x: &Vec<f32>,
        weight: &Vec<f32>,
        bias: Option<&Vec<f32>>,
        spec: &Conv2dSpec,
    ) -> Result<Vec<f32>> {
        conv_forward(x, weight, bias, spec, true)
    }
    fn conv2d_backward_input(
        &self,
        grad_out: &Vec<f32>,
        weight: &Vec<f32>,
        spec: &Conv2dSpec,
    ) -> Result<Vec<f32>> {
        check_len(
            "conv2d grad",
            grad_out,
            spec.output_shape().iter().product(),
        )?;
        Ok(conv::conv2d_backward_input(grad_out, weight, spec))
    }
    fn conv2d_backward_weight(
        &self,
        x: &Vec<f32>,
        grad_out: &Vec<f32>,
        spec: &Conv2dSpec,
    ) -> Result<Vec<f32>> {
        check_len(
            "conv2d grad",
            grad_out,
            spec.output_shape().iter().product(),
        )?;
        Ok(conv::conv2d_backward_weight(x, grad_out, spec))
    }

    fn max_pool2d(&self, x: &Vec<f32>, spec: &Pool2dSpec) -> Result<(Vec<f32>, Vec<f32>)> {
        check_len("max_pool2d", x, spec.n * spec.c * spec.h * spec.w)?;
        Ok(pool::max_pool2d_forward(x, spec))
    }
    fn max_pool2d_backward(
        &self,
        grad_out: &Vec<f32>,
        argmax: &Vec<f32>,
        spec: &Pool2dSpec,
    ) -> Result<Vec<f32>> {
        Ok(pool::max_pool2d_backward(grad_out, argmax, spec))
    }
    fn avg_pool2d(&self, x: &Vec<f32>, spec: &Pool2dSpec) -> Result<Vec<f32>> {
        check_len("avg_pool2d", x, spec.n * spec.c * spec.h * spec.w)?;
        Ok(pool::avg_pool2d_forward(x, spec))
    }
    fn avg_pool2d_backward(&self, grad_out: &Vec<f32>, spec: &Pool2dSpec) -> Result<Vec<f32>> {
        Ok(pool::avg_pool2d_backward(grad_out, spec))
    }

    fn batch_norm(
        &self,
        x: &Vec<f32>,
        gamma: &Vec<f32>,
        beta: &Vec<f32>,
        stats: BatchNormStats<'_, Vec<f32>>,
        spec: &BatchNormSpec,
    ) -> Result<BatchNormOutput<Vec<f32>>> {
        check_len("batch_norm", x, spec.n * spec.c * spec.spatial)?;
        let (mean, var) = match stats {
            BatchNormStats::Batch => batch_norm::batch_stats(x, spec),
            BatchNormStats::Running { mean, var } => (mean.clone(), var.clone()),
        };
        let y = batch_norm::normalize(x, gamma, beta, &mean, &var, spec);
        Ok(BatchNormOutput { y, mean, var })
    }
    fn batch_norm_backward(
        &self,
        x: &Vec<f32>,
        gamma: &Vec<f32>,
        mean: &Vec<f32>,
        var: &Vec<f32>,
        grad_y: &Vec<f32>,
        batch_stats: bool,
        spec: &BatchNormSpec,
    ) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
        Ok(batch_norm::backward(
            x,
            gamma,
            mean,
            var,
            grad_y,
            batch_stats,
            spec,
        ))
    }

    fn softmax_cross_entropy(
        &self,
        logits: &Vec<f32>,
        labels: &Vec<f32>,
        n: usize,
        k: usize,
        smoothing: f32,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        check_len("cross_entropy", logits, n * k)?;
        let (loss, probs) = cross_entropy::forward(logits, labels, n, k, smoothing)?;
        Ok((vec![loss], probs))
    }
    fn softmax_cross_entropy_backward(
        &self,
        probs: &Vec<f32>,
        labels: &Vec<f32>,
        grad_loss: &Vec<f32>,
        n: usize,
        k: usize,
        smoothing: f32,
    ) -> Result<Vec<f32>> {
        cross_entropy::backward(probs, labels, grad_loss[0], n, k, smoothing)
    }

    fn rand_uniform(&self, len: usize, low: f32, high: f32, seed: u64) -> Result<Vec<f32>> {
        Ok(random::uniform(len, low, high, seed))
    }
    fn rand_normal(&self, len: usize, mean: f32, std: f32, seed: u64) -> Result<Vec<f32>> {
        Ok(random::normal(len, mean, std, seed))
    }

    fn adam_step(
        &self,
        param: &mut Vec<f32>,
        grad: &Vec<f32>,
        m: &mut Vec<f32>,
        v: &mut Vec<f32>,
        hp: &AdamStep,
    ) -> Result<()> {
        check_len("adam", grad, param.len())?;
        optim::adam(param, grad, m, v, hp);
        Ok(())
    }
    fn sgd_step(
        &self,
        param: &mut Vec<f32>,
        grad: &Vec<f32>,
        momentum_buf: &mut Vec<f32>,
        hp: &SgdStep,
    ) -> Result<()> {
        check_len("sgd", grad, param.len())?;
        optim::sgd(param, grad, momentum_buf, hp);
        Ok(())
    }
}

/// The forward convolution (with the ReLU fused when `relu`), after checking the lengths.
fn conv_forward(
    x: &[f32],
    weight: &[f32],
    bias: Option<&Vec<f32>>,
    spec: &Conv2dSpec,
    relu: bool,
) -> Result<Vec<f32>> {
    check_len("conv2d input", x, spec.input_shape().iter().product())?;
    check_len(
        "conv2d weight",
        weight,
        spec.weight_shape().iter().product(),
    )?;
    let bias = bias.map(|b| b.as_slice());
    Ok(if relu {
        conv::conv2d_relu_forward(x, weight, bias, spec)
    } else {
        conv::conv2d_forward(x, weight, bias, spec)
    })
}
