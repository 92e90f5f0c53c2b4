//! `kiln data download`, `kiln data info` and `kiln data verify`.

use std::path::Path;
use std::time::Instant;

use kiln_data::{Integrity, Split};

use crate::args::DataCommand;
use crate::data_source::{data_dir, print_warnings};
use crate::{CliError, Result};

pub fn run(cmd: &DataCommand, data_flag: Option<&Path>) -> Result<()> {
    match cmd {
        DataCommand::Download { dir } => {
            let path = kiln_data::download_cifar10(dir, kiln_data::CIFAR10_BINARY_URL)?;
            println!("CIFAR-10 is in {}", path.display());
            if path.join(kiln_data::SHA256SUMS).is_file() {
                println!(
                    "its SHA256SUMS is verified by every load (`kiln data verify` checks all)"
                );
            }
            println!("use it with: kiln train --data {}", dir.display());
        }
        DataCommand::Info => {
            let Some(dir) = data_dir(data_flag) else {
                println!(
                    "no --data and no KILN_DATA: commands use Kiln's built-in synthetic dataset"
                );
                println!(
                    "get CIFAR-10 with `kiln data download --dir data`, then pass --data data"
                );
                return Ok(());
            };
            let layout = kiln_data::detect_layout(&dir)?;
            println!("{}: {}", dir.display(), layout.describe());
            let mut sets = Vec::new();
            for split in [Split::Train, Split::Test] {
                let d = kiln_data::load(&dir, split)?;
                let counts = d.counts_per_class();
                println!(
                    "{:>5}: {} images of {}x{}x{}",
                    split.name(),
                    d.len(),
                    d.channels(),
                    d.height(),
                    d.width()
                );
                for (name, n) in d.class_names().iter().zip(counts) {
                    println!("       {name:<12} {n}");
                }
                sets.push(d);
            }
            let mut integrity = sets[0].integrity().clone();
            integrity.merge(sets[1].integrity());
            print_verified(&integrity);
            print_warnings(&integrity.warnings);
        }
        DataCommand::Verify { write } => {
            let Some(dir) = data_dir(data_flag) else {
                return Err(CliError::Usage(
                    "`kiln data verify` checks a data folder: pass --data PATH or set KILN_DATA"
                        .into(),
                ));
            };
            let t = Instant::now();
            if *write {
                write_lists(&dir)?;
            } else {
                let check = kiln_data::verify_folder(&dir)?;
                println!("{}: {}", dir.display(), check.layout.describe());
                println!(
                    "{} train and {} test images: sizes, formats, labels and distinct batches OK",
                    check.images[0], check.images[1]
                );
                print_verified(&check.integrity);
                print_warnings(&check.integrity.warnings);
            }
            println!("done in {:.2} s", t.elapsed().as_secs_f64());
        }
    }
    Ok(())
}

/// `kiln data verify --write`.
fn write_lists(dir: &Path) -> Result<()> {
    let w = kiln_data::write_checksums(dir)?;
    for list in &w.lists {
        println!("wrote {} ({} files)", list.display(), w.files.len());
    }
    for list in &w.up_to_date {
        println!(
            "{} already lists these {} files: left as it is",
            list.display(),
            w.files.len()
        );
    }
    if w.changed.is_empty() {
        println!("no file changed since the previous list");
    } else if w.changed.len() < w.files.len() {
        println!(
            "new or changed since the previous list: {}",
            few(&w.changed)
        );
    }
    if !w.not_official.is_empty() {
        eprintln!(
            "note: {} differ from the official CIFAR-10 python release; recorded as they are",
            few(&w.not_official)
        );
    }
    Ok(())
}

/// One line saying which files were verified against which lists.
fn print_verified(integrity: &Integrity) {
    if integrity.verified.is_empty() {
        return;
    }
    let sources: Vec<String> = integrity.sources.iter().map(|s| s.to_string()).collect();
    println!(
        "checksums: {} file(s) match {}",
        integrity.verified.len(),
        sources.join(" and ")
    );
}

/// Up to five names, then a count.
fn few(names: &[String]) -> String {
    let shown = names[..names.len().min(5)].join(", ");
    match names.len() {
        n if n > 5 => format!("{shown} and {} more", n - 5),
        _ => shown,
    }
}
