// Implicit-GEMM convolution: the GEMMs of conv2d with the im2col matrix gathered straight from
// the image into shared memory, never written to global memory.
//
// All three kernels are one register-tiled SGEMM, C[M, N] = A[M, K] · B[K, N], that differ only
// in where A and B come from and where C goes:
// - forward:        M = c_out, N = n·oh·ow (output pixels), K = c_in·kh·kw;
//                   A = weight [c_out, K], B = im2col(x), C scattered into out [n, c_out, oh, ow].
// - backward input: M = c_in, N = n·h·w (input pixels), K = c_out·kh·kw;
//                   A = weight transposed to [c_in, c_out·kh·kw] (conv_weight_transpose),
//                   B gathered from dy through the transposed convolution, C into dx.
// - backward weight: M = c_out, N = K taps, the sum over all n·oh·ow output pixels split into
//                   gridDim.z slices; each slice writes its partial [c_out, K] to a workspace that
//                   conv_reduce_splits sums in a fixed order (deterministic, no atomics).
// A block computes a 48x128 tile of C with 128 threads, each 6x8 values, in steps of 8 along K,
// double-buffered in shared memory with the next step's global loads in registers. The products
// use explicit fmaf (the sources are compiled with --fmad=false, which would otherwise split
// every multiply-add in two). The host keeps every index below 2^31.

#define IG_BM 48
#define IG_BN 128
#define IG_BK 8
#define IG_THREADS 128
// Largest K of the forward and backward-input kernels (their tap table lives in shared memory).
#define IG_KMAX 2048

struct IgTile {
    float a[2][IG_BK][IG_BM];
    float b[2][IG_BK][IG_BN];
};

// acc[i][j] += A[ty*6 + i] · B[tx*4 + j (j < 4) | 64 + tx*4 + j - 4] over the 8 rows of a step.
__device__ __forceinline__ void ig_multiply(const IgTile& t, int buf, int tx, int ty,
                                            float acc[6][8]) {
#pragma unroll
    for (int kk = 0; kk < IG_BK; ++kk) {
        float av[6], bv[8];
#pragma unroll
        for (int i = 0; i < 6; ++i) av[i] = t.a[buf][kk][ty * 6 + i];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            bv[j] = t.b[buf][kk][tx * 4 + j];
            bv[4 + j] = t.b[buf][kk][64 + tx * 4 + j];
        }
#pragma unroll
        for (int i = 0; i < 6; ++i)
#pragma unroll
            for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
}

// Column index (within the 128 of a tile) of value j of thread tx.
__device__ __forceinline__ int ig_col(int tx, int j) { return j < 4 ? tx * 4 + j : 64 + tx * 4 + j - 4; }

