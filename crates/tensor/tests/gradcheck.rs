//! Finite-difference checks of every backward rule, and of a composed chain.
//!
//! For a random projection `r`, the loss `sum(f(x) * r)` is differentiated by autograd and by
//! central differences; the two gradients must agree to 1% (relative norm), which f32
//! differences with step 1e-2..1e-3 resolve comfortably while any wrong rule misses by far.

use kiln_tensor::testing::rel_err;
use kiln_tensor::{Conv2dOptions, Cpu, Pool2dOptions, Result, Tensor, no_grad};

type T = Tensor<Cpu>;
const DEV: Cpu = Cpu;

/// Checks autograd against central differences for `f` at random inputs of the given shapes.
fn check(name: &str, shapes: &[&[usize]], f: impl Fn(&[T]) -> Result<T>) {
    check_with(name, shapes, 1e-2, 1e-2, f)
}

fn check_with(name: &str, shapes: &[&[usize]], eps: f32, tol: f64, f: impl Fn(&[T]) -> Result<T>) {
    let inputs: Vec<T> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            T::rand_normal(s, 0.0, 1.0, 100 + i as u64, &DEV)
                .unwrap()
                .set_requires_grad(true)
        })
        .collect();
    let out = f(&inputs).unwrap();
    let r = T::rand_normal(out.shape(), 0.0, 1.0, 7, &DEV).unwrap();
    let loss = out.mul(&r).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    for (i, x) in inputs.iter().enumerate() {
        let analytic = grads
            .get(x)
            .unwrap_or_else(|| panic!("{name}: no gradient for input {i}"))
            .to_vec()
            .unwrap();
        let base = x.to_vec().unwrap();
        let n = base.len();
        // at most 64 probed elements, spread over the tensor
        let probes: Vec<usize> = if n <= 64 {
            (0..n).collect()
        } else {
            (0..64).map(|j| j * n / 64).collect()
        };
        let mut num = Vec::new();
        let mut ana = Vec::new();
        for &j in &probes {
            let eval = |delta: f32| -> f64 {
                let mut v = base.clone();
                v[j] += delta;
                let mut xs = inputs.clone();
                xs[i] = T::from_slice(&v, x.shape(), &DEV).unwrap();
                no_grad(|| {
                    f(&xs)
                        .unwrap()
                        .mul(&r)
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .to_scalar()
                        .unwrap()
                }) as f64
            };
            num.push(((eval(eps) - eval(-eps)) / (2.0 * eps as f64)) as f32);
            ana.push(analytic[j]);
        }
        let e = rel_err(&ana, &num);
        assert!(
            e < tol,
            "{name}: input {i}: relative error {e:.2e}\n analytic {ana:?}\n numeric  {num:?}"
        );
    }
}

#[test]
fn elementwise_binary_with_broadcasting() {
    check("add", &[&[3, 4], &[4]], |x| x[0].add(&x[1]));
    check("sub", &[&[2, 3, 4], &[3, 1]], |x| x[0].sub(&x[1]));
    check("mul", &[&[3, 4], &[3, 1]], |x| x[0].mul(&x[1]));
    check("div", &[&[3, 4], &[4]], |x| {
        x[0].div(&x[1].abs()?.add_scalar(1.0)?)
    });
    check("maximum", &[&[3, 4], &[3, 4]], |x| x[0].maximum(&x[1]));
    check("minimum", &[&[3, 4], &[1, 4]], |x| x[0].minimum(&x[1]));
}

#[test]
fn elementwise_unary() {
    let s: &[&[usize]] = &[&[4, 5]];
    check("neg", s, |x| x[0].neg());
    check("exp", s, |x| x[0].exp());
    check("log", s, |x| x[0].sqr()?.add_scalar(0.5)?.log());
    check("sqrt", s, |x| x[0].sqr()?.add_scalar(0.5)?.sqrt());
    check("sqr", s, |x| x[0].sqr());
    check("abs", s, |x| x[0].abs());
    check("relu", s, |x| x[0].relu());
    check("tanh", s, |x| x[0].tanh());
    check("sigmoid", s, |x| x[0].sigmoid());
    check("gelu", s, |x| x[0].gelu());
    check("recip", s, |x| x[0].sqr()?.add_scalar(1.0)?.recip());
    check("affine", s, |x| x[0].affine(-2.5, 0.3));
    check("powf", s, |x| x[0].sqr()?.add_scalar(0.5)?.powf(1.7));
}

