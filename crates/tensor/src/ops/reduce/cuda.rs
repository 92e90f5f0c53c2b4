//! CUDA row reductions (reduce.cu): one block per row, or for few long rows a split sum in
//! two passes.

use crate::Result;
use crate::backend::BackendBase;
use crate::cuda::kernels::{Arg, Source, cfg};
use crate::cuda::{Cuda, CudaStorage};
use crate::ops::reduce::{ReduceKernels, ReduceOp};

fn kernels() -> Vec<&'static str> {
    let rows = ReduceOp::ALL.iter().map(|op| op.kernel());
    rows.chain(["reduce_sum_partial", "reduce_sum_final"])
        .collect()
}

pub(crate) const SOURCE: Source = Source {
    file: "reduce.cu",
    code: include_str!("reduce.cu"),
    kernels,
};

/// Block size for a row reduction over `cols` values (a multiple of 32).
fn reduce_block(cols: usize) -> u32 {
    match cols {
        0..=32 => 32,
        33..=64 => 64,
        65..=128 => 128,
        _ => 256,
    }
}

impl ReduceKernels for Cuda {
    fn reduce_rows(
        &self,
        op: ReduceOp,
        x: &CudaStorage,
        rows: usize,
        cols: usize,
    ) -> Result<CudaStorage> {
        Cuda::check_len("reduce", x, rows * cols)?;
        let out = self.alloc(rows)?;
        if rows == 0 {
            return Ok(out);
        }
        if cols == 0 {
            let v = if op == ReduceOp::Sum { 0.0 } else { f32::NAN };
            self.fill(&out, v)?;
            return Ok(out);
        }
        let dev = self.inner();
        let (r, c) = (rows as i64, cols as i64);
        if op == ReduceOp::Sum && cols >= 1 << 15 && rows <= 4 * dev.sm_count as usize {
            // few long rows: split each row over many blocks, then add the partial sums
            let splits = cols.div_ceil(8192).min(1024);
            let chunk = cols.div_ceil(splits);
            let splits = cols.div_ceil(chunk);
            let partial = self.alloc(2 * rows * splits)?;
            let args = [
                Arg::Ptr(partial.ptr()),
                Arg::Ptr(x.ptr()),
                Arg::I64(r),
                Arg::I64(c),
                Arg::I64(splits as i64),
                Arg::I64(chunk as i64),
            ];
            let grid = (splits as u32, rows as u32, 1);
            dev.launch("reduce_sum_partial", cfg(grid, 256), &args)?;
            let args = [
                Arg::Ptr(out.ptr()),
                Arg::Ptr(partial.ptr()),
                Arg::I64(r),
                Arg::I64(splits as i64),
            ];
            let grid = (rows.min(65_535) as u32, 1, 1);
            dev.launch("reduce_sum_final", cfg(grid, 256), &args)?;
            return Ok(out);
        }
        let args = [
            Arg::Ptr(out.ptr()),
            Arg::Ptr(x.ptr()),
            Arg::I64(r),
            Arg::I64(c),
        ];
        let grid = (rows.min(65_535) as u32, 1, 1);
        dev.launch(op.kernel(), cfg(grid, reduce_block(cols)), &args)?;
        Ok(out)
    }
}
