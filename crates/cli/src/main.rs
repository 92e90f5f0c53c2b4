//! `kiln`: train convolutional networks on CIFAR-10 from a terminal.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = kiln_cli::args::Cli::parse();
    match kiln_cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
