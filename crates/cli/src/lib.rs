//! The `kiln` command as a library: argument definitions, the backend dispatch, one module per
//! subcommand (pictures are drawn by `kiln_viz`).

pub mod args;
pub mod commands;
pub mod data_source;
pub mod device;
mod error;
pub mod model_file;
pub mod progress;
pub mod recipe;

pub(crate) use error::io_err;
pub use error::{CliError, Result, data_hint, warning_hint};

use args::{Cli, Command};
use device::dispatch;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let c = cli.common;
    device::set_threads(c.threads)?;
    let (d, p) = (c.device, c.precision);
    match cli.command {
        Command::Train(args) => {
            dispatch(d, p, commands::train::TrainJob { common: c, args }).map(|_| ())
        }
        Command::Search(args) => dispatch(d, p, commands::search::SearchJob { common: c, args }),
        Command::Eval(args) => {
            dispatch(d, p, commands::eval::EvalJob { common: c, args }).map(|_| ())
        }
        Command::Samples(args) => {
            dispatch(d, p, commands::samples::SamplesJob { common: c, args }).map(|_| ())
        }
        Command::Predict(args) => {
            dispatch(d, p, commands::predict::PredictJob { common: c, args }).map(|_| ())
        }
        Command::Filters(args) => {
            dispatch(d, p, commands::filters::FiltersJob { common: c, args }).map(|_| ())
        }
        Command::Features(args) => {
            dispatch(d, p, commands::features::FeaturesJob { common: c, args }).map(|_| ())
        }
        Command::Export(args) => {
            dispatch(d, p, commands::export::ExportJob { common: c, args }).map(|_| ())
        }
        Command::Data(cmd) => commands::data::run(&cmd, c.data.as_deref()),
        Command::Bench(args) => {
            dispatch(d, p, commands::bench::BenchJob { args, seed: c.seed }).map(|_| ())
        }
    }
}
