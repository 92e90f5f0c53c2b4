// A CPU stand-in for the CUDA features Kiln's kernels use, so that the .cu sources can be
// compiled by a host C++20 compiler and run for testing without a GPU. Blocks run one after
// another; the threads of a block are fibers (cooperative user-space threads on one OS thread),
// so __syncthreads, warp shuffles and mma are barriers that switch to the next fiber, and
// __shared__ arrays (function statics) are shared by the block.
//
// The tensor-core wrappers of tensor_core.cu have scalar stand-ins here: mma_tf32 gathers the
// other lanes' fragment registers through warp shuffles exactly as the PTX layout of
// mma.m16n8k8 .tf32 says; tf32_round is cvt.rna bit for bit; cp.async copies are queued per
// thread and land only when cp_async_wait lets them (as late as the hardware may), so a kernel
// that reads a stage before waiting for it reads stale data.
#pragma once
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <tuple>
#include <vector>
// Fibers switch stacks with a few instructions on x86-64; elsewhere, and when the compiler
// builds for Intel CET shadow stacks (which such a switch would break), through ucontext.
#if defined(__x86_64__) && !defined(__CET__)
#define KILN_EMU_ASM_SWITCH 1
#else
#include <ucontext.h>
#endif

#define KILN_EMU 1
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

inline dim3 threadIdx;
inline dim3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;

namespace emu {

// ---- fibers -------------------------------------------------------------------------------

#if defined(KILN_EMU_ASM_SWITCH)
// Saves the callee-saved registers and the stack pointer in *from, switches to stack `to`.
extern "C" void kiln_emu_switch(void** from, void* to);
asm(R"(
.text
.p2align 4
kiln_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
)");
#endif

struct Copy {
    void* dst;
    const void* src;
    unsigned bytes;  // 4 or 16
    bool valid;      // false: zero-fill
};

struct Fiber {
    std::unique_ptr<char[]> stack;
#if defined(KILN_EMU_ASM_SWITCH)
    void* sp = nullptr;
#else
    ucontext_t ctx;
#endif
    bool done = false;
    std::vector<Copy> copies;         // issued cp.async copies not landed yet
    std::vector<size_t> group_ends;   // copies.size() at each commit
    unsigned shuffle_parity = 0;      // the exchange slot of this thread's next shuffle
    const struct Barrier* waiting = nullptr;  // the barrier it waits at, and its generation
    unsigned waiting_gen = 0;
};

constexpr size_t STACK = 256 * 1024;
inline std::vector<Fiber> fibers;
inline unsigned current = 0;
inline unsigned nthreads = 0;
#if defined(KILN_EMU_ASM_SWITCH)
inline void* sched_sp = nullptr;
#else
inline ucontext_t sched_ctx;
#endif
inline void (*entry)() = nullptr;  // runs the kernel for fiber `current`
inline unsigned schedule_seed = 0;  // 0: round robin; else a shuffled order per pass
inline unsigned char* dyn_smem = nullptr;

// Back to the scheduler; returns when the scheduler resumes this fiber.
inline void yield() {
    Fiber& f = fibers[current];
#if defined(KILN_EMU_ASM_SWITCH)
    kiln_emu_switch(&f.sp, sched_sp);
#else
    swapcontext(&f.ctx, &sched_ctx);
#endif
}

// A barrier of `count` fibers (those that exit leave it).
struct Barrier {
    unsigned count = 0, arrived = 0, gen = 0;
    void wait();
    void drop() {
        --count;
        if (count > 0 && arrived == count) {
            arrived = 0;
            ++gen;
        }
    }
};

// Arrives; the last to arrive releases the others (which the scheduler skips until then).
inline void Barrier::wait() {
    const unsigned g = gen;
    if (++arrived == count) {
        arrived = 0;
        ++gen;
        return;
    }
    Fiber& f = fibers[current];
    f.waiting = this;
    f.waiting_gen = g;
    while (gen == g) yield();
    f.waiting = nullptr;
}

inline Barrier block_barrier;
inline Barrier warp_barriers[32];
inline uint64_t exchange[2][32][32][4];  // per slot, warp and lane: up to 32 bytes

inline void fiber_main();

#if defined(KILN_EMU_ASM_SWITCH)
inline void start_fiber(Fiber& f) {
    if (!f.stack) f.stack.reset(new char[STACK]);
    uintptr_t top = (reinterpret_cast<uintptr_t>(f.stack.get()) + STACK) & ~uintptr_t(15);
    void** sp = reinterpret_cast<void**>(top);
    *--sp = nullptr;                                  // fake return address (alignment)
    *--sp = reinterpret_cast<void*>(&fiber_main);     // where the first switch returns to
    for (int i = 0; i < 6; ++i) *--sp = nullptr;      // rbp rbx r12-r15
    f.sp = sp;
}
inline void resume(Fiber& f) { kiln_emu_switch(&sched_sp, f.sp); }
#else
inline void start_fiber(Fiber& f) {
    if (!f.stack) f.stack.reset(new char[STACK]);
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack.get();
    f.ctx.uc_stack.ss_size = STACK;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, fiber_main, 0);
}
inline void resume(Fiber& f) { swapcontext(&sched_ctx, &f.ctx); }
#endif

