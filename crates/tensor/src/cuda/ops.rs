//! Host side of the elementwise, strided, reduction, random and optimizer kernels.

use super::Cuda;
use super::device::{backend_err, drv_err};
use super::kernels::{Arg, Dims, MAX_DIMS, cfg, cfg_1d};
use super::memory::CudaStorage;
use crate::spec::{AdamStep, BinaryOp, ReduceOp, SgdStep, UnaryOp};
use crate::{Layout, Result, TensorError};

/// `(op code, p0, p1)` of a unary op for `unary_f32` (elementwise.cu).
fn unary_code(op: UnaryOp) -> (i32, f32, f32) {
    match op {
        UnaryOp::Neg => (0, 0.0, 0.0),
        UnaryOp::Exp => (1, 0.0, 0.0),
        UnaryOp::Log => (2, 0.0, 0.0),
        UnaryOp::Sqrt => (3, 0.0, 0.0),
        UnaryOp::Sqr => (4, 0.0, 0.0),
        UnaryOp::Abs => (5, 0.0, 0.0),
        UnaryOp::Relu => (6, 0.0, 0.0),
        UnaryOp::Tanh => (7, 0.0, 0.0),
        UnaryOp::Sigmoid => (8, 0.0, 0.0),
        UnaryOp::Recip => (9, 0.0, 0.0),
        UnaryOp::Affine { mul, add } => (10, mul, add),
        UnaryOp::Powf(e) => (11, e, 0.0),
        UnaryOp::Step => (12, 0.0, 0.0),
    }
}

fn binary_code(op: BinaryOp) -> i32 {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Sub => 1,
        BinaryOp::Mul => 2,
        BinaryOp::Div => 3,
        BinaryOp::Max => 4,
        BinaryOp::Min => 5,
    }
}

pub(crate) fn check_len(op: &str, st: &CudaStorage, expected: usize) -> Result<()> {
    if st.len() == expected {
        Ok(())
    } else {
        Err(backend_err(format!(
            "{op}: buffer of {} values where {expected} were expected",
            st.len()
        )))
    }
}

/// Largest storage offset a (non-empty) layout reaches.
fn last_offset(l: &Layout) -> usize {
    l.offset()
        + l.shape()
            .iter()
            .zip(l.strides())
            .map(|(&d, &s)| (d.max(1) - 1) * s)
            .sum::<usize>()
}

fn check_reach(op: &str, st: &CudaStorage, l: &Layout) -> Result<usize> {
    let last = last_offset(l);
    if last < st.len() {
        Ok(last)
    } else {
        Err(backend_err(format!(
            "{op}: view {:?} (strides {:?}, offset {}) reaches element {last} of a buffer of {}",
            l.shape(),
            l.strides(),
            l.offset(),
            st.len()
        )))
    }
}

/// Merges dimensions that are laid out contiguously in every operand and drops size-1 ones,
/// so the strided kernels do as few divisions as possible. Returns a rank of at least 1.
pub(crate) fn coalesce(shape: &[usize], strides: &[&[usize]]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut out_shape: Vec<usize> = Vec::new();
    let mut out_strides: Vec<Vec<usize>> = vec![Vec::new(); strides.len()];
    for (d, &size) in shape.iter().enumerate() {
        if size == 1 {
            continue;
        }
        let mergeable = !out_shape.is_empty()
            && strides
                .iter()
                .zip(&out_strides)
                .all(|(s, o)| o.last() == Some(&(s[d] * size)));
        if mergeable {
            if let Some(last) = out_shape.last_mut() {
                *last *= size;
            }
            for (s, o) in strides.iter().zip(out_strides.iter_mut()) {
                if let Some(last) = o.last_mut() {
                    *last = s[d];
                }
            }
        } else {
            out_shape.push(size);
            for (s, o) in strides.iter().zip(out_strides.iter_mut()) {
                o.push(s[d]);
            }
        }
    }
    if out_shape.is_empty() {
        out_shape.push(1);
        for o in out_strides.iter_mut() {
            o.push(0);
        }
    }
    (out_shape, out_strides)
}

/// Kernel arguments for up to two strided operands; `true` when 32-bit indexing suffices.
fn strided_dims(
    op: &str,
    shape: &[usize],
    strides: &[&[usize]],
    offsets: &[usize],
    reach: usize,
) -> Result<(Dims, bool)> {
    let (shape, strides) = coalesce(shape, strides);
    if shape.len() > MAX_DIMS {
        return Err(backend_err(format!(
            "{op}: a view with {} non-mergeable dimensions (at most {MAX_DIMS})",
            shape.len()
        )));
    }
    let mut d = Dims {
        ndim: shape.len() as i64,
        ..Dims::default()
    };
    for (i, &s) in shape.iter().enumerate() {
        d.shape[i] = s as i64;
        d.stride_a[i] = strides[0][i] as i64;
        d.stride_b[i] = strides.get(1).map_or(0, |st| st[i] as i64);
    }
    d.offset_a = offsets[0] as i64;
    d.offset_b = offsets.get(1).copied().unwrap_or(0) as i64;
    let n: usize = shape.iter().product();
    let small = n <= u32::MAX as usize && reach <= u32::MAX as usize;
    Ok((d, small))
}

