// Implicit-GEMM convolution: the GEMMs of conv2d with the im2col matrix gathered straight from
// the image into shared memory, never written to global memory.
//
// All three kernels are one register-tiled SGEMM, C[M, N] = A[M, K] · B[K, N], that differ only
// in where A and B come from and where C goes:
// - forward:        M = c_out, N = n·oh·ow (output pixels), K = c_in·kh·kw;
//                   A = weight [c_out, K], B = im2col(x), C scattered into out [n, c_out, oh, ow].
// - backward input: M = c_in, N = n·h·w (input pixels), K = c_out·kh·kw;
//                   A = weight transposed to [c_in, c_out·kh·kw] (conv_weight_transpose),
//                   B gathered from dy through the transposed convolution, one stride phase
//                   of the input pixels at a time with only the taps that reach it, C into dx.
// - backward weight: M = c_out, N = K taps, the sum over all n·oh·ow output pixels split into
//                   gridDim.z slices; each slice writes its partial [c_out, K] to a workspace that
//                   conv_reduce_splits sums in a fixed order (deterministic, no atomics).
// A block computes a (48·WM)x128 tile of C with 128·WM threads, each 6x8 values, in steps of 8
// along K, double-buffered in shared memory with the next step's global loads in registers;
// WM = 2 (the kernels named *_w2) shares each gathered B tile between 96 rows of A. The products
// use explicit fmaf (the sources are compiled with --fmad=false, which would otherwise split
// every multiply-add in two). The host keeps every index below 2^31.

#define IG_BM 48
#define IG_BN 128
#define IG_BK 8
#define IG_THREADS 128
// Largest K of the forward and backward-input kernels (their tap table lives in shared memory).
#define IG_KMAX 2048

// 16-byte aligned, so that the products read A as float2 and B as float4 (shared-memory
// bandwidth, not the multiply-adds, would otherwise bound the kernels).
template <int WM>
struct __align__(16) IgTile {
    float a[2][IG_BK][IG_BM * WM];
    float b[2][IG_BK][IG_BN];
};