inline void fiber_main() {
    entry();
    Fiber& f = fibers[current];
    if (!f.copies.empty()) {
        std::fprintf(stderr, "emulator: a thread exited with cp.async copies it never waited for\n");
        std::abort();
    }
    f.done = true;
    warp_barriers[current >> 5].drop();
    block_barrier.drop();
    for (;;) yield();
}

inline uint64_t next_random(uint64_t& s) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return s >> 33;
}

// Runs one block of `threads` fibers to completion.
inline void run_block(unsigned threads, uint64_t& rng) {
    nthreads = threads;
    if (fibers.size() < threads) fibers.resize(threads);
    block_barrier = Barrier{threads};
    for (unsigned w = 0; w < (threads + 31) / 32; ++w)
        warp_barriers[w] = Barrier{threads - w * 32 < 32 ? threads - w * 32 : 32};
    for (unsigned t = 0; t < threads; ++t) {
        fibers[t].done = false;
        fibers[t].copies.clear();
        fibers[t].group_ends.clear();
        fibers[t].shuffle_parity = 0;
        fibers[t].waiting = nullptr;
        start_fiber(fibers[t]);
    }
    std::vector<unsigned> order(threads);
    for (unsigned t = 0; t < threads; ++t) order[t] = t;
    for (unsigned live = threads; live > 0;) {
        if (schedule_seed)
            for (unsigned i = threads - 1; i > 0; --i) std::swap(order[i], order[next_random(rng) % (i + 1)]);
        live = 0;
        for (unsigned i = 0; i < threads; ++i) {
            const unsigned t = order[i];
            if (fibers[t].done) continue;
            if (fibers[t].waiting && fibers[t].waiting->gen == fibers[t].waiting_gen) {
                ++live;  // still blocked: no need to switch to it
                continue;
            }
            current = t;
            threadIdx = dim3{t, 0, 0};
            resume(fibers[t]);
            live += !fibers[t].done;
        }
    }
}

// Lands the oldest copies of this thread until at most `pending` commit groups are in flight.
inline void land_copies(unsigned pending) {
    Fiber& f = fibers[current];
    if (f.group_ends.size() <= pending) return;
    const size_t n = f.group_ends[f.group_ends.size() - pending - 1];
    for (size_t i = 0; i < n; ++i) {
        const Copy& c = f.copies[i];
        if (c.valid) std::memcpy(c.dst, c.src, c.bytes);
        else std::memset(c.dst, 0, c.bytes);
    }
    f.copies.erase(f.copies.begin(), f.copies.begin() + (long)n);
    f.group_ends.erase(f.group_ends.begin(), f.group_ends.end() - pending);
    for (auto& e : f.group_ends) e -= n;
}

}  // namespace emu

inline void __syncthreads() { emu::block_barrier.wait(); }

