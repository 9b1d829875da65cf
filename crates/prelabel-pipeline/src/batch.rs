//! The batch job: a manifest of videos in, one label row per video out, resumable and
//! shardable.
//!
//! The manifest is JSON Lines: one object per line with `path` (relative paths are taken from
//! the manifest's folder) or `url` (downloaded into the output folder for the time it takes to
//! label it), and optional `data_hash` and `title`. A bad line (not UTF-8, not JSON, no video,
//! a `data_hash` that is not a plain name, or one an earlier line has: its output would
//! overwrite that line's) is reported with its number and skipped. Each video's label row is written atomically to
//! `<out dir>/<data hash>.label_row.json`, so a file there is always complete: a rerun skips the
//! videos whose file exists and does the rest, and killing the job loses only the videos in
//! flight. When uploading, a video is done once its row was also saved to the project (recorded
//! in `<data hash>.uploaded.json`); a file an earlier run wrote without uploading is uploaded as
//! it is, without labelling the video again. Several videos may decode at once, their frames filling the same inference batches
//! (`max_in_flight_videos`; what a big GPU needs to stay busy). `--shard I/N` keeps the entries whose data hash falls in shard I (the same stable
//! hash as the worker's), so N hosts split one manifest with no coordinator.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};
use std::time::Instant;

use prelabel_encord::client::{ApiError, EncordClient, Http};
use prelabel_encord::{ClassMap, LabelRow, LabelSource, Ontology, WriteError, merge_prelabels, uuid_from_seed, write_json_atomically};
use serde_json::Value;

use crate::rows::{RowError, label_row, video_metadata};
use crate::worker::Shard;
use crate::{
    Detectors, LocalVideo, PipelineError, PipelineOptions, TrackingOptions, VideoDetections, VideoInput, build_label_row,
    derived_data_hash, detect_videos, video_meta_for_file,
};

/// Where a manifest entry's video is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local file.
    File(PathBuf),
    /// An `http(s)` URL (plain or signed; no Encord signature is sent).
    Url(String),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::File(path) => write!(f, "{}", path.display()),
            Location::Url(url) => f.write_str(url),
        }
    }
}

/// One video of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// 1-based line number.
    pub line: usize,
    /// The video.
    pub location: Location,
    /// Encord data hash: given, or derived from the file (name and size) or the URL.
    pub data_hash: String,
    /// Data title, when the manifest gives one (else the file name).
    pub title: Option<String>,
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

/// Whether `data_hash` can name an output file: letters, digits, `-` and `_` only (Encord's
/// data hashes are UUIDs), so it cannot reach outside the output folder.
fn is_plain_name(data_hash: &str) -> bool {
    !data_hash.is_empty() && data_hash.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Reads a JSON Lines manifest: the usable entries, and the lines that were not.
pub fn read_manifest(path: &Path) -> Result<(Vec<ManifestEntry>, Vec<ManifestLineError>), ManifestError> {
    let bytes = std::fs::read(path).map_err(|cause| ManifestError { path: path.to_path_buf(), cause })?;
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&bytes);
    let base = path.parent().unwrap_or(Path::new("."));
    let (mut entries, mut errors) = (Vec::new(), Vec::new());
    // Data hash → the line that has it.
    let mut lines_of: HashMap<String, usize> = HashMap::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let fail = |reason: String| ManifestLineError { line, reason };
        let raw = match std::str::from_utf8(raw) {
            Ok(raw) => raw.strip_suffix('\r').unwrap_or(raw),
            Err(e) => {
                errors.push(fail(format!("not UTF-8 ({e})")));
                continue;
            }
        };
        if raw.trim().is_empty() {
            continue;
        }
        let entry = match serde_json::from_str::<Value>(raw) {
            Err(e) => Err(fail(format!("not JSON ({e})"))),
            Ok(value) => {
                let text = |key: &str| value.get(key).and_then(Value::as_str);
                let location = match (text("path"), text("url")) {
                    (Some(p), None) => Ok(Location::File(base.join(p))),
                    (None, Some(u)) if u.starts_with("http://") || u.starts_with("https://") => Ok(Location::Url(u.to_owned())),
                    (None, Some(u)) => Err(fail(format!("`url` {u} is not http(s)"))),
                    (Some(_), Some(_)) => Err(fail("both `path` and `url`".into())),
                    (None, None) => Err(fail("no `path` or `url`".into())),
                };
                location.map(|location| {
                    let data_hash = text("data_hash").map_or_else(
                        || match &location {
                            Location::File(path) => derived_data_hash(path),
                            Location::Url(url) => uuid_from_seed(&format!("url:{url}")),
                        },
                        str::to_owned,
                    );
                    ManifestEntry { line, location, data_hash, title: text("title").map(str::to_owned) }
                })
            }
        };
        let entry = entry.and_then(|e| {
            if !is_plain_name(&e.data_hash) {
                return Err(fail(format!("`data_hash` {:?} may hold only letters, digits, - and _", e.data_hash)));
            }
            match lines_of.entry(e.data_hash.clone()) {
                Entry::Occupied(first) => {
                    Err(fail(format!("data hash {} is line {}'s too: its output would overwrite that line's", e.data_hash, first.get())))
                }
                Entry::Vacant(slot) => {
                    slot.insert(line);
                    Ok(e)
                }
            }
        });
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
    /// Largest video downloaded for a `url` entry.
    pub max_video_bytes: u64,
    /// Videos decoding at once (their frames share inference batches).
    pub max_in_flight_videos: usize,
}

