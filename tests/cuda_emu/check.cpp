// Runs Kiln's CUDA kernels on the CPU (through shim.h) against naive references, with the
// launch shapes the Rust host code uses. Built and run by tests/tests/cuda_kernels_emulated.rs;
// prints "rng ..." lines for the Rust side to compare with kiln_tensor::rng, then a summary.
#include "shim.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>

#include "../../crates/tensor/src/cuda/prelude.cu"
#include "../../crates/tensor/src/cuda/tensor_core.cu"
#include "../../crates/tensor/src/cuda/memory.cu"
#include "../../crates/tensor/src/ops/elementwise/elementwise.cu"
#include "../../crates/tensor/src/ops/reduce/reduce.cu"
#include "../../crates/tensor/src/ops/conv2d/im2col.cu"
#include "../../crates/tensor/src/ops/conv2d/implicit_gemm.cu"
#include "../../crates/tensor/src/ops/conv2d/tc_geometry.cu"
#include "../../crates/tensor/src/ops/conv2d/tc_conv.cu"
#include "../../crates/tensor/src/ops/conv2d/tc_conv_bwd_w.cu"
#include "../../crates/tensor/src/ops/pool/pool.cu"
#include "../../crates/tensor/src/ops/batch_norm/batch_norm.cu"
#include "../../crates/tensor/src/ops/cross_entropy/cross_entropy.cu"
#include "../../crates/tensor/src/ops/random/random.cu"
#include "../../crates/tensor/src/ops/optim/optim.cu"

static int passed = 0, failed = 0;
static std::mt19937_64 gen(12345);

static void check(bool ok, const std::string& what) {
    if (ok) {
        ++passed;
    } else {
        ++failed;
        std::printf("FAILED: %s\n", what.c_str());
    }
}

static std::vector<float> rnd(size_t n, float lo, float hi) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = d(gen);
    return v;
}

static bool close(const std::vector<float>& a, const std::vector<float>& b, double tol) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::isnan(a[i]) && std::isnan(b[i])) continue;
        double d = std::fabs((double)a[i] - (double)b[i]);
        if (!(d <= tol * std::max(1.0, std::fabs((double)b[i])))) {
            std::printf("  index %zu: %.9g vs %.9g\n", i, a[i], b[i]);
            return false;
        }
    }
    return true;
}

static dim3 grid1(size_t n) {
    size_t b = (n + 255) / 256;
    if (b < 1) b = 1;
    if (b > 65536) b = 65536;
    return dim3{(unsigned)b, 1, 1};
}

static unsigned reduce_block(size_t cols) {
    return cols <= 32 ? 32 : cols <= 64 ? 64 : cols <= 128 ? 128 : 256;
}

static void test_rng() {
    const u64 seeds[] = {0, 1, 42, 0xDEADBEEFULL, ~0ULL};
    const u64 idx[] = {0, 1, 2, 1000, 123456789, 1ULL << 40};
    for (u64 s : seeds)
        for (u64 i : idx)
            std::printf("rng %" PRIu64 " %" PRIu64 " %" PRIu64 " %d %d\n", s, i, kiln_hash64(s, i),
                        __float_as_int(kiln_uniform01(s, i)),
                        __float_as_int(kiln_standard_normal(s, i)));
    std::vector<float> u(1000), z(1000);
    launch(rand_uniform, grid1(1000), 256, u.data(), (u64)1000, -3.0f, 5.0f, (u64)7);
    launch(rand_normal, grid1(1000), 256, z.data(), (u64)1000, 0.5f, 2.0f, (u64)7);
    bool ok = true;
    for (u64 i = 0; i < 1000; ++i) {
        ok &= u[i] == -3.0f + (5.0f - -3.0f) * kiln_uniform01(7, i);
        ok &= z[i] == 0.5f + 2.0f * kiln_standard_normal(7, i);
    }
    check(ok, "rand_uniform / rand_normal kernels fill element i from (seed, i)");
}

