//! Test helpers shared by the kernel tests: a tiny deterministic PRNG, the relative-error
//! metric and the PyTorch parity fixture loader.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// SplitMix64: deterministic test data without a `rand` dependency.
pub(crate) struct SplitMix(pub u64);

impl SplitMix {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[-1, 1)`.
    pub(crate) fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    pub(crate) fn vec(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.uniform()).collect()
    }
}

/// `‖got − want‖ / ‖want‖`; the absolute norm of the difference when `want` is all zeros.
pub(crate) fn rel_err(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "length mismatch");
    let diff: f64 = got
        .iter()
        .zip(want)
        .map(|(&g, &w)| (g as f64 - w).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm: f64 = want.iter().map(|w| w * w).sum::<f64>().sqrt();
    if norm == 0.0 { diff } else { diff / norm }
}

/// The PyTorch parity folder: `$KILN_PARITY_FIXTURE`, else the first
/// `<ancestor>/shared/fixtures/pytorch-parity` above this crate's manifest directory.
pub(crate) fn parity_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KILN_PARITY_FIXTURE") {
        return PathBuf::from(dir);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|a| a.join("shared/fixtures/pytorch-parity"))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| manifest.join("../../../shared/fixtures/pytorch-parity"))
}

/// The `ops` cases of the parity fixture.
pub(crate) struct OpsFixture {
    pub(crate) meta: serde_json::Value,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

impl OpsFixture {
    /// Loads `ops.safetensors` and `meta.json`, or prints why it is skipped and returns `None`.
    pub(crate) fn load(what: &str) -> Option<OpsFixture> {
        let dir = parity_dir();
        let (st, meta) = (dir.join("ops.safetensors"), dir.join("meta.json"));
        if !st.is_file() || !meta.is_file() {
            crate::testing::skip(
                crate::testing::Need::Fixtures,
                what,
                &format!("{} is absent", st.display()),
            );
            return None;
        }
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
        let bytes = std::fs::read(&st).unwrap();
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut tensors = HashMap::new();
        for name in file.names() {
            let view = file.tensor(name).unwrap();
            assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name} is not f32");
            let data = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            tensors.insert(name.to_string(), (view.shape().to_vec(), data));
        }
        Some(OpsFixture { meta, tensors })
    }

    /// Names of the cases whose `op` is `op`.
    pub(crate) fn cases(&self, op: &str) -> Vec<String> {
        let ops = self.meta["ops"]
            .as_object()
            .expect("meta.json has no \"ops\"");
        ops.iter()
            .filter(|(_, v)| v["op"] == op)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Tensor `case.key` as (shape, data).
    pub(crate) fn tensor(&self, case: &str, key: &str) -> &(Vec<usize>, Vec<f32>) {
        let name = format!("{case}.{key}");
        self.tensors
            .get(&name)
            .unwrap_or_else(|| panic!("fixture lacks {name}"))
    }

    /// A geometry parameter of a case as (height, width): a number or a two-element array.
    pub(crate) fn pair(&self, case: &str, key: &str, default: usize) -> (usize, usize) {
        let v = &self.meta["ops"][case][key];
        match v {
            serde_json::Value::Null => (default, default),
            serde_json::Value::Array(a) => (
                a[0].as_u64().unwrap() as usize,
                a[1].as_u64().unwrap() as usize,
            ),
            _ => {
                let x = v
                    .as_u64()
                    .unwrap_or_else(|| panic!("{case}.{key} is not a number"))
                    as usize;
                (x, x)
            }
        }
    }
}

/// Widens to f64 for [`rel_err`].
pub(crate) fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}
