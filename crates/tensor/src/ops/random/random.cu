// Counter-based random fills, bit-for-bit the generator of crate::rng (SplitMix64 finaliser
// over a Weyl sequence; 24-bit uniforms; Box-Muller in double).

__device__ __forceinline__ u64 kiln_hash64(u64 seed, u64 index) {
    u64 z = seed * 0x9E3779B97F4A7C15ULL + (index + 1ULL) * 0xD1B54A32D192ED03ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

__device__ __forceinline__ float kiln_uniform01(u64 seed, u64 index) {
    return (float)(kiln_hash64(seed, index) >> 40) * (1.0f / 16777216.0f);
}

__device__ __forceinline__ float kiln_standard_normal(u64 seed, u64 index) {
    const float u1 = fmaxf(kiln_uniform01(seed, 2ULL * index), 1.0f / 16777216.0f);
    const float u2 = kiln_uniform01(seed, 2ULL * index + 1ULL);
    return (float)(sqrt(-2.0 * log((double)u1)) * cos(6.283185307179586 * (double)u2));
}

extern "C" __global__ void rand_uniform(float* out, u64 n, float low, float high, u64 seed) {
    GRID_STRIDE(i, n) { out[i] = low + (high - low) * kiln_uniform01(seed, i); }
}

extern "C" __global__ void rand_normal(float* out, u64 n, float mean, float std, u64 seed) {
    GRID_STRIDE(i, n) { out[i] = mean + std * kiln_standard_normal(seed, i); }
}
