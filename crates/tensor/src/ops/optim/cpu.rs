//! CPU fused optimizer updates (one pass over parameter, gradient and state).

use rayon::prelude::*;

use crate::Result;
use crate::backend::BackendBase;
use crate::cpu::Cpu;
use crate::ops::optim::{AdamStep, OptimKernels, SgdStep};

const CHUNK: usize = 1 << 14;

/// Adam / AdamW as `torch.optim.Adam(W)` (non-amsgrad, single-tensor) computes it, with the
/// scalars formed in f64 as PyTorch forms them from Python floats.
fn adam(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], hp: &AdamStep) {
    let s = hp.scalars();
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
        .for_each(|((p, g), (m, v))| {
            for i in 0..p.len() {
                let mut gi = g[i];
                if s.weight_decay != 0.0 {
                    if s.decoupled {
                        p[i] *= s.decay;
                    } else {
                        gi += s.weight_decay * p[i];
                    }
                }
                m[i] = s.beta1 * m[i] + s.one_minus_beta1 * gi;
                v[i] = s.beta2 * v[i] + s.one_minus_beta2 * gi * gi;
                let denom = v[i].sqrt() / s.bc2_sqrt + s.eps;
                p[i] -= s.step_size * m[i] / denom;
            }
        });
}

/// SGD with momentum, dampening, Nesterov and weight decay as `torch.optim.SGD`.
fn sgd(p: &mut [f32], g: &[f32], buf: &mut [f32], hp: &SgdStep) {
    let hp = *hp;
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(buf.par_chunks_mut(CHUNK))
        .for_each(|((p, g), b)| {
            for i in 0..p.len() {
                let mut d = g[i] + hp.weight_decay * p[i];
                if hp.momentum != 0.0 {
                    b[i] = if hp.first {
                        d
                    } else {
                        hp.momentum * b[i] + (1.0 - hp.dampening) * d
                    };
                    d = if hp.nesterov {
                        d + hp.momentum * b[i]
                    } else {
                        b[i]
                    };
                }
                p[i] -= hp.lr * d;
            }
        });
}

impl OptimKernels for Cpu {
    fn adam_step(
        &self,
        param: &mut Vec<f32>,
        grad: &Vec<f32>,
        m: &mut Vec<f32>,
        v: &mut Vec<f32>,
        hp: &AdamStep,
    ) -> Result<()> {
        Cpu::check_len("adam", grad, param.len())?;
        adam(param, grad, m, v, hp);
        Ok(())
    }
    fn sgd_step(
        &self,
        param: &mut Vec<f32>,
        grad: &Vec<f32>,
        momentum_buf: &mut Vec<f32>,
        hp: &SgdStep,
    ) -> Result<()> {
        Cpu::check_len("sgd", grad, param.len())?;
        sgd(param, grad, momentum_buf, hp);
        Ok(())
    }
}
