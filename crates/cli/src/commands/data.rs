//! `kiln data download` and `kiln data info`.

use std::path::Path;

use kiln_data::Split;

use crate::Result;
use crate::args::DataCommand;
use crate::data_source::data_dir;

pub fn run(cmd: &DataCommand, data_flag: Option<&Path>) -> Result<()> {
    match cmd {
        DataCommand::Download { dir } => {
            let path = kiln_data::download_cifar10(dir, kiln_data::CIFAR10_BINARY_URL)?;
            println!("CIFAR-10 is in {}", path.display());
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
            }
        }
    }
    Ok(())
}
