//! `prelabel`: pre-label videos for Encord with an ONNX detector.

mod batch;
mod bench;
mod bench_editor;
mod bench_plot;
mod config;
mod detector_args;
mod exit;
mod logs;
mod run;
mod serve;
mod serve_agent;
mod summary;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Pre-label videos for Encord with an ONNX object detector.
#[derive(Parser)]
#[command(name = "prelabel", version, about, args_override_self = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Label one video file and write an Encord video label row.
    Run(run::RunArgs),
    /// Pre-label the tasks of an Encord workflow agent stage, save and proceed them.
    Worker(worker::WorkerArgs),
    /// Label every video of a manifest into label-row files (resumable, shardable).
    Batch(batch::BatchArgs),
    /// Serve a local project directory over Encord's API (for tests and offline runs).
    Serve(serve::ServeArgs),
    /// Serve the on-demand Encord editor agent: an HTTPS endpoint the Label Editor calls.
    ServeAgent(serve_agent::ServeAgentArgs),
    /// Measure the pipeline against its decode and inference ceilings (and a Python baseline).
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let args = match config::expand(std::env::args_os().collect()) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(args);
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Worker(args) => worker::run(args),
        Command::Batch(args) => batch::run(args),
        Command::Serve(args) => serve::run(args),
        Command::ServeAgent(args) => serve_agent::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            exit::code_for(&error)
        }
    }
}
