//! The end-of-run summary: one screen for people, JSON for scripts.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use prelabel_detect::{Detector, OutputLayout};
use prelabel_pipeline::{FlowStats, TrackStats, VideoDetections};
use serde::Serialize;

/// Detections of one model class.
#[derive(Debug, Serialize)]
pub struct ClassCount {
    /// Model class name.
    pub class: String,
    /// The ontology object it became, or `None` when dropped.
    pub object: Option<String>,
    /// Detections kept after thresholds and NMS.
    pub count: u64,
}

/// What a `prelabel run` did.
#[derive(Debug, Serialize)]
pub struct Summary {
    status: &'static str,
    video: VideoSummary,
    frames: FrameSummary,
    model: ModelSummary,
    detections: u64,
    objects_written: u64,
    classes: Vec<ClassCount>,
    tracks: Option<TrackSummary>,
    label_row: String,
    generated_ontology: Option<String>,
    seconds: Seconds,
    fps: f64,
    pipeline: FlowSummary,
}

#[derive(Debug, Serialize)]
struct VideoSummary {
    path: String,
    /// As displayed, after `rotation`.
    width: u32,
    height: u32,
    /// Degrees clockwise the decoded pictures are turned to be shown (the container's display
    /// matrix); boxes are in the turned frame.
    rotation: u32,
    fps: f64,
    codec: String,
    decoder: String,
}

#[derive(Debug, Serialize)]
struct FrameSummary {
    decoded: u64,
    expected: Option<u64>,
    lost: u64,
    corrupt_packets: u64,
    read_error: Option<String>,
    hw_decoded: u64,
    detected: u64,
    stride: u64,
}

#[derive(Debug, Serialize)]
struct ModelSummary {
    path: String,
    layout: &'static str,
    input: String,
    batch: usize,
    device: String,
}

#[derive(Debug, Serialize)]
struct TrackSummary {
    tracks: u64,
    tracks_dropped: u64,
    mean_track_frames: f64,
    boxes_detected: u64,
    boxes_interpolated: u64,
}

/// How the pipeline's stages kept up (`prelabel_pipeline::FlowStats`, with its shares and verdict
/// worked out), for the run summary and the bench report.
#[derive(Debug, Clone, Serialize)]
pub struct FlowSummary {
    /// Detector sessions (inference threads).
    pub sessions: usize,
    /// Capacity of the queue between decode and inference, in batches.
    pub queue_capacity: usize,
    /// Mean batches left queued when a session took one.
    pub mean_queue_depth: f64,
    /// Share of the sessions' time spent waiting for frames.
    pub inference_idle_share: f64,
    /// Share of the decode threads' time spent waiting for a free tensor or queue room.
    pub decode_blocked_share: f64,
    /// `decode-bound` or `inference-bound`.
    pub bound: String,
}

impl From<&FlowStats> for FlowSummary {
    fn from(f: &FlowStats) -> Self {
        Self {
            sessions: f.sessions,
            queue_capacity: f.queue_capacity,
            mean_queue_depth: f.mean_queue_depth,
            inference_idle_share: f.inference_idle_share(),
            decode_blocked_share: f.decode_blocked_share(),
            bound: f.bound().to_string(),
        }
    }
}

impl fmt::Display for FlowSummary {
    /// `queue 3.3 of 4 batches deep on average, inference idle 3%, decode blocked 85%: inference-bound`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "queue {:.1} of {} batches deep on average, inference idle {:.0}%, decode blocked {:.0}%: {}",
            self.mean_queue_depth,
            self.queue_capacity,
            100.0 * self.inference_idle_share,
            100.0 * self.decode_blocked_share,
            self.bound
        )
    }
}

#[derive(Debug, Serialize)]
struct Seconds {
    decode: f64,
    preprocess: f64,
    infer: f64,
    postprocess: f64,
    label: f64,
    write: f64,
    total: f64,
}

