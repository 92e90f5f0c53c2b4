//! Kiln's TensorBoard event files, read back by TensorBoard's own reader (installed from PyPI
//! into a throwaway venv under `target/`).

use std::process::Command;

use kiln_tensor::testing::{Need, skip};
use kiln_train::tensorboard::SummaryWriter;

/// Prints, as one JSON line: every scalar `EventAccumulator` finds in the run folder (argv 1)
/// as `[step, f32 bits, wall_time]`, and the events `EventFileLoader` reads from the file
/// (argv 2; a record failing its CRC check ends the read early).
const READER: &str = r#"
import json, struct, sys
from tensorboard.backend.event_processing import event_accumulator, event_file_loader

run_dir, path = sys.argv[1], sys.argv[2]
acc = event_accumulator.EventAccumulator(run_dir, size_guidance={event_accumulator.SCALARS: 0})
acc.Reload()
bits = lambda v: struct.unpack("<I", struct.pack("<f", v))[0]
scalars = {
    tag: [[e.step, bits(e.value), e.wall_time] for e in acc.Scalars(tag)]
    for tag in acc.Tags()["scalars"]
}
events = list(event_file_loader.EventFileLoader(path).Load())
print(json.dumps({
    "scalars": scalars,
    "records": len(events),
    "file_version": events[0].file_version if events else None,
}))
"#;

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn tensorboard_reads_back_every_scalar() {
    // (tag, step, value), written step by step as a training loop would.
    let written: Vec<(&str, u64, f64)> = vec![
        ("loss/train", 0, 2.25),
        ("accuracy/test", 0, 0.1),
        ("lr", 0, 0.1),
        ("images_per_sec", 0, 3.5e4),
        ("loss/train", 1, 0.0),
        ("accuracy/test", 1, 0.5),
        ("lr", 1, 1e-7),
        ("images_per_sec", 1, 12345.678),
        ("loss/train", 2, -0.75),
        ("lr", 2, -1e-7),
        ("images_per_sec", 2, 3.4e38),
        ("loss/train", 3, 1e-7),
        ("accuracy/test", 3, 0.999),
        ("lr", 1 << 33, 0.0),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("run");
    let before = now();
    let mut writer = SummaryWriter::create(&run_dir).unwrap();
    for &(tag, step, value) in &written {
        writer.add_scalar(tag, value, step).unwrap();
    }
    writer.flush().unwrap();
    let after = now();
    let file = writer.path().to_path_buf();
    drop(writer);

    let what = "TensorBoard's EventAccumulator reads a Kiln event file";
    let python = match kiln_tests::python::venv(&["tensorboard"]) {
        Ok(python) => python,
        Err(why) => {
            skip(Need::Python, what, &why);
            return;
        }
    };
    let out = Command::new(&python)
        .arg("-c")
        .arg(READER)
        .arg(&run_dir)
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the reader failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();

    assert_eq!(json["file_version"], "brain.Event:2");
    assert_eq!(json["records"], 1 + written.len(), "{json}");
    let scalars = json["scalars"].as_object().unwrap();
    let mut tags: Vec<&str> = written.iter().map(|w| w.0).collect();
    tags.sort_unstable();
    tags.dedup();
    let mut found: Vec<&str> = scalars.keys().map(String::as_str).collect();
    found.sort_unstable();
    assert_eq!(found, tags);
    for tag in tags {
        let want: Vec<(u64, u32)> = written
            .iter()
            .filter(|w| w.0 == tag)
            .map(|&(_, step, v)| (step, (v as f32).to_bits()))
            .collect();
        let got = scalars[tag].as_array().unwrap();
        let got_pairs: Vec<(u64, u32)> = got
            .iter()
            .map(|e| (e[0].as_u64().unwrap(), e[1].as_u64().unwrap() as u32))
            .collect();
        assert_eq!(got_pairs, want, "{tag}: (step, f32 bits)");
        for e in got {
            let t = e[2].as_f64().unwrap();
            assert!(
                t >= before - 1.0 && t <= after + 1.0,
                "{tag}: wall_time {t}"
            );
        }
    }
}
