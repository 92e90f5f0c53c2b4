//! AVX2 + FMA micro-kernels of the fused convolution engine ([`super::fused`]).
//!
//! Each computes one 16 x 6 tile (two 8-lane vectors times six broadcast scalars, twelve
//! accumulators) over a reduction of length `kc`, then stores, accumulates or scatter-adds it.
//! They are `unsafe`: the caller guarantees the CPU has AVX2 and FMA and that every address
//! the kernel touches (documented per kernel) lies inside its buffer.

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
pub(super) use x86::*;

/// Other architectures: never available, so the kernels are never called.
#[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
pub(super) fn available() -> bool {
    false
}

#[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
pub(super) use fallback::*;

#[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
mod fallback {
    //! Stubs with the kernels' signatures; unreachable because `available()` is false.
    #[allow(clippy::too_many_arguments)]
    pub(in super::super) unsafe fn forward_strip(
        _: usize,
        _: *const f32,
        _: *const usize,
        _: usize,
        _: *const f32,
        _: usize,
        _: *mut f32,
        _: usize,
        _: bool,
    ) {
        unreachable!("AVX2 kernels called on a CPU without AVX2")
    }
    pub(in super::super) unsafe fn backward_input_strip(
        _: usize,
        _: *const f32,
        _: usize,
        _: usize,
        _: *const f32,
        _: *mut f32,
        _: *const usize,
    ) {
        unreachable!("AVX2 kernels called on a CPU without AVX2")
    }
    #[allow(clippy::too_many_arguments)]
    pub(in super::super) unsafe fn backward_weight_tile(
        _: usize,
        _: *const f32,
        _: usize,
        _: *const f32,
        _: *const usize,
        _: *const usize,
        _: *mut f32,
        _: usize,
    ) {
        unreachable!("AVX2 kernels called on a CPU without AVX2")
    }
    pub(in super::super) unsafe fn transpose_8x8(_: *const f32, _: usize, _: *mut f32, _: usize) {
        unreachable!("AVX2 kernels called on a CPU without AVX2")
    }
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
mod x86 {
    #[cfg(target_arch = "x86")]
    use std::arch::x86::*;
    #[cfg(target_arch = "x86_64")]
    use std::arch::x86_64::*;

    /// Whether the running CPU can execute these kernels.
    pub(in super::super) fn available() -> bool {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }

    /// The 16 x 6 rank-`kc` update: `$a(k)` is the address of the 16 A values of step `k`,
    /// `$b(k, j)` the address of the j-th B scalar. Evaluates to the accumulators.
    macro_rules! tile_16x6 {
        ($kc:expr, $a:expr, $b:expr) => {{
            let mut c = [[_mm256_setzero_ps(); 2]; 6];
            for k in 0..$kc {
                let p: *const f32 = $a(k);
                let a0 = _mm256_loadu_ps(p);
                let a1 = _mm256_loadu_ps(p.add(8));
                for j in 0..6 {
                    let bj = _mm256_broadcast_ss(&*$b(k, j));
                    c[j][0] = _mm256_fmadd_ps(a0, bj, c[j][0]);
                    c[j][1] = _mm256_fmadd_ps(a1, bj, c[j][1]);
                }
            }
            c
        }};
    }

    /// Forward tiles of one strip: for each panel `p < panels`,
    /// `C_p[j][0..16] (+)= Σ_k A_k[0..16] · B_p[k][j]` with `A_k = a + offs[k]`, `B_p` packed
    /// `[kc][6]` at `b + p * b_stride`, and column `j` of `C_p` at `c + p * 6 ldc + j ldc`.
    ///
    /// # Safety
    ///
    /// AVX2 + FMA; `offs[..kc]`, `a + offs[k] + [0, 16)` for `k < kc`,
    /// `b + p b_stride + [0, 6 kc)` and `c + (6 p + j) ldc + [0, 16)` for `p < panels`,
    /// `j < 6` are in bounds.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(in super::super) unsafe fn forward_strip(
        kc: usize,
        a: *const f32,
        offs: *const usize,
        panels: usize,
        b: *const f32,
        b_stride: usize,
        c: *mut f32,
        ldc: usize,
        accumulate: bool,
    ) {
        unsafe {
            for panel in 0..panels {
                let bp = b.add(panel * b_stride);
                let cp = c.add(panel * 6 * ldc);
                let acc = tile_16x6!(kc, |k: usize| a.add(*offs.add(k)), |k: usize, j: usize| bp
                    .add(k * 6 + j));
                for (j, cj) in acc.iter().enumerate() {
                    let p = cp.add(j * ldc);
                    let (mut v0, mut v1) = (cj[0], cj[1]);
                    if accumulate {
                        v0 = _mm256_add_ps(v0, _mm256_loadu_ps(p));
                        v1 = _mm256_add_ps(v1, _mm256_loadu_ps(p.add(8)));
                    }
                    _mm256_storeu_ps(p, v0);
                    _mm256_storeu_ps(p.add(8), v1);
                }
            }
        }
    }

