//! `prelabel serve`: an Encord-compatible server over a local project directory.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use prelabel_server::{FaultConfig, ServerConfig};

/// Arguments of `prelabel serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// The project directory: `project.json` and the videos it names.
    #[arg(long)]
    project_dir: PathBuf,
    /// Where label rows and task positions are kept [default: <project dir>/.state].
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// Accept a valid signature by any Ed25519 key, registered or not.
    #[arg(long)]
    accept_any_key: bool,
    /// Largest distance in seconds between a v2 signature's time and the server clock.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(i64).range(0..))]
    max_skew_secs: i64,
    /// Tasks per page of a stage's task listing (small, so that clients page).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    page_size: u32,
    /// Base of the signed file URLs [default: http://<bound address>].
    #[arg(long)]
    public_url: Option<String>,
    /// Share of API requests answered 500 before any work.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    fail_rate: f64,
    /// Share of API requests answered 429 (Retry-After: 1) before any work.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    throttle_rate: f64,
    /// Share of API requests handled and then answered by closing the connection.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    drop_rate: f64,
    /// Delay before every API request is handled, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Seed of the fault-injection PRNG.
    #[arg(long, default_value_t = 0)]
    fault_seed: u64,
    /// Answer the first N API requests whose path contains `--fail-matching` with 500.
    #[arg(long, default_value_t = 0, requires = "fail_matching")]
    fail_first: u64,
    /// Part of an API path that `--fail-first` aims at (e.g. `/workflow/stages/`).
    #[arg(long, requires = "fail_first")]
    fail_matching: Option<String>,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("`{text}` is not a number from 0 to 1")),
    }
}

/// Serves until SIGINT or SIGTERM; prints `listening on http://ADDRESS` on stdout once bound.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    prelabel_server::init_logging();
    let config = ServerConfig {
        project_dir: args.project_dir,
        state_dir: args.state_dir,
        bind: args.bind,
        accept_any_key: args.accept_any_key,
        max_skew_secs: args.max_skew_secs,
        page_size: args.page_size as usize,
        public_url: args.public_url,
        faults: FaultConfig {
            fail_rate: args.fail_rate,
            throttle_rate: args.throttle_rate,
            drop_rate: args.drop_rate,
            latency: Duration::from_millis(args.latency_ms),
            seed: args.fault_seed,
            fail_first: args.fail_first,
            fail_matching: args.fail_matching.unwrap_or_default(),
        },
    };
    prelabel_server::run(config, |addr| {
        let mut stdout = std::io::stdout().lock();
        // Nobody may be reading stdout; the server works without the announcement.
        let _ = writeln!(stdout, "listening on http://{addr}").and_then(|()| stdout.flush());
    })?;
    Ok(ExitCode::SUCCESS)
}
