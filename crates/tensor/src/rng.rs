//! A counter-based random generator: value `i` of a stream depends only on `(seed, i)`, so CPU
//! and GPU kernels produce identical numbers and can generate them in parallel.

/// 64-bit mix of `(seed, index)` (SplitMix64 finaliser over a Weyl sequence).
#[inline]
pub fn hash64(seed: u64, index: u64) -> u64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(index.wrapping_add(1).wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform in `[0, 1)` with 24 random bits (exactly representable in f32).
#[inline]
pub fn uniform01(seed: u64, index: u64) -> f32 {
    (hash64(seed, index) >> 40) as f32 * (1.0 / 16_777_216.0)
}

/// Standard normal by Box-Muller from two uniforms of the stream at `2i` and `2i + 1`.
#[inline]
pub fn standard_normal(seed: u64, index: u64) -> f32 {
    let u1 = uniform01(seed, 2 * index).max(1.0 / 16_777_216.0);
    let u2 = uniform01(seed, 2 * index + 1);
    ((-2.0 * (u1 as f64).ln()).sqrt() * (std::f64::consts::TAU * u2 as f64).cos()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_has_the_right_moments() {
        let n = 100_000;
        let v: Vec<f32> = (0..n).map(|i| uniform01(7, i)).collect();
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
        assert!(v.iter().all(|&x| (0.0..1.0).contains(&x)));
        let z: Vec<f64> = (0..n).map(|i| standard_normal(7, i) as f64).collect();
        let zm = z.iter().sum::<f64>() / n as f64;
        let zv = z.iter().map(|x| (x - zm).powi(2)).sum::<f64>() / n as f64;
        assert!(zm.abs() < 0.02 && (zv - 1.0).abs() < 0.03, "{zm} {zv}");
        assert_ne!(uniform01(1, 0), uniform01(2, 0));
    }
}
