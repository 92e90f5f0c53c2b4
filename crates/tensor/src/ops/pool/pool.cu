// Max and average pooling over NCHW planes, forward and backward. The backward kernels gather
// (one thread per input element, summing the windows that contain it in output order), so
// they need no atomics and add in the same order as the CPU backend's scatter.

// First and last output index (along one axis) whose window contains input coordinate y.
__device__ __forceinline__ void window_range(i64 y, i64 k, i64 s, i64 pad, i64 out_len,
                                             i64& first, i64& last) {
    const i64 num = y + pad - k + 1;
    first = num <= 0 ? 0 : (num + s - 1) / s;
    last = kiln_min_i64(out_len - 1, (y + pad) / s);
}

extern "C" __global__ void max_pool_fwd(float* out, float* argmax, const float* x, i64 planes,
                                        i64 h, i64 w, i64 oh, i64 ow, i64 kh, i64 kw, i64 sh,
                                        i64 sw, i64 ph, i64 pw) {
    GRID_STRIDE(o, planes * oh * ow) {
        const i64 ox = (i64)o % ow;
        const i64 t = (i64)o / ow;
        const i64 oy = t % oh;
        const i64 p = t / oh;
        const float* xp = x + p * h * w;
        float best = KILN_NEG_INF;
        i64 bi = 0;
        for (i64 i = 0; i < kh; ++i) {
            const i64 y = oy * sh + i - ph;
            if (y < 0 || y >= h) continue;
            for (i64 j = 0; j < kw; ++j) {
                const i64 xx = ox * sw + j - pw;
                if (xx < 0 || xx >= w) continue;
                const float v = xp[y * w + xx];
                if (v > best || best == KILN_NEG_INF) {
                    best = v;
                    bi = y * w + xx;
                }
            }
        }
        out[o] = best;
        argmax[o] = (float)bi;
    }
}

extern "C" __global__ void max_pool_bwd(float* dx, const float* dy, const float* argmax,
                                        i64 planes, i64 h, i64 w, i64 oh, i64 ow, i64 kh, i64 kw,
                                        i64 sh, i64 sw, i64 ph, i64 pw) {
    GRID_STRIDE(idx, planes * h * w) {
        const i64 xx = (i64)idx % w;
        const i64 t = (i64)idx / w;
        const i64 y = t % h;
        const i64 p = t / h;
        const float target = (float)(y * w + xx);
        i64 oy0, oy1, ox0, ox1;
        window_range(y, kh, sh, ph, oh, oy0, oy1);
        window_range(xx, kw, sw, pw, ow, ox0, ox1);
        float acc = 0.0f;
        for (i64 oy = oy0; oy <= oy1; ++oy) {
            for (i64 ox = ox0; ox <= ox1; ++ox) {
                const i64 o = (p * oh + oy) * ow + ox;
                if (argmax[o] == target) acc += dy[o];
            }
        }
        dx[idx] = acc;
    }
}

extern "C" __global__ void avg_pool_fwd(float* out, const float* x, i64 planes, i64 h, i64 w,
                                        i64 oh, i64 ow, i64 kh, i64 kw, i64 sh, i64 sw, i64 ph,
                                        i64 pw) {
    const float div = (float)(kh * kw);
    GRID_STRIDE(o, planes * oh * ow) {
        const i64 ox = (i64)o % ow;
        const i64 t = (i64)o / ow;
        const i64 oy = t % oh;
        const i64 p = t / oh;
        const float* xp = x + p * h * w;
        float acc = 0.0f;
        for (i64 i = 0; i < kh; ++i) {
            const i64 y = oy * sh + i - ph;
            if (y < 0 || y >= h) continue;
            for (i64 j = 0; j < kw; ++j) {
                const i64 xx = ox * sw + j - pw;
                if (xx < 0 || xx >= w) continue;
                acc += xp[y * w + xx];
            }
        }
        out[o] = acc / div;
    }
}

extern "C" __global__ void avg_pool_bwd(float* dx, const float* dy, i64 planes, i64 h, i64 w,
                                        i64 oh, i64 ow, i64 kh, i64 kw, i64 sh, i64 sw, i64 ph,
                                        i64 pw) {
    const float div = (float)(kh * kw);
    GRID_STRIDE(idx, planes * h * w) {
        const i64 xx = (i64)idx % w;
        const i64 t = (i64)idx / w;
        const i64 y = t % h;
        const i64 p = t / h;
        i64 oy0, oy1, ox0, ox1;
        window_range(y, kh, sh, ph, oh, oy0, oy1);
        window_range(xx, kw, sw, pw, ow, ox0, ox1);
        float acc = 0.0f;
        for (i64 oy = oy0; oy <= oy1; ++oy) {
            for (i64 ox = ox0; ox <= ox1; ++ox) {
                acc += dy[(p * oh + oy) * ow + ox] / div;
            }
        }
        dx[idx] = acc;
    }
}
