//! The batch job: a manifest of videos in, one label row per video out, resumable and
//! shardable.
//!
//! The manifest is JSON Lines: one object per line with `path` (relative paths are taken from
//! the manifest's folder) and optional `data_hash` and `title`. A bad line is reported with its
//! number and skipped. Each video's label row is written atomically to
//! `<out dir>/<data hash>.label_row.json`, so a file there is always complete: a rerun skips the
//! videos whose file exists and does the rest, and killing the job loses only the video in
//! flight. `--shard I/N` keeps the entries whose data hash falls in shard I (the same stable
//! hash as the worker's), so N hosts split one manifest with no coordinator.

use std::path::{Path, PathBuf};
use std::time::Instant;

use prelabel_detect::Detector;
use prelabel_encord::{ClassMap, Ontology, WriteError, write_json_atomically};
use serde_json::Value;

use crate::worker::Shard;
use crate::{PipelineError, PipelineOptions, TrackingOptions, build_label_row, derived_data_hash, detect_video, video_meta_for_file};

/// One video of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// 1-based line number.
    pub line: usize,
    /// The video file.
    pub path: PathBuf,
    /// Encord data hash, given or derived from the file.
    pub data_hash: String,
}

/// A manifest line that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestLineError {
    /// 1-based line number.
    pub line: usize,
    /// Why.
    pub reason: String,
}

/// The manifest could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot read the manifest ({cause})")]
pub struct ManifestError {
    /// The manifest.
    pub path: PathBuf,
    /// The I/O error.
    pub cause: std::io::Error,
}

/// Reads a JSON Lines manifest: the usable entries, and the lines that were not.
pub fn read_manifest(path: &Path) -> Result<(Vec<ManifestEntry>, Vec<ManifestLineError>), ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|cause| ManifestError { path: path.to_path_buf(), cause })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let (mut entries, mut errors) = (Vec::new(), Vec::new());
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let fail = |reason: String| ManifestLineError { line, reason };
        let entry = match serde_json::from_str::<Value>(raw) {
            Err(e) => Err(fail(format!("not JSON ({e})"))),
            Ok(value) => match value.get("path").and_then(Value::as_str) {
                None if value.get("url").is_some() => Err(fail("`url` entries are not supported yet; give a `path`".into())),
                None => Err(fail("no `path`".into())),
                Some(p) => {
                    let video = base.join(p);
                    let data_hash = value.get("data_hash").and_then(Value::as_str).map_or_else(|| derived_data_hash(&video), str::to_owned);
                    Ok(ManifestEntry { line, path: video, data_hash })
                }
            },
        };
        match entry {
            Ok(e) => entries.push(e),
            Err(e) => errors.push(e),
        }
    }
    Ok((entries, errors))
}

/// How the batch job runs.
#[derive(Debug, Clone)]
pub struct BatchConfig {
    /// Where label rows and `summary.json` go.
    pub out_dir: PathBuf,
    /// Only this shard's entries.
    pub shard: Option<Shard>,
    /// Decode and detection settings.
    pub pipeline: PipelineOptions,
    /// Tracks instead of one instance per detection.
    pub tracking: Option<TrackingOptions>,
    /// The model's name, for object hashes.
    pub model_name: String,
}

/// How one video ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VideoOutcome {
    /// Manifest line.
    pub line: usize,
    /// The video file.
    pub path: String,
    /// Its data hash (the output is `<data hash>.label_row.json`).
    pub data_hash: String,
    /// `done`, `partial` (labelled what decoded), `already_done` (an earlier run wrote it) or `failed`.
    pub status: &'static str,
    /// Frames decoded.
    pub frames: u64,
    /// Detections kept.
    pub detections: u64,
    /// Wall time for this video.
    pub seconds: f64,
    /// Why it failed, or what was lost.
    pub error: Option<String>,
}

