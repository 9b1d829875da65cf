//! `prelabel`: pre-label videos for Encord with an ONNX detector.

mod exit;
mod run;
mod summary;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Pre-label videos for Encord with an ONNX object detector.
#[derive(Parser)]
#[command(name = "prelabel", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Label one video file and write an Encord video label row.
    Run(run::RunArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            exit::code_for(&error)
        }
    }
}
