// Elementwise kernels: unary maps, binary ops (dense or strided with broadcasting), strided
// gathers, fills and the fused masked scale. Op codes match `unary_code` / `binary_code` in
// cuda/ops.rs.

__device__ __forceinline__ float unary_apply(int op, float x, float p0, float p1) {
    switch (op) {
        case 0: return -x;
        case 1: return expf(x);
        case 2: return logf(x);
        case 3: return sqrtf(x);
        case 4: return x * x;
        case 5: return fabsf(x);
        case 6: return fmaxf(x, 0.0f);
        case 7: return tanhf(x);
        case 8: return 1.0f / (1.0f + expf(-x));
        case 9: return 1.0f / x;
        case 10: return x * p0 + p1;
        case 11: return powf(x, p0);
        case 12: return x > 0.0f ? 1.0f : 0.0f;
        default: return KILN_NAN;
    }
}

__device__ __forceinline__ float binary_apply(int op, float a, float b) {
    switch (op) {
        case 0: return a + b;
        case 1: return a - b;
        case 2: return a * b;
        case 3: return a / b;
        case 4: return fmaxf(a, b);
        case 5: return fminf(a, b);
        default: return KILN_NAN;
    }
}

extern "C" __global__ void unary_f32(float* out, const float* x, u64 n, int op, float p0,
                                     float p1) {
    GRID_STRIDE(i, n) { out[i] = unary_apply(op, x[i], p0, p1); }
}

extern "C" __global__ void binary_dense(float* out, const float* a, const float* b, u64 n,
                                        int op) {
    GRID_STRIDE(i, n) { out[i] = binary_apply(op, a[i], b[i]); }
}

template <typename I>
__device__ __forceinline__ void strided_offsets(const Dims& d, u64 i, I& oa, I& ob) {
    I rem = (I)i;
    oa = (I)d.offset_a;
    ob = (I)d.offset_b;
    for (int k = (int)d.ndim - 1; k >= 0; --k) {
        const I s = (I)d.shape[k];
        const I c = rem % s;
        rem /= s;
        oa += c * (I)d.stride_a[k];
        ob += c * (I)d.stride_b[k];
    }
}

template <typename I>
__device__ __forceinline__ void binary_strided_impl(float* out, const float* a, const float* b,
                                                    u64 n, int op, const Dims& d) {
    GRID_STRIDE(i, n) {
        I oa, ob;
        strided_offsets<I>(d, i, oa, ob);
        out[i] = binary_apply(op, a[oa], b[ob]);
    }
}

extern "C" __global__ void binary_strided_u32(float* out, const float* a, const float* b, u64 n,
                                              int op, Dims d) {
    binary_strided_impl<u32>(out, a, b, n, op, d);
}

extern "C" __global__ void binary_strided_u64(float* out, const float* a, const float* b, u64 n,
                                              int op, Dims d) {
    binary_strided_impl<u64>(out, a, b, n, op, d);
}

template <typename I>
__device__ __forceinline__ void copy_strided_impl(float* out, const float* src, u64 n,
                                                  const Dims& d) {
    GRID_STRIDE(i, n) {
        I oa, ob;
        strided_offsets<I>(d, i, oa, ob);
        out[i] = src[oa];
    }
}

extern "C" __global__ void copy_strided_u32(float* out, const float* src, u64 n, Dims d) {
    copy_strided_impl<u32>(out, src, n, d);
}

extern "C" __global__ void copy_strided_u64(float* out, const float* src, u64 n, Dims d) {
    copy_strided_impl<u64>(out, src, n, d);
}

extern "C" __global__ void fill_f32(float* out, u64 n, float value) {
    GRID_STRIDE(i, n) { out[i] = value; }
}

extern "C" __global__ void masked_scale_f32(float* out, const float* x, const float* mask, u64 n,
                                            float scale) {
    GRID_STRIDE(i, n) { out[i] = mask[i] > 0.0f ? x[i] * scale : 0.0f; }
}
