//! The `mailrules` command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: allocation-heavy paths (profile parsing, lifting decisions,
/// rendering) run about a third faster than with the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("mailrules: {error:#}");
            ExitCode::from(2)
        }
    }
}