// acc[i][j] += A[ty*6 + i] · B[tx*4 + j (j < 4) | 64 + tx*4 + j - 4] over the 8 rows of a step.
template <int WM>
__device__ __forceinline__ void ig_multiply(const IgTile<WM>& t, int buf, int tx, int ty,
                                            float acc[6][8]) {
#pragma unroll
    for (int kk = 0; kk < IG_BK; ++kk) {
        const float2* ap = reinterpret_cast<const float2*>(&t.a[buf][kk][ty * 6]);
        const float2 a01 = ap[0], a23 = ap[1], a45 = ap[2];
        const float4 b0 = *reinterpret_cast<const float4*>(&t.b[buf][kk][tx * 4]);
        const float4 b1 = *reinterpret_cast<const float4*>(&t.b[buf][kk][64 + tx * 4]);
        const float av[6] = {a01.x, a01.y, a23.x, a23.y, a45.x, a45.y};
        const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
        for (int i = 0; i < 6; ++i)
#pragma unroll
            for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
}

// Column index (within the 128 of a tile) of value j of thread tx.
__device__ __forceinline__ int ig_col(int tx, int j) { return j < 4 ? tx * 4 + j : 64 + tx * 4 + j - 4; }

// Writes one step's registers to shared buffer buf: the 3 A values of thread tid (A row
// idx >> 3, step row idx & 7, idx = tid + i·threads) and its B values (rows b_row0.., column
// tid % 128).
template <int WM>
__device__ __forceinline__ void ig_store(IgTile<WM>& t, int buf, int tid, const float ra[3],
                                         const float rb[IG_BK / WM]) {
    const int b_row0 = (tid >> 7) * (IG_BK / WM);
#pragma unroll
    for (int i = 0; i < 3; ++i) {
        const int idx = tid + i * IG_THREADS * WM;
        t.a[buf][idx & 7][idx >> 3] = ra[i];
    }
#pragma unroll
    for (int j = 0; j < IG_BK / WM; ++j) t.b[buf][b_row0 + j][tid & (IG_BN - 1)] = rb[j];
}

// The main loop of every kernel over the steps [begin, end) of the sum: load(k) puts step k's
// A and B values in registers, which ig_store moves to the shared buffer that the products
// read one step later (double-buffered: one barrier per step). acc starts at zero.
template <int WM, class Load>
__device__ __forceinline__ void ig_main_loop(IgTile<WM>& t, int begin, int end, int tid,
                                             float ra[3], float rb[IG_BK / WM], Load load,
                                             float acc[6][8]) {
#pragma unroll
    for (int i = 0; i < 6; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;
    if (begin >= end) return;
    const int tx = tid & 15, ty = tid >> 4;
    load(begin);
    ig_store(t, 0, tid, ra, rb);
    __syncthreads();
    int buf = 0;
    for (int k0 = begin; k0 < end; k0 += IG_BK) {
        const bool more = k0 + IG_BK < end;
        if (more) load(k0 + IG_BK);
        ig_multiply(t, buf, tx, ty, acc);
        if (more) ig_store(t, buf ^ 1, tid, ra, rb);
        __syncthreads();
        buf ^= 1;
    }
}

// Forward (TRANSPOSED = false) and backward input (TRANSPOSED = true), as the same gather:
// column q of B is a pixel (img, cy, cx) of a grid of hp x wp positions per image and tap k a
// (channel, dy, dx) of src, and B[k, q] = src[img, c, cy + dy, cx + dx] (0 outside src).
// - Forward: the grid is the output (oh x ow), cy = oy·sh - ph and dy = ky·dh.
// - Backward input (the transposed convolution): the input pixels are split by their phase
//   (iy mod sh, ix mod sw), one phase per blockIdx.z, so that only the taps that reach a phase
//   are summed (no multiplications by the zeros between strided outputs). For phase (py, px)
//   the grid is iy = py + sh·cy, ix = px + sw·cx, and tap (co, ky, kx) with
//   (py + ph - ky·dh) divisible by sh reads dy at oy = cy + (py + ph - ky·dh) / sh.
// src: [n, src_c, src_h, src_w] (x, or dy when transposed); out: [n, M, out_h, out_w] (the
// output, or dx when transposed); a: [M, src_c·kh·kw] row-major (the weight, or the weight
// transposed by conv_weight_transpose).
template <bool TRANSPOSED, int WM>
__device__ void ig_conv(float* __restrict__ out, const float* __restrict__ a,
                        const float* __restrict__ src, const float* __restrict__ bias, int relu,
                        int M,
                        int n, int src_c, int src_h, int src_w, int out_h, int out_w, int kh,
                        int kw, int sh, int sw, int ph, int pw, int dh, int dw) {
    __shared__ IgTile<WM> t;
    __shared__ int tap_off[IG_KMAX];
    __shared__ int tap_yx[IG_KMAX];
    __shared__ int tap_a[TRANSPOSED ? IG_KMAX : 1];
    const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    const int m0 = blockIdx.y * IG_BM * WM, q0 = blockIdx.x * IG_BN;
    // B loads: column tid % 128, rows b_row0 .. b_row0 + IG_BK / WM - 1 of each step
    const int b_col = tid & (IG_BN - 1), b_row0 = (tid >> 7) * (IG_BK / WM);
    const int src_plane = src_h * src_w;
    const int out_plane = out_h * out_w;
    const int k_full = src_c * kh * kw;

    // the grid of this block's columns, and the kernel rows/columns (taps) that reach it
    int py = 0, px = 0, hp = out_h, wp = out_w, nky = kh, nkx = kw;
    if (TRANSPOSED) {
        py = blockIdx.z / sw;
        px = blockIdx.z - py * sw;
        hp = py < out_h ? (out_h - py + sh - 1) / sh : 0;
        wp = px < out_w ? (out_w - px + sw - 1) / sw : 0;
        nky = 0;
        for (int ky = 0; ky < kh; ++ky) nky += ((py + ph - ky * dh) % sh + sh) % sh == 0;
        nkx = 0;
        for (int kx = 0; kx < kw; ++kx) nkx += ((px + pw - kx * dw) % sw + sw) % sw == 0;
    }
    const int ncols = n * hp * wp;
    if (q0 >= ncols) return;  // a phase with fewer pixels than the grid covers
    const int K = src_c * nky * nkx;

    // tap table: offset in src, packed signed (dy, dx), and (transposed) the tap's column of a
    for (int k = tid; k < K; k += IG_THREADS * WM) {
        const int c = k / (nky * nkx);
        const int r = k - c * nky * nkx;
        const int ia = r / nkx, ib = r - ia * nkx;
        int ky = ia, kx = ib, dyk, dxk;
        if (TRANSPOSED) {
            // the ia-th kernel row and ib-th kernel column that reach this phase
            for (int y = 0, seen = 0; y < kh; ++y)
                if (((py + ph - y * dh) % sh + sh) % sh == 0 && seen++ == ia) ky = y;
            for (int x = 0, seen = 0; x < kw; ++x)
                if (((px + pw - x * dw) % sw + sw) % sw == 0 && seen++ == ib) kx = x;
            dyk = (py + ph - ky * dh) / sh;
            dxk = (px + pw - kx * dw) / sw;
            tap_a[k] = (c * kh + ky) * kw + kx;
        } else {
            dyk = ky * dh;
            dxk = kx * dw;
        }
        tap_off[k] = c * src_plane + dyk * src_w + dxk;
        tap_yx[k] = (int)(((unsigned)dyk << 16) | ((unsigned)dxk & 0xffffu));
    }

    const int q = q0 + b_col;
    const bool col_ok = q < ncols;
    int base = 0, cy = 0, cx = 0;
    if (col_ok) {
        const int img = q / (hp * wp);
        const int p = q - img * hp * wp;
        const int gy = p / wp, gx = p - gy * wp;
        cy = TRANSPOSED ? gy : gy * sh - ph;
        cx = TRANSPOSED ? gx : gx * sw - pw;
        base = img * src_c * src_plane + cy * src_w + cx;
    }
    __syncthreads();

    float ra[3], rb[IG_BK / WM];
    auto load = [&](int k0) {
#pragma unroll
        for (int i = 0; i < 3; ++i) {
            const int idx = tid + i * IG_THREADS * WM;
            const int am = idx >> 3, ak = idx & 7;
            const int m = m0 + am, k = k0 + ak;
            ra[i] = (m < M && k < K) ? a[m * k_full + (TRANSPOSED ? tap_a[k] : k)] : 0.0f;
        }
#pragma unroll
        for (int j = 0; j < IG_BK / WM; ++j) {
            const int k = k0 + b_row0 + j;
            float v = 0.0f;
            if (col_ok && k < K) {
                const int yx = tap_yx[k];
                const int dyk = yx >> 16, dxk = (int)(short)(yx & 0xffff);
                if ((unsigned)(cy + dyk) < (unsigned)src_h && (unsigned)(cx + dxk) < (unsigned)src_w)
                    v = src[base + tap_off[k]];
            }
            rb[j] = v;
        }
    };
    float acc[6][8];
    ig_main_loop(t, 0, K, tid, ra, rb, load, acc);

    // epilogue: out[img, m, pixel] (+ bias[m], then the ReLU when relu != 0)
#pragma unroll
    for (int j = 0; j < 8; ++j) {
        const int qq = q0 + ig_col(tx, j);
        if (qq >= ncols) continue;
        const int img = qq / (hp * wp);
        const int p = qq - img * hp * wp;
        const int gy = p / wp, gx = p - gy * wp;
        const int pix = TRANSPOSED ? (py + gy * sh) * out_w + px + gx * sw : p;
        float* o = out + img * M * out_plane + pix;
#pragma unroll
        for (int i = 0; i < 6; ++i) {
            const int m = m0 + ty * 6 + i;
            if (m >= M) continue;
            const float v = acc[i][j] + (bias ? bias[m] : 0.0f);
            o[m * out_plane] = relu ? fmaxf(v, 0.0f) : v;
        }
    }
}

// grid (ceil(n·oh·ow / 128), ceil(c_out / 48)), 128 threads. bias may be null; relu != 0
// applies the ReLU to the output.
extern "C" __global__ void conv_igemm_fwd(float* out, const float* w, const float* x,
                                          const float* bias, int relu, int c_out, int n,
                                          int c_in, int h, int wd, int oh, int ow, int kh, int kw,
                                          int sh, int sw, int ph, int pw, int dh, int dw) {
    ig_conv<false, 1>(out, w, x, bias, relu, c_out, n, c_in, h, wd, oh, ow, kh, kw, sh, sw, ph, pw, dh,
                      dw);
}

// As conv_igemm_fwd with 96-row tiles: grid (ceil(n·oh·ow / 128), ceil(c_out / 96)), 256 threads.
extern "C" __global__ void conv_igemm_fwd_w2(float* out, const float* w, const float* x,
                                             const float* bias, int relu, int c_out, int n,
                                             int c_in, int h, int wd, int oh, int ow, int kh,
                                             int kw, int sh, int sw, int ph, int pw, int dh,
                                             int dw) {
    ig_conv<false, 2>(out, w, x, bias, relu, c_out, n, c_in, h, wd, oh, ow, kh, kw, sh, sw, ph, pw, dh,
                      dw);
}

// grid (ceil(n·ceil(h / sh)·ceil(w / sw) / 128), ceil(c_in / 48), sh·sw phases), 128 threads;
// wt from conv_weight_transpose.
extern "C" __global__ void conv_igemm_bwd_in(float* dx, const float* wt, const float* dy,
                                             int c_in, int n, int c_out, int oh, int ow, int h,
                                             int wd, int kh, int kw, int sh, int sw, int ph,
                                             int pw, int dh, int dw) {
    ig_conv<true, 1>(dx, wt, dy, nullptr, 0, c_in, n, c_out, oh, ow, h, wd, kh, kw, sh, sw, ph, pw,
                     dh, dw);
}

// As conv_igemm_bwd_in with 96-row tiles: grid.y = ceil(c_in / 96), 256 threads.
extern "C" __global__ void conv_igemm_bwd_in_w2(float* dx, const float* wt, const float* dy,
                                                int c_in, int n, int c_out, int oh, int ow,
                                                int h, int wd, int kh, int kw, int sh, int sw,
                                                int ph, int pw, int dh, int dw) {
    ig_conv<true, 2>(dx, wt, dy, nullptr, 0, c_in, n, c_out, oh, ow, h, wd, kh, kw, sh, sw, ph, pw,
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
template <int WM>
__device__ void ig_conv_bwd_w(float* __restrict__ ws, const float* __restrict__ x,
                              const float* __restrict__ dy, int c_out, int nq, int per_split,
                              int c_in, int h, int wd, int oh, int ow, int kh, int kw, int sh,
                              int sw, int ph, int pw, int dh, int dw) {
    __shared__ IgTile<WM> t;
    const int K = c_in * kh * kw;
    const int P = oh * ow;
    const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    const int m0 = blockIdx.y * IG_BM * WM, k0 = blockIdx.x * IG_BN;
    const int q_begin = blockIdx.z * per_split;
    const int q_end = nq < q_begin + per_split ? nq : q_begin + per_split;

    // this thread loads tap column k0 + tid % 128 of B, rows b_half·8/WM .. of
    // each step: the tap's channel offset and kernel position
    const int b_half = tid >> 7;
    const int k = k0 + (tid & (IG_BN - 1));
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

    float ra[3], rb[IG_BK / WM];
    auto load = [&](int q0) {
        int a_off = 0;
#pragma unroll
        for (int j = 0; j < IG_BK; ++j) {
            if (j == a_row) a_off = img * c_out * P + oy * ow + ox;
            // (a constant register index once unrolled; the row test is the runtime part)
            if (j / (IG_BK / WM) == b_half) {
                float v = 0.0f;
                if (q0 + j < q_end && tap_ok) {
                    const int iy = oy * sh - ph + tky, ix = ox * sw - pw + tkx;
                    if ((unsigned)iy < (unsigned)h && (unsigned)ix < (unsigned)wd)
                        v = x[img * c_in * h * wd + (oy * sh - ph) * wd + (ox * sw - pw) + tap_off];
                }
                rb[j % (IG_BK / WM)] = v;
            }
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
            const int m = m0 + ((tid + i * IG_THREADS * WM) >> 3);
            ra[i] = (a_ok && m < c_out) ? dy[a_off + m * P] : 0.0f;
        }
    };
    float acc[6][8];
    ig_main_loop(t, q_begin, q_end, tid, ra, rb, load, acc);

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

// grid (ceil(K / 128), ceil(c_out / 48), splits), 128 threads.
extern "C" __global__ void conv_igemm_bwd_w(float* ws, const float* x, const float* dy,
                                            int c_out, int nq, int per_split, int c_in, int h,
                                            int wd, int oh, int ow, int kh, int kw, int sh,
                                            int sw, int ph, int pw, int dh, int dw) {
    ig_conv_bwd_w<1>(ws, x, dy, c_out, nq, per_split, c_in, h, wd, oh, ow, kh, kw, sh, sw, ph,
                     pw, dh, dw);
}

// As conv_igemm_bwd_w with 96-row tiles: grid.y = ceil(c_out / 96), 256 threads.
extern "C" __global__ void conv_igemm_bwd_w_w2(float* ws, const float* x, const float* dy,
                                               int c_out, int nq, int per_split, int c_in, int h,
                                               int wd, int oh, int ow, int kh, int kw, int sh,
                                               int sw, int ph, int pw, int dh, int dw) {
    ig_conv_bwd_w<2>(ws, x, dy, c_out, nq, per_split, c_in, h, wd, oh, ow, kh, kw, sh, sw, ph,
                     pw, dh, dw);
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