// Lane `src` of this warp's value of v (any trivially copyable type up to 32 bytes). The
// exchange alternates between two slots, so one barrier per shuffle suffices: a lane writes a
// slot again only after every lane passed the next shuffle's barrier, done reading it.
template <typename T>
inline T emu_shfl(const T& v, unsigned src) {
    static_assert(sizeof(T) <= sizeof(emu::exchange[0][0][0]), "shuffle of at most 32 bytes");
    const unsigned lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    unsigned& parity = emu::fibers[emu::current].shuffle_parity;
    std::memcpy(emu::exchange[parity][warp][lane], &v, sizeof(T));
    emu::warp_barriers[warp].wait();
    T out;
    std::memcpy(&out, emu::exchange[parity][warp][src & 31], sizeof(T));
    parity ^= 1;
    return out;
}
template <typename T>
inline T emu_shfl_xor(T v, int o) {
    return emu_shfl(v, (threadIdx.x & 31) ^ (unsigned)o);
}
#define __shfl_xor_sync(mask, v, o) emu_shfl_xor((v), (o))

inline float __int_as_float(int v) { float f; std::memcpy(&f, &v, 4); return f; }
inline float __int_as_float(unsigned v) { float f; std::memcpy(&f, &v, 4); return f; }
inline int __float_as_int(float f) { int v; std::memcpy(&v, &f, 4); return v; }
inline unsigned __float_as_uint(float f) { unsigned v; std::memcpy(&v, &f, 4); return v; }
inline float __uint_as_float(unsigned v) { float f; std::memcpy(&f, &v, 4); return f; }
inline double __longlong_as_double(long long v) { double d; std::memcpy(&d, &v, 8); return d; }

inline int atomicCAS(int* p, int expected, int desired) {
    std::atomic_ref<int> a(*p);
    a.compare_exchange_strong(expected, desired);
    return expected;
}

// ---- tensor-core stand-ins (the wrappers of crates/tensor/src/cuda/tensor_core.cu) --------

// cvt.rna.tf32.f32: round to 10 mantissa bits, ties away from zero; the low 13 bits are zero.
inline unsigned tf32_round(float x) {
    unsigned u = __float_as_uint(x);
    if ((u & 0x7f800000u) == 0x7f800000u)  // inf stays, NaN stays NaN
        return (u & 0x007fffffu) ? 0x7fffffffu & ~0x1fffu : u;
    return (u + 0x1000u) & ~0x1fffu;  // add half an ulp of tf32 to the magnitude, truncate
}

// D = A·B + D for one m16n8k8 tile of the warp (A row-major 16x8, B col-major 8x8, tf32
// operands, f32 accumulators). Fragment layout (PTX ISA, mma.m16n8k8 .tf32), with
// g = lane >> 2, t = lane & 3:
//   a0 = A[g][t]  a1 = A[g+8][t]  a2 = A[g][t+4]  a3 = A[g+8][t+4]
//   b0 = B[t][g]  b1 = B[t+4][g]
//   d0 = D[g][2t] d1 = D[g][2t+1] d2 = D[g+8][2t] d3 = D[g+8][2t+1]
// Lane L's operands are shuffled from the lanes that hold them by the layout (12 shuffles of
// 4 or 2 registers).
inline void mma_tf32(float d[4], const unsigned a[4], const unsigned b[2]) {
    struct A4 {
        unsigned r[4];
    };
    struct B2 {
        unsigned r[2];
    };
    A4 my_a;
    B2 my_b;
    for (int i = 0; i < 4; ++i) my_a.r[i] = a[i] & ~0x1fffu;  // the MMA reads 19 bits
    for (int i = 0; i < 2; ++i) my_b.r[i] = b[i] & ~0x1fffu;
    const unsigned lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    // this lane's rows g, g + 8 of A and columns 2t, 2t + 1 of B, from the lanes holding them:
    // A[r][k] is register (r >= 8) + 2·(k >= 4) of lane 4·(r % 8) + k % 4,
    // B[k][n] is register (k >= 4) of lane 4·n + k % 4
    float ra[2][8], rb[8][2];
    for (unsigned s = 0; s < 4; ++s) {
        const A4 fa = emu_shfl(my_a, 4 * g + s);
        const B2 f0 = emu_shfl(my_b, 4 * (2 * t) + s), f1 = emu_shfl(my_b, 4 * (2 * t + 1) + s);
        for (unsigned h = 0; h < 2; ++h) {
            ra[h][s] = __uint_as_float(fa.r[h]);
            ra[h][s + 4] = __uint_as_float(fa.r[h + 2]);
        }
        rb[s][0] = __uint_as_float(f0.r[0]);
        rb[s + 4][0] = __uint_as_float(f0.r[1]);
        rb[s][1] = __uint_as_float(f1.r[0]);
        rb[s + 4][1] = __uint_as_float(f1.r[1]);
    }
    // d_i = D[g + 8·(i >> 1)][2t + (i & 1)]: tf32 products are exact; their sum rounds once
    for (unsigned i = 0; i < 4; ++i) {
        double sum = 0.0;
        for (unsigned k = 0; k < 8; ++k) sum += (double)ra[i >> 1][k] * (double)rb[k][i & 1];
        d[i] = (float)(sum + (double)d[i]);
    }
}

