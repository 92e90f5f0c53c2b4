// Elementwise kernels: one kernel per op, named after the Rust op's `name()`: unary_<op>,
// binary_<op>_dense and binary_<op>_strided_{u32,u64}; and the fused masked scale. The lists
// below are the only place an op's CUDA body is written; a Rust test checks every op of
// `UnaryOp::ALL` / `BinaryOp::ALL` appears in them.

// X(name, expression of x and the op's parameters p0, p1)
#define KILN_UNARY_OPS(X)                        \
    X(neg, -x)                                   \
    X(exp, expf(x))                              \
    X(log, logf(x))                              \
    X(sqrt, sqrtf(x))                            \
    X(sqr, x * x)                                \
    X(abs, fabsf(x))                             \
    X(relu, fmaxf(x, 0.0f))                      \
    X(tanh, tanhf(x))                            \
    X(sigmoid, 1.0f / (1.0f + expf(-x)))         \
    X(recip, 1.0f / x)                           \
    X(affine, x * p0 + p1)                       \
    X(powf, powf(x, p0))                         \
    X(step, x > 0.0f ? 1.0f : 0.0f)                                          \
    X(gelu, 0.5f * x * erfcf(-x * 0.70710678118654752f))                     \
    X(gelu_grad, 0.5f * erfcf(-x * 0.70710678118654752f) +                   \
                     x * expf(-0.5f * x * x) * 0.39894228040143268f)

// X(name, expression of a and b)
#define KILN_BINARY_OPS(X) \
    X(add, a + b)          \
    X(sub, a - b)          \
    X(mul, a * b)          \
    X(div, a / b)          \
    X(max, fmaxf(a, b))    \
    X(min, fminf(a, b))

#define KILN_UNARY_KERNEL(name, expr)                                                        \
    extern "C" __global__ void unary_##name(float* out, const float* in, u64 n, float p0,   \
                                            float p1) {                                     \
        GRID_STRIDE(i, n) {                                                                  \
            const float x = in[i];                                                           \
            out[i] = (expr);                                                                 \
        }                                                                                    \
    }
KILN_UNARY_OPS(KILN_UNARY_KERNEL)

template <typename I, typename F>
__device__ __forceinline__ void binary_strided_impl(float* out, const float* a, const float* b,
                                                    u64 n, const Dims& d, F f) {
    GRID_STRIDE(i, n) {
        I oa, ob;
        strided_offsets<I>(d, i, oa, ob);
        out[i] = f(a[oa], b[ob]);
    }
}

#define KILN_BINARY_KERNELS(name, expr)                                                      \
    struct binary_op_##name {                                                                \
        __device__ __forceinline__ float operator()(float a, float b) const { return (expr); } \
    };                                                                                       \
    extern "C" __global__ void binary_##name##_dense(float* out, const float* a,            \
                                                     const float* b, u64 n) {               \
        GRID_STRIDE(i, n) { out[i] = binary_op_##name{}(a[i], b[i]); }                       \
    }                                                                                        \
    extern "C" __global__ void binary_##name##_strided_u32(float* out, const float* a,      \
                                                           const float* b, u64 n, Dims d) { \
        binary_strided_impl<u32>(out, a, b, n, d, binary_op_##name{});                       \
    }                                                                                        \
    extern "C" __global__ void binary_##name##_strided_u64(float* out, const float* a,      \
                                                           const float* b, u64 n, Dims d) { \
        binary_strided_impl<u64>(out, a, b, n, d, binary_op_##name{});                       \
    }
KILN_BINARY_OPS(KILN_BINARY_KERNELS)

extern "C" __global__ void masked_scale_f32(float* out, const float* x, const float* mask, u64 n,
                                            float scale) {
    GRID_STRIDE(i, n) { out[i] = mask[i] > 0.0f ? x[i] * scale : 0.0f; }
}
