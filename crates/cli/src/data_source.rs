//! Where the images come from: `--data PATH`, else `KILN_DATA`, else the built-in synthetic
//! dataset (and then the user is told so).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_data::{DataWarning, Dataset, Split};

use crate::Result;

/// Images in the built-in synthetic training and test sets.
pub const SYNTHETIC_TRAIN: usize = 4_000;
pub const SYNTHETIC_TEST: usize = 1_000;

/// The training and test sets of a command.
pub struct DataPair {
    pub train: Arc<Dataset>,
    pub test: Arc<Dataset>,
    pub synthetic: bool,
}

/// The data folder named by `--data` or `KILN_DATA`, if any.
pub fn data_dir(flag: Option<&Path>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf)
        .or_else(kiln_data::default_data_dir)
}

fn limit(d: Dataset, n: Option<usize>) -> Dataset {
    match n {
        Some(n) if n < d.len() => d.spread(n),
        _ => d,
    }
}

/// Loads both splits (optionally only `train_size` / `test_size` images of each, spread evenly).
pub fn load_pair(
    flag: Option<&Path>,
    train_size: Option<usize>,
    test_size: Option<usize>,
    seed: u64,
) -> Result<DataPair> {
    let pair = match data_dir(flag) {
        Some(dir) => DataPair {
            train: Arc::new(limit(kiln_data::load(&dir, Split::Train)?, train_size)),
            test: Arc::new(limit(kiln_data::load(&dir, Split::Test)?, test_size)),
            synthetic: false,
        },
        None => DataPair {
            train: Arc::new(kiln_data::synthetic(
                train_size.unwrap_or(SYNTHETIC_TRAIN),
                seed,
            )),
            test: Arc::new(kiln_data::synthetic(
                test_size.unwrap_or(SYNTHETIC_TEST),
                seed ^ 0x7465_7374,
            )),
            synthetic: true,
        },
    };
    announce(&pair.train, "train");
    announce(&pair.test, "test");
    print_warnings(&warnings_of(&[&pair.train, &pair.test]));
    if pair.synthetic {
        eprintln!(
            "note: no --data and no KILN_DATA: using Kiln's built-in SYNTHETIC dataset, not CIFAR-10 (pass --data PATH for real images)"
        );
    }
    Ok(pair)
}

/// Loads the test split only.
pub fn load_test(
    flag: Option<&Path>,
    test_size: Option<usize>,
    seed: u64,
) -> Result<(Arc<Dataset>, bool)> {
    let (d, synthetic) = match data_dir(flag) {
        Some(dir) => (limit(kiln_data::load(&dir, Split::Test)?, test_size), false),
        None => (
            kiln_data::synthetic(test_size.unwrap_or(SYNTHETIC_TEST), seed ^ 0x7465_7374),
            true,
        ),
    };
    announce(&d, "test");
    print_warnings(&warnings_of(&[&d]));
    if synthetic {
        eprintln!(
            "note: no --data and no KILN_DATA: evaluating on Kiln's built-in SYNTHETIC dataset, not CIFAR-10"
        );
    }
    Ok((Arc::new(d), synthetic))
}

/// The loaders' warnings of `sets`, each once (both splits of a folder warn alike).
pub fn warnings_of(sets: &[&Dataset]) -> Vec<DataWarning> {
    let mut out: Vec<DataWarning> = Vec::new();
    for w in sets.iter().flat_map(|d| d.warnings()) {
        if !out.contains(w) {
            out.push(w.clone());
        }
    }
    out
}

/// Prints warnings to stderr, each with the command's hint.
pub fn print_warnings(warnings: &[DataWarning]) {
    for w in warnings {
        eprintln!("warning: {w}");
        eprintln!("hint: {}", crate::warning_hint(w));
    }
}

fn announce(d: &Dataset, split: &str) {
    eprintln!("{split} data: {} images from {}", d.len(), d.source());
}
