// Weight gradient on tensor cores (TF32 operands, f32 accumulators):
// ws[z, co, c, j] = Σ_q dy[img, co, p]·x[img, c, at tap j of p] over the output pixels
// q = img·P + p of slice z, [z·per_split, (z + 1)·per_split) ∩ [0, nq); conv_reduce_splits then
// adds the slices in order (deterministic: no atomics anywhere).
//
// GEMM C[m, n] = Σ_k A[m, k]·B[k, n]: m = co (rows m0 .. m0+47, blockIdx.y); n = (tap j of the
// block's group of at most 9 taps, channel c8 of its chunk of 8), n-tile j holding tap j's 8
// channels; k = pixel. blockIdx.x = chunk·groups + group.
// Stages of TC_BQ = 64 pixels, TC_STAGES buffers filled by cp.async: A = dy[m0 .. m0+47, the
// stage's 64 pixels] (row pitch TC_PA) and the halo of the stage's window for the 8 channels
// (tc_geometry.cu), with the halo base of each of the stage's pixels. Warp w multiplies k8 steps w and w + 4 of every stage into its own
// acc[mt][j]; at the end the 4 warps' sums meet in shared memory and are added in warp order.

#define TC_BQ 64    // pixels per stage
#define TC_PA 68    // dy tile row pitch (= 4 mod 32: conflict-free a-fragment loads)
#define TC_WTAPS 9  // taps per block

