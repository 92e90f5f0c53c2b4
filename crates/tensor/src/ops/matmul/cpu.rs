//! CPU (batched) matrix product through the GEMM module, strides passed straight through.

use rayon::prelude::*;

use crate::Result;
use crate::cpu::Cpu;
use crate::cpu::gemm::{default_impl, sgemm};
use crate::ops::matmul::{MatmulKernels, MatmulSpec};

impl MatmulKernels for Cpu {
    fn matmul(&self, lhs: &Vec<f32>, rhs: &Vec<f32>, spec: &MatmulSpec) -> Result<Vec<f32>> {
        Ok(matmul(lhs, rhs, spec))
    }
}

fn matmul(lhs: &[f32], rhs: &[f32], s: &MatmulSpec) -> Vec<f32> {
    let mut out = vec![0.0; s.batch * s.m * s.n];
    let imp = default_impl();
    let one = |b: usize, c: &mut [f32], parallel: bool| {
        let a = &lhs[s.lhs.offset + b * s.lhs.batch_stride..];
        let r = &rhs[s.rhs.offset + b * s.rhs.batch_stride..];
        sgemm(
            imp,
            s.m,
            s.k,
            s.n,
            1.0,
            a,
            (s.lhs.row_stride, s.lhs.col_stride),
            r,
            (s.rhs.row_stride, s.rhs.col_stride),
            0.0,
            c,
            (s.n, 1),
            parallel,
        )
    };
    if s.batch == 1 {
        one(0, &mut out, true);
    } else if s.m * s.n > 0 {
        out.par_chunks_mut(s.m * s.n)
            .enumerate()
            .for_each(|(b, c)| one(b, c, false));
    }
    out
}
