//! The arithmetic precision of a device's matrix products and convolutions.

use crate::TensorError;

/// How a device computes the products inside matrix multiplications and convolutions. Tensors,
/// sums and every other op stay f32 either way.
///
/// Only the CUDA backend has the setting (`Cuda::set_precision`; default [`Precision::Tf32`],
/// as PyTorch's is for convolutions, or the environment variable `KILN_PRECISION`). The CPU backend has none: it always
/// computes in f32, whatever a program asks of the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Precision {
    /// Products of f32 values (no tensor cores): the CPU backend's numbers to about 1e-6
    /// relative error.
    F32,
    /// Operands rounded to TF32 (10 mantissa bits, round to nearest, ties away from zero) and
    /// multiplied on tensor cores, sums in f32: several times faster, about 1e-3 relative error
    /// on a product.
    Tf32,
}

impl Precision {
    /// Every precision.
    pub const ALL: [Precision; 2] = [Precision::F32, Precision::Tf32];

    /// `"f32"` or `"tf32"`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Tf32 => "tf32",
        }
    }

    #[cfg(feature = "cuda")]
    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    #[cfg(feature = "cuda")]
    pub(crate) fn from_code(code: u8) -> Precision {
        if code == Precision::F32 as u8 {
            Precision::F32
        } else {
            Precision::Tf32
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Precision {
    type Err = TensorError;

    /// `"f32"` or `"tf32"` (any case, surrounding spaces ignored).
    fn from_str(s: &str) -> Result<Precision, TensorError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" => Ok(Precision::F32),
            "tf32" => Ok(Precision::Tf32),
            other => Err(TensorError::invalid(
                "precision",
                format!("unknown precision {other:?}: expected \"f32\" or \"tf32\""),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Precision::ALL {
            assert_eq!(p.name().parse::<Precision>().unwrap(), p);
            assert_eq!(p.to_string(), p.name());
            #[cfg(feature = "cuda")]
            assert_eq!(Precision::from_code(p.code()), p);
        }
        assert_eq!(" TF32 ".parse::<Precision>().unwrap(), Precision::Tf32);
        let e = "fp16".parse::<Precision>().unwrap_err().to_string();
        assert!(e.contains("\"fp16\"") && e.contains("\"tf32\""), "{e}");
    }
}
