//! Element types a weights file may store, and their conversion to f32.

/// The element type of a stored tensor. Kiln reads the float types and int64 (counters);
/// the others are named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ElemType {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl ElemType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            ElemType::F64 | ElemType::I64 => 8,
            ElemType::F32 | ElemType::I32 => 4,
            ElemType::F16 | ElemType::BF16 | ElemType::I16 => 2,
            ElemType::I8 | ElemType::U8 | ElemType::Bool => 1,
        }
    }

    /// The name safetensors uses (`F32`, `BF16`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ElemType::F32 => "F32",
            ElemType::F64 => "F64",
            ElemType::F16 => "F16",
            ElemType::BF16 => "BF16",
            ElemType::I64 => "I64",
            ElemType::I32 => "I32",
            ElemType::I16 => "I16",
            ElemType::I8 => "I8",
            ElemType::U8 => "U8",
            ElemType::Bool => "BOOL",
        }
    }

    /// Whether Kiln converts this type to f32.
    pub fn readable(self) -> bool {
        matches!(
            self,
            ElemType::F32 | ElemType::F64 | ElemType::F16 | ElemType::BF16 | ElemType::I64
        )
    }

    /// Element `i` of little-endian `bytes` as f32; `None` past the end or for an unreadable
    /// type.
    pub fn get(self, bytes: &[u8], i: usize) -> Option<f32> {
        let size = self.size();
        let start = i.checked_mul(size)?;
        let b = bytes.get(start..start.checked_add(size)?)?;
        decode(self, b)
    }
}

/// One little-endian element (`b.len()` is the type's size) as f32.
fn decode(elem: ElemType, b: &[u8]) -> Option<f32> {
    let v = match elem {
        ElemType::F32 => f32::from_le_bytes(b.try_into().ok()?),
        ElemType::F64 => f64::from_le_bytes(b.try_into().ok()?) as f32,
        ElemType::F16 => f16_to_f32(u16::from_le_bytes(b.try_into().ok()?)),
        ElemType::BF16 => bf16_to_f32(u16::from_le_bytes(b.try_into().ok()?)),
        ElemType::I64 => i64::from_le_bytes(b.try_into().ok()?) as f32,
        _ => return None,
    };
    Some(v)
}

/// Every element of little-endian `bytes` as f32; `None` for an unreadable type or a length
/// that is not a whole number of elements.
pub(crate) fn to_f32(elem: ElemType, bytes: &[u8]) -> Option<Vec<f32>> {
    let size = elem.size();
    if !elem.readable() || !bytes.len().is_multiple_of(size) {
        return None;
    }
    // One loop per type: the match stays outside the hot loop.
    let out = match elem {
        ElemType::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        ElemType::F16 => bytes
            .chunks_exact(2)
            .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        ElemType::BF16 => bytes
            .chunks_exact(2)
            .map(|c| bf16_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        _ => bytes
            .chunks_exact(size)
            .map(|c| decode(elem, c))
            .collect::<Option<Vec<f32>>>()?,
    };
    Some(out)
}

/// IEEE binary16 → f32, exactly (every f16 value is an f32 value). A NaN keeps its payload
/// and comes out quiet, as the x86 F16C conversion makes it (numpy does the same for quiet
/// NaNs; PyTorch's CPU kernel returns 0x7fffffff for every NaN: payloads are not portable).
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x03ff);
    let magnitude = match (exp, man) {
        (0, 0) => 0,
        // subnormal: man · 2⁻²⁴, exact in f32
        (0, _) => (man as f32 * (1.0 / 16_777_216.0)).to_bits(),
        (0x1f, 0) => 0x7f80_0000,
        (0x1f, _) => 0x7f80_0000 | 0x0040_0000 | (man << 13),
        // rebias the exponent from 15 to 127
        _ => ((exp + 112) << 23) | (man << 13),
    };
    f32::from_bits(sign | magnitude)
}