/// Where `--upload` saves the rows, besides the files.
pub struct Upload<'a> {
    /// The Encord client.
    pub client: &'a EncordClient,
    /// The project whose data units the manifest's data hashes name.
    pub project_hash: String,
}

/// How one video ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VideoOutcome {
    /// Manifest line.
    pub line: usize,
    /// The video's path or URL.
    pub source: String,
    /// Its data hash (the output is `<data hash>.label_row.json`).
    pub data_hash: String,
    /// `done`, `partial` (labelled what decoded), `already_done` (an earlier run wrote it, and
    /// uploaded it when uploading), `uploaded` (an earlier run wrote it without uploading; its
    /// file was uploaded now) or `failed`.
    pub status: &'static str,
    /// Frames decoded.
    pub frames: u64,
    /// Detections kept.
    pub detections: u64,
    /// Wall time for this video, from opening it (after any download) to its row written.
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
    #[error("download: {0}")]
    Download(#[from] ApiError),
    #[error("upload: {0}")]
    Row(#[from] RowError),
    #[error("upload: {0}")]
    Merge(#[from] prelabel_encord::MergeError),
    #[error("upload: save: {0}")]
    Save(ApiError),
    #[error("temporary file in {0}: {1}")]
    Temporary(String, std::io::Error),
    #[error("{0}: not a label row ({1})")]
    Unreadable(String, String),
}

/// The output file of an entry.
pub fn output_path(out_dir: &Path, data_hash: &str) -> PathBuf {
    out_dir.join(format!("{data_hash}.label_row.json"))
}

/// The record of an entry's upload: `{"project_hash": …}`, written once its row was saved there.
fn upload_record_path(out_dir: &Path, data_hash: &str) -> PathBuf {
    out_dir.join(format!("{data_hash}.uploaded.json"))
}

/// Whether an earlier run saved `data_hash`'s row to `project_hash`.
fn uploaded_to(out_dir: &Path, data_hash: &str, project_hash: &str) -> bool {
    let record = std::fs::read(upload_record_path(out_dir, data_hash)).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    record.is_some_and(|r| r["project_hash"] == project_hash)
}

/// Saves `row` (an entry's pre-labels) to the upload's project, merged with the stored row
/// under the worker's rules, and records that it did.
fn upload_row(entry: &ManifestEntry, row: &LabelRow, upload: &Upload<'_>, config: &BatchConfig) -> Result<(), VideoError> {
    let Upload { client, project_hash } = upload;
    let stored = label_row(client, project_hash, &video_metadata(client, project_hash, &entry.data_hash)?)?;
    let (merged, _) = merge_prelabels(&stored, row, &config.model_name)?;
    client.save_label_rows(project_hash, std::slice::from_ref(&merged)).map_err(VideoError::Save)?;
    write_json_atomically(&upload_record_path(&config.out_dir, &entry.data_hash), &serde_json::json!({"project_hash": project_hash}))?;
    Ok(())
}

/// Uploads the row an earlier run wrote for `entry` without uploading it.
fn upload_written(entry: &ManifestEntry, upload: &Upload<'_>, config: &BatchConfig) -> Result<(), VideoError> {
    let path = output_path(&config.out_dir, &entry.data_hash);
    let unreadable = |cause: String| VideoError::Unreadable(path.display().to_string(), cause);
    let bytes = std::fs::read(&path).map_err(|e| unreadable(e.to_string()))?;
    let row: LabelRow = serde_json::from_slice(&bytes).map_err(|e| unreadable(e.to_string()))?;
    upload_row(entry, &row, upload, config)
}

/// A temporary file not written to for this long was left by a killed run; younger ones may be
/// another shard's, writing into the same folder (a download, or a row about to be renamed).
const STALE_TEMPORARY_AGE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Deletes temporary files a killed run left in `out_dir` (not written to for
/// [`STALE_TEMPORARY_AGE`]).
fn remove_stale_temporaries(out_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(out_dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Another shard (or run) writing into the same folder keeps its temporaries fresh.
        let stale = entry.metadata().and_then(|m| m.modified()).is_ok_and(|at| at.elapsed().is_ok_and(|age| age >= STALE_TEMPORARY_AGE));
        if name.starts_with(".prelabel-") && name.ends_with(".tmp") && stale && std::fs::remove_file(entry.path()).is_ok() {
            tracing::info!(file = %name, "removed a temporary file of an interrupted run");
        }
    }
}

/// A manifest entry as the pipeline fetches it: a file as it is, a URL downloaded into the
/// output folder (the download is deleted once the video is decoded).
struct EntryInput<'a> {
    entry: &'a ManifestEntry,
    http: &'a Http,
    config: &'a BatchConfig,
}

impl VideoInput for EntryInput<'_> {
    fn fetch(&self) -> Result<LocalVideo<'_>, String> {
        match &self.entry.location {
            Location::File(path) => Ok(Box::new(path.as_path())),
            Location::Url(url) => {
                let out_dir = &self.config.out_dir;
                let download = tempfile::Builder::new()
                    .prefix(".prelabel-download-")
                    .suffix(".tmp")
                    .tempfile_in(out_dir)
                    .map_err(|e| VideoError::Temporary(out_dir.display().to_string(), e).to_string())?;
                self.http.download(url, download.path(), self.config.max_video_bytes).map_err(|e| VideoError::Download(e).to_string())?;
                Ok(Box::new(download))
            }
        }
    }
}

