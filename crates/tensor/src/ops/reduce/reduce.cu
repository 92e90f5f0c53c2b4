// Row reductions of a dense [rows, cols] matrix, one kernel per op named after the Rust op's
// `name()` (reduce_rows_sum, _max, _min, _argmax). Sums accumulate in double like the CPU
// backend; max/min ignore NaN like Rust's f32::max/min folds; argmax follows argmax_merge.

// One block per row (grid-stride over rows). blockDim.x is a multiple of 32.
extern "C" __global__ void reduce_rows_sum(float* out, const float* x, i64 rows, i64 cols) {
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* row = x + r * cols;
        double acc = 0.0;
        for (i64 j = threadIdx.x; j < cols; j += blockDim.x) acc += (double)row[j];
        acc = block_sum_d(acc);
        if (threadIdx.x == 0) out[r] = (float)acc;
    }
}

__device__ __forceinline__ void reduce_rows_extreme(float* out, const float* x, i64 rows,
                                                    i64 cols, bool is_max) {
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* row = x + r * cols;
        float acc = is_max ? KILN_NEG_INF : KILN_INF;
        for (i64 j = threadIdx.x; j < cols; j += blockDim.x) {
            acc = is_max ? fmaxf(acc, row[j]) : fminf(acc, row[j]);
        }
        acc = block_extreme_f(acc, is_max);
        if (threadIdx.x == 0) out[r] = acc;
    }
}

extern "C" __global__ void reduce_rows_max(float* out, const float* x, i64 rows, i64 cols) {
    reduce_rows_extreme(out, x, rows, cols, true);
}

extern "C" __global__ void reduce_rows_min(float* out, const float* x, i64 rows, i64 cols) {
    reduce_rows_extreme(out, x, rows, cols, false);
}

extern "C" __global__ void reduce_rows_argmax(float* out, const float* x, i64 rows, i64 cols) {
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* row = x + r * cols;
        float best = KILN_NAN;
        i64 bi = 0x7fffffffffffffffLL;
        for (i64 j = threadIdx.x; j < cols; j += blockDim.x) argmax_merge(best, bi, row[j], j);
        bi = block_argmax(best, bi);
        if (threadIdx.x == 0) out[r] = (float)bi;
    }
}

// Split sum for few long rows: block (s, r) sums columns [s*chunk, (s+1)*chunk) of row r.
extern "C" __global__ void reduce_sum_partial(double* partial, const float* x, i64 rows, i64 cols,
                                              i64 splits, i64 chunk) {
    const i64 s = blockIdx.x;
    const i64 r = blockIdx.y;
    if (s >= splits || r >= rows) return;  // uniform per block
    const i64 start = s * chunk;
    const i64 end = kiln_min_i64(start + chunk, cols);
    const float* row = x + r * cols;
    double acc = 0.0;
    for (i64 j = start + threadIdx.x; j < end; j += blockDim.x) acc += (double)row[j];
    acc = block_sum_d(acc);
    if (threadIdx.x == 0) partial[r * splits + s] = acc;
}

// Second pass of the split sum: one block per row adds its `splits` partial sums.
extern "C" __global__ void reduce_sum_final(float* out, const double* partial, i64 rows,
                                            i64 splits) {
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        double acc = 0.0;
        for (i64 j = threadIdx.x; j < splits; j += blockDim.x) acc += partial[r * splits + j];
        acc = block_sum_d(acc);
        if (threadIdx.x == 0) out[r] = (float)acc;
    }
}