/// Block size for a row reduction over `cols` values (a multiple of 32).
fn reduce_block(cols: usize) -> u32 {
    match cols {
        0..=32 => 32,
        33..=64 => 64,
        65..=128 => 128,
        _ => 256,
    }
}

impl Cuda {
    /// A pooled buffer of `len` values (contents undefined).
    pub(crate) fn alloc(&self, len: usize) -> Result<CudaStorage> {
        self.inner().pool.alloc(len)
    }

    pub(crate) fn fill(&self, out: &CudaStorage, value: f32) -> Result<()> {
        let n = out.len();
        let args = [Arg::Ptr(out.ptr()), Arg::U64(n as u64), Arg::F32(value)];
        self.inner().launch("fill_f32", cfg_1d(n), &args)
    }

    /// A dense copy of the view `layout` of `src`.
    pub(crate) fn gather(&self, src: &CudaStorage, layout: &Layout) -> Result<CudaStorage> {
        let n = layout.numel();
        let out = self.alloc(n)?;
        if n == 0 {
            return Ok(out);
        }
        let reach = check_reach("copy_strided", src, layout)?;
        if layout.is_contiguous() {
            let dev = self.inner();
            dev.bind()?;
            // SAFETY: `src` holds elements offset..offset + n (checked), `out` holds n.
            unsafe {
                cudarc::driver::result::memcpy_dtod_async(
                    out.ptr(),
                    src.ptr_at(layout.offset()),
                    n * 4,
                    dev.stream.cu_stream(),
                )
            }
            .map_err(drv_err("copying a device buffer"))?;
            return Ok(out);
        }
        let (dims, small) = strided_dims(
            "copy_strided",
            layout.shape(),
            &[layout.strides()],
            &[layout.offset()],
            reach,
        )?;
        let name = if small {
            "copy_strided_u32"
        } else {
            "copy_strided_u64"
        };
        let args = [
            Arg::Ptr(out.ptr()),
            Arg::Ptr(src.ptr()),
            Arg::U64(n as u64),
            Arg::Dims(Box::new(dims)),
        ];
        self.inner().launch(name, cfg_1d(n), &args)?;
        Ok(out)
    }

    pub(crate) fn unary_impl(&self, op: UnaryOp, x: &CudaStorage) -> Result<CudaStorage> {
        let n = x.len();
        let out = self.alloc(n)?;
        let (code, p0, p1) = unary_code(op);
        let args = [
            Arg::Ptr(out.ptr()),
            Arg::Ptr(x.ptr()),
            Arg::U64(n as u64),
            Arg::I32(code),
            Arg::F32(p0),
            Arg::F32(p1),
        ];
        self.inner().launch("unary_f32", cfg_1d(n), &args)?;
        Ok(out)
    }

    pub(crate) fn binary_impl(
        &self,
        op: BinaryOp,
        lhs: &CudaStorage,
        ll: &Layout,
        rhs: &CudaStorage,
        rl: &Layout,
    ) -> Result<CudaStorage> {
        if ll.shape() != rl.shape() {
            return Err(TensorError::ShapeMismatch {
                op: "binary (cuda)",
                lhs: ll.shape().to_vec(),
                rhs: rl.shape().to_vec(),
            });
        }
        let n = ll.numel();
        let out = self.alloc(n)?;
        if n == 0 {
            return Ok(out);
        }
        let reach_a = check_reach("binary lhs", lhs, ll)?;
        let reach_b = check_reach("binary rhs", rhs, rl)?;
        let code = binary_code(op);
        if ll.is_contiguous() && rl.is_contiguous() {
            let args = [
                Arg::Ptr(out.ptr()),
                Arg::Ptr(lhs.ptr_at(ll.offset())),
                Arg::Ptr(rhs.ptr_at(rl.offset())),
                Arg::U64(n as u64),
                Arg::I32(code),
            ];
            self.inner().launch("binary_dense", cfg_1d(n), &args)?;
            return Ok(out);
        }
        let (dims, small) = strided_dims(
            "binary",
            ll.shape(),
            &[ll.strides(), rl.strides()],
            &[ll.offset(), rl.offset()],
            reach_a.max(reach_b),
        )?;
        let name = if small {
            "binary_strided_u32"
        } else {
            "binary_strided_u64"
        };
        let args = [
            Arg::Ptr(out.ptr()),
            Arg::Ptr(lhs.ptr()),
            Arg::Ptr(rhs.ptr()),
            Arg::U64(n as u64),
            Arg::I32(code),
            Arg::Dims(Box::new(dims)),
        ];
        self.inner().launch(name, cfg_1d(n), &args)?;
        Ok(out)
    }

    pub(crate) fn masked_scale_impl(
        &self,
        x: &CudaStorage,
        mask: &CudaStorage,
        scale: f32,
    ) -> Result<CudaStorage> {
        check_len("masked_scale mask", mask, x.len())?;
        let n = x.len();
        let out = self.alloc(n)?;
        let args = [
            Arg::Ptr(out.ptr()),
            Arg::Ptr(x.ptr()),
            Arg::Ptr(mask.ptr()),
            Arg::U64(n as u64),
            Arg::F32(scale),
        ];
        self.inner().launch("masked_scale_f32", cfg_1d(n), &args)?;
        Ok(out)
    }

