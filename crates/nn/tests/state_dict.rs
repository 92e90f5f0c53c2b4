//! State-dict files: round trips, PyTorch's names and dtypes, and every error case.

use kiln_nn::state_dict::{self, read_safetensors};
use kiln_nn::{ConfigNet, ConfigNetConfig, NnError};
use kiln_tensor::Cpu;
use safetensors::SafeTensors;
use safetensors::tensor::Dtype;

fn small() -> ConfigNetConfig {
    ConfigNetConfig::new(4, 8, 16, 0.1)
}

#[test]
fn save_then_load_is_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let a = ConfigNet::new(small(), 1, &Cpu).unwrap();
    state_dict::save(&a, &path).unwrap();
    let mut b = ConfigNet::new(small(), 2, &Cpu).unwrap();
    assert_ne!(
        state_dict::state_dict(&a).unwrap(),
        state_dict::state_dict(&b).unwrap()
    );
    state_dict::load(&mut b, &path).unwrap();
    let (sa, sb) = (
        state_dict::state_dict(&a).unwrap(),
        state_dict::state_dict(&b).unwrap(),
    );
    for (k, v) in &sa {
        let bits_a: Vec<u32> = v.data.iter().map(|x| x.to_bits()).collect();
        let bits_b: Vec<u32> = sb[k].data.iter().map(|x| x.to_bits()).collect();
        assert_eq!(bits_a, bits_b, "{k}");
    }
    // no temporary file is left beside it
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn a_kiln_file_has_pytorch_names_dtypes_and_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let cfg = ConfigNetConfig::default();
    state_dict::save(&ConfigNet::new(cfg, 1, &Cpu).unwrap(), &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let expect: &[(&str, &[usize], Dtype)] = &[
        ("conv1.weight", &[48, 3, 3, 3], Dtype::F32),
        ("conv1.bias", &[48], Dtype::F32),
        ("conv2.weight", &[48, 48, 3, 3], Dtype::F32),
        ("conv3.weight", &[96, 48, 3, 3], Dtype::F32),
        ("conv4.weight", &[96, 96, 3, 3], Dtype::F32),
        ("conv4.bias", &[96], Dtype::F32),
        ("batch_norm.weight", &[13824], Dtype::F32),
        ("batch_norm.bias", &[13824], Dtype::F32),
        ("batch_norm.running_mean", &[13824], Dtype::F32),
        ("batch_norm.running_var", &[13824], Dtype::F32),
        ("batch_norm.num_batches_tracked", &[], Dtype::I64),
        ("fc1.weight", &[256, 13824], Dtype::F32),
        ("fc1.bias", &[256], Dtype::F32),
        ("fc2.weight", &[10, 256], Dtype::F32),
        ("fc2.bias", &[10], Dtype::F32),
    ];
    for (name, shape, dtype) in expect {
        let t = st.tensor(name).unwrap_or_else(|_| panic!("{name} missing"));
        assert_eq!(t.shape(), *shape, "{name}");
        assert_eq!(t.dtype(), *dtype, "{name}");
    }
    assert_eq!(st.names().len(), 17);
    // a 5x5 first kernel gives the 11x11 flatten size
    let cfg5 = ConfigNetConfig {
        conv1_kernel: 5,
        ..cfg
    };
    assert_eq!(
        ConfigNet::new(cfg5, 1, &Cpu)
            .unwrap()
            .batch_norm
            .weight
            .shape(),
        &[96 * 11 * 11]
    );
}

#[test]
fn errors_name_the_tensor_and_both_shapes_and_leave_the_model_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.safetensors");
    state_dict::save(
        &ConfigNet::new(ConfigNetConfig::new(4, 8, 32, 0.1), 1, &Cpu).unwrap(),
        &path,
    )
    .unwrap();
    let mut m = ConfigNet::new(small(), 3, &Cpu).unwrap();
    let before = state_dict::state_dict(&m).unwrap();
    let e = state_dict::load(&mut m, &path).unwrap_err();
    assert!(matches!(e, NnError::ShapeMismatch { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("fc1.weight") && msg.contains("[32, 1152]") && msg.contains("[16, 1152]"),
        "{msg}"
    );
    assert_eq!(
        before,
        state_dict::state_dict(&m).unwrap(),
        "model untouched"
    );

    // missing tensor
    let (mut tensors, _) = read_safetensors(&path).unwrap();
    let good = dir.path().join("good.safetensors");
    state_dict::save(&ConfigNet::new(small(), 1, &Cpu).unwrap(), &good).unwrap();
    let (mut good_t, _) = read_safetensors(&good).unwrap();
    good_t.remove("fc2.bias");
    let e = state_dict::load_tensors(&mut m, &good_t, "t").unwrap_err();
    assert!(
        matches!(e, NnError::MissingTensor { .. }) && e.to_string().contains("fc2.bias"),
        "{e}"
    );
    // extra tensor
    let (mut extra, _) = read_safetensors(&good).unwrap();
    extra.insert("fc3.weight".into(), (vec![2], vec![0.0, 0.0]));
    let e = state_dict::load_tensors(&mut m, &extra, "t").unwrap_err();
    assert!(
        matches!(e, NnError::UnexpectedTensor { .. }) && e.to_string().contains("fc3.weight"),
        "{e}"
    );
    tensors.clear();
    assert_eq!(
        before,
        state_dict::state_dict(&m).unwrap(),
        "model untouched"
    );

    // not a safetensors file
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"this is not a tensor file").unwrap();
    let e = state_dict::load(&mut m, &junk).unwrap_err();
    assert!(
        matches!(e, NnError::NotWeights { .. }) && e.to_string().contains("junk.safetensors"),
        "{e}"
    );
    // missing file
    let e = state_dict::load(&mut m, &dir.path().join("nope.safetensors")).unwrap_err();
    assert!(
        matches!(e, NnError::Io { .. }) && e.to_string().contains("nope.safetensors"),
        "{e}"
    );
}
