//! Every op of `ops.safetensors` (conv with stride, padding, kernel 5; max and avg pool) through
//! the public Tensor API and autograd, forward and every gradient, against PyTorch. The folder
//! comes from `KILN_PARITY_FIXTURE`; every case and parameter is read from its meta.json.

use std::collections::HashMap;

use kiln_tensor::testing::{parity_fixture, rel_err};

use kiln_tensor::{Conv2dOptions, Cpu, Pool2dOptions, Tensor};
use safetensors::SafeTensors;

#[test]
fn every_op_case_matches_pytorch_forward_and_backward() {
    let Some(dir) = parity_fixture("PyTorch op parity") else {
        return;
    };
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    let bytes = std::fs::read(dir.join("ops.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: HashMap<String, (Vec<usize>, Vec<f32>)> = HashMap::new();
    for (name, view) in st.tensors() {
        let v = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        tensors.insert(name, (view.shape().to_vec(), v));
    }
    let t = |name: &str| -> Tensor<Cpu> {
        let (s, v) = &tensors[name];
        Tensor::from_slice(v, s, &Cpu).unwrap()
    };
    let ops = meta["ops"].as_object().unwrap();
    assert!(!ops.is_empty());
    let mut failures = Vec::new();
    let mut check = |case: &str, what: &str, got: &Tensor<Cpu>| {
        let (shape, want) = &tensors[&format!("{case}.{what}")];
        assert_eq!(got.shape(), shape.as_slice(), "{case}.{what} shape");
        let e = rel_err(&got.to_vec().unwrap(), want);
        println!("{case}.{what}: relative error {e:.2e}");
        if e > 1e-4 {
            failures.push(format!("{case}.{what}: {e:.2e}"));
        }
    };
    for (case, p) in ops {
        let u = |k: &str| p[k].as_u64().unwrap() as usize;
        let x = t(&format!("{case}.x")).set_requires_grad(true);
        let g = t(&format!("{case}.grad_out"));
        match p["op"].as_str().unwrap() {
            "conv2d" => {
                let w = t(&format!("{case}.w")).set_requires_grad(true);
                let b = t(&format!("{case}.b")).set_requires_grad(true);
                assert_eq!(w.shape()[2], u("kernel"));
                let opts = Conv2dOptions {
                    stride: (u("stride"), u("stride")),
                    padding: (u("padding"), u("padding")),
                    dilation: (1, 1),
                };
                let y = x.conv2d(&w, Some(&b), opts).unwrap();
                check(case, "out", &y);
                let grads = y.backward_with(g).unwrap();
                check(case, "grad_x", grads.get(&x).unwrap());
                check(case, "grad_w", grads.get(&w).unwrap());
                check(case, "grad_b", grads.get(&b).unwrap());
            }
            op @ ("max_pool2d" | "avg_pool2d") => {
                let k = u("kernel");
                let opts = Pool2dOptions {
                    kernel: (k, k),
                    stride: (u("stride"), u("stride")),
                    padding: (u("padding"), u("padding")),
                };
                let y = if op == "max_pool2d" {
                    x.max_pool2d(opts)
                } else {
                    x.avg_pool2d(opts)
                }
                .unwrap();
                check(case, "out", &y);
                let grads = y.backward_with(g).unwrap();
                check(case, "grad_x", grads.get(&x).unwrap());
            }
            other => panic!("unknown op {other} in meta.json"),
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}