    pub(crate) fn reduce_rows_impl(
        &self,
        op: ReduceOp,
        x: &CudaStorage,
        rows: usize,
        cols: usize,
    ) -> Result<CudaStorage> {
        check_len("reduce", x, rows * cols)?;
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
        let code = match op {
            ReduceOp::Sum => 0,
            ReduceOp::Max => 1,
            ReduceOp::Min => 2,
            ReduceOp::ArgMax => 3,
        };
        let args = [
            Arg::Ptr(out.ptr()),
            Arg::Ptr(x.ptr()),
            Arg::I64(r),
            Arg::I64(c),
            Arg::I32(code),
        ];
        let grid = (rows.min(65_535) as u32, 1, 1);
        dev.launch("reduce_rows", cfg(grid, reduce_block(cols)), &args)?;
        Ok(out)
    }

    pub(crate) fn rand_impl(
        &self,
        normal: bool,
        len: usize,
        a: f32,
        b: f32,
        seed: u64,
    ) -> Result<CudaStorage> {
        let out = self.alloc(len)?;
        let args = [
            Arg::Ptr(out.ptr()),
            Arg::U64(len as u64),
            Arg::F32(a),
            Arg::F32(b),
            Arg::U64(seed),
        ];
        let name = if normal {
            "rand_normal"
        } else {
            "rand_uniform"
        };
        self.inner().launch(name, cfg_1d(len), &args)?;
        Ok(out)
    }

    pub(crate) fn adam_impl(
        &self,
        p: &mut CudaStorage,
        g: &CudaStorage,
        m: &mut CudaStorage,
        v: &mut CudaStorage,
        hp: &AdamStep,
    ) -> Result<()> {
        let n = p.len();
        check_len("adam grad", g, n)?;
        check_len("adam first moment", m, n)?;
        check_len("adam second moment", v, n)?;
        // the same host scalars as cpu/optim.rs
        let s = hp.scalars();
        let args = [
            Arg::Ptr(p.ptr()),
            Arg::Ptr(g.ptr()),
            Arg::Ptr(m.ptr()),
            Arg::Ptr(v.ptr()),
            Arg::U64(n as u64),
            Arg::F32(s.beta1),
            Arg::F32(s.one_minus_beta1),
            Arg::F32(s.beta2),
            Arg::F32(s.one_minus_beta2),
            Arg::F32(s.eps),
            Arg::F32(s.weight_decay),
            Arg::I32(s.decoupled as i32),
            Arg::F32(s.decay),
            Arg::F32(s.step_size),
            Arg::F32(s.bc2_sqrt),
        ];
        self.inner().launch("adam_step", cfg_1d(n), &args)
    }

    pub(crate) fn sgd_impl(
        &self,
        p: &mut CudaStorage,
        g: &CudaStorage,
        buf: &mut CudaStorage,
        hp: &SgdStep,
    ) -> Result<()> {
        let n = p.len();
        check_len("sgd grad", g, n)?;
        if hp.momentum != 0.0 {
            check_len("sgd momentum buffer", buf, n)?;
        }
        let args = [
            Arg::Ptr(p.ptr()),
            Arg::Ptr(g.ptr()),
            Arg::Ptr(buf.ptr()),
            Arg::U64(n as u64),
            Arg::F32(hp.lr),
            Arg::F32(hp.momentum),
            Arg::F32(hp.dampening),
            Arg::F32(hp.weight_decay),
            Arg::I32(hp.nesterov as i32),
            Arg::I32(hp.first as i32),
        ];
        self.inner().launch("sgd_step", cfg_1d(n), &args)
    }
}

#[cfg(test)]
mod tests {
    use super::coalesce;

    #[test]
    fn coalescing_merges_contiguous_runs() {
        // a dense [2, 3, 4] collapses to one dimension
        let (s, st) = coalesce(&[2, 3, 4], &[&[12, 4, 1]]);
        assert_eq!((s, st), (vec![24], vec![vec![1]]));
        // a transposed [3, 2] stays 2-D
        let (s, st) = coalesce(&[3, 2], &[&[1, 3]]);
        assert_eq!((s, st), (vec![3, 2], vec![vec![1, 3]]));
        // broadcasting a row over [4, 5] against a dense operand
        let (s, st) = coalesce(&[4, 5], &[&[5, 1], &[0, 1]]);
        assert_eq!((s, st), (vec![4, 5], vec![vec![5, 1], vec![0, 1]]));
        // size-1 dimensions vanish; a scalar becomes [1] with stride 0
        let (s, st) = coalesce(&[1, 1], &[&[7, 9]]);
        assert_eq!((s, st), (vec![1], vec![vec![0]]));
        let (s, _) = coalesce(&[2, 1, 3], &[&[3, 100, 1]]);
        assert_eq!(s, vec![6]);
    }
}