    /// Backward-input tiles of one strip: for each panel `p < panels`,
    /// `T[j] = Σ_k A_k[0..16] · B_p[k][j]` with `A_k = a + k * lda` and `B_p` packed `[kc][6]`
    /// at `b + p * 6 kc`, then scatter-added: `dst + offs[6 p + j] + [0, 16) += T[j]`.
    ///
    /// # Safety
    ///
    /// AVX2 + FMA; `a + k lda + [0, 16)` for `k < kc`, `b[..6 kc panels]`,
    /// `offs[..6 panels]` and `dst + offs[i] + [0, 16)` are in bounds.
    #[target_feature(enable = "avx2,fma")]
    pub(in super::super) unsafe fn backward_input_strip(
        kc: usize,
        a: *const f32,
        lda: usize,
        panels: usize,
        b: *const f32,
        dst: *mut f32,
        offs: *const usize,
    ) {
        unsafe {
            for panel in 0..panels {
                let bp = b.add(panel * 6 * kc);
                let op = offs.add(panel * 6);
                let acc = tile_16x6!(kc, |k: usize| a.add(k * lda), |k: usize, j: usize| bp
                    .add(k * 6 + j));
                for (j, cj) in acc.iter().enumerate() {
                    let p = dst.add(*op.add(j));
                    _mm256_storeu_ps(p, _mm256_add_ps(cj[0], _mm256_loadu_ps(p)));
                    _mm256_storeu_ps(p.add(8), _mm256_add_ps(cj[1], _mm256_loadu_ps(p.add(8))));
                }
            }
        }
    }

    /// Backward-weight tile: `C[j][0..16] += Σ_k A_k[0..16] · x[offs[j] + pos[k]]` with
    /// `A_k = a + k * lda`; column `j` of `C` is at `c + j * ldc`.
    ///
    /// # Safety
    ///
    /// AVX2 + FMA; `a + k lda + [0, 16)`, `pos[k]` and `x[offs[j] + pos[k]]` for `k < kc`,
    /// `offs[..6]` and `c + j ldc + [0, 16)` for `j < 6` are in bounds.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(in super::super) unsafe fn backward_weight_tile(
        kc: usize,
        a: *const f32,
        lda: usize,
        x: *const f32,
        offs: *const usize,
        pos: *const usize,
        c: *mut f32,
        ldc: usize,
    ) {
        unsafe {
            let rows = [0, 1, 2, 3, 4, 5].map(|j| x.add(*offs.add(j)));
            let acc = tile_16x6!(kc, |k: usize| a.add(k * lda), |k: usize, j: usize| rows[j]
                .add(*pos.add(k)));
            for (j, cj) in acc.iter().enumerate() {
                let p = c.add(j * ldc);
                _mm256_storeu_ps(p, _mm256_add_ps(cj[0], _mm256_loadu_ps(p)));
                _mm256_storeu_ps(p.add(8), _mm256_add_ps(cj[1], _mm256_loadu_ps(p.add(8))));
            }
        }
    }

    /// Transposes an 8 x 8 block: `dst[j * dst_stride + i] = src[i * src_stride + j]`.
    ///
    /// # Safety
    ///
    /// AVX2; `src + i src_stride + [0, 8)` and `dst + j dst_stride + [0, 8)` for `i, j < 8` are
    /// in bounds.
    #[target_feature(enable = "avx2")]
    pub(in super::super) unsafe fn transpose_8x8(
        src: *const f32,
        src_stride: usize,
        dst: *mut f32,
        dst_stride: usize,
    ) {
        unsafe {
            let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src.add(i * src_stride)));
            let t = [
                _mm256_unpacklo_ps(r[0], r[1]),
                _mm256_unpackhi_ps(r[0], r[1]),
                _mm256_unpacklo_ps(r[2], r[3]),
                _mm256_unpackhi_ps(r[2], r[3]),
                _mm256_unpacklo_ps(r[4], r[5]),
                _mm256_unpackhi_ps(r[4], r[5]),
                _mm256_unpacklo_ps(r[6], r[7]),
                _mm256_unpackhi_ps(r[6], r[7]),
            ];
            let u = [
                _mm256_shuffle_ps::<0x44>(t[0], t[2]),
                _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
                _mm256_shuffle_ps::<0x44>(t[1], t[3]),
                _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
                _mm256_shuffle_ps::<0x44>(t[4], t[6]),
                _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
                _mm256_shuffle_ps::<0x44>(t[5], t[7]),
                _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
            ];
            for j in 0..4 {
                _mm256_storeu_ps(
                    dst.add(j * dst_stride),
                    _mm256_permute2f128_ps::<0x20>(u[j], u[j + 4]),
                );
                _mm256_storeu_ps(
                    dst.add((j + 4) * dst_stride),
                    _mm256_permute2f128_ps::<0x31>(u[j], u[j + 4]),
                );
            }
        }
    }
}
