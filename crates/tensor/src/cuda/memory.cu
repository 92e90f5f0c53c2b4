// The storage's own kernels: fills and the strided gather that makes a view dense.

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
