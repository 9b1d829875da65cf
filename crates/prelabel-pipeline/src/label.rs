//! From detections to an Encord label row: one object instance per detection, or, with
//! tracking, one per tracked object with a box on every frame it covers (interpolated between
//! the frames the detector ran on, or along their image motion, and extrapolated into the frames
//! it skipped next to the track's ends).

use prelabel_encord::{ClassMap, InstanceBox, LabelRowBuilder, LabelSource, Ontology, VideoMeta, encord_timestamp_now};
use prelabel_track::{BoxSource, TrackError, Tracker, TrackerConfig};

use crate::VideoDetections;

/// How detections are linked into tracks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackingOptions {
    /// The tracker's settings (birth, death, association thresholds).
    pub tracker: TrackerConfig,
    /// Tracks covering fewer frames than this (first to last detected box) are dropped.
    pub min_track_frames: u64,
    /// Longest gap between two detected boxes of a track that is filled by interpolation, and
    /// the most frames a track is extrapolated by at either end.
    pub max_interpolation_gap_frames: u64,
    /// When the detector skips frames: follow each detection's image motion over them (see
    /// [`ImageCues`](crate::ImageCues)), so the tracker predicts each track from where its object
    /// went and boxes the skipped frames along that path, rather than along a straight line.
    /// Either way, the tracker is told what each detection looks like.
    pub follow_motion: bool,
}

/// What tracking made of the detections.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TrackStats {
    /// Tracks written as object instances.
    pub tracks: u64,
    /// Confirmed tracks dropped: too short, or of a class the ontology lacks.
    pub tracks_dropped: u64,
    /// Mean frames per written track.
    pub mean_track_frames: f64,
    /// Boxes written where the detector found the object.
    pub boxes_detected: u64,
    /// Boxes written on frames where the detector did not find the object: interpolated between
    /// detected frames (along a straight line, or along the image motion), or extrapolated into
    /// the skipped frames next to a track's ends.
    pub boxes_interpolated: u64,
}

/// A label row and how it was made.
pub struct Labelled<'a> {
    /// The row, held compactly: stream it into a file with
    /// [`write_json_atomically`](LabelRowBuilder::write_json_atomically) (memory does not grow with
    /// a second copy), or make the serde model with [`finish`](LabelRowBuilder::finish) to merge
    /// it with a stored row.
    pub row: LabelRowBuilder<'a>,
    /// Detections per model class index (dropped classes included).
    pub detections_per_class: Vec<u64>,
    /// Tracking figures, when tracking was on.
    pub tracks: Option<TrackStats>,
}

/// Builds the label row for `detections`; `source` goes into the object hashes.
pub fn build_label_row<'a>(
    ontology: &'a Ontology,
    class_map: &'a ClassMap,
    class_count: usize,
    meta: VideoMeta,
    source: LabelSource<'_>,
    detections: &VideoDetections,
    tracking: Option<&TrackingOptions>,
) -> Result<Labelled<'a>, TrackError> {
    let frame_size = (meta.width, meta.height);
    let mut builder = LabelRowBuilder::new(ontology, class_map, meta, source, encord_timestamp_now());
    let mut detections_per_class = vec![0u64; class_count];
    for d in detections.frames.iter().flat_map(|f| &f.detections) {
        if let Some(count) = detections_per_class.get_mut(d.class_index) {
            *count += 1;
        }
    }
    let tracks = match tracking {
        None => {
            builder.add_frames(&detections.frames);
            None
        }
        Some(options) => Some(add_tracks(&mut builder, detections, options, frame_size)?),
    };
    Ok(Labelled { row: builder, detections_per_class, tracks })
}

/// Tracks `detections` and adds the tracks to `builder`; `(width, height)` is the frame size.
fn add_tracks(
    builder: &mut LabelRowBuilder<'_>,
    detections: &VideoDetections,
    options: &TrackingOptions,
    (width, height): (u32, u32),
) -> Result<TrackStats, TrackError> {
    let mut tracker = Tracker::new(options.tracker);
    let mut followed = detections.followed.iter().peekable();
    for frame in &detections.frames {
        // Both in frame order; a frame may have none.
        let cues = followed.next_if(|f| f.frame_index <= frame.frame_index).filter(|f| f.frame_index == frame.frame_index);
        tracker.update_followed(frame, cues)?;
    }
    let mut stats = TrackStats::default();
    let mut frames_written = 0u64;
    for track in tracker.finish_video(detections.frame_end) {
        let span = match (track.boxes.first(), track.boxes.last()) {
            (Some(first), Some(last)) => last.frame_index - first.frame_index + 1,
            _ => 0,
        };
        let max_fill = options.max_interpolation_gap_frames;
        let track = track.interpolated(max_fill).extrapolated(max_fill, width, height);
        let boxes: Vec<InstanceBox> = track.boxes.iter().map(|b| (b.frame_index, b.bbox_in_frame_px, b.score)).collect();
        if span < options.min_track_frames || !builder.add_track(track.id, track.class_index, &boxes) {
            stats.tracks_dropped += 1;
            continue;
        }
        stats.tracks += 1;
        frames_written += boxes.len() as u64;
        let detected = track.boxes.iter().filter(|b| b.source == BoxSource::Detected).count() as u64;
        stats.boxes_detected += detected;
        stats.boxes_interpolated += boxes.len() as u64 - detected;
    }
    stats.mean_track_frames = if stats.tracks > 0 { frames_written as f64 / stats.tracks as f64 } else { 0.0 };
    Ok(stats)
}
