//! Autograd semantics: accumulation, no-grad mode, leaves and errors.

use kiln_tensor::{Cpu, Tensor, no_grad};

const DEV: Cpu = Cpu;

#[test]
fn a_tensor_used_twice_gets_the_summed_gradient() {
    let x = Tensor::from_slice(&[1.0, 2.0, 3.0], &[3], &DEV)
        .unwrap()
        .set_requires_grad(true);
    // y = x * x + 3 x  ->  dy/dx = 2x + 3
    let y = x
        .mul(&x)
        .unwrap()
        .add(&x.scale(3.0).unwrap())
        .unwrap()
        .sum_all()
        .unwrap();
    let g = y.backward().unwrap();
    assert_eq!(g.get(&x).unwrap().to_vec().unwrap(), vec![5.0, 7.0, 9.0]);
}

#[test]
fn no_grad_records_nothing() {
    let x = Tensor::from_slice(&[1.0, 2.0], &[2], &DEV)
        .unwrap()
        .set_requires_grad(true);
    let y = no_grad(|| x.sqr().unwrap().sum_all().unwrap());
    assert!(!y.tracks_grad());
    let g = y.backward().unwrap();
    assert!(g.is_empty(), "nothing recorded, so no gradient");
    // and recording resumes afterwards
    let z = x.sqr().unwrap().sum_all().unwrap();
    assert!(z.tracks_grad());
}

#[test]
fn only_leaves_that_require_grad_get_one() {
    let a = Tensor::from_slice(&[2.0], &[1], &DEV)
        .unwrap()
        .set_requires_grad(true);
    let b = Tensor::from_slice(&[5.0], &[1], &DEV).unwrap();
    let y = a.mul(&b).unwrap().sum_all().unwrap();
    let g = y.backward().unwrap();
    assert_eq!(g.get(&a).unwrap().to_vec().unwrap(), vec![5.0]);
    assert!(g.get(&b).is_none());
    assert_eq!(g.len(), 1);
}

#[test]
fn backward_needs_a_scalar_and_shape_errors_name_both_shapes() {
    let x = Tensor::<Cpu>::zeros(&[2, 3], &DEV)
        .unwrap()
        .set_requires_grad(true);
    let e = x.relu().unwrap().backward().err().unwrap().to_string();
    assert!(e.contains("[2, 3]"), "{e}");
    let y = Tensor::<Cpu>::zeros(&[4, 5], &DEV).unwrap();
    let e = x.matmul(&y).err().unwrap().to_string();
    assert!(
        e.contains("matmul") && e.contains("[2, 3]") && e.contains("[4, 5]"),
        "{e}"
    );
    let e = x
        .add(&Tensor::zeros(&[4], &DEV).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("add"), "{e}");
}

#[test]
fn views_share_storage_and_contiguous_copies_only_when_needed() {
    let x = Tensor::from_slice(&[1., 2., 3., 4., 5., 6.], &[2, 3], &DEV).unwrap();
    let t = x.t().unwrap();
    assert_eq!(t.shape(), &[3, 2]);
    assert!(
        std::ptr::eq(t.storage(), x.storage()),
        "transpose is a view"
    );
    assert_eq!(t.to_vec().unwrap(), vec![1., 4., 2., 5., 3., 6.]);
    let c = x.contiguous().unwrap();
    assert!(
        std::ptr::eq(c.storage(), x.storage()),
        "already dense: no copy"
    );
    let tc = t.contiguous().unwrap();
    assert!(!std::ptr::eq(tc.storage(), x.storage()));
    let r = x.reshape(&[3, 2]).unwrap();
    assert!(
        std::ptr::eq(r.storage(), x.storage()),
        "reshape of a dense tensor is a view"
    );
    assert_eq!(x.argmax(1).unwrap().to_vec().unwrap(), vec![2.0, 2.0]);
}

#[test]
fn identical_seeds_give_identical_values() {
    let a = Tensor::<Cpu>::rand_normal(&[100], 0.0, 1.0, 5, &DEV)
        .unwrap()
        .to_vec()
        .unwrap();
    let b = Tensor::<Cpu>::rand_normal(&[100], 0.0, 1.0, 5, &DEV)
        .unwrap()
        .to_vec()
        .unwrap();
    let c = Tensor::<Cpu>::rand_normal(&[100], 0.0, 1.0, 6, &DEV)
        .unwrap()
        .to_vec()
        .unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}
