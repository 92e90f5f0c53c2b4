// Convolution helpers for im2col + cuBLAS GEMM. They work on a chunk of `nb` images; the host
// keeps every chunk-local index below 2^31, so 32-bit arithmetic is safe here.
//
// Column layout: col[kk * ncols + j * P + p] with kk = (c * kh + i) * kw + jj the weight tap
// (PyTorch's [c_out, c_in, kh, kw] weight as a [c_out, K] matrix), j the image of the chunk,
// p = oy * ow + ox the output pixel, P = oh * ow and ncols = nb * P.

// grid.x covers the columns, grid.y walks the K rows.
extern "C" __global__ void im2col(float* col, const float* x, int nb, int c_in, int h, int w,
                                  int kh, int kw, int oh, int ow, int sh, int sw, int ph, int pw,
                                  int dh, int dw) {
    const int P = oh * ow;
    const int ncols = nb * P;
    const int K = c_in * kh * kw;
    for (int kk = blockIdx.y; kk < K; kk += gridDim.y) {
        const int jj = kk % kw;
        const int t = kk / kw;
        const int i = t % kh;
        const int c = t / kh;
        for (i64 q64 = (i64)blockIdx.x * blockDim.x + threadIdx.x; q64 < ncols;
             q64 += (i64)gridDim.x * blockDim.x) {
            const int q = (int)q64;
            const int j = q / P;
            const int p = q - j * P;
            const int oy = p / ow;
            const int ox = p - oy * ow;
            const int y = oy * sh + i * dh - ph;
            const int xx = ox * sw + jj * dw - pw;
            float v = 0.0f;
            if (y >= 0 && y < h && xx >= 0 && xx < w) {
                v = x[(((i64)j * c_in + c) * h + y) * w + xx];
            }
            col[(i64)kk * ncols + q] = v;
        }
    }
}

// Sums every column entry that came from each input pixel (the adjoint of im2col).
extern "C" __global__ void col2im(float* dx, const float* col, int nb, int c_in, int h, int w,
                                  int kh, int kw, int oh, int ow, int sh, int sw, int ph, int pw,
                                  int dh, int dw) {
    const int P = oh * ow;
    const i64 ncols = (i64)nb * P;
    const i64 total = (i64)nb * c_in * h * w;
    for (i64 i64idx = (i64)blockIdx.x * blockDim.x + threadIdx.x; i64idx < total;
         i64idx += (i64)gridDim.x * blockDim.x) {
        const int idx = (int)i64idx;
        const int xx = idx % w;
        int t = idx / w;
        const int y = t % h;
        t /= h;
        const int c = t % c_in;
        const int j = t / c_in;
        float acc = 0.0f;
        for (int i = 0; i < kh; ++i) {
            const int ny = y + ph - i * dh;
            if (ny < 0 || ny % sh != 0) continue;
            const int oy = ny / sh;
            if (oy >= oh) continue;
            for (int jj = 0; jj < kw; ++jj) {
                const int nx = xx + pw - jj * dw;
                if (nx < 0 || nx % sw != 0) continue;
                const int ox = nx / sw;
                if (ox >= ow) continue;
                const int kk = (c * kh + i) * kw + jj;
                acc += col[(i64)kk * ncols + (i64)j * P + oy * ow + ox];
            }
        }
        dx[idx] = acc;
    }
}

// out[(j * c + o) * plane + p] += bias[o] (bias may be null), then the ReLU when relu != 0, over
// a chunk of `total` = nb * c * plane values.
extern "C" __global__ void bias_relu_nchw(float* out, const float* bias, int relu, int total,
                                          int plane, int c) {
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (i64)gridDim.x * blockDim.x) {
        const int idx = (int)i;
        float v = out[idx] + (bias ? bias[(idx / plane) % c] : 0.0f);
        out[idx] = relu ? fmaxf(v, 0.0f) : v;
    }
}

// [nb, c, plane] -> [c, nb * plane]: the upstream gradient as the GEMM operand of the weight
// gradient.
extern "C" __global__ void nchw_to_cn(float* out, const float* src, int nb, int c, int plane) {
    const int total = nb * c * plane;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (i64)gridDim.x * blockDim.x) {
        const int idx = (int)i;
        const int p = idx % plane;
        const int t = idx / plane;
        const int j = t % nb;
        const int o = t / nb;
        out[idx] = src[((i64)j * c + o) * plane + p];
    }
}
