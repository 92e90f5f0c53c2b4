//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`, minimised by `cargo fuzz cmin`)
//! and every crash the fuzzer ever found (`fuzz/regressions/<target>/`, one file per fixed
//! crash) through the entry points the fuzz targets call (`fuzz/src/lib.rs`, included here by
//! path): each input must come back as Ok or Err, never as a panic, and quickly.

#[path = "../../fuzz/src/lib.rs"]
mod entry;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The fuzz crate's folder.
fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `dir`, sorted (none when it is absent).
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.ends_with(".gitkeep"))
        .collect();
    v.sort();
    v
}

/// A slow input is a hang in the making (release build; generous for a loaded machine).
const SLOW: Duration = Duration::from_secs(5);

#[test]
fn every_corpus_input_and_fixed_crash_is_ok_or_err_without_a_panic() {
    let mut failures = Vec::new();
    for (name, run) in entry::TARGETS {
        let corpus = files(&fuzz_dir().join("corpus").join(name));
        let crashes = files(&fuzz_dir().join("regressions").join(name));
        assert!(!corpus.is_empty(), "fuzz/corpus/{name}/ is empty");
        let mut ok = 0;
        for path in corpus.iter().chain(&crashes) {
            let bytes = std::fs::read(path).unwrap();
            let start = Instant::now();
            let verdict = std::panic::catch_unwind(|| run(&bytes));
            let took = start.elapsed();
            match verdict {
                Ok(Ok(())) => ok += 1,
                Ok(Err(msg)) => assert!(!msg.is_empty(), "{}: empty error", path.display()),
                Err(_) => failures.push(format!("{name}: {} panicked", path.display())),
            }
            if took > SLOW {
                failures.push(format!("{name}: {} took {took:?}", path.display()));
            }
        }
        // the corpus reaches past the first checks: some of it is accepted
        assert!(ok > 0, "no input of fuzz/corpus/{name}/ parses");
        println!(
            "{name}: {} corpus inputs ({ok} accepted), {} fixed crashes",
            corpus.len(),
            crashes.len()
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn every_fuzz_target_is_replayed() {
    let mut on_disk: Vec<String> = files(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = entry::TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
    let stray = files(&fuzz_dir().join("regressions"));
    assert!(stray.is_empty(), "regressions go in <target>/: {stray:?}");
}

#[test]
fn the_wrapped_torch_input_is_the_archive_torch_save_writes() {
    // data.pkl and one storage, zipped by the target: read back as a torch file
    let zip = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/nn/tests/fixtures/torch/int32.pt"),
    )
    .unwrap();
    assert!(entry::torch_zip(&zip).unwrap_err().contains("dtype I32"));
    let pkl = b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01ctorch._utils\n_rebuild_tensor_v2\nq\x02((X\x07\x00\x00\x00storageq\x03ctorch\nFloatStorage\nq\x04X\x01\x00\x00\x000q\x05X\x03\x00\x00\x00cpuq\x06K\x02tq\x07QK\x00K\x02\x85q\x08K\x01\x85q\x09\x89ccollections\nOrderedDict\nq\x0a)Rq\x0btq\x0cRq\x0ds.";
    let mut input = pkl.to_vec();
    input.extend(entry::PART);
    input.extend(1.5f32.to_le_bytes());
    input.extend((-2.0f32).to_le_bytes());
    let w =
        kiln_nn::state_dict::parse_weights(&entry::torch_archive(&input), Path::new("x")).unwrap();
    assert_eq!(w.tensors["w"], (vec![2], vec![1.5, -2.0]));
    assert_eq!(entry::torch_zip(&input), Ok(()));
}

/// Writes the Kiln-made seeds into `fuzz/seeds/` (see `fuzz/README.md`; the rest come from
/// `fuzz/make_seeds.py`): `cargo test --release -p kiln-tests --test fuzz_corpus -- --ignored`.
#[test]
#[ignore = "writes the fuzz seeds; run by hand"]
fn write_seeds() {
    use kiln_nn::{Architecture, ConfigNetConfig};
    use kiln_train::{DeviceInfo, FitData, RunConfig, RunOptions, TrainConfig, made_by, train_run};

    let seeds = fuzz_dir().join("seeds");
    let put = |target: &str, name: &str, bytes: &[u8]| {
        let dir = seeds.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    // a real run's checkpoint and weights, for the smallest network
    let run = tempfile::tempdir().unwrap();
    let data = |n, seed| std::sync::Arc::new(kiln_data::synthetic(n, seed));
    let data = FitData {
        train: data(32, 1),
        validation: None,
        test: data(16, 2),
    };
    let cfg = RunConfig {
        model: Architecture::ConfigNet(ConfigNetConfig::new(1, 1, 2, 0.0)),
        train: TrainConfig {
            epochs: 1,
            batch_size: 16,
            seed: 1,
            ..TrainConfig::default()
        },
        init_from: None,
        data: data.fingerprint(),
        device: DeviceInfo {
            kind: "cpu".into(),
            precision: "f32".into(),
        },
        made_by: made_by(),
    };
    train_run(
        run.path(),
        &cfg,
        &data,
        &kiln_tensor::Cpu,
        &RunOptions {
            resume: false,
            fit: Default::default(),
            tensorboard: None,
        },
        &mut (),
    )
    .unwrap();
    let read = |f: &str| std::fs::read(run.path().join(f)).unwrap();
    let ckpt = read(kiln_train::run::CHECKPOINT_FILE);
    put("checkpoint", "kiln_run", &ckpt);
    // the same run state beside a much smaller model
    let state = kiln_train::checkpoint::parse(&ckpt, Path::new("x"))
        .unwrap()
        .state;
    let small = kiln_nn::layers::Linear::new(3, 2, true, 1, &kiln_tensor::Cpu).unwrap();
    let opt = kiln_nn::Adam::new(Default::default(), &kiln_tensor::Cpu);
    let path = run.path().join("small.safetensors");
    kiln_train::checkpoint::save(&path, &small, &opt, &state).unwrap();
    put("checkpoint", "kiln_linear", &std::fs::read(&path).unwrap());
    put(
        "safetensors",
        "kiln_weights",
        &read(kiln_train::run::LAST_FILE),
    );
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/nn/tests/fixtures");
    put(
        "safetensors",
        "torch_floats",
        &std::fs::read(fixtures.join("torch/floats.safetensors")).unwrap(),
    );
    // CIFAR-10 records of synthetic images
    let d = kiln_data::synthetic(3, 7);
    let labels: Vec<u8> = d.labels().iter().map(|&l| l as u8).collect();
    for n in 1..=2 {
        let records = kiln_data::cifar_binary::encode_records(&d.images()[..n * 3072], &labels);
        put("cifar_binary", &format!("records_{n}"), &records);
    }
    let names = kiln_data::CIFAR10_CLASSES.join("\n");
    put("cifar_binary", "batches_meta_txt", names.as_bytes());
}
