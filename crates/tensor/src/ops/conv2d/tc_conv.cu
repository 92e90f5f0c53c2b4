// Forward and input-gradient convolutions on tensor cores (TF32 operands, f32 accumulators).
//
// One GEMM C[m, q] = Σ_k A[m, k]·B[k, q] per pass (and phase):
// - forward: m = output channel, q = output pixel (img, oy, ox), B[k, q] = x at tap j;
// - input gradient: m = input channel, q = input pixel of the phase, B[k, q] = dy at tap j;
// k runs over (chunk of 8 source channels, tap j, channel c8 of the chunk): one m16n8k8 step
// per (chunk, tap), its 8 k values the chunk's channels.
// A block computes rows m0 .. m0+47 (blockIdx.y) of positions q0 .. q0 + 32·NT - 1
// (blockIdx.x; phase blockIdx.z when transposed) with 4 warps: warp w takes positions
// q0 + w·8·NT + nt·8 + (0..7), nt < NT, for all 48 rows (acc[mt][nt], 3 x NT m16n8 tiles).
// Pipeline: TC_STAGES buffers, each A (taps x 3 m-tiles x 32 lanes x 4, packed in fragment
// order by conv_tc_pack_weight, one 16-byte load per fragment) and the halo of 8 channels
// (tc_geometry.cu); chunk c goes to buffer c % TC_STAGES, loaded by cp.async TC_STAGES - 1
// chunks ahead of the one multiplied. The epilogue adds the bias, applies the ReLU and stores
// pairs of adjacent pixels as float2.

// Floats of one (tap, chunk) step of packed A: 3 m-tiles x 32 lanes x 4 registers.
#define TC_ASTEP 384

// The packed-A offset of phase z (0 for the forward): the sizes of phases 0 .. z-1.
__device__ __forceinline__ int tc_phase_base(bool transposed, int z, int m_rows, int chunks,
                                             int kh, int kw, int sh, int sw, int ph, int pw,
                                             int dh, int dw) {
    int base = 0;
    const int blocks = (m_rows + TC_BM - 1) / TC_BM;
    for (int p = 0; p < z; ++p)
        base += blocks * chunks * tc_axis(transposed, p / sw, ph, dh, sh, kh).count *
                tc_axis(transposed, p % sw, pw, dw, sw, kw).count * TC_ASTEP;
    return base;
}

// apack[base(z) + (((mb·chunks + cc)·T + j)·3 + mt)·128 + lane·4 + r] = A[m][c][j] rounded to
// tf32 (0 past M rows or C channels), m = mb·48 + mt·16 + g + 8·(r & 1), c = cc·8 + t + 4·(r >> 1)
// (the a-fragment layout of mma_tf32, g = lane >> 2, t = lane & 3); the phase z = blockIdx.y.
// Forward: A[m][c][j] = w[m, c, ky, kx], j = ky·kw + kx. Transposed: A[m][c][j] = w[c, m, ky, kx]
// for the phase's j-th tap (ia-th reaching row, ib-th reaching column, j = ia·nkx + ib).
extern "C" __global__ void conv_tc_pack_weight(float* apack, const float* w, int transposed,
                                               int c_out, int c_in, int kh, int kw, int sh,
                                               int sw, int ph, int pw, int dh, int dw) {
    const bool tr = transposed != 0;
    const int M = tr ? c_in : c_out, C = tr ? c_out : c_in;
    const int chunks = (C + 7) / 8, blocks = (M + TC_BM - 1) / TC_BM;
    const int py = blockIdx.y / sw, px = blockIdx.y % sw;
    const TcAxis ay = tc_axis(tr, py, ph, dh, sh, kh), ax = tc_axis(tr, px, pw, dw, sw, kw);
    const int base = tc_phase_base(tr, blockIdx.y, M, chunks, kh, kw, sh, sw, ph, pw, dh, dw);
    const int T = ay.count * ax.count;
    const int total = blocks * chunks * T * TC_ASTEP;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
        const int r = i & 3, lane = (i >> 2) & 31, mt = (i >> 7) % 3;
        int rest = i / TC_ASTEP;
        const int j = rest % T;
        rest /= T;
        const int cc = rest % chunks, mb = rest / chunks;
        const int m = mb * TC_BM + mt * 16 + (lane >> 2) + 8 * (r & 1);
        const int c = cc * 8 + (lane & 3) + 4 * (r >> 1);
        const int ky = tc_nth(tr, py, ph, dh, sh, kh, j / ax.count);
        const int kx = tc_nth(tr, px, pw, dw, sw, kw, j % ax.count);
        float v = 0.0f;
        if (m < M && c < C) v = tr ? w[((c * M + m) * kh + ky) * kw + kx]
                                   : w[((m * C + c) * kh + ky) * kw + kx];
        apack[base + i] = __uint_as_float(tf32_round(v));
    }
}

