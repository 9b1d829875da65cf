//! `prelabel worker`: the workflow stage worker (see `prelabel_pipeline::worker`), with signal
//! handling, logs and a Prometheus metrics endpoint.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use prelabel_encord::auth::SigningKey;
use prelabel_encord::client::{DEFAULT_DOMAIN, EncordClient, RetryPolicy};
use prelabel_pipeline::worker::{Metrics, Shard, Worker, WorkerConfig};

use crate::detector_args::{DetectorArgs, TrackArgs};
use crate::exit;
use crate::logs::{LogFormat, init_logs};

/// Arguments of `prelabel worker`.
#[derive(Args)]
pub struct WorkerArgs {
    /// The Encord project hash.
    #[arg(long)]
    project: String,
    /// The agent stage to take tasks from, by title or UUID.
    #[arg(long, default_value = "Pre-Labeling Agent")]
    stage: String,
    /// The pathway labelled tasks take, by name or UUID.
    #[arg(long, default_value = "Annotate 1")]
    pathway: String,
    #[command(flatten)]
    detector: DetectorArgs,
    /// Write one object instance per detection instead of one per tracked object.
    #[arg(long)]
    no_track: bool,
    #[command(flatten)]
    tracking: TrackArgs,
    /// Encord API address.
    #[arg(long, env = "ENCORD_DOMAIN", default_value = DEFAULT_DOMAIN)]
    domain: String,
    /// Drain the stage once and exit (for cron and Kubernetes Jobs).
    #[arg(long)]
    once: bool,
    /// Stop after this many tasks.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_tasks: Option<u64>,
    /// Seconds between passes over the stage.
    #[arg(long, default_value_t = 30)]
    poll_interval_secs: u64,
    /// Tasks downloaded ahead of the one being labelled.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: u32,
    /// Pathway for tasks that fail every attempt [default: leave them in the stage].
    #[arg(long)]
    failure_pathway: Option<String>,
    /// Take only the tasks whose data hash falls in shard I of N.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Attempts per task.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    task_attempts: u32,
    /// Largest video to download, in MiB.
    #[arg(long, default_value_t = 20 * 1024)]
    max_video_mib: u64,
    /// Serve Prometheus metrics on this address.
    #[arg(long)]
    metrics_addr: Option<SocketAddr>,
    /// Log line format (logs go to stderr; `RUST_LOG` filters them).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// Serves `metrics` as Prometheus text to every connection on `addr`, on a background thread.
fn serve_metrics(addr: SocketAddr, metrics: Arc<Metrics>) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).with_context(|| format!("metrics address {addr}"))?;
    tracing::info!(%addr, "serving metrics");
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 1024];
            // The request itself does not matter: every path answers with the metrics.
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.read(&mut request);
            let body = metrics.render_prometheus();
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            if let Err(e) = stream.write_all(response.as_bytes()) {
                tracing::debug!(error = %e, "metrics client went away");
            }
        }
    });
    Ok(())
}

/// Runs `prelabel worker`.
pub fn run(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    init_logs(args.log_format);
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while stopping exits at once.
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop)).context("signal handler")?;
        signal_hook::flag::register(signal, Arc::clone(&stop)).context("signal handler")?;
    }
    let key = SigningKey::from_env()?;
    let client = EncordClient::new(&args.domain, key, RetryPolicy::default())?;
    let tracking = args.tracking.options_when(!args.no_track, args.detector.frame_stride);
    let (mut detectors, pipeline) = args.detector.load()?;
    let pathway = args.pathway.clone();
    let config = WorkerConfig {
        project_hash: args.project,
        stage: args.stage,
        pathway: args.pathway,
        failure_pathway: args.failure_pathway,
        once: args.once,
        max_tasks: args.max_tasks,
        poll_interval: Duration::from_secs(args.poll_interval_secs),
        prefetch: args.concurrency as usize,
        shard: args.shard,
        task_attempts: args.task_attempts,
        task_backoff: Duration::from_secs(1),
        max_video_bytes: args.max_video_mib.saturating_mul(1024 * 1024),
        aliases: args.detector.aliases.clone(),
        pipeline,
        tracking,
    };
    let worker = Worker::new(&client, detectors.model(), config)?;
    let metrics = Arc::new(Metrics::default());
    if let Some(addr) = args.metrics_addr {
        serve_metrics(addr, Arc::clone(&metrics))?;
    }
    tracing::info!(domain = %args.domain, "worker started");
    let report = worker.run(&mut detectors, &stop, &metrics);
    tracing::info!(done = report.done_count, failed = report.failed_count, "worker stopped");
    for done in &report.done {
        let m = done.merge;
        eprintln!(
            "done: task {} ({}) -> {}: {} pre-labels added, {} replaced, {} kept, {} edited by people kept",
            done.task_uuid, done.data_title, pathway, m.added, m.replaced, m.kept, m.edited_by_people
        );
    }
    for failed in &report.failed {
        eprintln!("failed: task {} ({}): {}", failed.task_uuid, failed.data_title, failed.reason);
    }
    // A single pass whose listing failed did not drain the stage: not a success.
    if args.once && report.listing_failures > 0 {
        eprintln!("error: listing the stage's tasks failed; the stage may not be drained");
        return Ok(ExitCode::from(exit::ENCORD));
    }
    Ok(ExitCode::from(if report.failed_count == 0 { exit::SUCCESS } else { exit::SOME_FAILED }))
}
