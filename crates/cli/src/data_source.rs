//! Where the images come from: `--data PATH`, else `KILN_DATA`, else the built-in synthetic
//! dataset (and then the user is told so); with `--train-size`/`--test-size`, `--image-size`
//! and a validation split. Every request that cannot work is refused before loading.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_data::{DataWarning, Dataset, LoadOptions, Split};
use kiln_train::FitData;

use crate::args::Common;
use crate::{CliError, Result};

/// Images in the built-in synthetic training and test sets.
pub const SYNTHETIC_TRAIN: usize = 4_000;
pub const SYNTHETIC_TEST: usize = 1_000;

/// The data folder named by `--data` or `KILN_DATA`, if any.
pub fn data_dir(flag: Option<&Path>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf)
        .or_else(kiln_data::default_data_dir)
}

/// Checks the size flags before anything is loaded.
pub fn check_sizes(c: &Common) -> Result<()> {
    for (flag, v) in [("--train-size", c.train_size), ("--test-size", c.test_size)] {
        if v == Some(0) {
            return Err(CliError::Usage(format!(
                "{flag} 0 leaves no images: give at least 1 (or leave it out for all of them)"
            )));
        }
    }
    if let Some(side) = c.image_size
        && side < 8
    {
        return Err(CliError::Usage(format!(
            "--image-size {side} is too small: at least 8"
        )));
    }
    Ok(())
}

/// `n` images of `d` spread evenly, or an error when the set has fewer.
fn limit(d: Dataset, n: Option<usize>, flag: &str) -> Result<Dataset> {
    match n {
        Some(n) if n > d.len() => Err(CliError::Usage(format!(
            "{flag} {n}: {} has only {} images",
            d.source(),
            d.len()
        ))),
        Some(n) if n < d.len() => Ok(d.spread(n)),
        _ => Ok(d),
    }
}

/// The side image folders are resized to when `--image-size` is not given.
pub const DEFAULT_IMAGE_SIZE: usize = 32;

fn load_split(c: &Common, dir: &Path, split: Split, side: usize) -> Result<Dataset> {
    let opts = LoadOptions {
        image_size: c.image_size.unwrap_or(side),
        ..LoadOptions::default()
    };
    let d = kiln_data::load_options(dir, split, &opts)?;
    let (n, flag) = match split {
        Split::Train => (c.train_size, "--train-size"),
        Split::Test => (c.test_size, "--test-size"),
    };
    limit(d, n, flag)
}

fn synthetic(c: &Common, split: Split) -> Dataset {
    match split {
        Split::Train => kiln_data::synthetic(c.train_size.unwrap_or(SYNTHETIC_TRAIN), c.seed),
        Split::Test => {
            kiln_data::synthetic(c.test_size.unwrap_or(SYNTHETIC_TEST), c.seed ^ 0x7465_7374)
        }
    }
}

/// The training, validation (a `val_split` fraction of the training set, the same of every
/// class) and test sets of a command; `synthetic` when no data was named.
pub fn load_fit_data(c: &Common, val_split: Option<f64>) -> Result<(FitData, bool)> {
    check_sizes(c)?;
    if let Some(f) = val_split
        && !(f > 0.0 && f < 1.0)
    {
        return Err(CliError::Usage(format!(
            "--val-split {f}: give a fraction of the training set between 0 and 1, e.g. 0.1"
        )));
    }
    let (train, test, synth) = match data_dir(c.data.as_deref()) {
        Some(dir) => (
            load_split(c, &dir, Split::Train, DEFAULT_IMAGE_SIZE)?,
            load_split(c, &dir, Split::Test, DEFAULT_IMAGE_SIZE)?,
            false,
        ),
        None => (synthetic(c, Split::Train), synthetic(c, Split::Test), true),
    };
    let (train, validation) = match val_split {
        Some(f) => {
            let (t, v) = train.split_validation(f, c.seed ^ 0x0076_616c)?;
            (t, Some(v))
        }
        None => (train, None),
    };
    announce(&train, "train");
    if let Some(v) = &validation {
        announce(v, "validation");
    }
    announce(&test, "test");
    print_warnings(&warnings_of(&[&train, &test]));
    if synth {
        eprintln!(
            "note: no --data and no KILN_DATA: using Kiln's built-in SYNTHETIC dataset, not CIFAR-10 (pass --data PATH for real images)"
        );
    }
    Ok((
        FitData {
            train: Arc::new(train),
            validation: validation.map(Arc::new),
            test: Arc::new(test),
        },
        synth,
    ))
}

/// Loads the test split only, image folders at `side` unless `--image-size` says otherwise
/// (the network's input side); `synthetic` when no data was named.
pub fn load_test(c: &Common, side: usize) -> Result<(Arc<Dataset>, bool)> {
    check_sizes(c)?;
    let (d, synth) = match data_dir(c.data.as_deref()) {
        Some(dir) => (load_split(c, &dir, Split::Test, side)?, false),
        None => (synthetic(c, Split::Test), true),
    };
    announce(&d, "test");
    print_warnings(&warnings_of(&[&d]));
    if synth {
        eprintln!(
            "note: no --data and no KILN_DATA: evaluating on Kiln's built-in SYNTHETIC dataset, not CIFAR-10"
        );
    }
    Ok((Arc::new(d), synth))
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