/// bfloat16 → f32: the upper half of an f32's bits.
pub(crate) fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_known_values() {
        let cases: &[(u16, f32)] = &[
            (0x0000, 0.0),
            (0x3c00, 1.0),
            (0xbc00, -1.0),
            (0x4000, 2.0),
            (0x3800, 0.5),
            (0x3555, 0.333_251_95),
            (0x7bff, 65504.0),
            (0xfbff, -65504.0),
            (0x0400, 6.103_515_6e-5),  // smallest normal, 2^-14
            (0x0001, 5.960_464_5e-8),  // smallest subnormal, 2^-24
            (0x03ff, 6.097_555e-5),    // largest subnormal, 1023 · 2^-24
            (0x8001, -5.960_464_5e-8), // negative subnormal
            (0x0155, 2.032_518_4e-5),  // 341 · 2^-24
            (0x7c00, f32::INFINITY),
            (0xfc00, f32::NEG_INFINITY),
        ];
        for &(h, want) in cases {
            assert_eq!(f16_to_f32(h).to_bits(), want.to_bits(), "{h:#06x}");
        }
        assert_eq!(
            f16_to_f32(0x8000).to_bits(),
            0x8000_0000,
            "-0 keeps its sign"
        );
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
        // quiet NaN keeps its payload; a signalling one comes out quiet
        assert_eq!(f16_to_f32(0x7e00).to_bits(), 0x7fc0_0000);
        assert_eq!(f16_to_f32(0x7e01).to_bits(), 0x7fc0_2000);
        assert!(f16_to_f32(0x7d00).is_nan());
        assert_eq!(f16_to_f32(0xfe00).to_bits(), 0xffc0_0000);
    }

    #[test]
    fn f16_round_trips_through_f32_for_every_finite_value() {
        // Every finite f16 is exactly representable: converting back by rounding must be
        // the identity (an independent check of exponent and mantissa placement).
        for h in 0..=u16::MAX {
            let v = f16_to_f32(h);
            if !v.is_finite() {
                assert_eq!((h >> 10) & 0x1f, 0x1f, "{h:#06x}");
                continue;
            }
            let a = v.abs() as f64;
            let (exp, man) = if a < 2f64.powi(-14) {
                (0, (a / 2f64.powi(-24)) as u16)
            } else {
                let e = a.log2().floor() as i32;
                ((e + 15) as u16, ((a / 2f64.powi(e) - 1.0) * 1024.0) as u16)
            };
            let back = (u16::from(v.is_sign_negative()) << 15) | (exp << 10) | man;
            assert_eq!(back, h, "{h:#06x} -> {v}");
        }
    }

    #[test]
    fn bf16_known_values() {
        let cases: &[(u16, f32)] = &[
            (0x0000, 0.0),
            (0x3f80, 1.0),
            (0xc049, -3.140_625),
            (0x3eab, 0.333_984_38),
            (0x7f7f, 3.389_531_4e38),
            (0x0080, 1.175_494_4e-38),  // smallest normal
            (0x0001, 9.183_55e-41),     // smallest subnormal, 2^-133
            (0x807f, -1.166_310_8e-38), // negative subnormal, 127 · 2^-133
            (0x7f80, f32::INFINITY),
            (0xff80, f32::NEG_INFINITY),
        ];
        for &(b, want) in cases {
            assert_eq!(bf16_to_f32(b).to_bits(), want.to_bits(), "{b:#06x}");
        }
        assert_eq!(bf16_to_f32(0x0001), 2f64.powi(-133) as f32);
        assert_eq!(bf16_to_f32(0x8000).to_bits(), 0x8000_0000);
        assert_eq!(bf16_to_f32(0x7fc0).to_bits(), 0x7fc0_0000);
    }

    #[test]
    fn to_f32_refuses_partial_elements_and_unreadable_types() {
        assert_eq!(to_f32(ElemType::F16, &[0, 0x3c, 0]), None);
        assert_eq!(to_f32(ElemType::U8, &[1, 2]), None);
        assert_eq!(
            to_f32(ElemType::I64, &(-7i64).to_le_bytes()),
            Some(vec![-7.0])
        );
        assert_eq!(ElemType::F64.get(&1.5f64.to_le_bytes(), 0), Some(1.5));
        assert_eq!(ElemType::F64.get(&1.5f64.to_le_bytes(), 1), None);
        assert_eq!(ElemType::F32.get(&[0; 4], usize::MAX), None);
    }
}