// grid (chunks·groups, ceil(c_out / 48), splits), 128 threads, chunks = ceil(c_in / 8), groups
// = ceil(kh·kw / 9); per_split a multiple of 64.
extern "C" __global__ void conv_tc_bwd_w(float* ws, const float* x, const float* dy, int c_out,
                                         int nq, int per_split, int c_in, int h, int w, int oh,
                                         int ow, int kh, int kw, int sh, int sw, int ph, int pw,
                                         int dh, int dw, int pitch, int wq, int plane) {
    KILN_DYNAMIC_SMEM(smem);
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int T = kh * kw, groups = (T + TC_WTAPS - 1) / TC_WTAPS;
    const int cc = blockIdx.x / groups, j0 = (blockIdx.x % groups) * TC_WTAPS;
    const int ntaps = T - j0 < TC_WTAPS ? T - j0 : TC_WTAPS;
    const int m0 = blockIdx.y * TC_BM, P = oh * ow;
    const int q_begin = blockIdx.z * per_split;
    const int q_end = nq < q_begin + per_split ? nq : q_begin + per_split;
    const TcAxis ay = tc_axis(false, 0, ph, dh, sh, kh), ax = tc_axis(false, 0, pw, dw, sw, kw);
    const TcGrid gd = tc_grid(oh, ow, sh, sw, ay, ax, pitch, wq, plane);
    const int span = ay.hi - ay.lo;

    float* a_s = reinterpret_cast<float*>(smem);                     // [STAGES][48·PA]
    float* h_s = a_s + TC_STAGES * TC_BM * TC_PA;                     // [STAGES][8·plane]
    int* toff = reinterpret_cast<int*>(h_s + TC_STAGES * 8 * plane);  // [9]
    int* bases = toff + TC_WTAPS;                                     // [STAGES][64]
    for (int j = tid; j < ntaps; j += TC_THREADS) {
        const int ky = (j0 + j) / kw, kx = (j0 + j) % kw;
        toff[j] = tc_tap_offset(gd, ky * dh, kx * dw);
    }
    __syncthreads();

    const int stages = q_begin < q_end ? (q_end - q_begin + TC_BQ - 1) / TC_BQ : 0;
    // this thread's dy column group (u, fixed: TC_THREADS is a multiple of TC_BQ / 4) and its
    // walk over the halo elements tid, tid + 128, ...: (row, column) steps
    const int u = tid % (TC_BQ / 4);
    const int r_step = TC_THREADS / gd.wp, c_step = TC_THREADS % gd.wp;
    auto load = [&](int s) {
        const int buf = s % TC_STAGES;
        float* as = a_s + buf * TC_BM * TC_PA;
        float* hs = h_s + buf * 8 * plane;
        const int qs = q_begin + s * TC_BQ;
        const int qe = q_end < qs + TC_BQ ? q_end : qs + TC_BQ;
        // dy rows m0 .. m0+47, pixels qs + 4u .. qs + 4u + 3 (zero past c_out or qe)
        const int q = qs + 4 * u;
        for (int row = tid / (TC_BQ / 4); row < TC_BM; row += TC_THREADS / (TC_BQ / 4)) {
            const int m = m0 + row;
            float* d = as + row * TC_PA + 4 * u;
            if (P % 4 == 0) {  // 4 pixels of one image, 16-byte aligned
                const bool ok = m < c_out && q < qe;
                const int img = q / P;
                cp_async16(d, ok ? dy + (img * c_out + m) * P + q - img * P : dy, ok);
            } else {
#pragma unroll
                for (int k = 0; k < 4; ++k) {
                    const bool ok = m < c_out && q + k < qe;
                    const int img = (q + k) / P;
                    cp_async4(d + k, ok ? dy + (img * c_out + m) * P + q + k - img * P : dy, ok);
                }
            }
        }
        // the halo base of each pixel of the stage (pixels past qe take pixel qs's: finite
        // values, multiplied by a zero dy)
        const int gr0 = tc_row(gd, qs);
        for (int k = tid; k < TC_BQ; k += TC_THREADS)
            bases[buf * TC_BQ + k] = tc_base(gd, qs + k < qe ? qs + k : qs, gr0);
        // the halo: element (r, pc) from global row gr0 + r = image img, padded row pr
        const int rows = tc_row(gd, qe - 1) + span + 1 - gr0;  // <= hrows
        int r = tid / gd.wp, pc = tid % gd.wp;
        int img = gr0 / gd.hp;
        int pr = gr0 - img * gd.hp + r;
        while (pr >= gd.hp) {
            pr -= gd.hp;
            ++img;
        }
        while (r < rows) {
            const int iy = pr + gd.y0, ix = pc + gd.x0;
            const bool ok = (unsigned)iy < (unsigned)h && (unsigned)ix < (unsigned)w;
            const int so = ok ? (img * c_in * h + iy) * w + ix : -1;
            tc_load_halo_element(hs, x, so, r * gd.pitch + tc_col(gd, pc), cc * 8, c_in, h * w,
                                 plane);
            pc += c_step;
            r += r_step;
            pr += r_step;
            if (pc >= gd.wp) {
                pc -= gd.wp;
                ++r;
                ++pr;
            }
            while (pr >= gd.hp) {
                pr -= gd.hp;
                ++img;
            }
        }
    };

    float acc[3][TC_WTAPS][4];
#pragma unroll
    for (int mt = 0; mt < 3; ++mt)
#pragma unroll
        for (int j = 0; j < TC_WTAPS; ++j)
#pragma unroll
            for (int i = 0; i < 4; ++i) acc[mt][j][i] = 0.0f;
#pragma unroll
    for (int s = 0; s < TC_STAGES - 1; ++s) {
        if (s < stages) load(s);
        cp_async_commit();
    }
    for (int s = 0; s < stages; ++s) {
        cp_async_wait<TC_STAGES - 2>();
        __syncthreads();  // stage s landed for all; buffer (s - 1) % STAGES is free
        if (s + TC_STAGES - 1 < stages) load(s + TC_STAGES - 1);
        cp_async_commit();
        const float* as = a_s + (s % TC_STAGES) * TC_BM * TC_PA;
        const float* hs = h_s + (s % TC_STAGES) * 8 * plane + g * plane;
        const int* bs = bases + (s % TC_STAGES) * TC_BQ;
#pragma unroll
        for (int step = 0; step < 2; ++step) {
            const int kk = warp + 4 * step;  // k8 step of the stage
            // b0 = B[pixel t][channel g], b1 = B[pixel t + 4][g]
            const int ba = bs[kk * 8 + t], bb = bs[kk * 8 + t + 4];
            u32 a[3][4];
#pragma unroll
            for (int mt = 0; mt < 3; ++mt)
#pragma unroll
                for (int r = 0; r < 4; ++r)
                    a[mt][r] = tf32_round(as[(mt * 16 + g + 8 * (r & 1)) * TC_PA + kk * 8 + t +
                                             4 * (r >> 1)]);
#pragma unroll
            for (int j = 0; j < TC_WTAPS; ++j) {
                if (j >= ntaps) break;
                const u32 b[2] = {tf32_round(hs[ba + toff[j]]), tf32_round(hs[bb + toff[j]])};
#pragma unroll
                for (int mt = 0; mt < 3; ++mt) mma_tf32(acc[mt][j], a[mt], b);
            }
        }
    }
    cp_async_wait<0>();
    __syncthreads();

    // the warps' sums, in fragment order: red[warp][mt][j][lane][4]
    float* red = reinterpret_cast<float*>(smem);
    const int per_warp = 3 * TC_WTAPS * 128;
#pragma unroll
    for (int mt = 0; mt < 3; ++mt)
#pragma unroll
        for (int j = 0; j < TC_WTAPS; ++j) {
            float4 v;
            v.x = acc[mt][j][0];
            v.y = acc[mt][j][1];
            v.z = acc[mt][j][2];
            v.w = acc[mt][j][3];
            *reinterpret_cast<float4*>(red + warp * per_warp + (mt * TC_WTAPS + j) * 128 +
                                       lane * 4) = v;
        }
    __syncthreads();
    float* o = ws + blockIdx.z * c_out * c_in * T;
    for (int e = tid; e < per_warp; e += TC_THREADS) {
        const float s = ((red[e] + red[per_warp + e]) + red[2 * per_warp + e]) + red[3 * per_warp + e];
        // d_i = D[row g + 8·(i >> 1)][column 2t + (i & 1)] of tile (mt, j)
        const int i = e & 3, l = (e >> 2) & 31, mt = (e >> 7) / TC_WTAPS, j = (e >> 7) % TC_WTAPS;
        const int m = m0 + mt * 16 + (l >> 2) + 8 * (i >> 1);
        const int c = cc * 8 + 2 * (l & 3) + (i & 1);
        if (m < c_out && c < c_in && j < ntaps) o[(m * c_in + c) * T + j0 + j] = s;
    }
}
