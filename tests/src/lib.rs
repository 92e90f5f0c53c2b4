//! Helpers shared by the cross-crate and cross-backend tests in `tests/`.

pub mod python;

pub use kiln_tensor::testing::{parity_fixture, rel_err};

/// Largest absolute elementwise difference (NaN when one side has a NaN the other lacks).
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "compared slices differ in length");
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            if x.is_nan() && y.is_nan() {
                0.0
            } else {
                (x - y).abs()
            }
        })
        .fold(0.0, |m, d| if d.is_nan() || d > m { d } else { m })
}

/// The fixture's meta.json.
pub fn fixture_meta(dir: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("meta.json")).expect("meta.json is readable");
    serde_json::from_str(&text).expect("meta.json is JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_relative() {
        assert_eq!(rel_err(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert!((rel_err(&[1.1], &[1.0]) - 0.1).abs() < 1e-6);
        assert_eq!(max_abs_diff(&[1.0, f32::NAN], &[1.5, f32::NAN]), 0.5);
        assert!(max_abs_diff(&[1.0], &[f32::NAN]).is_nan());
    }
}

/// Output and input gradients of one computation on one device, on the host.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub out: Vec<f32>,
    pub grads: Vec<Vec<f32>>,
}

/// Fixed pseudo-random weights (the same on every machine) that turn an output into a scalar
/// loss `sum(out · w)`, so every output element gets its own upstream gradient.
pub fn loss_weights(n: usize, seed: u64) -> Vec<f32> {
    (0..n as u64)
        .map(|i| kiln_tensor::rng::uniform01(seed, i) * 2.0 - 1.0)
        .collect()
}

/// Runs `f` on leaves made from `inputs` (`(shape, values)`, all requiring gradients) on `dev`,
/// then back-propagates `sum(f(..) · w)` with [`loss_weights`]. Inputs without a gradient get
/// an empty vector.
pub fn eval_with_grads<B: kiln_tensor::Backend>(
    dev: &B,
    inputs: &[(Vec<usize>, Vec<f32>)],
    f: impl Fn(&[kiln_tensor::Tensor<B>]) -> kiln_tensor::Result<kiln_tensor::Tensor<B>>,
) -> kiln_tensor::Result<Outcome> {
    use kiln_tensor::Tensor;
    let leaves: Vec<Tensor<B>> = inputs
        .iter()
        .map(|(shape, v)| Ok(Tensor::from_slice(v, shape, dev)?.set_requires_grad(true)))
        .collect::<kiln_tensor::Result<_>>()?;
    let y = f(&leaves)?;
    let out = y.to_vec()?;
    let w = Tensor::from_slice(&loss_weights(y.numel(), 99), y.shape(), dev)?;
    let loss = y.mul(&w)?.sum_all()?;
    let grads = if loss.tracks_grad() {
        let store = loss.backward()?;
        leaves
            .iter()
            .map(|l| store.get(l).map_or(Ok(Vec::new()), |g| g.to_vec()))
            .collect::<kiln_tensor::Result<_>>()?
    } else {
        vec![Vec::new(); leaves.len()]
    };
    Ok(Outcome { out, grads })
}

/// Asserts that two outcomes agree within relative error `tol` (output and every gradient).
pub fn assert_close(what: &str, got: &Outcome, want: &Outcome, tol: f64) {
    let e = rel_err(&got.out, &want.out);
    assert!(
        e <= tol,
        "{what}: output relative error {e:.2e} > {tol:.0e}"
    );
    assert_eq!(got.grads.len(), want.grads.len(), "{what}: gradient count");
    for (i, (g, w)) in got.grads.iter().zip(&want.grads).enumerate() {
        assert_eq!(g.len(), w.len(), "{what}: gradient {i} length");
        if !w.is_empty() {
            let e = rel_err(g, w);
            assert!(
                e <= tol,
                "{what}: gradient {i} relative error {e:.2e} > {tol:.0e}"
            );
        }
    }
}

/// The shared CUDA device of a test binary, set to `Precision::F32`: the CPU-against-CUDA
/// tests compare at 1e-4, which TF32 products do not meet (tests/cuda_precision.rs checks TF32
/// against f64). Panics with a clear message without a GPU.
#[cfg(feature = "cuda")]
pub fn gpu() -> kiln_tensor::Cuda {
    static DEV: std::sync::OnceLock<kiln_tensor::Cuda> = std::sync::OnceLock::new();
    DEV.get_or_init(|| {
        let dev = kiln_tensor::Cuda::new(0).unwrap_or_else(|e| {
            panic!("this test needs an NVIDIA GPU (run it with --ignored on a GPU machine): {e}")
        });
        dev.set_precision(kiln_tensor::Precision::F32)
            .expect("the GPU takes Precision::F32");
        dev
    })
    .clone()
}

/// Runs the same computation on the CPU and on the GPU: `both!(inputs, |xs| expr)` evaluates
/// `expr` (with `xs: &[Tensor<B>]`) through [`eval_with_grads`] once per backend and returns
/// `(cpu, gpu)` outcomes.
#[cfg(feature = "cuda")]
#[macro_export]
macro_rules! both {
    ($inputs:expr, |$xs:ident| $body:expr) => {{
        let inputs = &$inputs;
        let cpu = $crate::eval_with_grads(&kiln_tensor::Cpu, inputs, |$xs| $body)
            .expect("the CPU computation succeeds");
        let gpu = $crate::eval_with_grads(&$crate::gpu(), inputs, |$xs| $body)
            .expect("the GPU computation succeeds");
        (cpu, gpu)
    }};
}