/// Labels every entry of this shard that has no output yet (`http` downloads `url` entries), up
/// to `config.max_in_flight_videos` decoding at once with their frames sharing inference
/// batches; `on_outcome` sees each outcome as it happens (to write the summary as the job goes).
/// An inference error fails the videos not yet finished.
#[allow(clippy::too_many_arguments)]
pub fn run_batch(
    entries: &[ManifestEntry],
    http: &Http,
    upload: Option<&Upload<'_>>,
    detectors: &mut Detectors,
    ontology: &Ontology,
    class_map: &ClassMap,
    config: &BatchConfig,
    mut on_outcome: impl FnMut(&VideoOutcome),
) {
    remove_stale_temporaries(&config.out_dir);
    let outcome = |entry: &ManifestEntry, status| VideoOutcome {
        line: entry.line,
        source: entry.location.to_string(),
        data_hash: entry.data_hash.clone(),
        status,
        frames: 0,
        detections: 0,
        seconds: 0.0,
        error: None,
    };
    let mut todo = Vec::new();
    for entry in entries.iter().filter(|e| config.shard.is_none_or(|s| s.contains(&e.data_hash))) {
        if output_path(&config.out_dir, &entry.data_hash).is_file() {
            // Written before; when uploading, uploaded before too, or its file is uploaded now.
            match upload.filter(|u| !uploaded_to(&config.out_dir, &entry.data_hash, &u.project_hash)) {
                None => on_outcome(&outcome(entry, "already_done")),
                Some(upload) => {
                    let started = Instant::now();
                    let error = upload_written(entry, upload, config).err().map(|e| e.to_string());
                    let status = if error.is_some() { "failed" } else { "uploaded" };
                    on_outcome(&VideoOutcome { error, seconds: started.elapsed().as_secs_f64(), ..outcome(entry, status) });
                }
            }
        } else {
            todo.push(EntryInput { entry, http, config });
        }
    }
    let class_count = detectors.model().class_names().len();
    let mut finished = vec![false; todo.len()];
    let run = detect_videos(
        &todo,
        detectors,
        config.pipeline.with_image_cues_for(config.tracking.as_ref()),
        config.max_in_flight_videos,
        |_, _| {},
        |i, detected| {
            let entry = todo[i].entry;
            let labelling = Instant::now();
            let mut result = outcome(entry, "failed");
            match detected.map_err(VideoError::from).and_then(|d| {
                result.seconds = d.timings.total.as_secs_f64();
                label_one(entry, &d, upload, ontology, class_map, class_count, config)
            }) {
                Ok((frames, detections, lost)) => {
                    result.status = if lost.is_some() { "partial" } else { "done" };
                    (result.frames, result.detections, result.error) = (frames, detections, lost);
                }
                Err(e) => result.error = Some(e.to_string()),
            }
            result.seconds += labelling.elapsed().as_secs_f64();
            finished[i] = true;
            on_outcome(&result);
        },
    );
    if let Err(e) = run {
        for (input, _) in todo.iter().zip(&finished).filter(|(_, done)| !**done) {
            on_outcome(&VideoOutcome { error: Some(e.to_string()), ..outcome(input.entry, "failed") });
        }
    }
}

