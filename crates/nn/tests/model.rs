//! Models from files and presets: parsing, shape inference and its errors, PyTorch's
//! `nn.Sequential` numbering, and weights files that know their model (metadata, checksum).

use kiln_nn::model::{Architecture, LayerSpec, ModelFile, Shape, builtin};
use kiln_nn::state_dict::{WeightsMeta, read_weights, save_weights};
use kiln_nn::{Context, Model, Module, NnError, module::describe};
use kiln_tensor::{Cpu, Tensor};

const ISSUE_EXAMPLE: &str = r#"
[[layer]]
type = "conv2d"
out_channels = 64
kernel_size = 3
padding = 1
[[layer]]
type = "batchnorm2d"
[[layer]]
type = "relu"
[[layer]]
type = "residual"          # body's output added to its input
body = [ { type = "conv2d", out_channels = 64, kernel_size = 3, padding = 1 },
         { type = "batchnorm2d" }, { type = "relu" } ]
[[layer]]
type = "maxpool2d"
kernel_size = 2
[[layer]]
type = "flatten"
[[layer]]
type = "linear"
"#;

fn file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn layers(text: &str) -> Architecture {
    let (_dir, path) = file(text);
    let f = ModelFile::read(&path).unwrap();
    Architecture::Layers {
        name: f.name.unwrap(),
        layers: f.layers,
    }
}

#[test]
fn the_issue_example_builds_with_pytorch_names_and_inferred_sizes() {
    let arch = layers(ISSUE_EXAMPLE);
    let mut m = Model::new(&arch, [3, 8, 8], 5, 1, &Cpu).unwrap();
    let names: Vec<(String, Vec<usize>)> =
        describe(&m).into_iter().map(|(n, s, _)| (n, s)).collect();
    let get = |n: &str| names.iter().find(|(k, _)| k == n).map(|(_, s)| s.clone());
    assert_eq!(get("0.weight"), Some(vec![64, 3, 3, 3]));
    assert_eq!(get("1.running_var"), Some(vec![64]));
    assert_eq!(get("3.body.0.weight"), Some(vec![64, 64, 3, 3]));
    assert_eq!(get("3.body.1.num_batches_tracked"), Some(vec![]));
    // maxpool 8x8 -> 4x4, flatten 64*16, the last linear sized to the 5 classes
    assert_eq!(get("6.weight"), Some(vec![5, 64 * 16]));
    let x = Tensor::rand_uniform(&[2, 3, 8, 8], -1.0, 1.0, 3, &Cpu).unwrap();
    let y = m.forward(&x, &mut Context::train(1)).unwrap();
    assert_eq!(y.shape(), [2, 5]);
    // resolved: the last linear now says how many outputs it has
    let Architecture::Layers { layers, .. } = m.architecture() else {
        panic!("layers")
    };
    assert!(matches!(
        layers.last(),
        Some(LayerSpec::Linear {
            out_features: Some(5),
            ..
        })
    ));
    let maps = m.feature_maps(&x).unwrap();
    let map_names: Vec<&str> = maps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        map_names,
        ["0", "3"],
        "after each conv (and its bn/relu) and residual"
    );
    assert_eq!(maps[0].1.shape(), [2, 64, 8, 8]);
    let convs: Vec<String> = m.conv_weights().into_iter().map(|(n, _)| n).collect();
    assert_eq!(convs, ["0", "3.body.0"]);
}

#[test]
fn mistakes_in_a_model_file_are_errors_naming_the_layer() {
    let err = |text: &str, input: [usize; 3]| -> String {
        let (_dir, path) = file(text);
        match ModelFile::read(&path) {
            Err(e) => e.to_string(),
            Ok(f) => {
                let arch = Architecture::Layers {
                    name: "t".into(),
                    layers: f.layers,
                };
                match Model::new(&arch, input, 10, 0, &Cpu) {
                    Err(e) => e.to_string(),
                    Ok(_) => panic!("{text} built"),
                }
            }
        }
    };
    let e = err(
        "[[layer]]\ntype = \"conv2d\"\nout_channels = 8\nkernel = 3\n",
        [3, 8, 8],
    );
    assert!(e.contains("unknown field `kernel`"), "{e}");
    let e = err("[[layer]]\ntype = \"convolution\"\n", [3, 8, 8]);
    assert!(e.contains("unknown variant `convolution`"), "{e}");
    let e = err(
        "[[layer]]\ntype = \"conv2d\"\nout_channels = 8\nkernel_size = 9\n[[layer]]\ntype = \"flatten\"\n[[layer]]\ntype = \"linear\"\n",
        [3, 8, 8],
    );
    assert!(
        e.starts_with("layer 0 (conv2d):") && e.contains("does not fit"),
        "{e}"
    );
    let e = err(
        "[[layer]]\ntype = \"flatten\"\n[[layer]]\ntype = \"maxpool2d\"\nkernel_size = 2\n",
        [3, 8, 8],
    );
    assert!(
        e.starts_with("layer 1 (maxpool2d):") && e.contains("flat"),
        "{e}"
    );
    let e = err(
        "[[layer]]\ntype = \"residual\"\nbody = [{ type = \"conv2d\", out_channels = 4, kernel_size = 1 }]\n[[layer]]\ntype = \"flatten\"\n[[layer]]\ntype = \"linear\"\n",
        [3, 8, 8],
    );
    assert!(
        e.starts_with("layer 0 (residual):") && e.contains("shortcut"),
        "{e}"
    );
    let e = err(
        "[[layer]]\ntype = \"flatten\"\n[[layer]]\ntype = \"linear\"\nout_features = 7\n",
        [3, 8, 8],
    );
    assert!(e.contains("10 classes"), "{e}");
    let e = err("[[layer]]\ntype = \"flatten\"\n", [3, 8, 8]);
    assert!(e.contains("end it with a linear layer"), "{e}");
    let e = err("name = \"empty\"\nlayer = []\n", [3, 8, 8]);
    assert!(e.contains("no layers"), "{e}");
}

