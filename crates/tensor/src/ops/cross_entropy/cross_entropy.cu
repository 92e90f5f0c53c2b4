// Fused softmax cross-entropy with label smoothing (mean over rows), in double like the CPU
// backend. Labels are class indices stored as float. A label that is not an integer in [0, k)
// is never used as an index: its row gets a NaN loss (and NaN gradients) and the first such
// label is recorded in `flag` = [row + 1, label bits, k, 0], which the host checks and reports
// at its next synchronisation point (to_host / synchronize).

__device__ __forceinline__ bool label_ok(float v, i64 k) {
    return v >= 0.0f && v == floorf(v) && (double)v < (double)k;
}

__device__ __forceinline__ void report_bad_label(int* flag, i64 row, float v, i64 k) {
    const int r = row < 2147483646LL ? (int)(row + 1) : 2147483647;
    if (atomicCAS(flag, 0, r) == 0) {
        flag[1] = __float_as_int(v);
        flag[2] = k < 2147483647LL ? (int)k : 2147483647;
    }
}

// One warp per row; blockDim.x a multiple of 32.
extern "C" __global__ void ce_forward(float* probs, double* row_loss, int* flag,
                                      const float* logits, const float* labels, i64 n, i64 k,
                                      float smoothing) {
    const i64 warps = blockDim.x >> 5;
    const i64 row = (i64)blockIdx.x * warps + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (row >= n) return;  // the whole warp leaves together
    const float* x = logits + row * k;
    float mx = KILN_NEG_INF;
    for (i64 j = lane; j < k; j += 32) mx = fmaxf(mx, x[j]);
    mx = warp_max_f(mx);
    const double m = (double)mx;
    double se = 0.0;
    double sv = 0.0;
    for (i64 j = lane; j < k; j += 32) {
        const double v = (double)x[j];
        se += exp(v - m);
        sv += v;
    }
    se = warp_sum_d(se);
    sv = warp_sum_d(sv);
    const double lse = m + log(se);
    for (i64 j = lane; j < k; j += 32) {
        probs[row * k + j] = (float)(exp((double)x[j] - m) / se);
    }
    if (lane == 0) {
        const float lv = labels[row];
        if (label_ok(lv, k)) {
            const i64 y = (i64)lv;
            const double nll = lse - (double)x[y];
            const double uniform = lse - sv / (double)k;
            const double s = (double)smoothing;
            row_loss[row] = (1.0 - s) * nll + s * uniform;
        } else {
            report_bad_label(flag, row, lv, k);
            row_loss[row] = KILN_NAN_D;
        }
    }
}

// Single block: loss[0] = mean of the row losses.
extern "C" __global__ void ce_loss_mean(float* loss, const double* row_loss, i64 n) {
    double acc = 0.0;
    for (i64 i = threadIdx.x; i < n; i += blockDim.x) acc += row_loss[i];
    acc = block_sum_d(acc);
    if (threadIdx.x == 0) loss[0] = (float)(acc / (double)n);
}

// grad = grad_loss * (probs - target) / n, target = (1 - s) onehot + s / k.
extern "C" __global__ void ce_backward(float* grad, int* flag, const float* probs,
                                       const float* labels, const float* grad_loss, i64 n, i64 k,
                                       float smoothing) {
    const float scale = grad_loss[0] / (float)n;
    const float off = smoothing / (float)k;
    GRID_STRIDE(i, n * k) {
        const i64 r = (i64)i / k;
        const i64 j = (i64)i - r * k;
        const float lv = labels[r];
        if (!label_ok(lv, k)) {
            if (j == 0) report_bad_label(flag, r, lv, k);
            grad[i] = KILN_NAN;
            continue;
        }
        const i64 y = (i64)lv;
        const float t = off + (j == y ? 1.0f - smoothing : 0.0f);
        grad[i] = (probs[i] - t) * scale;
    }
}