#[test]
fn reductions() {
    check("sum axes", &[&[2, 3, 4]], |x| x[0].sum(&[0, 2], false));
    check("sum keepdim", &[&[2, 3, 4]], |x| x[0].sum(&[1], true));
    check("sum_all", &[&[2, 3]], |x| x[0].sum_all());
    check("mean", &[&[2, 3, 4]], |x| x[0].mean(&[1], false));
    check("mean_all", &[&[5]], |x| x[0].mean_all());
    check("max", &[&[3, 5]], |x| x[0].max(&[1], false));
}

#[test]
fn views() {
    check("reshape", &[&[2, 6]], |x| {
        x[0].reshape(&[3, 4])?.mul(&x[0].reshape(&[3, 4])?)
    });
    check("transpose", &[&[2, 3]], |x| {
        x[0].transpose(0, 1)?.contiguous()
    });
    check("permute", &[&[2, 3, 4]], |x| {
        x[0].permute(&[2, 0, 1])?.contiguous()
    });
    check("broadcast_as", &[&[3, 1]], |x| {
        x[0].broadcast_as(&[2, 3, 4])?.contiguous()
    });
    check("flatten", &[&[2, 3, 2]], |x| x[0].flatten_from(1));
}

#[test]
fn matrix_products() {
    check("matmul", &[&[3, 4], &[4, 5]], |x| x[0].matmul(&x[1]));
    check("matmul transposed", &[&[4, 3], &[5, 4]], |x| {
        x[0].t()?.matmul(&x[1].t()?)
    });
    check("batched matmul", &[&[2, 3, 4], &[2, 4, 2]], |x| {
        x[0].matmul(&x[1])
    });
    check("linear", &[&[3, 4], &[5, 4], &[5]], |x| {
        x[0].linear(&x[1], Some(&x[2]))
    });
}

#[test]
fn convolution() {
    let o = |s, p, d| Conv2dOptions {
        stride: (s, s),
        padding: (p, p),
        dilation: (d, d),
    };
    check("conv2d", &[&[2, 3, 6, 6], &[4, 3, 3, 3], &[4]], |x| {
        x[0].conv2d(&x[1], Some(&x[2]), o(1, 0, 1))
    });
    check(
        "conv2d stride 2 pad 1",
        &[&[1, 2, 7, 7], &[3, 2, 3, 3]],
        |x| x[0].conv2d(&x[1], None, o(2, 1, 1)),
    );
    check("conv2d dilation 2", &[&[1, 2, 7, 6], &[2, 2, 2, 3]], |x| {
        x[0].conv2d(&x[1], None, o(1, 1, 2))
    });
    check(
        "conv2d 5x5 pad 2",
        &[&[1, 1, 5, 5], &[2, 1, 5, 5], &[2]],
        |x| x[0].conv2d(&x[1], Some(&x[2]), o(1, 2, 1)),
    );
    // a small step: a probe must not move an output across the ReLU's kink
    check_with(
        "conv2d_relu",
        &[&[2, 3, 6, 6], &[4, 3, 3, 3], &[4]],
        1e-3,
        1e-2,
        |x| x[0].conv2d_relu(&x[1], Some(&x[2]), o(1, 1, 1)),
    );
}