static void test_elementwise() {
    // a [3, 4, 5] view at offset 2 (dense strides) minus b broadcast along dims 0 and 2
    Dims d{};
    d.ndim = 3;
    i64 shape[3] = {3, 4, 5}, sa[3] = {20, 5, 1}, sb[3] = {0, 1, 0};
    for (int k = 0; k < 3; ++k) {
        d.shape[k] = shape[k];
        d.stride_a[k] = sa[k];
        d.stride_b[k] = sb[k];
    }
    d.offset_a = 2;
    d.offset_b = 1;
    auto a = rnd(62, -1, 1), b = rnd(5, -1, 1);
    std::vector<float> want(60);
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 4; ++j)
            for (int k = 0; k < 5; ++k) want[(i * 4 + j) * 5 + k] = a[2 + i * 20 + j * 5 + k] - b[1 + j];
    for (int wide = 0; wide < 2; ++wide) {
        std::vector<float> out(60);
        auto f = wide ? binary_sub_strided_u64 : binary_sub_strided_u32;
        launch(f, grid1(60), 256, out.data(), (const float*)a.data(), (const float*)b.data(), (u64)60, d);
        check(close(out, want, 0), wide ? "binary_sub_strided_u64" : "binary_sub_strided_u32");
    }
    // the transpose of a [6, 4] matrix
    Dims t{};
    t.ndim = 2;
    t.shape[0] = 4;
    t.shape[1] = 6;
    t.stride_a[0] = 1;
    t.stride_a[1] = 4;
    auto m = rnd(24, -1, 1);
    std::vector<float> out(24), tw(24);
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 6; ++j) tw[i * 6 + j] = m[j * 4 + i];
    launch(copy_strided_u32, grid1(24), 256, out.data(), (const float*)m.data(), (u64)24, t);
    check(close(out, tw, 0), "copy_strided transposes");
    std::vector<float> mask = rnd(24, -1, 1), ms(24), msw(24);
    for (int i = 0; i < 24; ++i) msw[i] = mask[i] > 0 ? m[i] * 2.5f : 0.0f;
    launch(masked_scale_f32, grid1(24), 256, ms.data(), (const float*)m.data(), (const float*)mask.data(), (u64)24, 2.5f);
    check(close(ms, msw, 0), "masked_scale");
    check(sizeof(Dims) == 216, "sizeof(Dims) matches the Rust struct");
    // every unary op (kernel unary_<name>, parameters p0 = 1.5, p1 = -0.25) against its formula
    using UnaryKernel = void (*)(float*, const float*, u64, float, float);
    struct UnaryCase {
        const char* name;
        UnaryKernel kernel;
        float (*want)(float);
    };
    const UnaryCase unary[] = {
        {"neg", unary_neg, [](float x) { return -x; }},
        {"exp", unary_exp, [](float x) { return std::exp(x); }},
        {"log", unary_log, [](float x) { return std::log(x); }},
        {"sqrt", unary_sqrt, [](float x) { return std::sqrt(x); }},
        {"sqr", unary_sqr, [](float x) { return x * x; }},
        {"abs", unary_abs, [](float x) { return std::fabs(x); }},
        {"relu", unary_relu, [](float x) { return x > 0.0f ? x : 0.0f; }},
        {"tanh", unary_tanh, [](float x) { return std::tanh(x); }},
        {"sigmoid", unary_sigmoid, [](float x) { return 1.0f / (1.0f + std::exp(-x)); }},
        {"recip", unary_recip, [](float x) { return 1.0f / x; }},
        {"affine", unary_affine, [](float x) { return x * 1.5f + -0.25f; }},
        {"powf", unary_powf, [](float x) { return std::pow(x, 1.5f); }},
        {"step", unary_step, [](float x) { return x > 0.0f ? 1.0f : 0.0f; }},
        {"gelu", unary_gelu, [](float x) { return (float)(0.5 * x * std::erfc(-x / std::sqrt(2.0))); }},
        {"gelu_grad", unary_gelu_grad,
         [](float x) {
             const double d = x;
             return (float)(0.5 * std::erfc(-d / std::sqrt(2.0)) + d * std::exp(-0.5 * d * d) / std::sqrt(2 * M_PI));
         }},
    };
    auto ux = rnd(300, 0.05f, 3.0f);
    for (int i = 0; i < 100; ++i) ux[i] = -ux[i];  // negatives too (log/sqrt/powf give NaN there)
    for (const auto& c : unary) {
        std::vector<float> out(300), want(300);
        for (int i = 0; i < 300; ++i) want[i] = c.want(ux[i]);
        launch(c.kernel, grid1(300), 256, out.data(), (const float*)ux.data(), (u64)300, 1.5f, -0.25f);
        check(close(out, want, 1e-6), std::string("unary_") + c.name);
    }
    // every binary op, dense
    using BinaryKernel = void (*)(float*, const float*, const float*, u64);
    struct BinaryCase {
        const char* name;
        BinaryKernel kernel;
        float (*want)(float, float);
    };
    const BinaryCase binary[] = {
        {"add", binary_add_dense, [](float a, float b) { return a + b; }},
        {"sub", binary_sub_dense, [](float a, float b) { return a - b; }},
        {"mul", binary_mul_dense, [](float a, float b) { return a * b; }},
        {"div", binary_div_dense, [](float a, float b) { return a / b; }},
        {"max", binary_max_dense, [](float a, float b) { return std::fmax(a, b); }},
        {"min", binary_min_dense, [](float a, float b) { return std::fmin(a, b); }},
    };
    auto ba = rnd(300, -2, 2), bb = rnd(300, 0.5f, 2);
    for (const auto& c : binary) {
        std::vector<float> out(300), want(300);
        for (int i = 0; i < 300; ++i) want[i] = c.want(ba[i], bb[i]);
        launch(c.kernel, grid1(300), 256, out.data(), (const float*)ba.data(), (const float*)bb.data(), (u64)300);
        check(close(out, want, 0), std::string("binary_") + c.name + "_dense");
    }
}