// The shared memory of tc_conv: TC_STAGES x (A step of every tap, halo of 8 channels), the
// taps' halo offsets, and the halo's element table (source offset, position).
template <bool TRANSPOSED, int NT>
__device__ void tc_conv(float* __restrict__ out, const float* __restrict__ apack,
                        const float* __restrict__ src, const float* __restrict__ bias, int relu,
                        int M, int n, int src_c, int src_h, int src_w, int out_h, int out_w,
                        int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw,
                        int hrows, int pitch, int wq, int plane) {
    KILN_DYNAMIC_SMEM(smem);
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int z = TRANSPOSED ? blockIdx.z : 0;
    const int py = z / sw, px = z % sw;
    const int chunks = (src_c + 7) / 8;
    const TcAxis ay = tc_axis(TRANSPOSED, py, ph, dh, sh, kh);
    const TcAxis ax = tc_axis(TRANSPOSED, px, pw, dw, sw, kw);
    const int a_base = tc_phase_base(TRANSPOSED, z, M, chunks, kh, kw, sh, sw, ph, pw, dh, dw);
    const int T = ay.count * ax.count;
    // the grid: the output, or the phase's input pixels (none when the phase is past the edge)
    int gh = out_h, gw = out_w;
    if (TRANSPOSED) {
        gh = py < out_h ? (out_h - py + sh - 1) / sh : 0;
        gw = px < out_w ? (out_w - px + sw - 1) / sw : 0;
    }
    const int ncols = n * gh * gw;
    const int q0 = blockIdx.x * 32 * NT, m0 = blockIdx.y * TC_BM;
    if (q0 >= ncols) return;
    const TcGrid gd = tc_grid(gh, gw, TRANSPOSED ? 1 : sh, TRANSPOSED ? 1 : sw, ay, ax, pitch,
                              wq, plane);
    const int q1 = q0 + 32 * NT < ncols ? q0 + 32 * NT : ncols;
    const int gr0 = tc_row(gd, q0);
    const int rows = tc_row(gd, q1 - 1) + (ay.hi - ay.lo) + 1 - gr0;  // <= hrows
    const int elems = rows * gd.wp;

    float* a_s = reinterpret_cast<float*>(smem);                     // [STAGES][T·ASTEP]
    float* h_s = a_s + TC_STAGES * T * TC_ASTEP;                      // [STAGES][8·plane]
    int* toff = reinterpret_cast<int*>(h_s + TC_STAGES * 8 * plane);  // [T]
    int* tab_src = toff + T;                                          // [hrows·wp]
    int* tab_dst = tab_src + hrows * gd.wp;
    for (int j = tid; j < T; j += TC_THREADS) {
        const int ky = tc_nth(TRANSPOSED, py, ph, dh, sh, kh, j / ax.count);
        const int kx = tc_nth(TRANSPOSED, px, pw, dw, sw, kw, j % ax.count);
        toff[j] = tc_tap_offset(gd, tc_offset(TRANSPOSED, py, ph, dh, sh, ky) - ay.lo,
                                tc_offset(TRANSPOSED, px, pw, dw, sw, kx) - ax.lo);
    }
    for (int e = tid; e < elems; e += TC_THREADS)
        tc_halo_element(gd, e, gr0, src_c, src_h, src_w, tab_src[e], tab_dst[e]);
    // this lane's positions: column g of each n-tile
    int base[NT];
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
        const int q = q0 + warp * 8 * NT + nt * 8 + g;
        base[nt] = q < ncols ? tc_base(gd, q, gr0) : 0;
    }
    __syncthreads();

    const float* a_blk = apack + a_base + blockIdx.y * chunks * T * TC_ASTEP;
    const int src_plane = src_h * src_w;
    auto load = [&](int cc) {
        float* as = a_s + (cc % TC_STAGES) * T * TC_ASTEP;
        float* hs = h_s + (cc % TC_STAGES) * 8 * plane;
        const float* ag = a_blk + cc * T * TC_ASTEP;
        for (int i = tid; i < T * TC_ASTEP / 4; i += TC_THREADS)
            cp_async16(as + 4 * i, ag + 4 * i, true);
        for (int e = tid; e < elems; e += TC_THREADS)
            tc_load_halo_element(hs, src, tab_src[e], tab_dst[e], cc * 8, src_c, src_plane,
                                 plane);
    };
    float acc[3][NT][4];