#[test]
fn fused_conv_relu_equals_conv_then_relu() {
    // the same values and gradients as the two ops, bit for bit (the fused op only moves the
    // max(·, 0) into the convolution's output loop); about half the outputs are negative
    let o = Conv2dOptions {
        stride: (2, 1),
        padding: (1, 0),
        dilation: (1, 1),
    };
    let xs: Vec<T> = [&[3usize, 4, 9, 8][..], &[6, 4, 3, 2], &[6]]
        .iter()
        .enumerate()
        .map(|(i, s)| {
            T::rand_normal(s, 0.0, 1.0, 40 + i as u64, &DEV)
                .unwrap()
                .set_requires_grad(true)
        })
        .collect();
    let fused = xs[0].conv2d_relu(&xs[1], Some(&xs[2]), o).unwrap();
    let plain = xs[0]
        .conv2d(&xs[1], Some(&xs[2]), o)
        .unwrap()
        .relu()
        .unwrap();
    let (fv, pv) = (fused.to_vec().unwrap(), plain.to_vec().unwrap());
    assert_eq!(fv, pv);
    let zeros = fv.iter().filter(|&&v| v == 0.0).count();
    assert!(
        zeros > fv.len() / 4 && zeros < fv.len() * 3 / 4,
        "{zeros} of {}",
        fv.len()
    );
    let r = T::rand_normal(fused.shape(), 0.0, 1.0, 9, &DEV).unwrap();
    let gf = fused
        .mul(&r)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let gp = plain
        .mul(&r)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    for x in &xs {
        assert_eq!(
            gf.get(x).unwrap().to_vec().unwrap(),
            gp.get(x).unwrap().to_vec().unwrap()
        );
    }
}

#[test]
fn pooling() {
    check("max_pool2d", &[&[2, 2, 6, 6]], |x| {
        x[0].max_pool2d(Pool2dOptions::square(2))
    });
    let padded = Pool2dOptions {
        kernel: (3, 3),
        stride: (2, 2),
        padding: (1, 1),
    };
    check("max_pool2d padded", &[&[1, 2, 7, 7]], |x| {
        x[0].max_pool2d(padded)
    });
    check("avg_pool2d", &[&[2, 2, 6, 6]], |x| {
        x[0].avg_pool2d(Pool2dOptions::square(2))
    });
    check("avg_pool2d padded", &[&[1, 2, 7, 7]], |x| {
        x[0].avg_pool2d(padded)
    });
}

#[test]
fn batch_norm_train_and_eval() {
    check("batch_norm1d train", &[&[5, 3], &[3], &[3]], |x| {
        Ok(x[0].batch_norm(&x[1], &x[2], None, 1e-5)?.y)
    });
    check("batch_norm2d train", &[&[3, 2, 3, 3], &[2], &[2]], |x| {
        Ok(x[0].batch_norm(&x[1], &x[2], None, 1e-5)?.y)
    });
    let rm = T::from_slice(&[0.1, -0.2], &[2], &DEV).unwrap();
    let rv = T::from_slice(&[0.5, 2.0], &[2], &DEV).unwrap();
    check(
        "batch_norm2d eval",
        &[&[3, 2, 2, 2], &[2], &[2]],
        move |x| Ok(x[0].batch_norm(&x[1], &x[2], Some((&rm, &rv)), 1e-5)?.y),
    );
}

#[test]
fn cross_entropy_with_and_without_smoothing() {
    let labels = T::from_slice(&[0.0, 3.0, 1.0, 3.0], &[4], &DEV).unwrap();
    let l2 = labels.clone();
    check("cross_entropy", &[&[4, 5]], move |x| {
        x[0].cross_entropy(&labels, 0.0)
    });
    check("cross_entropy smoothing", &[&[4, 5]], move |x| {
        x[0].cross_entropy(&l2, 0.1)
    });
}

#[test]
fn dropout_with_a_fixed_mask() {
    check("dropout", &[&[4, 6]], |x| x[0].dropout(0.3, 42));
}

#[test]
fn composed_chain() {
    // conv -> relu -> max-pool -> reshape -> linear -> cross-entropy
    let labels = T::from_slice(&[2.0, 0.0], &[2], &DEV).unwrap();
    check_with(
        "chain",
        &[&[2, 2, 6, 6], &[3, 2, 3, 3], &[3], &[4, 12], &[4]],
        1e-2,
        2e-2,
        move |x| {
            let h = x[0]
                .conv2d(&x[1], Some(&x[2]), Conv2dOptions::default())?
                .relu()?;
            let h = h.max_pool2d(Pool2dOptions::square(2))?.reshape(&[2, 12])?;
            let logits = h.linear(&x[3], Some(&x[4]))?;
            logits.cross_entropy(&labels, 0.0)?.reshape(&[1])
        },
    );
}