static void test_reduce() {
    using ReduceKernel = void (*)(float*, const float*, i64, i64);
    const ReduceKernel reduce_kernels[4] = {reduce_rows_sum, reduce_rows_max, reduce_rows_min, reduce_rows_argmax};
    const char* reduce_names[4] = {"reduce_rows_sum", "reduce_rows_max", "reduce_rows_min", "reduce_rows_argmax"};
    const size_t shapes[][2] = {{1, 1}, {3, 7}, {5, 33}, {2, 300}, {4, 1000}, {70, 3}};
    for (auto& sh : shapes) {
        size_t rows = sh[0], cols = sh[1];
        auto x = rnd(rows * cols, -5, 5);
        if (cols > 3) {
            x[1] = 100.0f;  // a tie for the max of row 0: the first index wins
            x[3] = 100.0f;
            x[0] = NAN;      // NaN is ignored by max/min/argmax
        }
        for (int op = 0; op < 4; ++op) {
            std::vector<float> out(rows), want(rows);
            for (size_t r = 0; r < rows; ++r) {
                double s = 0;
                float mx = -INFINITY, mn = INFINITY;
                size_t best = 0;
                for (size_t j = 0; j < cols; ++j) {
                    float v = x[r * cols + j];
                    s += v;
                    mx = std::fmax(mx, v);
                    mn = std::fmin(mn, v);
                    float b = x[r * cols + best];
                    if (v > b || (std::isnan(b) && !std::isnan(v))) best = j;
                }
                want[r] = op == 0 ? (float)s : op == 1 ? mx : op == 2 ? mn : (float)best;
            }
            dim3 g{(unsigned)std::min<size_t>(rows, 65535), 1, 1};
            launch(reduce_kernels[op], g, reduce_block(cols), out.data(), (const float*)x.data(), (i64)rows, (i64)cols);
            check(close(out, want, op == 0 ? 1e-6 : 0),
                  std::string(reduce_names[op]) + " " + std::to_string(rows) + "x" + std::to_string(cols));
        }
    }
    // an all-NaN row: argmax 0, max -inf
    std::vector<float> nan_row(40, NAN), o(1);
    launch(reduce_rows_argmax, dim3{1, 1, 1}, 64, o.data(), (const float*)nan_row.data(), (i64)1, (i64)40);
    check(o[0] == 0.0f, "argmax of an all-NaN row is 0");
    launch(reduce_rows_max, dim3{1, 1, 1}, 64, o.data(), (const float*)nan_row.data(), (i64)1, (i64)40);
    check(o[0] == -INFINITY, "max of an all-NaN row is -inf");
    // the split sum as the host drives it
    size_t rows = 2, cols = 70000;
    auto x = rnd(rows * cols, -1, 1);
    size_t splits = std::min<size_t>((cols + 8191) / 8192, 1024);
    size_t chunk = (cols + splits - 1) / splits;
    splits = (cols + chunk - 1) / chunk;
    std::vector<double> partial(rows * splits);
    std::vector<float> out(rows), want(rows);
    launch(reduce_sum_partial, dim3{(unsigned)splits, (unsigned)rows, 1}, 256, partial.data(), (const float*)x.data(),
           (i64)rows, (i64)cols, (i64)splits, (i64)chunk);
    launch(reduce_sum_final, dim3{(unsigned)rows, 1, 1}, 256, out.data(), (const double*)partial.data(), (i64)rows,
           (i64)splits);
    for (size_t r = 0; r < rows; ++r) {
        double s = 0;
        for (size_t j = 0; j < cols; ++j) s += x[r * cols + j];
        want[r] = (float)s;
    }
    check(close(out, want, 1e-6), "split row sums");
}