// Forward (TRANSPOSED = false) and backward input (TRANSPOSED = true).
// src: the gathered tensor [n, src_c, src_h, src_w] (x, or dy when transposed);
// out: [n, M, col_h, col_w] (the output, or dx when transposed); a: [M, K] row-major.
// Tap k = (c * kh + ky) * kw + kx, c a channel of src.
template <bool TRANSPOSED>
__device__ void ig_conv(float* __restrict__ out, const float* __restrict__ a,
                        const float* __restrict__ src, const float* __restrict__ bias, int M,
                        int ncols, int src_c, int src_h, int src_w, int col_h, int col_w, int kh,
                        int kw, int sh, int sw, int ph, int pw, int dh, int dw) {
    __shared__ IgTile t;
    __shared__ int tap_off[IG_KMAX];
    __shared__ int tap_yx[IG_KMAX];
    const int K = src_c * kh * kw;
    const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    const int m0 = blockIdx.y * IG_BM, q0 = blockIdx.x * IG_BN;
    const int src_plane = src_h * src_w;
    const int col_plane = col_h * col_w;

    // tap table: channel offset (plus the kernel offset, forward) and the (dy, dx) of the tap
    for (int k = tid; k < K; k += IG_THREADS) {
        const int c = k / (kh * kw);
        const int r = k - c * kh * kw;
        const int ky = r / kw, kx = r - ky * kw;
        tap_off[k] = c * src_plane + (TRANSPOSED ? 0 : ky * dh * src_w + kx * dw);
        tap_yx[k] = ((ky * dh) << 16) | (kx * dw);
    }

    // this thread loads column q0 + tid of B
    const int q = q0 + tid;
    const bool col_ok = q < ncols;
    int base = 0, cy = 0, cx = 0;
    if (col_ok) {
        const int img = q / col_plane;
        const int p = q - img * col_plane;
        const int py = p / col_w, px = p - py * col_w;
        base = img * src_c * src_plane;
        if (TRANSPOSED) {
            cy = py + ph;
            cx = px + pw;
        } else {
            cy = py * sh - ph;
            cx = px * sw - pw;
            base += cy * src_w + cx;
        }
    }
    __syncthreads();

    float ra[3], rb[IG_BK];
    auto load = [&](int k0) {
#pragma unroll
        for (int i = 0; i < 3; ++i) {
            const int idx = tid + i * IG_THREADS;
            const int am = idx >> 3, ak = idx & 7;
            const int m = m0 + am, k = k0 + ak;
            ra[i] = (m < M && k < K) ? a[m * K + k] : 0.0f;
        }
#pragma unroll
        for (int j = 0; j < IG_BK; ++j) {
            const int k = k0 + j;
            float v = 0.0f;
            if (col_ok && k < K) {
                const int yx = tap_yx[k];
                const int ky = yx >> 16, kx = yx & 0xffff;
                if (!TRANSPOSED) {
                    if ((unsigned)(cy + ky) < (unsigned)src_h && (unsigned)(cx + kx) < (unsigned)src_w)
                        v = src[base + tap_off[k]];
                } else {
                    int oy = cy - ky, ox = cx - kx;
                    bool ok = oy >= 0 && ox >= 0;
                    if (sh != 1) {
                        ok = ok && oy % sh == 0;
                        oy /= sh;
                    }
                    if (sw != 1) {
                        ok = ok && ox % sw == 0;
                        ox /= sw;
                    }
                    if (ok && oy < src_h && ox < src_w)
                        v = src[base + tap_off[k] + oy * src_w + ox];
                }
            }
            rb[j] = v;
        }
    };
    auto store = [&](int buf) {
#pragma unroll
        for (int i = 0; i < 3; ++i) {
            const int idx = tid + i * IG_THREADS;
            t.a[buf][idx & 7][idx >> 3] = ra[i];
        }
#pragma unroll
        for (int j = 0; j < IG_BK; ++j) t.b[buf][j][tid] = rb[j];
    };

    float acc[6][8];
#pragma unroll
    for (int i = 0; i < 6; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

    load(0);
    store(0);
    __syncthreads();
    int buf = 0;
    for (int k0 = 0; k0 < K; k0 += IG_BK) {
        const bool more = k0 + IG_BK < K;
        if (more) load(k0 + IG_BK);
        ig_multiply(t, buf, tx, ty, acc);
        if (more) store(buf ^ 1);
        __syncthreads();
        buf ^= 1;
    }

    // epilogue: out[img, m, p] (+ bias[m])
#pragma unroll
    for (int j = 0; j < 8; ++j) {
        const int qq = q0 + ig_col(tx, j);
        if (qq >= ncols) continue;
        const int img = qq / col_plane;
        const int p = qq - img * col_plane;
        float* o = out + img * M * col_plane + p;
#pragma unroll
        for (int i = 0; i < 6; ++i) {
            const int m = m0 + ty * 6 + i;
            if (m < M) o[m * col_plane] = acc[i][j] + (bias ? bias[m] : 0.0f);
        }
    }
}

// grid (ceil(n·oh·ow / 128), ceil(c_out / 48)), 128 threads. bias may be null.
extern "C" __global__ void conv_igemm_fwd(float* out, const float* w, const float* x,
                                          const float* bias, int c_out, int ncols, int c_in,
                                          int h, int wd, int oh, int ow, int kh, int kw, int sh,
                                          int sw, int ph, int pw, int dh, int dw) {
    ig_conv<false>(out, w, x, bias, c_out, ncols, c_in, h, wd, oh, ow, kh, kw, sh, sw, ph, pw, dh,
                   dw);
}

// grid (ceil(n·h·w / 128), ceil(c_in / 48)), 128 threads; wt from conv_weight_transpose.
extern "C" __global__ void conv_igemm_bwd_in(float* dx, const float* wt, const float* dy,
                                             int c_in, int ncols, int c_out, int oh, int ow,
                                             int h, int wd, int kh, int kw, int sh, int sw,
                                             int ph, int pw, int dh, int dw) {
    ig_conv<true>(dx, wt, dy, nullptr, c_in, ncols, c_out, oh, ow, h, wd, kh, kw, sh, sw, ph, pw,
                  dh, dw);
}

// wt[ci, co, r] = w[co, ci, r] for r over the kh·kw taps.
extern "C" __global__ void conv_weight_transpose(float* wt, const float* w, int c_out, int c_in,
                                                 int taps) {
    const int total = c_out * c_in * taps;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (i64)gridDim.x * blockDim.x) {
        const int idx = (int)i;
        const int r = idx % taps;
        const int t = idx / taps;
        const int co = t % c_out;
        const int ci = t / c_out;
        wt[idx] = w[(co * c_in + ci) * taps + r];
    }
}

