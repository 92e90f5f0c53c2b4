//! PyTorch weight files: `torch.save` archives and safetensors of every float type, read as
//! PyTorch reads them. The fixtures and the values PyTorch gives for them (float32 bit
//! patterns, `expected.json`) come from `scripts/fixtures/torch_files.py`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_nn::state_dict::{self, WeightsFormat, parse_weights, read_weights};
use kiln_nn::{ConfigNet, ConfigNetConfig, NnError};
use kiln_tensor::Cpu;
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn files() -> BTreeMap<String, Value> {
    let e = expected();
    e["files"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Checks tensors against PyTorch's: the same names and shapes, and the same f32 bits (a NaN
/// only as a NaN: its payload after conversion is not portable, PyTorch and numpy differ).
fn assert_tensors(file: &str, got: &state_dict::NamedTensors, want: &Value) {
    let want = want.as_object().unwrap();
    let names: Vec<&String> = got.keys().collect();
    let mut want_names: Vec<&String> = want.keys().collect();
    want_names.sort();
    assert_eq!(names, want_names, "{file}: tensor names");
    for (name, w) in want {
        let (shape, values) = &got[name];
        let want_shape: Vec<usize> = w["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(shape, &want_shape, "{file}: {name} shape");
        let bits: Vec<u32> = w["bits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(values.len(), bits.len(), "{file}: {name} length");
        for (i, (v, b)) in values.iter().zip(&bits).enumerate() {
            let want = f32::from_bits(*b);
            if want.is_nan() {
                assert!(v.is_nan(), "{file}: {name}[{i}] = {v}, PyTorch gives NaN");
            } else {
                assert_eq!(
                    v.to_bits(),
                    *b,
                    "{file}: {name}[{i}] = {v:e}, PyTorch gives {want:e}"
                );
            }
        }
    }
}

#[test]
fn every_good_fixture_reads_as_pytorch_reads_it() {
    let mut checked = 0;
    for (file, want) in files() {
        let Some(tensors) = want.get("tensors") else {
            continue;
        };
        let w = read_weights(&fixtures().join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let format = match want["format"].as_str().unwrap() {
            "TorchZip" => WeightsFormat::TorchZip,
            _ => WeightsFormat::Safetensors,
        };
        assert_eq!(w.format, format, "{file}");
        assert_tensors(&file, &w.tensors, tensors);
        match want.get("notes") {
            Some(n) => {
                let must = n[0].as_str().unwrap();
                assert_eq!(w.notes.len(), 1, "{file}: {:?}", w.notes);
                assert!(w.notes[0].contains(must), "{file}: {:?}", w.notes);
            }
            None => assert!(w.notes.is_empty(), "{file}: {:?}", w.notes),
        }
        match want.get("metadata") {
            Some(m) => {
                for (k, v) in m.as_object().unwrap() {
                    assert_eq!(w.metadata.get(k).map(String::as_str), v.as_str(), "{file}");
                }
            }
            None => assert!(
                w.metadata.is_empty(),
                "{file}: a torch file has no metadata"
            ),
        }
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} fixtures checked");
}

#[test]
fn every_bad_fixture_is_its_typed_error() {
    let mut checked = 0;
    for (file, want) in files() {
        let Some(kind) = want.get("error").and_then(Value::as_str) else {
            continue;
        };
        let path = fixtures().join(&file);
        let e = read_weights(&path).expect_err(&file);
        let msg = e.to_string();
        assert!(
            msg.contains(&file),
            "{file}: the error names the file: {msg}"
        );
        match (kind, &e) {
            ("LegacyTorchFormat", NnError::LegacyTorchFormat { .. }) => {
                assert!(
                    msg.contains("torch.save(model.state_dict(), path)"),
                    "{msg}"
                );
                assert!(msg.contains("safetensors.torch.save_file"), "{msg}");
            }
            ("ForbiddenGlobal", NnError::ForbiddenGlobal { module, name, .. }) => {
                assert_eq!(module, want["module"].as_str().unwrap(), "{file}");
                assert_eq!(name, want["global_name"].as_str().unwrap(), "{file}");
                assert!(msg.contains(&format!("{module}.{name}")), "{msg}");
            }
            ("TorchFormat", NnError::TorchFormat { .. }) | ("Dtype", NnError::Dtype { .. }) => {}
            _ => panic!("{file}: expected {kind}, got {e:?}"),
        }
        if let Some(m) = want.get("mentions").and_then(Value::as_str) {
            assert!(msg.contains(m), "{file}: {msg}");
        }
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} fixtures checked");
}

#[test]
fn a_forbidden_global_is_refused_and_nothing_runs() {
    let e = expected();
    let marker = Path::new(e["marker"].as_str().unwrap());
    let _ = std::fs::remove_file(marker);
    let path = fixtures().join("forbidden_os_system.pt");
    let bytes = std::fs::read(&path).unwrap();
    // the pickle really holds the call (so the test can fail)
    assert!(bytes.windows(10).any(|w| w == b"os\nsystem\n"));
    let err = read_weights(&path).unwrap_err();
    assert!(
        matches!(&err, NnError::ForbiddenGlobal { module, name, .. } if module == "os" && name == "system"),
        "{err:?}"
    );
    let mut m = ConfigNet::new(ConfigNetConfig::new(2, 2, 4, 0.1), 0, &Cpu).unwrap();
    assert!(state_dict::load(&mut m, &path).is_err());
    assert!(!marker.exists(), "{} was created", marker.display());
}

#[test]
fn pytorch_parity_model_pt_equals_its_safetensors() {
    let Some(dir) = kiln_tensor::testing::parity_fixture("model.pt against model.safetensors")
    else {
        return;
    };
    let pt = read_weights(&dir.join("model.pt")).unwrap();
    let st = read_weights(&dir.join("model.safetensors")).unwrap();
    assert_eq!(pt.format, WeightsFormat::TorchZip);
    assert_eq!(st.format, WeightsFormat::Safetensors);
    assert!(pt.tensors.contains_key("batch_norm.num_batches_tracked"));
    assert_eq!(
        pt.tensors.keys().collect::<Vec<_>>(),
        st.tensors.keys().collect::<Vec<_>>()
    );
    for (name, (shape, values)) in &st.tensors {
        let (s, v) = &pt.tensors[name];
        assert_eq!(s, shape, "{name}");
        let a: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
        let b: Vec<u32> = values.iter().map(|x| x.to_bits()).collect();
        assert_eq!(a, b, "{name}");
    }
    // and it loads into the network
    let mut net = ConfigNet::new(ConfigNetConfig::new(8, 16, 32, 0.0), 0, &Cpu).unwrap();
    state_dict::load(&mut net, &dir.join("model.pt")).unwrap();
}

#[test]
fn a_data_parallel_state_dict_loads_into_confignet() {
    let files = files();
    let want = &files["dataparallel.pt"];
    let c = &want["confignet"];
    let n = |k: &str| c[k].as_u64().unwrap() as usize;
    let cfg = ConfigNetConfig::new(n("c1"), n("c2"), n("l1"), 0.1);
    let mut net = ConfigNet::new(cfg, 0, &Cpu).unwrap();
    state_dict::load(&mut net, &fixtures().join("dataparallel.pt")).unwrap();
    let loaded: state_dict::NamedTensors = state_dict::state_dict(&net)
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, (t.shape, t.data)))
        .collect();
    assert_tensors("dataparallel.pt", &loaded, &want["tensors"]);
}

#[test]
fn the_format_is_told_by_content_not_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    let swapped = [
        ("floats.pt", "looks.safetensors", WeightsFormat::TorchZip),
        ("floats.safetensors", "looks.pt", WeightsFormat::Safetensors),
    ];
    for (src, dst, format) in swapped {
        let p = dir.path().join(dst);
        std::fs::copy(fixtures().join(src), &p).unwrap();
        assert_eq!(read_weights(&p).unwrap().format, format, "{src}");
    }
}

#[test]
fn a_safetensors_header_that_looks_like_a_pickle_still_reads() {
    // a header of 0x280 bytes makes the file start 0x80 0x02, as a pickle does
    let mut t = BTreeMap::new();
    t.insert(
        "w".to_string(),
        state_dict::HostTensor {
            shape: vec![2],
            data: vec![1.5, -2.0],
            kind: kiln_nn::TensorKind::Parameter,
        },
    );
    let bytes = (0..1000)
        .map(|n| {
            let meta = [("pad".to_string(), "x".repeat(n))].into_iter().collect();
            state_dict::to_safetensors_bytes(&t, Some(meta)).unwrap()
        })
        .find(|b| b[..2] == [0x80, 0x02])
        .expect("some padding gives a 0x280-byte header");
    let w = parse_weights(&bytes, Path::new("mem")).unwrap();
    assert_eq!(w.format, WeightsFormat::Safetensors);
    assert_eq!(w.tensors["w"].1, [1.5, -2.0]);
}

#[test]
fn a_bare_pickle_is_named_as_such() {
    let e = parse_weights(
        b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00}\x94.",
        Path::new("p.pkl"),
    )
    .unwrap_err();
    assert!(
        matches!(e, NnError::TorchFormat { .. }) && e.to_string().contains("bare Python pickle"),
        "{e}"
    );
}

#[test]
fn every_truncation_and_bit_flip_is_an_error_never_a_panic() {
    for file in [
        "floats.pt",
        "views.pt",
        "floats_protocol4.pt",
        "floats.safetensors",
    ] {
        let bytes = std::fs::read(fixtures().join(file)).unwrap();
        let path = Path::new(file);
        let good = parse_weights(&bytes, path).unwrap();
        for cut in 0..bytes.len() {
            assert!(
                parse_weights(&bytes[..cut], path).is_err(),
                "{file} cut at {cut} read"
            );
        }
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x10, 0x80] {
                let mut d = bytes.clone();
                d[i] ^= bit;
                // a read that succeeds despite the flip (a date, a padding byte, a value in a
                // safetensors file, which has no checksum) still gives tensors of the same names
                if let Ok(w) = parse_weights(&d, path)
                    && file.ends_with(".pt")
                {
                    assert_eq!(
                        w.tensors.keys().collect::<Vec<_>>(),
                        good.tensors.keys().collect::<Vec<_>>(),
                        "{file}: flip {bit:#x} at {i}"
                    );
                }
            }
        }
    }
}

#[test]
fn an_image_or_a_text_file_is_not_a_weights_file() {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0 \0\0\0 \x08\x02\0\0\0";
    for bytes in [&png[..], b"hello, these are not weights"] {
        let e =
            kiln_nn::state_dict::parse_weights(bytes, std::path::Path::new("x.png")).unwrap_err();
        assert!(matches!(e, NnError::NotWeights { .. }), "{e:?}");
        assert!(e.to_string().contains("x.png is not a weights file"), "{e}");
    }
}