static void test_conv(int sh, int sw, int dh, int dw) {
    const int nb = 2, c_in = 3, h = 7, w = 8, kh = 3, kw = 2, ph = 1, pw = 1;
    const int oh = (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1, ow = (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
    const int P = oh * ow, K = c_in * kh * kw, ncols = nb * P;
    auto x = rnd((size_t)nb * c_in * h * w, -1, 1);
    std::vector<float> col((size_t)K * ncols), want((size_t)K * ncols);
    for (int j = 0; j < nb; ++j)
        for (int c = 0; c < c_in; ++c)
            for (int i = 0; i < kh; ++i)
                for (int jj = 0; jj < kw; ++jj)
                    for (int oy = 0; oy < oh; ++oy)
                        for (int ox = 0; ox < ow; ++ox) {
                            int y = oy * sh + i * dh - ph, xx = ox * sw + jj * dw - pw;
                            int kk = (c * kh + i) * kw + jj;
                            float v = (y >= 0 && y < h && xx >= 0 && xx < w) ? x[((j * c_in + c) * h + y) * w + xx] : 0;
                            want[(size_t)kk * ncols + j * P + oy * ow + ox] = v;
                        }
    launch(im2col, dim3{(unsigned)((ncols + 255) / 256), (unsigned)K, 1}, 256, col.data(), (const float*)x.data(), nb,
           c_in, h, w, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw);
    check(close(col, want, 0), "im2col");
    // col2im is the adjoint: a scatter-add of the columns back to the pixels
    auto dcol = rnd((size_t)K * ncols, -1, 1);
    std::vector<float> dx(x.size()), dxw(x.size(), 0.0f);
    for (int j = 0; j < nb; ++j)
        for (int c = 0; c < c_in; ++c)
            for (int i = 0; i < kh; ++i)
                for (int jj = 0; jj < kw; ++jj)
                    for (int oy = 0; oy < oh; ++oy)
                        for (int ox = 0; ox < ow; ++ox) {
                            int y = oy * sh + i * dh - ph, xx = ox * sw + jj * dw - pw;
                            if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
                            int kk = (c * kh + i) * kw + jj;
                            dxw[((j * c_in + c) * h + y) * w + xx] += dcol[(size_t)kk * ncols + j * P + oy * ow + ox];
                        }
    launch(col2im, grid1(dx.size()), 256, dx.data(), (const float*)dcol.data(), nb, c_in, h, w, kh, kw, oh, ow, sh, sw,
           ph, pw, dh, dw);
    check(close(dx, dxw, 1e-6), "col2im");
    // the weight-gradient operand and the bias
    const int c = 5, plane = 7;
    auto src = rnd((size_t)nb * c * plane, -1, 1);
    std::vector<float> cn(src.size()), cnw(src.size());
    for (int j = 0; j < nb; ++j)
        for (int o = 0; o < c; ++o)
            for (int p = 0; p < plane; ++p) cnw[(o * nb + j) * plane + p] = src[(j * c + o) * plane + p];
    launch(nchw_to_cn, grid1(src.size()), 256, cn.data(), (const float*)src.data(), nb, c, plane);
    check(close(cn, cnw, 0), "nchw_to_cn");
    auto bias = rnd(c, -1, 1);
    for (int relu = 0; relu < 2; ++relu)
        for (int with_bias = 0; with_bias < 2; ++with_bias) {
            std::vector<float> biased = src, bw = src;
            for (size_t i = 0; i < bw.size(); ++i) {
                if (with_bias) bw[i] += bias[(i / plane) % c];
                if (relu) bw[i] = std::fmax(bw[i], 0.0f);
            }
            launch(bias_relu_nchw, grid1(src.size()), 256, biased.data(), with_bias ? (const float*)bias.data() : nullptr,
                   relu, (int)src.size(), plane, c);
            check(close(biased, bw, 0), "bias_relu_nchw bias=" + std::to_string(with_bias) + " relu=" + std::to_string(relu));
        }
}

// The implicit-GEMM kernels against a naive convolution, forward and both backward passes,
// with the host's launch shapes (ops/conv2d/cuda/implicit.rs): several tiles in every direction, K not a
// multiple of 8, strides, padding and dilation.
static void test_conv_implicit(int n, int c_in, int h, int w, int c_out, int kh, int kw, int sh, int sw, int ph,
                               int pw, int dh, int dw, int splits_wanted) {
  for (int wm = 1; wm <= 2; ++wm) {
    const unsigned threads = 128 * wm, rows = 48 * wm;
    const int oh = (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1, ow = (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
    const int P = oh * ow, K = c_in * kh * kw;
    const std::string name = "conv_igemm w" + std::to_string(wm) + " n" + std::to_string(n) + " c" + std::to_string(c_in) + "->" +
                             std::to_string(c_out) + " s" + std::to_string(sh) + std::to_string(sw);
    auto x = rnd((size_t)n * c_in * h * w, -1, 1);
    auto wt = rnd((size_t)c_out * K, -0.5, 0.5);
    auto bias = rnd(c_out, -0.5, 0.5);
    auto dy = rnd((size_t)n * c_out * P, -1, 1);
    std::vector<double> want_y((size_t)n * c_out * P, 0.0), want_dx(x.size(), 0.0), want_dw(wt.size(), 0.0);
    for (int j = 0; j < n; ++j)
        for (int o = 0; o < c_out; ++o)
            for (int oy = 0; oy < oh; ++oy)
                for (int ox = 0; ox < ow; ++ox) {
                    const size_t yi = (((size_t)j * c_out + o) * oh + oy) * ow + ox;
                    double acc = bias[o];
                    for (int c = 0; c < c_in; ++c)
                        for (int i = 0; i < kh; ++i)
                            for (int jj = 0; jj < kw; ++jj) {
                                int y = oy * sh + i * dh - ph, xx = ox * sw + jj * dw - pw;
                                if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
                                const size_t xi = (((size_t)j * c_in + c) * h + y) * w + xx;
                                const size_t wi = (((size_t)o * c_in + c) * kh + i) * kw + jj;
                                acc += (double)wt[wi] * x[xi];
                                want_dx[xi] += (double)wt[wi] * dy[yi];
                                want_dw[wi] += (double)x[xi] * dy[yi];
                            }
                    want_y[yi] = acc;
                }
    auto to_f = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
    const int ncols = n * P;
    for (int relu = 0; relu < 2; ++relu) {
        std::vector<float> y((size_t)n * c_out * P, NAN), want = to_f(want_y);
        if (relu)
            for (auto& v : want) v = std::fmax(v, 0.0f);
        launch(wm == 1 ? conv_igemm_fwd : conv_igemm_fwd_w2, dim3{(unsigned)((ncols + 127) / 128), (c_out + rows - 1) / rows, 1}, threads, y.data(),
               (const float*)wt.data(), (const float*)x.data(), (const float*)bias.data(), relu, c_out, n, c_in, h, w, oh,
               ow, kh, kw, sh, sw, ph, pw, dh, dw);
        check(close(y, want, 1e-5), name + (relu ? ": forward + relu" : ": forward"));
    }
    // backward input: the weight transposed, then the transposed convolution
    std::vector<float> wtt(wt.size(), NAN), dx(x.size(), NAN);
    launch(conv_weight_transpose, grid1(wt.size()), 256, wtt.data(), (const float*)wt.data(), c_out, c_in, kh * kw);
    const int phase_cols = n * ((h + sh - 1) / sh) * ((w + sw - 1) / sw);
    launch(wm == 1 ? conv_igemm_bwd_in : conv_igemm_bwd_in_w2, dim3{(unsigned)((phase_cols + 127) / 128), (c_in + rows - 1) / rows, (unsigned)(sh * sw)},
           threads, dx.data(), (const float*)wtt.data(), (const float*)dy.data(), c_in, n, c_out, oh, ow, h, w, kh, kw, sh,
           sw, ph, pw, dh, dw);
    check(close(dx, to_f(want_dx), 1e-5), name + ": backward input");
    // backward weight in slices of pixels, then their ordered sum
    int per_split = ((ncols + splits_wanted - 1) / splits_wanted + 7) / 8 * 8;
    int splits = (ncols + per_split - 1) / per_split;
    std::vector<float> ws((size_t)splits * wt.size(), NAN), dwv(wt.size(), NAN);
    launch(wm == 1 ? conv_igemm_bwd_w : conv_igemm_bwd_w_w2, dim3{(unsigned)((K + 127) / 128), (c_out + rows - 1) / rows, (unsigned)splits}, threads,
           ws.data(), (const float*)x.data(), (const float*)dy.data(), c_out, ncols, per_split, c_in, h, w, oh, ow, kh,
           kw, sh, sw, ph, pw, dh, dw);
    launch(conv_reduce_splits, grid1(wt.size()), 256, dwv.data(), (const float*)ws.data(), (int)wt.size(), splits);
    check(close(dwv, to_f(want_dw), 1e-4), name + ": backward weight (" + std::to_string(splits) + " slices)");
  }
}

#include "conv_tc.h"

static void test_pool() {
    const i64 planes = 3, h = 7, w = 5, kh = 3, kw = 2, sh = 2, sw = 1, ph = 1, pw = 1;
    const i64 oh = (h + 2 * ph - kh) / sh + 1, ow = (w + 2 * pw - kw) / sw + 1;
    auto x = rnd((size_t)(planes * h * w), -2, 2);
    for (i64 i = 0; i < h * w; ++i) x[(size_t)(2 * h * w + i)] = 0.5f;  // a plane of ties
    size_t no = (size_t)(planes * oh * ow);
    std::vector<float> out(no), arg(no), wout(no), warg(no), avg(no), wavg(no);
    for (i64 p = 0; p < planes; ++p)
        for (i64 oy = 0; oy < oh; ++oy)
            for (i64 ox = 0; ox < ow; ++ox) {
                float best = -INFINITY, s = 0;
                i64 bi = 0;
                for (i64 i = 0; i < kh; ++i)
                    for (i64 j = 0; j < kw; ++j) {
                        i64 y = oy * sh + i - ph, xx = ox * sw + j - pw;
                        if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
                        float v = x[(size_t)(p * h * w + y * w + xx)];
                        s += v;
                        if (v > best || best == -INFINITY) {
                            best = v;
                            bi = y * w + xx;
                        }
                    }
                size_t o = (size_t)((p * oh + oy) * ow + ox);
                wout[o] = best;
                warg[o] = (float)bi;
                wavg[o] = s / (float)(kh * kw);
            }
    launch(max_pool_fwd, grid1(no), 256, out.data(), arg.data(), (const float*)x.data(), planes, h, w, oh, ow, kh, kw,
           sh, sw, ph, pw);
    check(close(out, wout, 0) && close(arg, warg, 0), "max_pool_fwd");
    launch(avg_pool_fwd, grid1(no), 256, avg.data(), (const float*)x.data(), planes, h, w, oh, ow, kh, kw, sh, sw, ph, pw);
    check(close(avg, wavg, 1e-6), "avg_pool_fwd");
    auto dy = rnd(no, -1, 1);
    size_t ni = x.size();
    std::vector<float> dx(ni), dxw(ni, 0.0f), da(ni), daw(ni, 0.0f);
    for (size_t o = 0; o < no; ++o) dxw[(o / (size_t)(oh * ow)) * (size_t)(h * w) + (size_t)warg[o]] += dy[o];
    launch(max_pool_bwd, grid1(ni), 256, dx.data(), (const float*)dy.data(), (const float*)arg.data(), planes, h, w, oh,
           ow, kh, kw, sh, sw, ph, pw);
    check(close(dx, dxw, 1e-6), "max_pool_bwd");
    for (i64 p = 0; p < planes; ++p)
        for (i64 oy = 0; oy < oh; ++oy)
            for (i64 ox = 0; ox < ow; ++ox)
                for (i64 i = 0; i < kh; ++i)
                    for (i64 j = 0; j < kw; ++j) {
                        i64 y = oy * sh + i - ph, xx = ox * sw + j - pw;
                        if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
                        daw[(size_t)(p * h * w + y * w + xx)] += dy[(size_t)((p * oh + oy) * ow + ox)] / (float)(kh * kw);
                    }
    launch(avg_pool_bwd, grid1(ni), 256, da.data(), (const float*)dy.data(), planes, h, w, oh, ow, kh, kw, sh, sw, ph, pw);
    check(close(da, daw, 1e-6), "avg_pool_bwd");
}

static void test_batch_norm() {
    const i64 cases[][3] = {{3, 4, 5}, {2, 3, 70}, {6, 130, 1}, {5, 3, 1}};
    for (auto& cs : cases) {
        const i64 n = cs[0], c = cs[1], sp = cs[2];
        const bool rows = sp == 1 && c >= 128;
        const std::string name = "batch norm n=" + std::to_string(n) + " c=" + std::to_string(c) + " spatial=" +
                                 std::to_string(sp) + (rows ? " (rows)" : " (planes)");
        const size_t total = (size_t)(n * c * sp);
        const float eps = 1e-5f;
        auto x = rnd(total, -2, 3), gamma = rnd((size_t)c, 0.5, 1.5), beta = rnd((size_t)c, -0.5, 0.5),
             dy = rnd(total, -1, 1);
        std::vector<double> mu(c), var(c), s1(c, 0), s2(c, 0);
        auto at = [&](i64 b, i64 ch, i64 j) { return (size_t)((b * c + ch) * sp + j); };
        for (i64 ch = 0; ch < c; ++ch) {
            double s = 0, q = 0;
            for (i64 b = 0; b < n; ++b)
                for (i64 j = 0; j < sp; ++j) s += x[at(b, ch, j)];
            mu[ch] = s / (double)(n * sp);
            for (i64 b = 0; b < n; ++b)
                for (i64 j = 0; j < sp; ++j) q += (x[at(b, ch, j)] - mu[ch]) * (x[at(b, ch, j)] - mu[ch]);
            var[ch] = q / (double)(n * sp);
        }
        std::vector<float> mean(c), vr(c), wm(c), wv(c);
        for (i64 ch = 0; ch < c; ++ch) {
            wm[ch] = (float)mu[ch];
            wv[ch] = (float)var[ch];
        }
        if (rows)
            launch(bn_stats_rows, dim3{(unsigned)((c + 127) / 128), 1, 1}, 128, mean.data(), vr.data(),
                   (const float*)x.data(), n, c);
        else
            launch(bn_stats_planes, dim3{(unsigned)c, 1, 1}, 256, mean.data(), vr.data(), (const float*)x.data(), n, c, sp);
        check(close(mean, wm, 1e-6) && close(vr, wv, 1e-6), name + ": statistics");
        std::vector<float> y(total), yw(total);
        for (size_t i = 0; i < total; ++i) {
            i64 ch = (i64)(i / (size_t)sp) % c;
            float scale = gamma[ch] / std::sqrt(mean[ch] * 0 + vr[ch] + eps);
            float shift = beta[ch] - mean[ch] * scale;
            yw[i] = x[i] * scale + shift;
        }
        launch(bn_normalize, grid1(total), 256, y.data(), (const float*)x.data(), (const float*)gamma.data(),
               (const float*)beta.data(), (const float*)mean.data(), (const float*)vr.data(), (u64)total, c, sp, eps);
        check(close(y, yw, 0), name + ": normalize");
        // backward, with the float statistics as the CPU backend keeps them
        for (i64 ch = 0; ch < c; ++ch) {
            double inv = 1.0 / std::sqrt((double)vr[ch] + (double)eps);
            for (i64 b = 0; b < n; ++b)
                for (i64 j = 0; j < sp; ++j) {
                    size_t i = at(b, ch, j);
                    s1[ch] += dy[i];
                    s2[ch] += (double)dy[i] * ((double)x[i] - (double)mean[ch]) * inv;
                }
        }
        std::vector<double> sums(2 * c);
        std::vector<float> dg(c), db(c), dgw(c), dbw(c);
        for (i64 ch = 0; ch < c; ++ch) {
            dgw[ch] = (float)s2[ch];
            dbw[ch] = (float)s1[ch];
        }
        if (rows)
            launch(bn_bwd_sums_rows, dim3{(unsigned)((c + 127) / 128), 1, 1}, 128, sums.data(), dg.data(), db.data(),
                   (const float*)x.data(), (const float*)dy.data(), (const float*)mean.data(), (const float*)vr.data(),
                   n, c, eps);
        else
            launch(bn_bwd_sums_planes, dim3{(unsigned)c, 1, 1}, 256, sums.data(), dg.data(), db.data(),
                   (const float*)x.data(), (const float*)dy.data(), (const float*)mean.data(), (const float*)vr.data(),
                   n, c, sp, eps);
        check(close(dg, dgw, 1e-6) && close(db, dbw, 1e-6), name + ": gamma/beta gradients");
        for (int batch_stats = 0; batch_stats < 2; ++batch_stats) {
            std::vector<float> dx(total), dxw(total);
            double m = (double)(n * sp);
            for (size_t i = 0; i < total; ++i) {
                i64 ch = (i64)(i / (size_t)sp) % c;
                double inv = 1.0 / std::sqrt((double)vr[ch] + (double)eps);
                double k = (double)gamma[ch] * inv;
                if (batch_stats) {
                    float xhat = (float)(((double)x[i] - (double)mean[ch]) * inv);
                    dxw[i] = (float)(k * ((double)dy[i] - s1[ch] / m - (double)xhat * (s2[ch] / m)));
                } else {
                    dxw[i] = (float)(k * (double)dy[i]);
                }
            }
            launch(bn_bwd_dx, grid1(total), 256, dx.data(), (const float*)x.data(), (const float*)dy.data(),
                   (const float*)gamma.data(), (const float*)mean.data(), (const float*)vr.data(),
                   (const double*)sums.data(), (u64)total, n, c, sp, eps, batch_stats);
            check(close(dx, dxw, 1e-5), name + ": input gradient, batch_stats=" + std::to_string(batch_stats));
        }
    }
}

static void test_cross_entropy() {
    const i64 cases[][2] = {{37, 45}, {9, 10}, {3, 1}};
    for (auto& cs : cases) {
        const i64 n = cs[0], k = cs[1];
        const float sm = 0.1f;
        const std::string name = "cross entropy n=" + std::to_string(n) + " k=" + std::to_string(k);
        auto logits = rnd((size_t)(n * k), -4, 4);
        std::vector<float> labels(n);
        for (i64 r = 0; r < n; ++r) labels[r] = (float)(gen() % (u64)k);
        const i64 bad = n > 5 ? 5 : -1;
        if (bad >= 0) labels[bad] = (float)k;  // out of range
        std::vector<float> probs((size_t)(n * k)), pw((size_t)(n * k)), loss(1);
        std::vector<double> row(n), roww(n);
        int flag[4] = {0, 0, 0, 0};
        double total = 0;
        for (i64 r = 0; r < n; ++r) {
            float mx = -INFINITY;
            for (i64 j = 0; j < k; ++j) mx = std::fmax(mx, logits[r * k + j]);
            double se = 0, sv = 0;
            for (i64 j = 0; j < k; ++j) {
                se += std::exp((double)logits[r * k + j] - mx);
                sv += logits[r * k + j];
            }
            double lse = mx + std::log(se);
            for (i64 j = 0; j < k; ++j) pw[r * k + j] = (float)(std::exp((double)logits[r * k + j] - mx) / se);
            if (r == bad) {
                roww[r] = NAN;
                continue;
            }
            i64 y = (i64)labels[r];
            roww[r] = (1.0 - sm) * (lse - logits[r * k + y]) + (double)sm * (lse - sv / (double)k);
            total += roww[r];
        }
        launch(ce_forward, dim3{(unsigned)((n + 7) / 8), 1, 1}, 256, probs.data(), row.data(), flag,
               (const float*)logits.data(), (const float*)labels.data(), n, k, sm);
        std::vector<float> rf(row.begin(), row.end()), rwf(roww.begin(), roww.end());
        check(close(probs, pw, 1e-6) && close(rf, rwf, 1e-6), name + ": probabilities and row losses");
        if (bad >= 0) {
            check(flag[0] == bad + 1 && __int_as_float(flag[1]) == (float)k && flag[2] == k,
                  name + ": the invalid label is flagged");
        } else {
            check(flag[0] == 0, name + ": no flag without an invalid label");
            launch(ce_loss_mean, dim3{1, 1, 1}, 256, loss.data(), (const double*)row.data(), n);
            check(close(loss, {(float)(total / (double)n)}, 1e-6), name + ": mean loss");
        }
        std::vector<float> grad((size_t)(n * k)), gw((size_t)(n * k));
        float gl = 0.7f;
        for (i64 r = 0; r < n; ++r)
            for (i64 j = 0; j < k; ++j) {
                if (r == bad) {
                    gw[r * k + j] = NAN;
                    continue;
                }
                float t = sm / (float)k + (j == (i64)labels[r] ? 1.0f - sm : 0.0f);
                gw[r * k + j] = (pw[r * k + j] - t) * (gl / (float)n);
            }
        int flag2[4] = {0, 0, 0, 0};
        launch(ce_backward, grid1((size_t)(n * k)), 256, grad.data(), flag2, (const float*)pw.data(),
               (const float*)labels.data(), (const float*)&gl, n, k, sm);
        check(close(grad, gw, 0), name + ": gradient");
        check(flag2[0] == (bad >= 0 ? bad + 1 : 0), name + ": backward flag");
    }
}

static void test_optim() {
    const size_t n = 1000;
    auto p = rnd(n, -1, 1), g = rnd(n, -0.1f, 0.1f), m = rnd(n, -0.01f, 0.01f), v = rnd(n, 0, 0.001f);
    for (int decoupled = 0; decoupled < 2; ++decoupled) {
        auto pp = p, mm = m, vv = v, pw = p, mw = m, vw = v;
        // the host's scalars: 1 - beta and 1 - lr * wd formed in double
        const double lr = 1e-3, b1 = 0.9, b2 = 0.999;
        const float eps = 1e-8f, wd = 0.01f, step = 0.0123f, bc2 = 0.0447f;
        const float b1f = (float)b1, omb1 = (float)(1.0 - b1), b2f = (float)b2, omb2 = (float)(1.0 - b2);
        const float decay = (float)(1.0 - lr * wd);
        for (size_t i = 0; i < n; ++i) {
            float gi = g[i];
            if (decoupled) pw[i] *= decay;
            else gi += wd * pw[i];
            mw[i] = b1f * mw[i] + omb1 * gi;
            vw[i] = b2f * vw[i] + omb2 * gi * gi;
            float denom = std::sqrt(vw[i]) / bc2 + eps;
            pw[i] -= step * mw[i] / denom;
        }
        launch(adam_step, grid1(n), 256, pp.data(), (const float*)g.data(), mm.data(), vv.data(), (u64)n, b1f, omb1,
               b2f, omb2, eps, wd, decoupled, decay, step, bc2);
        check(close(pp, pw, 0) && close(mm, mw, 0) && close(vv, vw, 0), "adam_step decoupled=" + std::to_string(decoupled));
    }
    for (int first = 0; first < 2; ++first) {
        auto pp = p, bb = m, pw = p, bw = m;
        const float lr = 0.05f, mom = 0.9f, damp = 0.1f, wd = 1e-4f;
        for (size_t i = 0; i < n; ++i) {
            float d = g[i] + wd * pw[i];
            bw[i] = first ? d : mom * bw[i] + (1.0f - damp) * d;
            d = d + mom * bw[i];
            pw[i] -= lr * d;
        }
        launch(sgd_step, grid1(n), 256, pp.data(), (const float*)g.data(), bb.data(), (u64)n, lr, mom, damp, wd, 1, first);
        check(close(pp, pw, 0) && close(bb, bw, 0), "sgd_step nesterov first=" + std::to_string(first));
    }
}

int main() {
    test_rng();
    test_elementwise();
    test_reduce();
    test_conv(2, 1, 1, 2);
    test_conv(1, 3, 2, 1);
    test_conv_implicit(2, 5, 9, 7, 50, 3, 3, 1, 1, 0, 0, 1, 1, 3);
    test_conv_implicit(3, 50, 6, 5, 7, 3, 2, 2, 1, 1, 2, 1, 2, 2);
    test_conv_implicit(2, 3, 11, 10, 4, 5, 5, 2, 2, 2, 1, 1, 1, 1);
    test_conv_implicit(1, 140, 4, 4, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1);
    test_conv_implicit(4, 3, 12, 12, 5, 3, 3, 1, 1, 0, 0, 1, 1, 5);
    test_conv_implicit(2, 4, 9, 8, 3, 1, 1, 2, 3, 0, 0, 1, 1, 1);   // phases no tap reaches
    test_conv_implicit(2, 3, 13, 12, 6, 3, 3, 2, 3, 1, 2, 2, 3, 2);  // dilated and strided
    test_conv_implicit(40, 6, 26, 26, 7, 3, 3, 2, 2, 0, 0, 1, 1, 9); // ConfigNet's conv4 shape, many columns
    test_conv_tensor_core();
    test_pool();
    test_batch_norm();
    test_cross_entropy();
    test_optim();
    std::printf("emulated kernels: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
