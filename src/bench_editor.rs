//! `prelabel bench --editor-frame N`: the editor agent's latency, from request to saved row,
//! for one frame, against decoding the video from frame 0 to that frame.
//!
//! An Encord-compatible server (`prelabel-server`) runs in this process on loopback with a
//! one-video project; the agent (`prelabel-agent`) answers the same request the Label Editor
//! sends, through the whole path: label row, signed download, seek + decode, detect, merge, save.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use prelabel_agent::{Agent, AgentConfig, EditorRequest, Regex, Scope};
use prelabel_decode::VideoSource;
use prelabel_encord::auth::SigningKey;
use prelabel_encord::client::{EncordClient, RetryPolicy};
use prelabel_encord::{Ontology, write_json_atomically};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::detector_args::{DetectorArgs, TrackArgs};

const PROJECT: &str = "00000000-0000-4000-8000-0000000000a1";
const DATA_HASH: &str = "00000000-0000-4000-8000-00000000f001";

/// One agent call.
#[derive(Debug, Serialize)]
struct Call {
    /// Request to saved row.
    total_ms: f64,
    /// Frames the decoder produced to reach the frame (the pre-roll from the keyframe included).
    frames_decoded: u64,
    /// The keyframe the seek landed on.
    decode_start: u64,
    fetch_ms: f64,
    download_ms: f64,
    decode_ms: f64,
    infer_ms: f64,
    save_ms: f64,
    message: String,
}