// Partial weight gradients: ws[z, co, k] = Σ dy[img, co, p] · im2col(x)[k, (img, p)] over the
// output pixels q = img·P + p of slice z, [z·per_split, (z+1)·per_split) ∩ [0, nq).
// grid (ceil(K / 128), ceil(c_out / 48), splits), 128 threads.
extern "C" __global__ void conv_igemm_bwd_w(float* ws, const float* x, const float* dy,
                                            int c_out, int nq, int per_split, int c_in, int h,
                                            int wd, int oh, int ow, int kh, int kw, int sh,
                                            int sw, int ph, int pw, int dh, int dw) {
    __shared__ IgTile t;
    const int K = c_in * kh * kw;
    const int P = oh * ow;
    const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    const int m0 = blockIdx.y * IG_BM, k0 = blockIdx.x * IG_BN;
    const int q_begin = blockIdx.z * per_split;
    const int q_end = nq < q_begin + per_split ? nq : q_begin + per_split;

    // this thread loads tap column k0 + tid of B: its channel offset and kernel position
    const int k = k0 + tid;
    const bool tap_ok = k < K;
    int tap_off = 0, tky = 0, tkx = 0;
    if (tap_ok) {
        const int c = k / (kh * kw);
        const int r = k - c * kh * kw;
        const int ky = r / kw, kx = r - ky * kw;
        tky = ky * dh;
        tkx = kx * dw;
        tap_off = c * h * wd + tky * wd + tkx;
    }
    // and walks the output pixels of the slice 8 at a time: (img, oy, ox) of the next row
    int img = 0, oy = 0, ox = 0;
    if (q_begin < q_end) {
        img = q_begin / P;
        const int p = q_begin - img * P;
        oy = p / ow;
        ox = p - oy * ow;
    }
    // and loads A rows (tid & 7) of each step: dy[img, m, p] for 3 channels m
    const int a_row = tid & 7;

    float ra[3], rb[IG_BK];
    auto load = [&](int q0) {
        int a_off = 0;
#pragma unroll
        for (int j = 0; j < IG_BK; ++j) {
            const bool row_ok = q0 + j < q_end;
            if (j == a_row) a_off = img * c_out * P + oy * ow + ox;
            float v = 0.0f;
            if (row_ok && tap_ok) {
                const int iy = oy * sh - ph + tky, ix = ox * sw - pw + tkx;
                if ((unsigned)iy < (unsigned)h && (unsigned)ix < (unsigned)wd)
                    v = x[img * c_in * h * wd + (oy * sh - ph) * wd + (ox * sw - pw) + tap_off];
            }
            rb[j] = v;
            if (++ox == ow) {
                ox = 0;
                if (++oy == oh) {
                    oy = 0;
                    ++img;
                }
            }
        }
        const bool a_ok = q0 + a_row < q_end;
#pragma unroll
        for (int i = 0; i < 3; ++i) {
            const int m = m0 + ((tid + i * IG_THREADS) >> 3);
            ra[i] = (a_ok && m < c_out) ? dy[a_off + m * P] : 0.0f;
        }
    };
    auto store = [&](int buf) {
#pragma unroll
        for (int i = 0; i < 3; ++i) {
            const int idx = tid + i * IG_THREADS;
            t.a[buf][idx & 7][idx >> 3] = ra[i];
        }
#pragma unroll
        for (int j = 0; j < IG_BK; ++j) t.b[buf][j][tid] = rb[j];
    };

    float acc[6][8];
#pragma unroll
    for (int i = 0; i < 6; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

    if (q_begin < q_end) {
        load(q_begin);
        store(0);
        __syncthreads();
        int buf = 0;
        for (int q0 = q_begin; q0 < q_end; q0 += IG_BK) {
            const bool more = q0 + IG_BK < q_end;
            if (more) load(q0 + IG_BK);
            ig_multiply(t, buf, tx, ty, acc);
            if (more) store(buf ^ 1);
            __syncthreads();
            buf ^= 1;
        }
    }

    float* o = ws + (i64)blockIdx.z * c_out * K;
#pragma unroll
    for (int i = 0; i < 6; ++i) {
        const int m = m0 + ty * 6 + i;
        if (m >= c_out) continue;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            const int kk = k0 + ig_col(tx, j);
            if (kk < K) o[m * K + kk] = acc[i][j];
        }
    }
}

// out[i] = Σ_z ws[z·n + i], z in order (a fixed summation order: deterministic).
extern "C" __global__ void conv_reduce_splits(float* out, const float* ws, int n, int splits) {
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (i64)gridDim.x * blockDim.x) {
        float s = 0.0f;
        for (int z = 0; z < splits; ++z) s += ws[(i64)z * n + i];
        out[i] = s;
    }
}