/// Why one video failed.
#[derive(Debug, thiserror::Error)]
enum VideoError {
    #[error("{0}")]
    Pipeline(#[from] PipelineError),
    #[error("{0}")]
    Write(#[from] WriteError),
    #[error("tracking: {0}")]
    Track(#[from] prelabel_track::TrackError),
}

/// The output file of an entry.
pub fn output_path(out_dir: &Path, data_hash: &str) -> PathBuf {
    out_dir.join(format!("{data_hash}.label_row.json"))
}

/// Deletes temporary files a killed run left in `out_dir`.
fn remove_stale_temporaries(out_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(out_dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".prelabel-") && name.ends_with(".tmp") && std::fs::remove_file(entry.path()).is_ok() {
            tracing::info!(file = %name, "removed a temporary file of an interrupted run");
        }
    }
}

/// Labels every entry of this shard that has no output yet; `on_outcome` sees each outcome as
/// it happens (to write the summary as the job goes).
pub fn run_batch(
    entries: &[ManifestEntry],
    detector: &mut Detector,
    ontology: &Ontology,
    class_map: &ClassMap,
    config: &BatchConfig,
    mut on_outcome: impl FnMut(&VideoOutcome),
) {
    remove_stale_temporaries(&config.out_dir);
    for entry in entries.iter().filter(|e| config.shard.is_none_or(|s| s.contains(&e.data_hash))) {
        let started = Instant::now();
        let out = output_path(&config.out_dir, &entry.data_hash);
        let mut outcome = VideoOutcome {
            line: entry.line,
            path: entry.path.display().to_string(),
            data_hash: entry.data_hash.clone(),
            status: "already_done",
            frames: 0,
            detections: 0,
            seconds: 0.0,
            error: None,
        };
        if !out.is_file() {
            match label_one(entry, &out, detector, ontology, class_map, config) {
                Ok((frames, detections, lost)) => {
                    outcome.status = if lost.is_some() { "partial" } else { "done" };
                    (outcome.frames, outcome.detections, outcome.error) = (frames, detections, lost);
                }
                Err(e) => {
                    outcome.status = "failed";
                    outcome.error = Some(e.to_string());
                }
            }
        }
        outcome.seconds = started.elapsed().as_secs_f64();
        on_outcome(&outcome);
    }
}

/// Labels one video and writes its row; returns frames, detections and what was lost.
fn label_one(
    entry: &ManifestEntry,
    out: &Path,
    detector: &mut Detector,
    ontology: &Ontology,
    class_map: &ClassMap,
    config: &BatchConfig,
) -> Result<(u64, u64, Option<String>), VideoError> {
    let detections = detect_video(&entry.path, detector, config.pipeline, |_| {})?;
    let report = &detections.report;
    let meta = video_meta_for_file(&entry.path, &detections.info, report.frames_decoded, Some(&entry.data_hash));
    let class_count = detector.class_names().len();
    let labelled = build_label_row(ontology, class_map, class_count, meta, &config.model_name, &detections, config.tracking.as_ref())?;
    write_json_atomically(out, &labelled.row)?;
    let lost = report.is_partial().then(|| format!("{} frames lost, {} corrupt packets", report.frames_lost, report.corrupt_packets));
    Ok((report.frames_decoded, labelled.detections_per_class.iter().sum(), lost))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_lines_are_entries_or_numbered_errors() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("videos.jsonl");
        std::fs::write(
            &manifest,
            "{\"path\": \"a.mp4\", \"data_hash\": \"h-a\"}\n\n{\"path\": \"sub/b.avi\"}\nnot json\n{\"title\": \"x\"}\n{\"url\": \"https://x/y.mp4\"}\n",
        )
        .unwrap();
        let (entries, errors) = read_manifest(&manifest).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[0].line, entries[0].path.clone(), entries[0].data_hash.as_str()), (1, dir.path().join("a.mp4"), "h-a"));
        assert_eq!(entries[1].line, 3);
        assert_eq!(entries[1].data_hash, derived_data_hash(&dir.path().join("sub/b.avi")));
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [4, 5, 6]);
        assert!(errors[0].reason.starts_with("not JSON"));
        assert_eq!(errors[1].reason, "no `path`");
    }
}
