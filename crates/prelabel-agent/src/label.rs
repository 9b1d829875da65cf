//! One editor call, start to end, on a blocking thread: project and ontology, label row, video,
//! seek + decode, detect, merge on the frames labelled, save.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prelabel_core::{FrameDetections, InputTransform};
use prelabel_decode::{LumaWriter, TensorWriter, VideoSource};
use prelabel_encord::client::{ApiError, ApiErrorKind};
use prelabel_encord::{ClassMap, LabelSource, Ontology};
use prelabel_pipeline::rows::{RowError, label_row, reread_label_row, video_metadata};
use prelabel_pipeline::{
    FlowStats, Follower, ImageCues, StageTimings, TrackingOptions, VideoDetections, build_label_row, video_meta_for_stored_row,
};
use serde::Deserialize;

use crate::{Agent, Scope};

/// The body the Label Editor posts (extra fields are ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EditorRequest {
    /// The project.
    pub project_hash: String,
    /// The data unit (video).
    pub data_hash: String,
    /// The frame the annotator is on (0-based).
    pub frame: u64,
    /// Objects selected in the editor (not used: the agent labels whole frames).
    #[serde(default)]
    pub object_hashes: Option<Vec<String>>,
}

/// Why a call failed; each maps to the HTTP answer Encord expects.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The request is wrong (400): malformed, unknown data unit, frame past the end.
    #[error("{0}")]
    BadRequest(String),
    /// The agent's key may not access the project (403).
    #[error("{0}")]
    Forbidden(String),
    /// Anything else (500).
    #[error("{0}")]
    Internal(String),
}

impl AgentError {
    /// An API failure at `stage`: 403 for a refused key, 400 for what the request named but
    /// Encord does not have (or refuses as invalid), else 500. The message never carries a URL.
    fn api(stage: &str, error: &ApiError, not_found_is_bad_request: bool) -> Self {
        let message = format!("{stage}: {} (trace {})", redact_urls(&error.message), error.trace_id);
        match error.kind {
            ApiErrorKind::Auth | ApiErrorKind::Forbidden => Self::Forbidden(message),
            ApiErrorKind::NotFound | ApiErrorKind::InvalidArgument if not_found_is_bad_request => Self::BadRequest(message),
            _ => Self::Internal(message),
        }
    }
}

impl AgentError {
    /// The answer for a failure to get a label row: a data unit that is not a video of the
    /// project is the caller's mistake (400).
    fn row(stage: &str, error: RowError, not_found_is_bad_request: bool) -> Self {
        match error {
            RowError::Api(e) => Self::api(stage, &e, not_found_is_bad_request),
            e @ (RowError::NotInProject(_) | RowError::NotVideo { .. }) => Self::BadRequest(e.to_string()),
            e @ RowError::NoRow(_) => Self::Internal(e.to_string()),
        }
    }
}

/// Replaces every URL in `text` (a signed URL is a credential) with `<url>`.
pub(crate) fn redact_urls(text: &str) -> String {
    static URL: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    URL.get_or_init(|| regex::Regex::new(r#"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"')]+"#).expect("valid regex"))
        .replace_all(text, "<url>")
        .into_owned()
}

/// Wall time per stage of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    /// Project, ontology, label-row metadata and the row.
    pub fetch: Duration,
    /// The video from its signed URL into a temporary file.
    pub download: Duration,
    /// Seek, decode and conversion into the model's layout.
    pub decode: Duration,
    /// Waiting for a free detector.
    pub wait: Duration,
    /// ONNX Runtime and post-processing (and tracking).
    pub infer: Duration,
    /// Merge and save.
    pub save: Duration,
}

/// What a call did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The message for the annotator, e.g. `12 objects on frame 340`.
    pub message: String,
    /// Frames decoded to reach and label the frames asked for (the pre-roll from the keyframe
    /// included).
    pub frames_decoded: u64,
    /// The first frame the decoder produced (the keyframe the seek landed on).
    pub decode_start: u64,
    /// Time per stage.
    pub times: StageTimes,
}