/// Builds one video's label row, saves it to Encord when uploading (merged with the stored row
/// under the worker's rules), then writes its file, which marks the video done; returns frames,
/// detections and what was lost.
fn label_one(
    entry: &ManifestEntry,
    detections: &VideoDetections,
    upload: Option<&Upload<'_>>,
    ontology: &Ontology,
    class_map: &ClassMap,
    class_count: usize,
    config: &BatchConfig,
) -> Result<(u64, u64, Option<String>), VideoError> {
    let report = &detections.report;
    let path = match &entry.location {
        Location::File(path) => path.as_path(),
        Location::Url(url) => Path::new(url),
    };
    let mut meta = video_meta_for_file(path, &detections.info, report.frames_decoded, Some(&entry.data_hash));
    if let Location::Url(url) = &entry.location {
        meta.data_link = url.clone();
        meta.data_title = url.rsplit('/').next().unwrap_or(url).split('?').next().unwrap_or_default().to_owned();
        meta.mime_type = prelabel_encord::mime_type_for(Path::new(&meta.data_title)).to_owned();
    }
    if let Some(title) = &entry.title {
        meta.data_title = title.clone();
    }
    let labelled = build_label_row(
        ontology,
        class_map,
        class_count,
        meta,
        LabelSource::model(&config.model_name),
        detections,
        config.tracking.as_ref(),
    )?;
    let detections = labelled.detections_per_class.iter().sum();
    let out = output_path(&config.out_dir, &entry.data_hash);
    match upload {
        Some(upload) => {
            let row = labelled.row.finish();
            upload_row(entry, &row, upload, config)?;
            write_json_atomically(&out, &row)?;
        }
        None => labelled.row.write_json_atomically(&out)?,
    }
    let lost = report.is_partial().then(|| format!("{} frames lost, {} corrupt packets", report.frames_lost, report.corrupt_packets));
    Ok((report.frames_decoded, detections, lost))
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
            "{\"path\": \"a.mp4\", \"data_hash\": \"h-a\"}\n\n{\"path\": \"sub/b.avi\"}\nnot json\n{\"title\": \"x\"}\n{\"url\": \"https://x/y.mp4\"}\n{\"url\": \"ftp://x/z.mp4\"}\n",
        )
        .unwrap();
        let (entries, errors) = read_manifest(&manifest).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(
            (entries[0].line, &entries[0].location, entries[0].data_hash.as_str()),
            (1, &Location::File(dir.path().join("a.mp4")), "h-a")
        );
        assert_eq!(entries[1].line, 3);
        assert_eq!(entries[1].data_hash, derived_data_hash(&dir.path().join("sub/b.avi")));
        assert_eq!((entries[2].line, &entries[2].location), (6, &Location::Url("https://x/y.mp4".into())));
        assert_eq!(entries[2].data_hash, uuid_from_seed("url:https://x/y.mp4"), "stable for the same URL");
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [4, 5, 7]);
        assert!(errors[0].reason.starts_with("not JSON"));
        assert_eq!(errors[1].reason, "no `path` or `url`");
        assert_eq!(errors[2].reason, "`url` ftp://x/z.mp4 is not http(s)");
    }

    #[test]
    fn unsafe_duplicate_and_undecodable_lines_are_numbered_errors_and_the_rest_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("videos.jsonl");
        let mut text = b"\xef\xbb\xbf{\"path\": \"a.mp4\", \"data_hash\": \"h-a\"}\r\n".to_vec();
        text.extend_from_slice(b"{\"path\": \"b.mp4\", \"data_hash\": \"../../etc/x\"}\n");
        text.extend_from_slice(b"{\"path\": \"c.mp4\", \"data_hash\": \"h-a\"}\n");
        text.extend_from_slice(b"{\"path\": \"caf\xe9.mp4\"}\n");
        text.extend_from_slice(b"{\"path\": \"d.mp4\", \"title\": \"caf\xc3\xa9\"}\n");
        std::fs::write(&manifest, text).unwrap();
        let (entries, errors) = read_manifest(&manifest).unwrap();
        // The byte-order mark and the CR of line 1 are not part of its JSON.
        assert_eq!(entries.iter().map(|e| (e.line, e.data_hash.as_str())).collect::<Vec<_>>()[0], (1, "h-a"));
        assert_eq!((entries.len(), entries[1].line, entries[1].title.as_deref()), (2, 5, Some("café")));
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(errors[0].reason, "`data_hash` \"../../etc/x\" may hold only letters, digits, - and _");
        assert_eq!(errors[1].reason, "data hash h-a is line 1's too: its output would overwrite that line's");
        assert!(errors[2].reason.starts_with("not UTF-8"), "{}", errors[2].reason);
    }
}
