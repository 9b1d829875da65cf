//! `prelabel serve-agent`: the on-demand Encord editor agent (see `prelabel_agent`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use prelabel_agent::{Agent, AgentConfig, DEFAULT_CORS_ORIGIN_REGEX, Scope};
use prelabel_encord::auth::SigningKey;
use prelabel_encord::client::{DEFAULT_DOMAIN, EncordClient, RetryPolicy};

use crate::detector_args::{DetectorArgs, TrackArgs};

/// Which frames one call labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScopeArg {
    /// The frame the annotator is on.
    Frame,
    /// That frame and the rest of the video (at most --max-frames), with tracking.
    FromFrame,
    /// The whole video (at most --max-frames), with tracking.
    Video,
}

/// Arguments of `prelabel serve-agent`.
#[derive(Args)]
pub struct ServeAgentArgs {
    #[command(flatten)]
    detector: DetectorArgs,
    #[command(flatten)]
    tracking: TrackArgs,
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, default_value = "0.0.0.0:8443")]
    bind: SocketAddr,
    /// The TLS certificate chain (PEM, leaf first).
    #[arg(long, requires = "tls_key", required_unless_present = "insecure_http")]
    tls_cert: Option<PathBuf>,
    /// The TLS certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP (only behind a TLS-terminating proxy: Encord calls HTTPS endpoints only).
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    insecure_http: bool,
    /// Frames one call labels.
    #[arg(long, value_enum, default_value_t = ScopeArg::Frame)]
    scope: ScopeArg,
    /// Most frames a from-frame or video call labels.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_frames: Option<u64>,
    /// Browser origins allowed to call (a regular expression over the Origin header).
    #[arg(long, default_value = DEFAULT_CORS_ORIGIN_REGEX, value_parser = one_line_regex)]
    cors_origin_regex: prelabel_agent::Regex,
    /// Detectors kept loaded; calls on different videos infer in parallel up to this many
    /// (the --threads budget is split between them); --inference-sessions says the same.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16), conflicts_with = "inference_sessions")]
    detectors: u32,
    /// Largest request body, in KiB (larger: 413).
    #[arg(long, default_value_t = 64)]
    max_body_kib: usize,
    /// Largest video to download, in MiB.
    #[arg(long, default_value_t = 20 * 1024)]
    max_video_mib: u64,
    /// Encord API address.
    #[arg(long, env = "ENCORD_DOMAIN", default_value = DEFAULT_DOMAIN)]
    domain: String,
}

/// Runs `prelabel serve-agent` until SIGINT or SIGTERM; prints `listening on https://ADDRESS`
/// (or `http://`) on stdout once bound.
pub fn run(args: ServeAgentArgs) -> anyhow::Result<ExitCode> {
    crate::logs::init_logs(crate::logs::LogFormat::Text);
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(prelabel_agent::tls_config(cert, key)?),
        _ if args.insecure_http => {
            tracing::warn!("serving plain HTTP (--insecure-http): put a TLS-terminating proxy in front; Encord calls HTTPS only");
            None
        }
        _ => anyhow::bail!("--tls-cert and --tls-key are required (or --insecure-http behind a TLS-terminating proxy)"),
    };
    let tracking = args.tracking.options(args.detector.frame_stride);
    let key = SigningKey::from_env()?;
    let client = EncordClient::new(&args.domain, key, RetryPolicy::default())?;
    let mut per_call = args.detector.clone();
    // --inference-sessions, given instead of --detectors, means the same.
    per_call.inference_sessions = Some(args.detector.inference_sessions.unwrap_or(args.detectors));
    let (detectors, pipeline) = per_call.load()?;
    let config = AgentConfig {
        scope: match args.scope {
            ScopeArg::Frame => Scope::Frame,
            ScopeArg::FromFrame => Scope::FromFrame,
            ScopeArg::Video => Scope::Video,
        },
        max_frames: args.max_frames,
        frame_stride: args.detector.frame_stride,
        cors_origin: args.cors_origin_regex.clone(),
        max_body_bytes: args.max_body_kib.saturating_mul(1024),
        max_video_bytes: args.max_video_mib.saturating_mul(1024 * 1024),
        aliases: args.detector.aliases.clone(),
        decode_threads: pipeline.decode_threads,
        hw_decode: pipeline.hw_decode,
        tracking,
    };
    let agent = Agent::new(config, client, detectors.into_vec())?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    prelabel_agent::run(agent, args.bind, tls, |addr| {
        tracing::info!(%addr, scheme, domain = %args.domain, "editor agent ready");
        let mut stdout = std::io::stdout().lock();
        // Nobody may be reading stdout; the server works without the announcement.
        let _ = writeln!(stdout, "listening on {scheme}://{addr}").and_then(|()| stdout.flush());
    })?;
    Ok(ExitCode::SUCCESS)
}

/// A regular expression from the command line; its error on one line, as errors here are.
fn one_line_regex(text: &str) -> Result<prelabel_agent::Regex, String> {
    prelabel_agent::Regex::new(text).map_err(|e| e.to_string().split_whitespace().collect::<Vec<_>>().join(" "))
}