// cp.async of 4 or 16 bytes, zero-filled when !valid; lands at a later cp_async_wait.
inline void cp_async4(void* dst, const void* src, bool valid) {
    emu::fibers[emu::current].copies.push_back({dst, src, 4, valid});
}
inline void cp_async16(void* dst, const void* src, bool valid) {
    if (reinterpret_cast<uintptr_t>(dst) % 16 || (valid && reinterpret_cast<uintptr_t>(src) % 16)) {
        std::fprintf(stderr, "emulator: cp.async of 16 bytes with a misaligned address\n");
        std::abort();
    }
    emu::fibers[emu::current].copies.push_back({dst, src, 16, valid});
}
inline void cp_async_commit() {
    auto& f = emu::fibers[emu::current];
    f.group_ends.push_back(f.copies.size());
}
// Waits until at most N committed groups of this thread are in flight.
template <int N>
inline void cp_async_wait() {
    emu::land_copies(N);
}

// The dynamic shared memory of the block (`extern __shared__` on the GPU).
#define KILN_DYNAMIC_SMEM(name) unsigned char* name = emu::dyn_smem

// Runs kernel `f(args...)` over `grid` blocks of `block.x` threads (block.x a multiple of 32)
// with `smem` bytes of dynamic shared memory (filled with NaN bytes before each block, so that
// reading what no copy wrote shows up; writing past its end aborts).
template <typename... P, typename... A>
void launch_smem(void (*f)(P...), dim3 grid, unsigned threads, size_t smem, A... args) {
    blockDim = dim3{threads, 1, 1};
    gridDim = grid;
    constexpr size_t GUARD = 256;  // bytes past the end that a block must not touch
    std::vector<unsigned char> dyn(smem + 16 + GUARD);
    emu::dyn_smem = dyn.data() + (16 - reinterpret_cast<uintptr_t>(dyn.data()) % 16) % 16;
    static thread_local void (*kernel)(P...);
    static thread_local std::tuple<A...> saved;
    kernel = f;
    saved = std::tuple<A...>(args...);
    emu::entry = [] { std::apply([](auto... a) { kernel(a...); }, saved); };
    uint64_t rng = emu::schedule_seed;
    const unsigned nb = grid.x * grid.y * grid.z;
    for (unsigned i = 0; i < nb; ++i) {
        // blocks in order, or in reverse order with a schedule seed
        const unsigned b = emu::schedule_seed ? nb - 1 - i : i;
        blockIdx = dim3{b % grid.x, (b / grid.x) % grid.y, b / (grid.x * grid.y)};
        std::memset(emu::dyn_smem, 0xff, smem);
        std::memset(emu::dyn_smem + smem, 0xa5, GUARD);
        emu::run_block(threads, rng);
        for (size_t g = 0; g < GUARD; ++g)
            if (emu::dyn_smem[smem + g] != 0xa5) {
                std::fprintf(stderr, "emulator: a block wrote past its %zu bytes of dynamic shared memory\n", smem);
                std::abort();
            }
    }
}

template <typename... P, typename... A>
void launch(void (*f)(P...), dim3 grid, unsigned threads, A... args) {
    launch_smem(f, grid, threads, 0, args...);
}
