// Batch norm over x = [n, c, spatial]: per-channel statistics in double (two passes, like the
// CPU backend), normalisation in float with the CPU's exact expression order.
// "rows" kernels: spatial == 1 and many channels, one thread per channel (coalesced).
// "planes" kernels: one block per channel (blockDim.x a multiple of 32).

// Calls f(value_index) for every element of channel ch that this thread owns in the block.
#define BN_FOR_CHANNEL(ch, n, c, spatial, IDX, BODY)                                  \
    if ((spatial) >= 64) {                                                            \
        for (i64 b_ = 0; b_ < (n); ++b_) {                                            \
            const i64 base_ = (b_ * (c) + (ch)) * (spatial);                          \
            for (i64 j_ = threadIdx.x; j_ < (spatial); j_ += blockDim.x) {            \
                const i64 IDX = base_ + j_;                                           \
                BODY                                                                  \
            }                                                                         \
        }                                                                             \
    } else {                                                                          \
        const i64 m_ = (n) * (spatial);                                               \
        for (i64 t_ = threadIdx.x; t_ < m_; t_ += blockDim.x) {                       \
            const i64 b_ = t_ / (spatial);                                            \
            const i64 IDX = (b_ * (c) + (ch)) * (spatial) + (t_ - b_ * (spatial));    \
            BODY                                                                      \
        }                                                                             \
    }

extern "C" __global__ void bn_stats_planes(float* mean, float* var, const float* x, i64 n, i64 c,
                                           i64 spatial) {
    const double m = (double)(n * spatial);
    for (i64 ch = blockIdx.x; ch < c; ch += gridDim.x) {
        double acc = 0.0;
        BN_FOR_CHANNEL(ch, n, c, spatial, i, { acc += (double)x[i]; })
        const double mu = block_sum_d(acc) / m;
        double acc2 = 0.0;
        BN_FOR_CHANNEL(ch, n, c, spatial, i, {
            const double d = (double)x[i] - mu;
            acc2 += d * d;
        })
        const double v = block_sum_d(acc2) / m;
        if (threadIdx.x == 0) {
            mean[ch] = (float)mu;
            var[ch] = (float)v;
        }
    }
}

extern "C" __global__ void bn_stats_rows(float* mean, float* var, const float* x, i64 n, i64 c) {
    const double m = (double)n;
    GRID_STRIDE(ch, c) {
        double acc = 0.0;
        for (i64 b = 0; b < n; ++b) acc += (double)x[b * c + (i64)ch];
        const double mu = acc / m;
        double acc2 = 0.0;
        for (i64 b = 0; b < n; ++b) {
            const double d = (double)x[b * c + (i64)ch] - mu;
            acc2 += d * d;
        }
        mean[ch] = (float)mu;
        var[ch] = (float)(acc2 / m);
    }
}

__device__ __forceinline__ i64 bn_channel(u64 i, i64 c, i64 spatial) {
    if (i < 4294967296ULL && c < 4294967296LL && spatial < 4294967296LL) {
        return (i64)(((u32)i / (u32)spatial) % (u32)c);
    }
    return ((i64)i / spatial) % c;
}

// y = x * scale + shift with scale = gamma / sqrt(var + eps), shift = beta - mean * scale.
extern "C" __global__ void bn_normalize(float* y, const float* x, const float* gamma,
                                        const float* beta, const float* mean, const float* var,
                                        u64 total, i64 c, i64 spatial, float eps) {
    GRID_STRIDE(i, total) {
        const i64 ch = bn_channel(i, c, spatial);
        const float scale = gamma[ch] / sqrtf(var[ch] + eps);
        const float shift = beta[ch] - mean[ch] * scale;
        y[i] = x[i] * scale + shift;
    }
}

// sums[ch] = sum dy, sums[c + ch] = sum dy * (x - mean) * invstd (double); also writes the
// float gradients of gamma and beta.
extern "C" __global__ void bn_bwd_sums_planes(double* sums, float* dgamma, float* dbeta,
                                              const float* x, const float* dy, const float* mean,
                                              const float* var, i64 n, i64 c, i64 spatial,
                                              float eps) {
    for (i64 ch = blockIdx.x; ch < c; ch += gridDim.x) {
        const double invstd = 1.0 / sqrt((double)var[ch] + (double)eps);
        const double mu = (double)mean[ch];
        double s1 = 0.0;
        double s2 = 0.0;
        BN_FOR_CHANNEL(ch, n, c, spatial, i, {
            const double g = (double)dy[i];
            s1 += g;
            s2 += g * ((double)x[i] - mu) * invstd;
        })
        s1 = block_sum_d(s1);
        s2 = block_sum_d(s2);
        if (threadIdx.x == 0) {
            sums[ch] = s1;
            sums[c + ch] = s2;
            dbeta[ch] = (float)s1;
            dgamma[ch] = (float)s2;
        }
    }
}

extern "C" __global__ void bn_bwd_sums_rows(double* sums, float* dgamma, float* dbeta,
                                            const float* x, const float* dy, const float* mean,
                                            const float* var, i64 n, i64 c, float eps) {
    GRID_STRIDE(ch, c) {
        const double invstd = 1.0 / sqrt((double)var[ch] + (double)eps);
        const double mu = (double)mean[ch];
        double s1 = 0.0;
        double s2 = 0.0;
        for (i64 b = 0; b < n; ++b) {
            const i64 i = b * c + (i64)ch;
            const double g = (double)dy[i];
            s1 += g;
            s2 += g * ((double)x[i] - mu) * invstd;
        }
        sums[ch] = s1;
        sums[c + ch] = s2;
        dbeta[ch] = (float)s1;
        dgamma[ch] = (float)s2;
    }
}

// dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)) with batch statistics,
// gamma * invstd * dy with fixed (running) statistics.
extern "C" __global__ void bn_bwd_dx(float* dx, const float* x, const float* dy,
                                     const float* gamma, const float* mean, const float* var,
                                     const double* sums, u64 total, i64 n, i64 c, i64 spatial,
                                     float eps, int batch_stats) {
    const double m = (double)(n * spatial);
    GRID_STRIDE(i, total) {
        const i64 ch = bn_channel(i, c, spatial);
        const double invstd = 1.0 / sqrt((double)var[ch] + (double)eps);
        const double k = (double)gamma[ch] * invstd;
        if (batch_stats) {
            const double mdy = sums[ch] / m;
            const double mdyx = sums[c + ch] / m;
            const float xhat = (float)(((double)x[i] - (double)mean[ch]) * invstd);
            dx[i] = (float)(k * ((double)dy[i] - mdy - (double)xhat * mdyx));
        } else {
            dx[i] = (float)(k * (double)dy[i]);
        }
    }
}
