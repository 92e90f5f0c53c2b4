// Kiln CUDA kernels: definitions shared by every source file. NVRTC compiles each file with
// this prelude in front; no headers are included (NVRTC 13 ships none for f32 code).
// All kernels are compiled with --fmad=false so that float arithmetic rounds exactly like the
// Rust CPU backend (no fused multiply-adds), which the RNG and optimizer kernels rely on.

typedef unsigned long long u64;
typedef long long i64;
typedef unsigned int u32;

#define KILN_INF __int_as_float(0x7f800000)
#define KILN_NEG_INF __int_as_float(0xff800000)
#define KILN_NAN __int_as_float(0x7fc00000)
#define KILN_NAN_D __longlong_as_double(0x7ff8000000000000LL)

// Grid-stride loop over [0, n) with a 64-bit index.
#define GRID_STRIDE(i, n) \
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < (u64)(n); \
         i += (u64)gridDim.x * blockDim.x)

#define KILN_MAX_DIMS 8

// Shape and strides of up to two strided operands (a and b) of the same shape. Mirrors the
// #[repr(C)] struct `Dims` of cuda/strided.rs: every field is 8 bytes.
struct Dims {
    i64 ndim;
    i64 shape[KILN_MAX_DIMS];
    i64 stride_a[KILN_MAX_DIMS];
    i64 stride_b[KILN_MAX_DIMS];
    i64 offset_a;
    i64 offset_b;
};

// Storage offsets of element i of the (row-major) shape in d, for operands a and b.
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

__device__ __forceinline__ i64 kiln_min_i64(i64 a, i64 b) { return a < b ? a : b; }
__device__ __forceinline__ i64 kiln_max_i64(i64 a, i64 b) { return a > b ? a : b; }

__device__ __forceinline__ double warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max_f(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ float warp_min_f(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024). Every thread of the block must
// call it; every thread gets the result. Deterministic for a fixed block size.
__device__ double block_sum_d(double v) {
    __shared__ double kiln_buf_d[32];
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int nw = (blockDim.x + 31) >> 5;
    v = warp_sum_d(v);
    __syncthreads();
    if (lane == 0) kiln_buf_d[warp] = v;
    __syncthreads();
    double r = lane < nw ? kiln_buf_d[lane] : 0.0;
    return warp_sum_d(r);
}

// Max (is_max) or min over the block, ignoring NaN like Rust's f32::max / f32::min folds.
__device__ float block_extreme_f(float v, bool is_max) {
    __shared__ float kiln_buf_f[32];
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int nw = (blockDim.x + 31) >> 5;
    v = is_max ? warp_max_f(v) : warp_min_f(v);
    __syncthreads();
    if (lane == 0) kiln_buf_f[warp] = v;
    __syncthreads();
    float r = lane < nw ? kiln_buf_f[lane] : (is_max ? KILN_NEG_INF : KILN_INF);
    return is_max ? warp_max_f(r) : warp_min_f(r);
}

// Argmax candidate order of the CPU backend: a non-NaN value beats NaN, a larger value beats a
// smaller one, and ties (and NaN against NaN) go to the smaller index.
__device__ __forceinline__ void argmax_merge(float& v, i64& i, float v2, i64 i2) {
    const bool nan1 = v != v;
    const bool nan2 = v2 != v2;
    bool take;
    if (nan1 != nan2) {
        take = nan1;
    } else if (nan1) {
        take = i2 < i;
    } else {
        take = v2 > v || (v2 == v && i2 < i);
    }
    if (take) {
        v = v2;
        i = i2;
    }
}

__device__ __forceinline__ void warp_argmax(float& v, i64& i) {
    for (int o = 16; o > 0; o >>= 1) {
        float v2 = __shfl_xor_sync(0xffffffffu, v, o);
        i64 i2 = __shfl_xor_sync(0xffffffffu, i, o);
        argmax_merge(v, i, v2, i2);
    }
}

// Argmax over the block; every thread gets the winning index.
__device__ i64 block_argmax(float v, i64 i) {
    __shared__ float kiln_buf_v[32];
    __shared__ i64 kiln_buf_i[32];
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int nw = (blockDim.x + 31) >> 5;
    warp_argmax(v, i);
    __syncthreads();
    if (lane == 0) {
        kiln_buf_v[warp] = v;
        kiln_buf_i[warp] = i;
    }
    __syncthreads();
    float rv = KILN_NAN;
    i64 ri = 0x7fffffffffffffffLL;
    if (lane < nw) {
        rv = kiln_buf_v[lane];
        ri = kiln_buf_i[lane];
    }
    warp_argmax(rv, ri);
    return ri;
}