/// The report of `--editor-frame`.
#[derive(Debug, Serialize)]
struct EditorReport {
    video: String,
    frame: u64,
    /// The first call (reads the project and ontology too) and a second one on the same frame.
    calls: Vec<Call>,
    /// Decoding from frame 0 up to the frame, nothing else.
    decode_from_zero_ms: f64,
    /// Frames that takes.
    decode_from_zero_frames: u64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Writes the one-video project the in-process server serves; returns the signing key.
fn write_project(dir: &Path, video: &Path, ontology: &Ontology) -> anyhow::Result<SigningKey> {
    let seed: [u8; 32] = Sha256::digest(format!("{:?}{}", Instant::now(), std::process::id())).into();
    let key = SigningKey::from_seed(seed);
    write_json_atomically(&dir.join("ontology.json"), ontology)?;
    // The project refers to its videos by paths inside its directory.
    let file_name = format!("video.{}", video.extension().and_then(|e| e.to_str()).unwrap_or("mp4"));
    let target = std::fs::canonicalize(video).with_context(|| video.display().to_string())?;
    std::os::unix::fs::symlink(&target, dir.join(&file_name)).with_context(|| format!("link {}", target.display()))?;
    let project = json!({
        "project": {"hash": PROJECT, "title": "prelabel bench"},
        "ontology": {"hash": "00000000-0000-4000-8000-0000000000b1", "title": "bench", "structure": "ontology.json"},
        "dataset": {"hash": "00000000-0000-4000-8000-0000000000e1", "title": "bench"},
        "stages": [
            {"uuid": "00000000-0000-4000-8000-0000000000c1", "title": "Pre-Labeling Agent", "type": "AGENT", "pathways": [
                {"uuid": "00000000-0000-4000-8000-0000000000d1", "title": "Annotate 1", "destination": "00000000-0000-4000-8000-0000000000c2"}]},
            {"uuid": "00000000-0000-4000-8000-0000000000c2", "title": "Annotate 1", "type": "ANNOTATION"}
        ],
        "videos": [{"file": file_name,
            "data_hash": DATA_HASH, "task_uuid": "00000000-0000-4000-8000-0000000002a1",
            "storage_item_uuid": "00000000-0000-4000-8000-0000000003a1", "stage": "00000000-0000-4000-8000-0000000000c2"}],
        "users": [{"email": "bench@localhost", "public_key": key.public_key_hex()}],
    });
    write_json_atomically(&dir.join("project.json"), &project)?;
    Ok(key)
}

/// Runs the measurement and prints (and optionally writes) the report.
pub fn run(detector_args: &DetectorArgs, video: &Path, frame: u64, out: Option<&Path>) -> anyhow::Result<()> {
    // One session with the whole thread budget: a single frame cannot be split over sessions.
    let mut one_session = detector_args.clone();
    one_session.inference_sessions.get_or_insert(1);
    let (detectors, pipeline) = one_session.load()?;
    let class_names = detectors.model().class_names().to_vec();
    let (ontology, _) = detector_args.ontology_for(None, &class_names)?;
    let dir = tempfile::tempdir().context("temporary project directory")?;
    let key = write_project(dir.path(), video, &ontology)?;

    let (addr_tx, addr_rx) = crossbeam_channel::bounded(1);
    let config = prelabel_server::ServerConfig {
        project_dir: dir.path().to_path_buf(),
        state_dir: None,
        bind: "127.0.0.1:0".parse()?,
        accept_any_key: false,
        max_skew_secs: 300,
        page_size: 100,
        public_url: None,
        faults: prelabel_server::FaultConfig::default(),
    };
    // The server lives until the process ends.
    std::thread::spawn(move || {
        // The receiver only goes away if the bench already gave up waiting.
        let announce = |addr| {
            let _ = addr_tx.send(addr);
        };
        if let Err(e) = prelabel_server::run(config, announce) {
            eprintln!("error: bench server: {e}");
        }
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(30)).context("the in-process server did not start")?;
    let client = EncordClient::new(&format!("http://{addr}"), key, RetryPolicy::default())?;
    let agent = Agent::new(
        AgentConfig {
            scope: Scope::Frame,
            max_frames: None,
            frame_stride: 1,
            cors_origin: Regex::new(prelabel_agent::DEFAULT_CORS_ORIGIN_REGEX)?,
            max_body_bytes: 64 * 1024,
            max_video_bytes: u64::MAX,
            aliases: detector_args.aliases.clone(),
            decode_threads: pipeline.decode_threads,
            hw_decode: pipeline.hw_decode,
            tracking: TrackArgs::default().options(1),
        },
        client,
        detectors.into_vec(),
    )?;
    let request = EditorRequest { project_hash: PROJECT.into(), data_hash: DATA_HASH.into(), frame, object_hashes: None };
    let mut calls = Vec::new();
    for _ in 0..2 {
        let clock = Instant::now();
        let outcome = agent.label(&request)?;
        let t = &outcome.times;
        calls.push(Call {
            total_ms: ms(clock.elapsed()),
            frames_decoded: outcome.frames_decoded,
            decode_start: outcome.decode_start,
            fetch_ms: ms(t.fetch),
            download_ms: ms(t.download),
            decode_ms: ms(t.decode),
            infer_ms: ms(t.wait + t.infer),
            save_ms: ms(t.save),
            message: outcome.message,
        });
    }

    let clock = Instant::now();
    let mut from_zero = 0u64;
    VideoSource::open_with(video, pipeline.decode_threads, pipeline.hw_decode)?.decode(|f| {
        from_zero += 1;
        if f.index() >= frame { std::ops::ControlFlow::Break(()) } else { std::ops::ControlFlow::Continue(()) }
    })?;
    let report = EditorReport {
        video: video.display().to_string(),
        frame,
        calls,
        decode_from_zero_ms: ms(clock.elapsed()),
        decode_from_zero_frames: from_zero,
    };
    for (i, c) in report.calls.iter().enumerate() {
        eprintln!(
            "call {}: {:.0} ms request to saved row (fetch {:.0}, download {:.0}, seek+decode {:.0} over {} frames from keyframe {}, infer {:.0}, merge+save {:.0}): {}",
            i + 1,
            c.total_ms,
            c.fetch_ms,
            c.download_ms,
            c.decode_ms,
            c.frames_decoded,
            c.decode_start,
            c.infer_ms,
            c.save_ms,
            c.message
        );
    }
    eprintln!(
        "decoding from frame 0 to frame {frame}: {:.0} ms over {} frames",
        report.decode_from_zero_ms, report.decode_from_zero_frames
    );
    if let Some(path) = out {
        write_json_atomically(path, &report)?;
    }
    Ok(())
}