#pragma unroll
    for (int mt = 0; mt < 3; ++mt)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
            for (int i = 0; i < 4; ++i) acc[mt][nt][i] = 0.0f;
    if (T > 0) {
#pragma unroll
        for (int s = 0; s < TC_STAGES - 1; ++s) {
            if (s < chunks) load(s);
            cp_async_commit();
        }
        for (int cc = 0; cc < chunks; ++cc) {
            cp_async_wait<TC_STAGES - 2>();
            __syncthreads();  // chunk cc landed for all; buffer (cc - 1) % STAGES is free
            if (cc + TC_STAGES - 1 < chunks) load(cc + TC_STAGES - 1);
            cp_async_commit();
            const float* as = a_s + (cc % TC_STAGES) * T * TC_ASTEP + lane * 4;
            const float* hs = h_s + (cc % TC_STAGES) * 8 * plane + t * plane;
            for (int j = 0; j < T; ++j) {
                u32 a[3][4];
#pragma unroll
                for (int mt = 0; mt < 3; ++mt) {
                    const float4 v = *reinterpret_cast<const float4*>(as + (j * 3 + mt) * 128);
                    a[mt][0] = __float_as_uint(v.x);
                    a[mt][1] = __float_as_uint(v.y);
                    a[mt][2] = __float_as_uint(v.z);
                    a[mt][3] = __float_as_uint(v.w);
                }
                const float* hj = hs + toff[j];
#pragma unroll
                for (int nt = 0; nt < NT; ++nt) {
                    // b0 = B[c8 = t][column g], b1 = B[t + 4][g]
                    const u32 b[2] = {tf32_round(hj[base[nt]]), tf32_round(hj[base[nt] + 4 * plane])};
#pragma unroll
                    for (int mt = 0; mt < 3; ++mt) mma_tf32(acc[mt][nt], a[mt], b);
                }
            }
        }
        cp_async_wait<0>();
    }

    // epilogue: d0, d1 = row g, columns 2t, 2t + 1; d2, d3 = row g + 8
    const int plane_out = out_h * out_w;
    const int per = gh * gw;
    const bool pairs = (!TRANSPOSED || (sh == 1 && sw == 1)) && per % 2 == 0;
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
        const int q = q0 + warp * 8 * NT + nt * 8 + 2 * t;
        if (q >= ncols) continue;
        int o[2];  // output offsets of columns q, q + 1 (channel 0), -1 past the end
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            const int qq = q + i;
            o[i] = -1;
            if (qq < ncols) {
                const int img = qq / per, p = qq - img * per;
                const int gy = p / gw, gx = p - gy * gw;
                const int pix = TRANSPOSED ? (py + gy * sh) * out_w + px + gx * sw : p;
                o[i] = img * M * plane_out + pix;
            }
        }
