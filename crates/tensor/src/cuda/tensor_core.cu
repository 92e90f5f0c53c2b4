// Tensor-core and asynchronous-copy primitives (sm_80 and newer), prepended to every source
// after the prelude. They are small device functions so that the CPU emulator
// (tests/cuda_emu/shim.h, which defines KILN_EMU and its own scalar versions) runs the very
// same kernels.
#ifndef KILN_EMU
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800

// x rounded to TF32 (10 mantissa bits, ties away from zero), as the b32 operand of mma_tf32.
__device__ __forceinline__ u32 tf32_round(float x) {
    u32 r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
}

// d += A·B on one m16n8k8 tile of the warp: A 16x8 (row), B 8x8 (col), tf32 operands, f32
// accumulators. Fragments (PTX ISA, mma.m16n8k8 .tf32), g = lane >> 2, t = lane & 3:
//   a0 = A[g][t]   a1 = A[g+8][t]   a2 = A[g][t+4]   a3 = A[g+8][t+4]
//   b0 = B[t][g]   b1 = B[t+4][g]
//   d0 = D[g][2t]  d1 = D[g][2t+1]  d2 = D[g+8][2t]  d3 = D[g+8][2t+1]
__device__ __forceinline__ void mma_tf32(float d[4], const u32 a[4], const u32 b[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ u32 kiln_smem_addr(const void* p) {
    return (u32)__cvta_generic_to_shared(p);
}

// Asynchronous copy of 4 bytes from global to shared memory, zero-filled (src not read) when
// !valid. Lands by the cp_async_wait that retires its commit group.
__device__ __forceinline__ void cp_async4(void* dst, const void* src, bool valid) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(kiln_smem_addr(dst)),
                 "l"(src), "r"(valid ? 4 : 0));
}

// As cp_async4 for 16 bytes (both addresses 16-byte aligned), bypassing L1.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(kiln_smem_addr(dst)),
                 "l"(src), "r"(valid ? 16 : 0));
}

// Closes the group of copies issued since the last commit.
__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;" ::: "memory");
}

// Waits until at most N committed groups of this thread are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}

#else
// Before sm_80 there is neither cp.async nor a TF32 mma: stubs that trap (the host launches
// the tensor-core kernels only on compute capability 8.0 and newer).
__device__ __forceinline__ u32 tf32_round(float) {
    __trap();
    return 0;
}
__device__ __forceinline__ void mma_tf32(float*, const u32*, const u32*) { __trap(); }
__device__ __forceinline__ void cp_async4(void*, const void*, bool) { __trap(); }
__device__ __forceinline__ void cp_async16(void*, const void*, bool) { __trap(); }
__device__ __forceinline__ void cp_async_commit() {}
template <int N>
__device__ __forceinline__ void cp_async_wait() {}
#endif

// The block's dynamic shared memory (its size is set at launch).
#define KILN_DYNAMIC_SMEM(name) extern __shared__ __align__(16) unsigned char name[]

#endif
