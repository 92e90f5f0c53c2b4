// A CPU stand-in for the CUDA features Kiln's kernels use, so that the .cu sources can be
// compiled by a host C++20 compiler and run for testing without a GPU. Blocks run one after
// another; the threads of a block are real threads, so __syncthreads and warp shuffles are
// barriers, and __shared__ arrays (function statics) are shared by the block.
#pragma once
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __align__(n) alignas(n)

struct alignas(8) float2 {
    float x, y;
};
struct alignas(16) float4 {
    float x, y, z, w;
};

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

inline thread_local dim3 threadIdx;
inline thread_local dim3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;

namespace emu {
inline std::unique_ptr<std::barrier<>> block_barrier;
inline std::vector<std::unique_ptr<std::barrier<>>> warp_barriers;
inline uint64_t exchange[32][32];
}  // namespace emu

inline void __syncthreads() { emu::block_barrier->arrive_and_wait(); }

template <typename T>
inline T emu_shfl_xor(T v, int o) {
    static_assert(sizeof(T) <= 8, "shuffle of at most 8 bytes");
    const unsigned lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    emu::exchange[warp][lane] = bits;
    emu::warp_barriers[warp]->arrive_and_wait();
    uint64_t r = emu::exchange[warp][lane ^ (unsigned)o];
    emu::warp_barriers[warp]->arrive_and_wait();
    T out;
    std::memcpy(&out, &r, sizeof(T));
    return out;
}
#define __shfl_xor_sync(mask, v, o) emu_shfl_xor((v), (o))

inline float __int_as_float(int v) { float f; std::memcpy(&f, &v, 4); return f; }
inline float __int_as_float(unsigned v) { float f; std::memcpy(&f, &v, 4); return f; }
inline int __float_as_int(float f) { int v; std::memcpy(&v, &f, 4); return v; }
inline double __longlong_as_double(long long v) { double d; std::memcpy(&d, &v, 8); return d; }

inline int atomicCAS(int* p, int expected, int desired) {
    std::atomic_ref<int> a(*p);
    a.compare_exchange_strong(expected, desired);
    return expected;
}

// Runs kernel `f(args...)` over `grid` blocks of `block.x` threads (block.x a multiple of 32).
template <typename... P, typename... A>
void launch(void (*f)(P...), dim3 grid, unsigned threads, A... args) {
    blockDim = dim3{threads, 1, 1};
    gridDim = grid;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                emu::block_barrier = std::make_unique<std::barrier<>>(threads);
                emu::warp_barriers.clear();
                for (unsigned w = 0; w < (threads + 31) / 32; ++w)
                    emu::warp_barriers.push_back(std::make_unique<std::barrier<>>(32));
                std::vector<std::thread> ts;
                ts.reserve(threads);
                for (unsigned t = 0; t < threads; ++t) {
                    ts.emplace_back([=] {
                        threadIdx = dim3{t, 0, 0};
                        blockIdx = dim3{bx, by, bz};
                        f(args...);
                        emu::warp_barriers[t >> 5]->arrive_and_drop();
                        emu::block_barrier->arrive_and_drop();
                    });
                }
                for (auto& th : ts) th.join();
            }
}
