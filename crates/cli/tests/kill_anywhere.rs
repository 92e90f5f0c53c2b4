//! Kill anywhere: `kiln train` SIGKILLed at random moments (many inside a write, which a test
//! hook slows down), resumed each time, ends bit-identical to a run never interrupted; and a
//! full disk while writing a checkpoint keeps the previous one and ends in one clear error.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kiln_nn::state_dict::read_safetensors;
use kiln_tensor::testing::{Need, skip};

const EPOCHS: &str = "6";

fn kiln(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kiln"));
    c.current_dir(dir)
        .env_remove("KILN_DATA")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// The arguments of the small run: the built-in data, a tiny ConfigNet, 4 epochs; a resumed
/// run takes its settings from its folder.
fn train_args(resume: bool) -> Vec<&'static str> {
    let mut a = vec![
        "--train-size",
        "256",
        "--test-size",
        "64",
        "--threads",
        "1",
        "train",
        "--workers",
        "1",
    ];
    if resume {
        a.extend(["--resume", "runs/run"]);
    } else {
        a.extend([
            "--epochs",
            EPOCHS,
            "--batch-size",
            "32",
            "--c1",
            "4",
            "--c2",
            "8",
            "--l1",
            "16",
            "--name",
            "run",
        ]);
    }
    a
}

/// Every tensor of a safetensors file, as bits.
fn tensor_bits(path: &Path) -> Vec<(String, Vec<u32>)> {
    read_safetensors(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .0
        .into_iter()
        .map(|(k, (_, v))| (k, v.iter().map(|x| x.to_bits()).collect()))
        .collect()
}

/// The history without its wall-clock fields.
fn history(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("seconds");
            o.remove("train_images_per_sec");
            v
        })
        .collect()
}

/// Runs attempts in `d` until the run finishes, killing each at a random moment of up to
/// `span`; returns (kills, kills that landed inside a write).
fn run_with_kills(d: &Path, span: Duration, rand: &mut impl FnMut() -> u64) -> (usize, usize) {
    let (mut kills, mut in_write) = (0, 0);
    loop {
        let resume = d.join("runs/run/run.json").exists();
        let mut child = kiln(d)
            .args(train_args(resume))
            .env("KILN_TEST_WRITE_DELAY_MS", "30")
            .spawn()
            .unwrap();
        let until = Instant::now() + Duration::from_millis(rand() % span.as_millis() as u64);
        while Instant::now() < until && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
        if child.try_wait().unwrap().is_some() {
            let o = child.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            return (kills, in_write);
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        let writing = std::fs::read_dir(d.join("runs/run")).is_ok_and(|mut it| {
            it.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".tmp")))
        });
        in_write += writing as usize;
    }
}

#[test]
fn killed_at_twenty_random_moments_and_resumed_ends_bit_identical() {
    let start = Instant::now();
    let reference = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let o = kiln(reference.path())
        .args(train_args(false))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plain = t.elapsed();
    let a = reference.path().join("runs/run");
    // a deterministic stream of kill moments; each attempt gets up to about two epochs
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let epochs: u32 = EPOCHS.parse().unwrap();
    let span = (plain / epochs + Duration::from_millis(5 * 30)) * 2 + Duration::from_millis(150);
    let (mut kills, mut in_write, mut rounds) = (0, 0, 0);
    while kills < 20 {
        let dir = tempfile::tempdir().unwrap();
        let (k, w) = run_with_kills(dir.path(), span, &mut rand);
        kills += k;
        in_write += w;
        rounds += 1;
        let b = dir.path().join("runs/run");
        for f in [
            "best.safetensors",
            "last.safetensors",
            "checkpoint.safetensors",
        ] {
            assert_eq!(tensor_bits(&a.join(f)), tensor_bits(&b.join(f)), "{f}");
        }
        assert_eq!(history(&a), history(&b), "the same figures every epoch");
        let leftovers: Vec<String> = std::fs::read_dir(&b)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "a resumed run removes them: {leftovers:?}"
        );
    }
    println!(
        "{kills} kills ({in_write} inside a write) over {rounds} runs in {:.1} s (one plain run: {:.2} s)",
        start.elapsed().as_secs_f64(),
        plain.as_secs_f64()
    );
    assert!(
        in_write >= 3,
        "some kills must land inside writes: {in_write}"
    );
    assert_eq!(history(&a).len(), epochs as usize);
    assert!(
        start.elapsed() < Duration::from_secs(120),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_full_disk_keeps_the_previous_checkpoint_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mnt = d.join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    // a file system that holds one epoch's files of this network (best and last 216 KB, checkpoint 613 KB) but not the next checkpoint beside them
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1450k", "tmpfs"])
        .arg(&mnt)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        skip(
            Need::Root,
            "a full disk while writing a checkpoint",
            "cannot mount a small tmpfs (needs root); the injected-failure test of kiln-train covers the library",
        );
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(&mnt);
    let o = kiln(d)
        .args([
            "--train-size",
            "256",
            "--test-size",
            "64",
            "--out",
            mnt.to_str().unwrap(),
            "train",
            "--epochs",
            "30",
            "--batch-size",
            "32",
            "--c1",
            "16",
            "--c2",
            "16",
            "--l1",
            "16",
            "--name",
            "run",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "the disk must fill up: {err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].contains("No space left on device"),
        "names the cause: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // what is there still loads and resumes
    let run = mnt.join("run");
    let ck = run.join("checkpoint.safetensors");
    if ck.exists() {
        read_safetensors(&ck).expect("the previous checkpoint is intact");
    }
    let best = run.join("best.safetensors");
    if best.exists() {
        kiln_nn::state_dict::read_weights(&best).expect("the best weights are intact");
    }
}
