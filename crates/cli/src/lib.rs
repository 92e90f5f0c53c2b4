//! The `kiln` command as a library: argument definitions, the backend dispatch, one module per
//! subcommand (pictures are drawn by `kiln_viz`).

pub mod args;
pub mod commands;
pub mod data_source;
pub mod device;
mod error;
pub mod model_file;

use std::path::Path;

pub(crate) use error::io_err;
pub use error::{CliError, Result, data_hint, warning_hint};

use args::{Cli, Command, WeightsArgs};
use device::dispatch;

/// Images as the network sees them: `x / 255` normalised with mean 0.5 and std 0.5.
pub fn normalize_u8(img: &[u8]) -> Vec<f32> {
    img.iter()
        .map(|&v| (v as f32 / 255.0 - 0.5) / 0.5)
        .collect()
}

pub(crate) fn flags(w: &WeightsArgs) -> model_file::ArchFlags {
    model_file::ArchFlags {
        c1: w.c1,
        c2: w.c2,
        l1: w.l1,
        conv1_kernel: w.conv1_kernel,
    }
}

/// Class names for predictions: the data's when `--data`/`KILN_DATA` names a folder, else
/// CIFAR-10's.
pub fn class_names(data: Option<&Path>, classes: usize) -> Result<Vec<String>> {
    let names: Vec<String> = match data_source::data_dir(data) {
        Some(dir) => {
            let test = kiln_data::load(&dir, kiln_data::Split::Test)?;
            data_source::print_warnings(&data_source::warnings_of(&[&test]));
            test.class_names().to_vec()
        }
        None => kiln_data::CIFAR10_CLASSES
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    if names.len() != classes {
        return Err(CliError::Usage(format!(
            "the weights predict {classes} classes but there are {} class names",
            names.len()
        )));
    }
    Ok(names)
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let c = cli.common;
    device::set_threads(c.threads)?;
    let d = c.device;
    match cli.command {
        Command::Train(args) => {
            dispatch(d, commands::train::TrainJob { common: c, args }).map(|_| ())
        }
        Command::Search(args) => dispatch(d, commands::search::SearchJob { common: c, args }),
        Command::Eval(args) => dispatch(d, commands::eval::EvalJob { common: c, args }).map(|_| ()),
        Command::Samples(args) => {
            dispatch(d, commands::samples::SamplesJob { common: c, args }).map(|_| ())
        }
        Command::Predict(args) => {
            dispatch(d, commands::predict::PredictJob { common: c, args }).map(|_| ())
        }
        Command::Filters(args) => {
            dispatch(d, commands::filters::FiltersJob { common: c, args }).map(|_| ())
        }
        Command::Features(args) => {
            dispatch(d, commands::features::FeaturesJob { common: c, args }).map(|_| ())
        }
        Command::Export(args) => {
            dispatch(d, commands::export::ExportJob { common: c, args }).map(|_| ())
        }
        Command::Data(cmd) => commands::data::run(&cmd, c.data.as_deref()),
        Command::Bench(args) => {
            dispatch(d, commands::bench::BenchJob { args, seed: c.seed }).map(|_| ())
        }
    }
}