/// A UUID as Encord writes them (these go into API paths, so nothing else gets through).
pub(crate) fn is_uuid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 5 && parts.iter().zip([8, 4, 4, 4, 12]).all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl Agent {
    fn project(&self, project_hash: &str) -> Result<Arc<(Ontology, ClassMap)>, AgentError> {
        if let Some(known) = self.projects.lock().unwrap_or_else(|e| e.into_inner()).get(project_hash) {
            return Ok(Arc::clone(known));
        }
        let project = self.client.project(project_hash).map_err(|e| AgentError::api("project", &e, true))?;
        let ontology = self.client.ontology(&project.ontology_hash).map_err(|e| AgentError::api("ontology", &e, false))?;
        let class_map = ClassMap::new(&ontology, &self.class_names, &self.config.aliases)
            .map_err(|e| AgentError::Internal(format!("project ontology: {e}")))?;
        let entry = Arc::new((ontology, class_map));
        self.projects.lock().unwrap_or_else(|e| e.into_inner()).insert(project_hash.to_owned(), Arc::clone(&entry));
        Ok(entry)
    }

    /// Runs one call to the end (blocking: call it from a blocking thread).
    pub fn label(&self, request: &EditorRequest) -> Result<Outcome, AgentError> {
        let (project, data_hash, frame) = (&request.project_hash, &request.data_hash, request.frame);
        let mut times = StageTimes::default();
        let started = Instant::now();
        let known = self.project(project)?;
        let (ontology, class_map) = (&known.0, &known.1);
        let meta = video_metadata(&self.client, project, data_hash).map_err(|e| AgentError::row("label row metadata", e, true))?;
        if let Some(frames) = meta.number_of_frames.filter(|&n| frame >= n) {
            return Err(AgentError::BadRequest(format!("frame {frame} is past the end of the video ({frames} frames)")));
        }
        let stored = label_row(&self.client, project, &meta).map_err(|e| AgentError::row("label row", e, false))?;
        times.fetch = started.elapsed();

        let clock = Instant::now();
        let url = match stored["data_units"][data_hash]["data_link"].as_str() {
            Some(link) if link.starts_with("http://") || link.starts_with("https://") => link.to_owned(),
            _ => {
                let item = meta.backing_item_uuid.as_deref().ok_or_else(|| AgentError::Internal("no signed URL for the video".into()))?;
                self.client.signed_url(item).map_err(|e| AgentError::api("storage item", &e, false))?
            }
        };
        let video =
            tempfile::NamedTempFile::with_prefix("prelabel-agent-").map_err(|e| AgentError::Internal(format!("temporary file: {e}")))?;
        let bytes =
            self.client.download(&url, video.path(), self.config.max_video_bytes).map_err(|e| AgentError::api("video", &e, false))?;
        times.download = clock.elapsed();

        let (first, count, tracking) = match self.config.scope {
            Scope::Frame => (frame, Some(1), None),
            Scope::FromFrame => (frame, self.config.max_frames, Some(&self.config.tracking)),
            Scope::Video => (0, self.config.max_frames, Some(&self.config.tracking)),
        };
        // Not past Encord's last frame, which it may put before FFmpeg's (variable frame rate,
        // edit lists): it rejects a row with a box there.
        let count = match meta.number_of_frames {
            Some(frames) => Some(count.unwrap_or(u64::MAX).min(frames - first)),
            None => count,
        };
        let stride = if count == Some(1) { 1 } else { self.config.frame_stride.max(1) };
        let cues = ImageCues::for_tracking(tracking, stride);
        let detected = self.detect_from(video.path(), first, count, stride, cues, &mut times)?;
        drop(video);
        let Some(last) = detected.frames_labelled.last().copied() else {
            return Err(AgentError::BadRequest(format!("frame {frame} is past the end of the video")));
        };

        // A range whose detected frames span too little for any track to be kept is labelled with
        // its detections as they are, rather than with no boxes.
        let tracking = tracking.filter(|t| could_keep_a_track(&detected.detections.frames, t));

        let clock = Instant::now();
        let info = detected.detections.info.clone();
        let frame_total = meta.number_of_frames.unwrap_or(0).max(last + 1);
        let row_meta = video_meta_for_stored_row(&stored, &info, frame_total);
        // Tracks of a call that starts at `first` get their own hashes (a track id alone would
        // collide with another start's tracks); all carry the model's owner prefix, so this call
        // replaces the model's earlier pre-labels on its frames whichever run made them; none
        // takes the hash of one of the model's objects that lives on outside those frames.
        let scope: BTreeSet<u64> = (first..=last).collect();
        let taken_hashes = prelabel_encord::own_hashes_outside(&stored, data_hash, &self.model_name, &scope);
        let source = LabelSource { model: &self.model_name, tracks_from_frame: tracking.map(|_| first), taken_hashes: &taken_hashes };
        let labelled = build_label_row(ontology, class_map, self.class_names.len(), row_meta, source, &detected.detections, tracking)
            .map_err(|e| AgentError::Internal(format!("tracking: {e}")))?;
        let row = labelled.row.finish();
        let objects: usize =
            row.data_units.values().flat_map(|u| u.labels.iter()).filter(|(f, _)| scope.contains(f)).map(|(_, l)| l.objects.len()).sum();
        // Merged into the row as it is now (a person may have edited it since it was read).
        let stored = reread_label_row(&self.client, project, &stored).map_err(|e| AgentError::row("label row", e, false))?;
        let (merged, stats) = prelabel_encord::merge_prelabels_on_frames(&stored, &row, &self.model_name, &scope)
            .map_err(|e| AgentError::Internal(e.to_string()))?;
        self.client.save_label_rows(project, std::slice::from_ref(&merged)).map_err(|e| AgentError::api("save", &e, false))?;
        times.save = clock.elapsed();

        let message = match (first, last) {
            (a, b) if a == b => format!("{objects} {} on frame {a}", if objects == 1 { "object" } else { "objects" }),
            (a, b) => format!("{objects} object boxes on frames {a}-{b}"),
        };
        let frames_decoded = detected.detections.report.frames_decoded;
        tracing::info!(project = %project, data = %data_hash, frame, bytes, frames_decoded, decode_start = detected.decode_start,
            decoder = %info.decoder, fallback = detected.fallback.as_deref().unwrap_or(""), added = stats.added, replaced = stats.replaced, kept = stats.kept,
            edited_by_people = stats.edited_by_people,
            fetch_ms = ms(times.fetch), download_ms = ms(times.download), decode_ms = ms(times.decode), wait_ms = ms(times.wait),
            infer_ms = ms(times.infer), save_ms = ms(times.save), total_ms = ms(started.elapsed()), "labelled: {message}");
        Ok(Outcome { message, frames_decoded, decode_start: detected.decode_start, times })
    }

    /// Decodes from `first` (seeking), runs the detector on every `stride`-th of at most
    /// `count` frames, and returns the detections, with the image `cues` the tracker takes.
    fn detect_from(
        &self,
        video: &std::path::Path,
        first: u64,
        count: Option<u64>,
        stride: u64,
        cues: ImageCues,
        times: &mut StageTimes,
    ) -> Result<Detected, AgentError> {
        let decode_error = |e: prelabel_decode::DecodeError| AgentError::Internal(format!("decode: {}", redact_urls(&e.to_string())));
        let clock = Instant::now();
        let source = VideoSource::open_with(video, self.config.decode_threads, self.config.hw_decode).map_err(decode_error)?;
        let info = source.info().clone();
        let image_len = self.layout.image_len();
        let mut writer = TensorWriter::new(self.layout);
        let mut luma_writer = cues.wanted().then(LumaWriter::new);
        let mut follower = cues.wanted().then(|| Follower::new(first, stride, cues));
        // A detector is lent per batch: a single frame is decoded first, then detected; streams
        // take one for each full batch, so other calls get it between their batches.
        let mut batch: Vec<(u64, InputTransform)> = Vec::new();
        let mut tensor: Vec<f32> = Vec::with_capacity(self.max_batch * image_len);
        let mut frames = Vec::new();
        let mut labelled = Vec::new();
        let mut failure: Option<AgentError> = None;
        let infer = Cell::new(Duration::ZERO);
        let wait = Cell::new(Duration::ZERO);
        let streaming = count != Some(1);
        let mut run_batch =
            |batch: &mut Vec<(u64, InputTransform)>, tensor: &mut Vec<f32>, follower: &mut Option<Follower>| -> Result<(), AgentError> {
                if batch.is_empty() {
                    return Ok(());
                }
                let waiting = Instant::now();
                let mut lent = self.pool.lend()?;
                wait.set(wait.get() + waiting.elapsed());
                let running = Instant::now();
                let transforms: Vec<InputTransform> = batch.iter().map(|(_, t)| *t).collect();
                let result = lent.detector()?.detect(tensor, &transforms);
                drop(lent);
                infer.set(infer.get() + running.elapsed());
                let result = result.map_err(|e| AgentError::Internal(format!("infer: {e}")))?;
                for ((frame_index, _), detections) in batch.drain(..).zip(result.per_frame) {
                    if let Some(follower) = follower.as_mut() {
                        follower.detected(frame_index, &detections);
                    }
                    frames.push(FrameDetections { frame_index, detections });
                }
                tensor.clear();
                Ok(())
            };
        let seek = source
            .decode_from(first, |frame| {
                let index = frame.index();
                if count.is_some_and(|n| index >= first + n) {
                    return ControlFlow::Break(());
                }
                labelled.push(index);
                if let (Some(luma_writer), Some(follower)) = (luma_writer.as_mut(), follower.as_mut())
                    && cues.wants_luma_of(index - first, stride)
                {
                    match luma_writer.write(&frame) {
                        Ok(luma) => follower.luma(luma),
                        Err(e) => {
                            failure = Some(decode_error(e));
                            return ControlFlow::Break(());
                        }
                    }
                }
                if (index - first).is_multiple_of(stride) {
                    let start = tensor.len();
                    tensor.resize(start + image_len, 0.0);
                    match writer.write(&frame, &mut tensor[start..]) {
                        Ok(t) => batch.push((index, t)),
                        Err(e) => {
                            failure = Some(decode_error(e));
                            return ControlFlow::Break(());
                        }
                    }
                    if streaming
                        && batch.len() == self.max_batch
                        && let Err(e) = run_batch(&mut batch, &mut tensor, &mut follower)
                    {
                        failure = Some(e);
                        return ControlFlow::Break(());
                    }
                }
                // Stop on the last frame wanted, before the decoder produces another.
                if count.is_some_and(|n| index + 1 >= first + n) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
            })
            .map_err(decode_error)?;
        if let Some(e) = failure {
            return Err(e);
        }
        // Decode time is the time to here less the batches run while decoding.
        let decoded_at = clock.elapsed().saturating_sub(infer.get() + wait.get());
        run_batch(&mut batch, &mut tensor, &mut follower)?;
        times.infer = infer.get();
        times.wait = wait.get();
        times.decode = decoded_at;
        let report = seek.report.clone();
        // Tracks end (and following stops) with the range, not with the frames decoded from the
        // keyframe before it.
        let frame_end = labelled.last().map_or(first, |last| last + 1);
        let followed = follower.map_or_else(Vec::new, |follower| follower.finish(frame_end));
        let detections =
            VideoDetections { info, frames, followed, report, frame_end, timings: StageTimings::default(), flow: FlowStats::default() };
        Ok(Detected { detections, frames_labelled: labelled, decode_start: seek.start_index, fallback: seek.fallback.clone() })
    }
}

struct Detected {
    detections: VideoDetections,
    frames_labelled: Vec<u64>,
    decode_start: u64,
    fallback: Option<String>,
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// Whether tracking `frames` (detected frames, in order) can give any track: a track is kept
/// only when its detections span `min_track_frames` and confirmed only when they span
/// `min_confirm_frames`, so detected frames that span less give none.
fn could_keep_a_track(frames: &[FrameDetections], tracking: &TrackingOptions) -> bool {
    let span = match (frames.first(), frames.last()) {
        (Some(first), Some(last)) => last.frame_index - first.frame_index + 1,
        _ => 0,
    };
    span >= tracking.min_track_frames.max(tracking.tracker.min_confirm_frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_and_uuids_checked() {
        assert_eq!(
            redact_urls("error sending request for url (http://127.0.0.1:9/files/a.mp4?X-Sig=abc): refused"),
            "error sending request for url (<url>): refused"
        );
        assert!(is_uuid("00000000-0000-4000-8000-0000000000a1"));
        assert!(!is_uuid("../../v2/public/x"));
        assert!(!is_uuid("00000000-0000-4000-8000-0000000000a1?x"));
    }
}
