//! `kiln`: train convolutional networks on CIFAR-10 from a terminal.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = kiln_cli::args::Cli::parse();
    // Keep freed memory for reuse: a training step frees and reallocates the same large
    // buffers, and returning them to the OS costs a page fault per page every step.
    kiln_tensor::cpu::alloc::retain_freed_memory();
    match kiln_cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}