#pragma unroll
        for (int mt = 0; mt < 3; ++mt)
#pragma unroll
            for (int hf = 0; hf < 2; ++hf) {
                const int m = m0 + mt * 16 + g + 8 * hf;
                if (m >= M) continue;
                float v0 = acc[mt][nt][2 * hf], v1 = acc[mt][nt][2 * hf + 1];
                if (!TRANSPOSED) {
                    const float b = bias ? bias[m] : 0.0f;
                    v0 += b;
                    v1 += b;
                    if (relu) {
                        v0 = fmaxf(v0, 0.0f);
                        v1 = fmaxf(v1, 0.0f);
                    }
                }
                float* dst = out + m * plane_out;
                if (pairs) {
                    float2 v;
                    v.x = v0;
                    v.y = v1;
                    *reinterpret_cast<float2*>(dst + o[0]) = v;
                } else {
                    dst[o[0]] = v0;
                    if (o[1] >= 0) dst[o[1]] = v1;
                }
            }
    }
}

// Forward: grid (ceil(n·oh·ow / (32·NT)), ceil(c_out / 48)), 128 threads, the shared memory of
// tc_conv; apack from conv_tc_pack_weight (transposed = 0); bias may be null; relu != 0 applies
// the ReLU. Two widths: NT = 8 (256 positions per block, *_n8) and NT = 4 (128, *_n4).
extern "C" __global__ void conv_tc_fwd_n8(float* out, const float* apack, const float* x,
                                          const float* bias, int relu, int c_out, int n,
                                          int c_in, int h, int w, int oh, int ow, int kh, int kw,
                                          int sh, int sw, int ph, int pw, int dh, int dw,
                                          int hrows, int pitch, int wq, int plane) {
    tc_conv<false, 8>(out, apack, x, bias, relu, c_out, n, c_in, h, w, oh, ow, kh, kw, sh, sw,
                      ph, pw, dh, dw, hrows, pitch, wq, plane);
}

extern "C" __global__ void conv_tc_fwd_n4(float* out, const float* apack, const float* x,
                                          const float* bias, int relu, int c_out, int n,
                                          int c_in, int h, int w, int oh, int ow, int kh, int kw,
                                          int sh, int sw, int ph, int pw, int dh, int dw,
                                          int hrows, int pitch, int wq, int plane) {
    tc_conv<false, 4>(out, apack, x, bias, relu, c_out, n, c_in, h, w, oh, ow, kh, kw, sh, sw,
                      ph, pw, dh, dw, hrows, pitch, wq, plane);
}

// Input gradient: grid (ceil(n·ceil(h / sh)·ceil(w / sw) / (32·NT)), ceil(c_in / 48), sh·sw
// phases), 128 threads; apack from conv_tc_pack_weight (transposed = 1, sh·sw phases).
extern "C" __global__ void conv_tc_bwd_in_n8(float* dx, const float* apack, const float* dy,
                                             int c_in, int n, int c_out, int oh, int ow, int h,
                                             int w, int kh, int kw, int sh, int sw, int ph,
                                             int pw, int dh, int dw, int hrows, int pitch,
                                             int wq, int plane) {
    tc_conv<true, 8>(dx, apack, dy, nullptr, 0, c_in, n, c_out, oh, ow, h, w, kh, kw, sh, sw, ph,
                     pw, dh, dw, hrows, pitch, wq, plane);
}

extern "C" __global__ void conv_tc_bwd_in_n4(float* dx, const float* apack, const float* dy,
                                             int c_in, int n, int c_out, int oh, int ow, int h,
                                             int w, int kh, int kw, int sh, int sw, int ph,
                                             int pw, int dh, int dw, int hrows, int pitch,
                                             int wq, int plane) {
    tc_conv<true, 4>(dx, apack, dy, nullptr, 0, c_in, n, c_out, oh, ow, h, w, kh, kw, sh, sw, ph,
                     pw, dh, dw, hrows, pitch, wq, plane);
}
