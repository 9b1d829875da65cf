//! `prelabel batch`: a manifest of videos in, one label row per video out (see
//! `prelabel_pipeline::batch`), with `summary.json` kept up to date as the job goes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use prelabel_encord::auth::SigningKey;
use prelabel_encord::client::{DEFAULT_DOMAIN, EncordClient, Http, RetryPolicy};
use prelabel_encord::write_json_atomically;
use prelabel_pipeline::batch::{BatchConfig, ManifestLineError, Upload, VideoOutcome, read_manifest, run_batch};
use prelabel_pipeline::worker::Shard;
use serde::Serialize;

use crate::detector_args::{DetectorArgs, TrackArgs};
use crate::exit;

/// Arguments of `prelabel batch`.
#[derive(Args)]
pub struct BatchArgs {
    /// JSON Lines: one `{"path": …}` or `{"url": …}` per line, with optional `data_hash` and
    /// `title` (paths relative to the manifest).
    #[arg(long)]
    manifest: PathBuf,
    /// Where `<data hash>.label_row.json` files and `summary.json` (`summary-shard-I-of-N.json`
    /// with `--shard`, so shards can share the folder) go.
    #[arg(long)]
    out_dir: PathBuf,
    /// Encord ontology structure JSON; without it one is generated from the model's classes and
    /// written to `<out dir>/ontology.json`.
    #[arg(long)]
    ontology: Option<PathBuf>,
    #[command(flatten)]
    detector: DetectorArgs,
    /// One object per tracked object instead of one per detection.
    #[arg(long)]
    track: bool,
    #[command(flatten)]
    tracking: TrackArgs,
    /// Take only the videos whose data hash falls in shard I of N (e.g. `$JOB_COMPLETION_INDEX/N`).
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Also save each row to this Encord project (merged with what is there, as the worker does);
    /// the manifest's `data_hash`es name its data units. Key from `ENCORD_SSH_KEY_FILE`/`ENCORD_SSH_KEY`.
    #[arg(long, value_name = "PROJECT_HASH")]
    upload: Option<String>,
    /// Encord API address, for --upload.
    #[arg(long, env = "ENCORD_DOMAIN", default_value = DEFAULT_DOMAIN)]
    domain: String,
    /// Videos decoding at once, their frames sharing inference batches [default: 1 on cpu, 4 on a
    /// GPU].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    max_in_flight_videos: Option<u32>,
    /// Largest video downloaded for a `url` entry, in MiB.
    #[arg(long, default_value_t = 20 * 1024)]
    max_video_mib: u64,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json_summary: bool,
}

/// `summary.json`.
#[derive(Serialize)]
struct Summary<'a> {
    manifest: String,
    shard: Option<String>,
    videos: &'a [VideoOutcome],
    bad_lines: &'a [BadLine],
}

#[derive(Serialize)]
struct BadLine {
    line: usize,
    error: String,
}

/// Runs `prelabel batch`.
pub fn run(args: BatchArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.out_dir).map_err(|cause| prelabel_encord::WriteError { path: args.out_dir.clone(), cause })?;
    let (entries, line_errors) = read_manifest(&args.manifest)?;
    for ManifestLineError { line, reason } in &line_errors {
        eprintln!("warning: {}:{line}: skipped: {reason}", args.manifest.display());
    }
    let tracking = args.tracking.options_when(args.track, args.detector.frame_stride);
    let (mut detectors, pipeline) = args.detector.load()?;
    let class_names = detectors.model().class_names().to_vec();
    let (ontology, class_map) = args.detector.ontology_for(args.ontology.as_deref(), &class_names)?;
    if args.ontology.is_none() {
        write_json_atomically(&args.out_dir.join("ontology.json"), &ontology)?;
    }
    let config = BatchConfig {
        out_dir: args.out_dir.clone(),
        shard: args.shard,
        pipeline,
        tracking,
        model_name: args.detector.model_name(),
        max_video_bytes: args.max_video_mib.saturating_mul(1024 * 1024),
        max_in_flight_videos: args
            .max_in_flight_videos
            // The device the detector runs on (`--device auto` may have fallen back to the cpu).
            .map_or(if detectors.model().device() == prelabel_detect::Device::Cpu { 1 } else { 4 }, |k| k as usize),
    };
    let http = Http::new(RetryPolicy::default())?;
    let client = match &args.upload {
        Some(_) => Some(EncordClient::new(&args.domain, SigningKey::from_env()?, RetryPolicy::default())?),
        None => None,
    };
    let upload = client.as_ref().zip(args.upload.clone()).map(|(client, project_hash)| Upload { client, project_hash });
    // Shards of one job may share the output folder: each keeps its own summary.
    let summary_path = args.out_dir.join(match args.shard {
        Some(shard) => format!("summary-shard-{}-of-{}.json", shard.index, shard.count),
        None => "summary.json".to_owned(),
    });
    let bad_lines: Vec<BadLine> = line_errors.iter().map(|e| BadLine { line: e.line, error: e.reason.clone() }).collect();
    let write_summary = |videos: &[VideoOutcome]| {
        let shard = args.shard.map(|s| format!("{}/{}", s.index, s.count));
        let summary = Summary { manifest: args.manifest.display().to_string(), shard, videos, bad_lines: &bad_lines };
        write_json_atomically(&summary_path, &summary)
    };
    // Written before any video (so a run with no usable line, or killed before its first video,
    // leaves its own summary rather than an earlier run's), then after every video.
    write_summary(&[])?;
    let mut outcomes: Vec<VideoOutcome> = Vec::new();
    let mut write_error = None;
    run_batch(&entries, &http, upload.as_ref(), &mut detectors, &ontology, &class_map, &config, |outcome| {
        let line = format!("{}: {}", outcome.source, outcome.status);
        match &outcome.error {
            Some(e) => eprintln!("{line}: {e}"),
            None => eprintln!("{line} ({} frames, {} detections, {:.1}s)", outcome.frames, outcome.detections, outcome.seconds),
        }
        // In manifest order, whatever order the videos finish in.
        let at = outcomes.partition_point(|o| o.line < outcome.line);
        outcomes.insert(at, outcome.clone());
        // Kept up to date after every video, so a killed job still says what it finished.
        if let Err(e) = write_summary(&outcomes) {
            write_error.get_or_insert(e);
        }
    });
    if let Some(e) = write_error {
        return Err(e.into());
    }
    let failed = outcomes.iter().filter(|o| o.status == "failed").count();
    if args.json_summary {
        println!("{}", std::fs::read_to_string(&summary_path).unwrap_or_default());
    }
    eprintln!(
        "batch: {} videos done, {} already done, {} uploaded from an earlier run's file, {} failed, {} bad manifest lines; summary: {}",
        outcomes.iter().filter(|o| o.status == "done" || o.status == "partial").count(),
        outcomes.iter().filter(|o| o.status == "already_done").count(),
        outcomes.iter().filter(|o| o.status == "uploaded").count(),
        failed,
        bad_lines.len(),
        summary_path.display()
    );
    let partial = outcomes.iter().any(|o| o.status == "partial");
    Ok(ExitCode::from(match (failed == 0 && bad_lines.is_empty(), partial) {
        (false, _) => exit::SOME_FAILED,
        (true, true) => exit::PARTIAL,
        (true, false) => exit::SUCCESS,
    }))
}
