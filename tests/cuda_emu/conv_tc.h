// The tensor-core (TF32) convolution kernels (tc_conv.cu, tc_conv_bwd_w.cu) against an f64
// reference, with the host's launch shapes and halo layouts (ops/conv2d/cuda/tensor_core.rs,
// ported line for line below). Included by check.cpp after its helpers.

// ---- the host's halo layout (tensor_core.rs) ------------------------------------------------

struct TcAxisH {
    int count = 0, lo = 0, hi = 0;
};

static TcAxisH tc_axis_h(bool tr, int p, int pad, int d, int s, int size) {
    TcAxisH a;
    for (int k = 0; k < size; ++k) {
        if (tr && ((p + pad - k * d) % s + s) % s != 0) continue;
        const int o = tr ? (p + pad - k * d) / s : k * d - pad;
        a.lo = a.count == 0 || o < a.lo ? o : a.lo;
        a.hi = a.count == 0 || o > a.hi ? o : a.hi;
        ++a.count;
    }
    return a;
}

struct TcLayoutH {
    int hrows = 0, pitch = 0, wq = 0, plane = 0, taps = 0;
    size_t smem = 0;
};

enum class TcPass { Forward, Input, Weight };

// Geometry of the conv: x [n, c_in, h, w], weight [c_out, c_in, kh, kw].
struct ConvGeom {
    int n, c_in, h, w, c_out, kh, kw, sh, sw, ph, pw, dh, dw;
    int oh() const { return (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1; }
    int ow() const { return (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1; }
};

static TcLayoutH tc_layout_h(const ConvGeom& s, TcPass pass, int bn) {
    const bool tr = pass == TcPass::Input;
    const int phases = tr ? s.sh * s.sw : 1;
    const int gsh = tr ? 1 : s.sh, gsw = tr ? 1 : s.sw;
    TcLayoutH l;
    int wp_max = 1, gw0 = 1;
    for (int z = 0; z < phases; ++z) {
        const int py = z / s.sw, px = z % s.sw;
        const TcAxisH ay = tc_axis_h(tr, py, s.ph, s.dh, s.sh, s.kh), ax = tc_axis_h(tr, px, s.pw, s.dw, s.sw, s.kw);
        int gh = s.oh(), gw = s.ow();
        if (tr) {
            gh = py < s.h ? (s.h - py + s.sh - 1) / s.sh : 0;
            gw = px < s.w ? (s.w - px + s.sw - 1) / s.sw : 0;
        }
        if (gh == 0 || gw == 0) continue;
        if (z == 0) gw0 = gw;
        const int span = ay.hi - ay.lo;
        const int hp = (gh - 1) * gsh + span + 1, wp = (gw - 1) * gsw + (ax.hi - ax.lo) + 1;
        const long per = (long)gh * gw, blocks = (s.n * per + bn - 1) / bn;
        const long period = per / std::gcd(per, (long)bn);
        auto row = [&](long q) { return (q / per) * hp + (q % per) / gw * gsh; };
        for (long b = 0; b < std::min(blocks, period); ++b) {
            const long q0 = b * bn;
            l.hrows = std::max(l.hrows, (int)(row(q0 + bn - 1) + span + 1 - row(q0)));
        }
        wp_max = std::max(wp_max, wp);
        l.taps = std::max(l.taps, ay.count * ax.count);
    }
    l.wq = (wp_max + gsw - 1) / gsw;
    l.pitch = gsw * l.wq;
    for (int p = gsw * l.wq; p < gsw * l.wq + 8; ++p)
        if (((gsh * p - gw0) % 8 + 8) % 8 == 0) {
            l.pitch = p;
            break;
        }
    const int want = pass == TcPass::Weight ? 4 : 8, modulus = pass == TcPass::Weight ? 8 : 16;
    l.plane = l.hrows * l.pitch;
    while (l.plane % modulus != want) ++l.plane;
    if (pass == TcPass::Weight) {
        const size_t pipe = 3 * (48 * 68 + 8 * (size_t)l.plane + 64) + 9, red = 4 * 3 * 9 * 128;
        l.smem = 4 * std::max(pipe, red);
    } else {
        l.smem = 4 * (3 * ((size_t)l.taps * 384 + 8 * (size_t)l.plane) + l.taps + 2 * (size_t)l.hrows * wp_max);
    }
    return l;
}

// ---- the checks -------------------------------------------------------------------------------

static double rel_l2(const std::vector<float>& got, const std::vector<double>& want) {
    double num = 0, den = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        num += (got[i] - want[i]) * (got[i] - want[i]);
        den += want[i] * want[i];
    }
    return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

static double tc_worst = 0;  // the largest relative L2 error of every tensor-core check

static void check_tc(const std::vector<float>& got, const std::vector<double>& want, const std::string& what) {
    const double e = rel_l2(got, want);
    bool finite = true;
    for (float v : got) finite &= std::isfinite(v);
    tc_worst = std::max(tc_worst, e);
    std::printf("  %-66s rel L2 %.2e\n", what.c_str(), e);
    check(finite && e <= 1e-3, what + " (TF32, rel L2 <= 1e-3)");
}

// Forward (with bias and ReLU), input and weight gradients of one geometry.
static void test_conv_tc(ConvGeom s, bool relu, const std::vector<int>& split_counts) {
    const int oh = s.oh(), ow = s.ow(), P = oh * ow, K = s.c_in * s.kh * s.kw;
    char buf[160];
    std::snprintf(buf, sizeof buf, "conv_tc n%d %d->%d %dx%d k%dx%d s%d%d p%d%d d%d%d", s.n, s.c_in, s.c_out, s.h, s.w,
                  s.kh, s.kw, s.sh, s.sw, s.ph, s.pw, s.dh, s.dw);
    const std::string name = buf;
    auto x = rnd((size_t)s.n * s.c_in * s.h * s.w, -1, 1);
    auto wt = rnd((size_t)s.c_out * K, -0.5, 0.5);
    auto bias = rnd(s.c_out, -0.5, 0.5);
    auto dy = rnd((size_t)s.n * s.c_out * P, -1, 1);
    std::vector<double> want_y((size_t)s.n * s.c_out * P), want_dx(x.size(), 0.0), want_dw(wt.size(), 0.0);
    for (int j = 0; j < s.n; ++j)
        for (int o = 0; o < s.c_out; ++o)
            for (int oy = 0; oy < oh; ++oy)
                for (int ox = 0; ox < ow; ++ox) {
                    const size_t yi = (((size_t)j * s.c_out + o) * oh + oy) * ow + ox;
                    double acc = bias[o];
                    for (int c = 0; c < s.c_in; ++c)
                        for (int i = 0; i < s.kh; ++i)
                            for (int jj = 0; jj < s.kw; ++jj) {
                                const int y = oy * s.sh + i * s.dh - s.ph, xx = ox * s.sw + jj * s.dw - s.pw;
                                if (y < 0 || y >= s.h || xx < 0 || xx >= s.w) continue;
                                const size_t xi = (((size_t)j * s.c_in + c) * s.h + y) * s.w + xx;
                                const size_t wi = (((size_t)o * s.c_in + c) * s.kh + i) * s.kw + jj;
                                acc += (double)wt[wi] * x[xi];
                                want_dx[xi] += (double)wt[wi] * dy[yi];
                                want_dw[wi] += (double)x[xi] * dy[yi];
                            }
                    want_y[yi] = relu && acc < 0 ? 0.0 : acc;
                }
    const int ncols = s.n * P;
    // forward: the packed weight, then both widths
    const int chunks_in = (s.c_in + 7) / 8, mb_out = (s.c_out + 47) / 48;
    std::vector<float> apack((size_t)mb_out * chunks_in * s.kh * s.kw * 384, NAN);
    launch(conv_tc_pack_weight, dim3{4, 1, 1}, 256, apack.data(), (const float*)wt.data(), 0, s.c_out, s.c_in, s.kh,
           s.kw, s.sh, s.sw, s.ph, s.pw, s.dh, s.dw);
    for (int nt : {8, 4}) {
        const int bn = 32 * nt;
        const TcLayoutH l = tc_layout_h(s, TcPass::Forward, bn);
        std::vector<float> y((size_t)s.n * s.c_out * P, NAN);
        launch_smem(nt == 8 ? conv_tc_fwd_n8 : conv_tc_fwd_n4, dim3{(unsigned)((ncols + bn - 1) / bn), (unsigned)mb_out, 1},
                    128, l.smem, y.data(), (const float*)apack.data(), (const float*)x.data(), (const float*)bias.data(),
                    (int)relu, s.c_out, s.n, s.c_in, s.h, s.w, oh, ow, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw, s.dh, s.dw,
                    l.hrows, l.pitch, l.wq, l.plane);
        check_tc(y, want_y, name + " n" + std::to_string(nt) + ": forward" + (relu ? " + bias + relu" : " + bias"));
    }
    // input gradient: the weight packed per phase, then both widths
    const int phases = s.sh * s.sw, chunks_out = (s.c_out + 7) / 8, mb_in = (s.c_in + 47) / 48;
    size_t packed = 0;
    for (int z = 0; z < phases; ++z)
        packed += (size_t)mb_in * chunks_out * 384 * tc_axis_h(true, z / s.sw, s.ph, s.dh, s.sh, s.kh).count *
                  tc_axis_h(true, z % s.sw, s.pw, s.dw, s.sw, s.kw).count;
    std::vector<float> apack_t(std::max<size_t>(packed, 1), NAN);
    launch(conv_tc_pack_weight, dim3{4, (unsigned)phases, 1}, 256, apack_t.data(), (const float*)wt.data(), 1, s.c_out,
           s.c_in, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw, s.dh, s.dw);
    const int phase_cols = s.n * ((s.h + s.sh - 1) / s.sh) * ((s.w + s.sw - 1) / s.sw);
    for (int nt : {8, 4}) {
        const int bn = 32 * nt;
        const TcLayoutH l = tc_layout_h(s, TcPass::Input, bn);
        std::vector<float> dx(x.size(), NAN);
        launch_smem(nt == 8 ? conv_tc_bwd_in_n8 : conv_tc_bwd_in_n4,
                    dim3{(unsigned)((phase_cols + bn - 1) / bn), (unsigned)mb_in, (unsigned)phases}, 128, l.smem,
                    dx.data(), (const float*)apack_t.data(), (const float*)dy.data(), s.c_in, s.n, s.c_out, oh, ow, s.h,
                    s.w, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw, s.dh, s.dw, l.hrows, l.pitch, l.wq, l.plane);
        check_tc(dx, want_dx, name + " n" + std::to_string(nt) + ": input gradient");
    }
    // weight gradient in slices of pixels, then their ordered sum; twice with different
    // schedules (fiber order, block order), which must agree bit for bit
    const TcLayoutH l = tc_layout_h(s, TcPass::Weight, 64);
    const int groups = (s.kh * s.kw + 8) / 9;
    for (int wanted : split_counts) {
        const int per_split = ((ncols + wanted - 1) / wanted + 63) / 64 * 64;
        const int splits = (ncols + per_split - 1) / per_split;
        std::vector<float> runs[2];
        for (int run = 0; run < 2; ++run) {
            emu::schedule_seed = run == 0 ? 0 : 12345;
            std::vector<float> ws((size_t)splits * wt.size(), NAN), dwv(wt.size(), NAN);
            launch_smem(conv_tc_bwd_w, dim3{(unsigned)(chunks_in * groups), (unsigned)mb_out, (unsigned)splits}, 128,
                        l.smem, ws.data(), (const float*)x.data(), (const float*)dy.data(), s.c_out, ncols, per_split,
                        s.c_in, s.h, s.w, oh, ow, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw, s.dh, s.dw, l.pitch, l.wq,
                        l.plane);
            launch(conv_reduce_splits, grid1(wt.size()), 256, dwv.data(), (const float*)ws.data(), (int)wt.size(), splits);
            runs[run] = dwv;
        }
        emu::schedule_seed = 0;
        check_tc(runs[0], want_dw, name + ": weight gradient (" + std::to_string(splits) + " slices)");
        check(std::memcmp(runs[0].data(), runs[1].data(), runs[0].size() * 4) == 0,
              name + ": weight gradient is bit-identical under another schedule");
    }
}

// Bit-exact checks of the scalar stand-ins themselves: cvt.rna.tf32 rounding and the mma
// fragment layout (one warp computing a 16x8x8 product of integers, exact in tf32).
static void test_tensor_core_primitives() {
    struct Case {
        unsigned in, out;
    };
    const Case cases[] = {
        {0x3f800000u, 0x3f800000u},  // 1
        {0x3f800fffu, 0x3f800000u},  // below half an ulp: down
        {0x3f801000u, 0x3f802000u},  // a tie: away from zero
        {0xbf801000u, 0xbf802000u},  // a negative tie: away from zero
        {0x3f801001u, 0x3f802000u},  // above half: up
        {0x3fffffffu, 0x40000000u},  // carries into the exponent
        {0x7f7fffffu, 0x7f800000u},  // the largest float rounds to infinity
        {0x7f800000u, 0x7f800000u},  // inf
        {0x00001000u, 0x00002000u},  // a subnormal tie
    };
    bool ok = true;
    for (const auto& c : cases) ok &= tf32_round(__uint_as_float(c.in)) == c.out;
    ok &= std::isnan(__uint_as_float(tf32_round(NAN)));
    check(ok, "tf32_round is cvt.rna.tf32.f32 (ties away from zero)");
    // A[r][k] = r - 2k, B[k][c] = k + 3c - 5, C = 0.5: D = C + A·B exactly
    static float d_out[32][4];
    auto kernel = [] {
        const unsigned lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
        auto A = [](unsigned r, unsigned k) { return (float)r - 2.0f * (float)k; };
        auto B = [](unsigned k, unsigned c) { return (float)k + 3.0f * (float)c - 5.0f; };
        const unsigned a[4] = {tf32_round(A(g, t)), tf32_round(A(g + 8, t)), tf32_round(A(g, t + 4)),
                               tf32_round(A(g + 8, t + 4))};
        const unsigned b[2] = {tf32_round(B(t, g)), tf32_round(B(t + 4, g))};
        float d[4] = {0.5f, 0.5f, 0.5f, 0.5f};
        mma_tf32(d, a, b);
        for (int i = 0; i < 4; ++i) d_out[lane][i] = d[i];
    };
    launch(+kernel, dim3{1, 1, 1}, 32);
    bool mma_ok = true;
    for (unsigned lane = 0; lane < 32; ++lane)
        for (unsigned i = 0; i < 4; ++i) {
            const unsigned r = (lane >> 2) + 8 * (i >> 1), c = 2 * (lane & 3) + (i & 1);
            double want = 0.5;
            for (unsigned kk = 0; kk < 8; ++kk) want += ((double)r - 2.0 * kk) * ((double)kk + 3.0 * c - 5.0);
            mma_ok &= d_out[lane][i] == (float)want;
        }
    check(mma_ok, "mma_tf32 stand-in computes D = A·B + C with the PTX fragment layout");
}

static void test_conv_tensor_core() {
    test_tensor_core_primitives();
    // ConfigNet's conv2, conv3, conv4 at batch 2 (conv1's K = 27 too)
    test_conv_tc({2, 48, 30, 30, 48, 3, 3, 1, 1, 0, 0, 1, 1}, true, {1, 7});
    test_conv_tc({2, 48, 28, 28, 96, 3, 3, 1, 1, 0, 0, 1, 1}, true, {5});
    test_conv_tc({2, 96, 26, 26, 96, 3, 3, 2, 2, 0, 0, 1, 1}, true, {3});
    test_conv_tc({2, 3, 32, 32, 48, 3, 3, 1, 1, 0, 0, 1, 1}, true, {2});
    // odd shapes: channels not multiples of the tiles, padding, strides, dilation, K % 8 != 0,
    // more than 9 taps (tap groups), 1x1, phases no tap reaches, pixels per image odd or not a
    // multiple of 4
    test_conv_tc({3, 5, 9, 7, 50, 3, 3, 1, 1, 1, 1, 1, 1}, false, {1, 3});
    test_conv_tc({2, 13, 11, 10, 7, 5, 5, 2, 2, 2, 1, 1, 1}, true, {2});
    test_conv_tc({2, 9, 13, 12, 20, 3, 3, 2, 3, 1, 2, 2, 3}, false, {2});
    test_conv_tc({1, 70, 6, 5, 100, 3, 2, 2, 1, 1, 1, 2, 1}, true, {1});
    test_conv_tc({2, 17, 9, 8, 3, 1, 1, 2, 3, 0, 0, 1, 1}, false, {1});
    test_conv_tc({5, 4, 7, 7, 9, 3, 3, 1, 1, 0, 0, 1, 1}, true, {4});
    test_conv_tc({1, 3, 5, 150, 8, 3, 3, 1, 1, 1, 1, 1, 1}, false, {1});  // rows wider than a block
    test_conv_tc({9, 2, 4, 3, 5, 2, 2, 1, 1, 1, 0, 2, 1}, true, {2});     // many images per window
    std::printf("tensor-core checks: worst relative L2 error %.2e\n", tc_worst);
}