impl Summary {
    /// Gathers the summary of a finished run; `post` is (label building, writing) time.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        video: &Path,
        out: &Path,
        generated_ontology: Option<&Path>,
        detector: &Detector,
        run: &VideoDetections,
        stride: u64,
        classes: Vec<ClassCount>,
        (label, write): (Duration, Duration),
    ) -> Self {
        let layout = match detector.output_layout() {
            OutputLayout::SsdBoxesScores { .. } => "SSD boxes+scores",
            OutputLayout::YoloRawHead { .. } => "YOLO raw head",
            OutputLayout::YoloEndToEnd { .. } => "YOLO end-to-end",
        };
        let input = detector.input_layout();
        let t = &run.timings;
        let total = t.total + label + write;
        let report = &run.report;
        Self {
            status: if report.is_partial() { "partial" } else { "complete" },
            video: VideoSummary {
                path: video.display().to_string(),
                width: run.info.width,
                height: run.info.height,
                rotation: run.info.rotation.degrees(),
                fps: run.info.fps,
                codec: run.info.codec.clone(),
                decoder: run.info.decoder.clone(),
            },
            frames: FrameSummary {
                decoded: report.frames_decoded,
                expected: run.info.frame_count_hint,
                lost: report.frames_lost,
                corrupt_packets: report.corrupt_packets,
                read_error: report.read_error.clone(),
                hw_decoded: report.hw_frames,
                detected: run.frames.len() as u64,
                stride,
            },
            model: ModelSummary {
                path: detector.path().display().to_string(),
                layout,
                input: format!("{}x{}", input.width, input.height),
                batch: detector.max_batch(),
                device: detector.device().to_string(),
            },
            detections: classes.iter().map(|c| c.count).sum(),
            objects_written: classes.iter().filter(|c| c.object.is_some()).map(|c| c.count).sum(),
            classes,
            tracks: None,
            label_row: out.display().to_string(),
            generated_ontology: generated_ontology.map(|p| p.display().to_string()),
            seconds: Seconds {
                decode: t.decode.as_secs_f64(),
                preprocess: t.preprocess.as_secs_f64(),
                infer: t.infer.as_secs_f64(),
                postprocess: t.postprocess.as_secs_f64(),
                label: label.as_secs_f64(),
                write: write.as_secs_f64(),
                total: total.as_secs_f64(),
            },
            fps: report.frames_decoded as f64 / total.as_secs_f64().max(1e-9),
            pipeline: FlowSummary::from(&run.flow),
        }
    }

    /// Adds what tracking did; the objects written are then the tracks.
    pub fn with_tracks(mut self, tracks: Option<TrackStats>) -> Self {
        if let Some(t) = tracks {
            self.objects_written = t.tracks;
            self.tracks = Some(TrackSummary {
                tracks: t.tracks,
                tracks_dropped: t.tracks_dropped,
                mean_track_frames: t.mean_track_frames,
                boxes_detected: t.boxes_detected,
                boxes_interpolated: t.boxes_interpolated,
            });
        }
        self
    }

    /// One line saying what part of the video was lost.
    pub fn partial_reason(&self, video: &Path) -> String {
        let f = &self.frames;
        let expected = f.expected.map_or_else(String::new, |e| format!(" of {e}"));
        let mut causes = Vec::new();
        if f.lost > 0 {
            causes.push(format!("{} frames lost", f.lost));
        }
        if f.corrupt_packets > 0 {
            causes.push(format!("{} corrupt packets skipped", f.corrupt_packets));
        }
        if let Some(e) = &f.read_error {
            causes.push(format!("read error: {e}"));
        }
        format!("{}: partly decoded: labelled {}{expected} frames; {}", video.display(), f.decoded, causes.join(", "))
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = &self.video;
        let fr = &self.frames;
        let m = &self.model;
        let s = &self.seconds;
        writeln!(f, "prelabel run: {} ({})", v.path, self.status)?;
        writeln!(f, "  video      {}x{}, {:.2} fps, {}; decoder: {}", v.width, v.height, v.fps, v.codec, v.decoder)?;
        let expected = fr.expected.map_or_else(String::new, |e| format!(" of {e}"));
        let on_gpu = if fr.hw_decoded > 0 { format!(" ({} by NVDEC)", fr.hw_decoded) } else { String::new() };
        writeln!(
            f,
            "  frames     {} decoded{expected}{on_gpu}, {} run through the detector (stride {})",
            fr.decoded, fr.detected, fr.stride
        )?;
        writeln!(f, "  model      {} ({}, input {}, batch {}, {})", m.path, m.layout, m.input, m.batch, m.device)?;
        writeln!(f, "  detections {} kept, {} objects written", self.detections, self.objects_written)?;
        for c in &self.classes {
            match &c.object {
                Some(object) if object == &c.class => writeln!(f, "    {:<16} {:>7}", c.class, c.count)?,
                Some(object) => writeln!(f, "    {:<16} {:>7}  as {object}", c.class, c.count)?,
                None => writeln!(f, "    {:<16} {:>7}  dropped: no bounding-box object in the ontology", c.class, c.count)?,
            }
        }
        if let Some(t) = &self.tracks {
            writeln!(
                f,
                "  tracks     {} objects, {:.1} frames each on average ({} short or unmapped tracks dropped)",
                t.tracks, t.mean_track_frames, t.tracks_dropped
            )?;
            writeln!(
                f,
                "             boxes: {} detected + {} filled in (interpolated between detections or extrapolated at track ends)",
                t.boxes_detected, t.boxes_interpolated
            )?;
        }
        writeln!(
            f,
            "  time       decode {:.2}s  preprocess {:.2}s  infer {:.2}s  postprocess {:.2}s  label {:.2}s  write {:.2}s",
            s.decode, s.preprocess, s.infer, s.postprocess, s.label, s.write
        )?;
        writeln!(f, "             total {:.2}s wall ({:.1} frames/s; stages overlap, infer summed over sessions)", s.total, self.fps)?;
        writeln!(f, "  pipeline   {} sessions; {}", self.pipeline.sessions, self.pipeline)?;
        writeln!(f, "  label row  {}", self.label_row)?;
        if let Some(o) = &self.generated_ontology {
            writeln!(f, "  ontology   {o} (generated from the model's classes)")?;
        }
        Ok(())
    }
}
