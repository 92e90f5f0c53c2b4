//! CPU reductions over the rows of a matrix (through ndarray views).

use ndarray::{ArrayView2, Axis};
use rayon::prelude::*;

use crate::Result;
use crate::backend::BackendBase;
use crate::cpu::Cpu;
use crate::cpu::par::PAR_MIN;
use crate::ops::reduce::{ReduceKernels, ReduceOp};

fn reduce_row(op: ReduceOp, row: &[f32]) -> f32 {
    match op {
        // pairwise-ish: f64 accumulation keeps long sums accurate
        ReduceOp::Sum => row.iter().map(|&v| v as f64).sum::<f64>() as f32,
        ReduceOp::Max => row.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        ReduceOp::Min => row.iter().copied().fold(f32::INFINITY, f32::min),
        ReduceOp::ArgMax => {
            let mut best = 0;
            for (i, &v) in row.iter().enumerate() {
                if v > row[best] || (row[best].is_nan() && !v.is_nan()) {
                    best = i;
                }
            }
            best as f32
        }
    }
}

fn reduce_rows(op: ReduceOp, x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    if cols == 0 {
        return vec![if op == ReduceOp::Sum { 0.0 } else { f32::NAN }; rows];
    }
    let view = ArrayView2::from_shape((rows, cols), &x[..rows * cols]).expect("shape checked");
    if rows == 1 && op == ReduceOp::Sum && cols >= PAR_MIN {
        return vec![
            x.par_chunks(8192)
                .map(|c| c.iter().map(|&v| v as f64).sum::<f64>())
                .sum::<f64>() as f32,
        ];
    }
    let rows_iter = view.axis_iter(Axis(0));
    if rows * cols >= PAR_MIN {
        let rows: Vec<_> = rows_iter.collect();
        rows.par_iter()
            .map(|r| reduce_row(op, r.as_slice().expect("row-major")))
            .collect()
    } else {
        rows_iter
            .map(|r| reduce_row(op, r.as_slice().expect("row-major")))
            .collect()
    }
}

impl ReduceKernels for Cpu {
    fn reduce_rows(
        &self,
        op: ReduceOp,
        x: &Vec<f32>,
        rows: usize,
        cols: usize,
    ) -> Result<Vec<f32>> {
        Cpu::check_len("reduce", x, rows * cols)?;
        Ok(reduce_rows(op, x, rows, cols))
    }
}