#[test]
fn the_builtin_resnet_takes_any_size_and_counts_its_parameters() {
    for (name, params) in [("resnet9-half", 1_640_000), ("resnet9", 6_570_000)] {
        let arch = builtin(name).unwrap();
        let m = Model::new(&arch, [3, 32, 32], 10, 0, &Cpu).unwrap();
        let n = kiln_nn::module::parameter_count(&m);
        assert!(
            (n as f64 / params as f64 - 1.0).abs() < 0.01,
            "{name}: {n} parameters"
        );
    }
    let arch = builtin("resnet9-half").unwrap();
    let mut m = Model::new(&arch, [3, 48, 48], 3, 0, &Cpu).unwrap();
    let x = Tensor::rand_uniform(&[2, 3, 48, 48], -1.0, 1.0, 1, &Cpu).unwrap();
    assert_eq!(m.forward(&x, &mut Context::eval()).unwrap().shape(), [2, 3]);
    assert!(builtin("CONFIGNET").is_some() && builtin("vgg").is_none());
    assert_eq!(
        kiln_nn::model::output_shape("0", &LayerSpec::Flatten, Shape::Image { c: 2, h: 3, w: 4 })
            .unwrap(),
        Shape::Flat(24)
    );
}

fn meta(m: &Model<Cpu>) -> WeightsMeta {
    WeightsMeta {
        architecture: m.architecture().clone(),
        input: m.input_shape(),
        class_names: (0..m.classes()).map(|i| format!("class{i}")).collect(),
        mean: vec![0.5; 3],
        std: vec![0.5; 3],
        made_by: "test".into(),
    }
}

#[test]
fn weights_files_rebuild_their_model_and_every_flipped_bit_is_caught() {
    let arch = builtin("confignet").unwrap();
    let m = Model::new(&arch, [3, 32, 32], 4, 7, &Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    save_weights(&m, &meta(&m), &path).unwrap();
    let w = read_weights(&path).unwrap();
    let got = w.meta.expect("Kiln's metadata");
    assert_eq!(got, meta(&m));
    let mut rebuilt = Model::new(&got.architecture, got.input, 4, 0, &Cpu).unwrap();
    kiln_nn::state_dict::load_tensors(&mut rebuilt, &w.tensors, "w").unwrap();
    let x = Tensor::rand_uniform(&[1, 3, 32, 32], -1.0, 1.0, 2, &Cpu).unwrap();
    let mut m = m;
    let (a, b) = (
        m.forward(&x, &mut Context::eval())
            .unwrap()
            .to_vec()
            .unwrap(),
        rebuilt
            .forward(&x, &mut Context::eval())
            .unwrap()
            .to_vec()
            .unwrap(),
    );
    assert_eq!(a, b);

    // 300 copies with one random bit flipped: none may load as if nothing happened
    let bytes = std::fs::read(&path).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..300 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let bit = (state % (bytes.len() as u64 * 8)) as usize;
        let mut copy = bytes.clone();
        copy[bit / 8] ^= 1 << (bit % 8);
        let p = dir.path().join("flipped.safetensors");
        std::fs::write(&p, &copy).unwrap();
        match read_weights(&p) {
            Err(_) => {}
            Ok(w) => panic!(
                "a flip of bit {bit} (byte {} of {}) loaded silently (meta {:?})",
                bit / 8,
                bytes.len(),
                w.meta.is_some()
            ),
        }
    }
}

#[test]
fn nan_weights_are_refused_with_the_tensor_named() {
    let arch = builtin("confignet").unwrap();
    let m = Model::new(&arch, [3, 32, 32], 10, 7, &Cpu).unwrap();
    let mut sd = kiln_nn::state_dict::state_dict(&m).unwrap();
    sd.get_mut("fc2.bias").unwrap().data[3] = f32::NAN;
    let tensors = sd
        .into_iter()
        .map(|(k, v)| (k, (v.shape, v.data)))
        .collect();
    let mut fresh = Model::new(&arch, [3, 32, 32], 10, 0, &Cpu).unwrap();
    let e = kiln_nn::state_dict::load_tensors(&mut fresh, &tensors, "w").unwrap_err();
    assert!(
        matches!(e, NnError::NonFinite { ref name, count: 1, .. } if name == "fc2.bias"),
        "{e}"
    );
}

#[test]
fn the_shipped_example_model_files_build_at_any_size_and_class_count() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/models");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let f = ModelFile::read(&path).unwrap();
        let arch = Architecture::Layers {
            name: f.name.unwrap(),
            layers: f.layers,
        };
        for (input, classes) in [([3, 32, 32], 10), ([3, 48, 48], 3)] {
            let mut m = Model::new(&arch, input, classes, 1, &Cpu).unwrap();
            let x = Tensor::zeros(&[2, 3, input[1], input[2]], &Cpu).unwrap();
            let y = m.forward(&x, &mut Context::eval()).unwrap();
            assert_eq!(y.shape(), [2, classes], "{}", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 1, "no model files in {}", dir.display());
}
