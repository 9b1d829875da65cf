//! The tracker: Kalman prediction, ByteTrack's high-score then low-score association per class,
//! birth and death.

use prelabel_core::{BoxXyxy, Detection, FrameDetections, FramePx};

use crate::assignment::match_by_similarity;
use crate::kalman::BoxFilter;
use crate::track::{BoxSource, Track, TrackBox};

/// Settings of a [`Tracker`]. `Default` gives ByteTrack's published values for MOT17 (track
/// threshold 0.5, new tracks from 0.6, first match threshold 0.8 as a cost, i.e. IoU × score ≥
/// 0.2, second pass IoU ≥ 0.5, tentative tracks IoU × score ≥ 0.3, 30 frames of patience), with
/// 3 hits to confirm a track, and a widening of tentative tracks' boxes for a detector that
/// skips frames (which ByteTrack does not have).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// Detections scoring at least this are matched first, against every confirmed track.
    pub high_score: f32,
    /// Detections scoring at least this, but below `high_score`, are matched second, only to
    /// confirmed tracks that were matched on the previous detector step (to carry them through
    /// occlusion); lower scores are ignored.
    pub low_score: f32,
    /// A high-score detection that matched no track starts a tentative track if it scores at
    /// least this.
    pub new_track_score: f32,
    /// A tentative track is confirmed once it has been matched on this many consecutive detector
    /// steps, counting the detection that started it (0 and 1 both confirm at once). A tentative
    /// track that misses a step is dropped.
    pub min_hits: u32,
    /// A confirmed track is ended when this many frames (not detector steps) have passed since its
    /// last match: it can still be matched `max_missed_frames` frames after it, not later.
    pub max_missed_frames: u64,
    /// The least IoU × detection score between a confirmed track's predicted box and a
    /// high-score detection for them to be matched.
    pub high_match_min_similarity: f32,
    /// The least IoU between a track's predicted box and a low-score detection.
    pub low_match_min_iou: f32,
    /// The least IoU × detection score between a tentative track's predicted box and a
    /// high-score detection, both widened by `tentative_buffer_per_skipped_frame`.
    pub tentative_match_min_similarity: f32,
    /// A tentative track has no velocity yet, so when the detector skips frames its object can
    /// be a box width away at the next detector step. For matching, its predicted box and the
    /// detections are each widened by this fraction of their width and height on every side
    /// (the "buffered IoU" of C-BIoU) per frame skipped since its last detection: no widening
    /// when the detector runs on every frame, 0.2 at stride 3.
    pub tentative_buffer_per_skipped_frame: f32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            high_score: 0.5,
            low_score: 0.1,
            new_track_score: 0.6,
            min_hits: 3,
            max_missed_frames: 30,
            high_match_min_similarity: 0.2,
            low_match_min_iou: 0.5,
            tentative_match_min_similarity: 0.3,
            tentative_buffer_per_skipped_frame: 0.1,
        }
    }
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackError {
    /// Frames must come in strictly increasing frame index.
    #[error("frame {frame_index} came after frame {previous_frame_index}; frames must be given in increasing frame index")]
    FrameOutOfOrder {
        /// The refused frame.
        frame_index: u64,
        /// The frame given before it.
        previous_frame_index: u64,
    },
}

/// How a track's predicted box and a detection are scored for matching; the matching maximises
/// the total over matched pairs.
#[derive(Debug, Clone, Copy)]
enum Similarity {
    /// Their IoU.
    Iou,
    /// Their IoU times the detection's score (ByteTrack's `fuse_score`): of two detections that
    /// overlap a track equally the surer one wins, and a slight overlap needs a sure detection.
    IouTimesScore,
}

impl Similarity {
    /// The similarity of the two, after widening both boxes by `buffer` (see
    /// [`TrackerConfig::tentative_buffer_per_skipped_frame`]).
    fn of(self, predicted_bbox_in_frame_px: &BoxXyxy<FramePx>, detection: &Detection, buffer: f32) -> f32 {
        let iou = widened(predicted_bbox_in_frame_px, buffer).iou(&widened(&detection.bbox_in_frame_px, buffer));
        match self {
            Similarity::Iou => iou,
            Similarity::IouTimesScore => iou * detection.score,
        }
    }
}

/// How one matching pass scores a pair of a track and a detection, and which pairs it allows.
#[derive(Debug, Clone, Copy)]
struct Pass {
    similarity: Similarity,
    /// Pairs scoring less are never matched (nor pairs that do not overlap at all).
    least: f32,
    /// Widening of both boxes per frame skipped since the track's last match (see
    /// [`TrackerConfig::tentative_buffer_per_skipped_frame`]).
    buffer_per_skipped_frame: f32,
}

/// The box grown by `fraction` of its width on the left and on the right, and of its height at
/// the top and at the bottom.
fn widened(b: &BoxXyxy<FramePx>, fraction: f32) -> BoxXyxy<FramePx> {
    let (dx, dy) = (b.width() * fraction, b.height() * fraction);
    BoxXyxy::new(b.x1 - dx, b.y1 - dy, b.x2 + dx, b.y2 + dy)
}

/// A track that may still be matched.
#[derive(Debug, Clone)]
struct LiveTrack {
    /// `None` while tentative; the id it was confirmed with.
    id: Option<u64>,
    class_index: usize,
    filter: BoxFilter,
    /// The detections matched to it so far.
    boxes: Vec<TrackBox>,
    /// Matched detector steps in a row, up to the last one.
    consecutive_hits: u32,
    last_matched_frame: u64,
    /// Whether it was matched on the latest detector step (ByteTrack's "tracked" state, as
    /// opposed to "lost").
    matched_last_step: bool,
}

impl LiveTrack {
    fn start(detection: &Detection, frame_index: u64) -> Self {
        Self {
            id: None,
            class_index: detection.class_index,
            filter: BoxFilter::new(&detection.bbox_in_frame_px, frame_index),
            boxes: vec![detected_box(detection, frame_index)],
            consecutive_hits: 1,
            last_matched_frame: frame_index,
            matched_last_step: true,
        }
    }

    /// Records the outcome of one detector step on `frame_index` (the filter is already there).
    fn record_step(&mut self, matched: Option<&Detection>, frame_index: u64) {
        match matched {
            Some(detection) => {
                self.filter.correct(&detection.bbox_in_frame_px);
                self.boxes.push(detected_box(detection, frame_index));
                self.consecutive_hits = self.consecutive_hits.saturating_add(1);
                self.last_matched_frame = frame_index;
                self.matched_last_step = true;
            }
            None => {
                self.consecutive_hits = 0;
                self.matched_last_step = false;
            }
        }
    }

    /// The finished track, if it was ever confirmed.
    fn into_track(self) -> Option<Track> {
        self.id.map(|id| Track { id, class_index: self.class_index, boxes: self.boxes })
    }
}

fn detected_box(detection: &Detection, frame_index: u64) -> TrackBox {
    TrackBox {
        frame_index,
        bbox_in_frame_px: detection.bbox_in_frame_px,
        score: detection.score,
        source: BoxSource::Detected,
    }
}

/// A detection the tracker can use: finite corners enclosing a positive area, and a finite score.
fn is_trackable(detection: &Detection) -> bool {
    let b = &detection.bbox_in_frame_px;
    [b.x1, b.y1, b.x2, b.y2, detection.score].iter().all(|v| v.is_finite()) && b.x2 > b.x1 && b.y2 > b.y1
}

/// Links detections across frames into tracks (ByteTrack: Kalman prediction, then matching
/// high-score detections, then low-score ones, by overlap with the predicted boxes, per class).
/// Feed it every frame the detector ran on, by increasing frame index, then [`Tracker::finish`].
#[derive(Debug, Clone)]
pub struct Tracker {
    config: TrackerConfig,
    /// In order of birth, so every scan over them is deterministic.
    live: Vec<LiveTrack>,
    /// Confirmed tracks that have ended.
    ended: Vec<Track>,
    next_id: u64,
    last_frame_index: Option<u64>,
}

/// The outcome of matching one frame's detections to the live tracks.
struct Matches<'d> {
    /// The detection matched to each live track, by the track's position in `Tracker::live`.
    of_track: Vec<Option<&'d Detection>>,
    /// Whether each high-score detection was matched.
    high_used: Vec<bool>,
}

impl Tracker {
    /// A tracker with no tracks yet.
    pub fn new(config: TrackerConfig) -> Self {
        Self { config, live: Vec::new(), ended: Vec::new(), next_id: 0, last_frame_index: None }
    }

    /// Takes the detections of the next frame the detector ran on. Frames the detector skipped
    /// are simply not given; tracks are predicted across the gap. Detections with non-finite or
    /// empty boxes are ignored.
    ///
    /// # Errors
    /// [`TrackError::FrameOutOfOrder`] when `frame` does not come after the previous frame; the
    /// tracker is left as it was.
    pub fn update(&mut self, frame: &FrameDetections) -> Result<(), TrackError> {
        let frame_index = frame.frame_index;
        if let Some(previous_frame_index) = self.last_frame_index
            && frame_index <= previous_frame_index
        {
            return Err(TrackError::FrameOutOfOrder { frame_index, previous_frame_index });
        }
        self.last_frame_index = Some(frame_index);
        let config = self.config;

        // Confirmed tracks unmatched for longer than max_missed_frames end before matching.
        let (live, expired): (Vec<LiveTrack>, Vec<LiveTrack>) = std::mem::take(&mut self.live)
            .into_iter()
            .partition(|t| t.id.is_none() || frame_index - t.last_matched_frame <= config.max_missed_frames);
        self.live = live;
        self.ended.extend(expired.into_iter().filter_map(LiveTrack::into_track));

        for track in &mut self.live {
            track.filter.predict_to(frame_index);
        }
        let (high, low): (Vec<&Detection>, Vec<&Detection>) = frame
            .detections
            .iter()
            .filter(|d| is_trackable(d) && d.score >= config.low_score)
            .partition(|d| d.score >= config.high_score);
        let matches = self.match_detections(frame_index, &high, &low);

        for (track, matched) in self.live.iter_mut().zip(matches.of_track) {
            track.record_step(matched, frame_index);
        }
        // Tentative tracks that missed die at once.
        self.live.retain(|t| t.id.is_some() || t.matched_last_step);

        // Births from the high-score detections nobody took.
        let births = high
            .iter()
            .zip(&matches.high_used)
            .filter(|(d, used)| !**used && d.score >= config.new_track_score)
            .map(|(d, _)| LiveTrack::start(d, frame_index));
        self.live.extend(births);

        // Confirmation, in order of birth.
        for track in &mut self.live {
            if track.id.is_none() && track.consecutive_hits >= config.min_hits {
                track.id = Some(self.next_id);
                self.next_id += 1;
            }
        }
        Ok(())
    }

    /// Matches the live tracks (already predicted to `frame_index`) to this frame's detections in
    /// three passes, each an optimal matching within classes.
    fn match_detections<'d>(&self, frame_index: u64, high: &[&'d Detection], low: &[&'d Detection]) -> Matches<'d> {
        let config = &self.config;
        let predicted_bbox_in_frame_px: Vec<BoxXyxy<FramePx>> =
            self.live.iter().map(|t| t.filter.bbox_in_frame_px()).collect();
        // Pairs (live track, detection) from the given tracks and detections of `pool`.
        let associate = |tracks: &[usize], pool: &[&Detection], detections: &[usize], pass: Pass| {
            let pairs = match_by_similarity(tracks.len(), detections.len(), |t, d| {
                let (track, detection) = (&self.live[tracks[t]], pool[detections[d]]);
                let skipped_frames = frame_index.saturating_sub(track.last_matched_frame + 1);
                let buffer = pass.buffer_per_skipped_frame * skipped_frames as f32;
                let value = pass.similarity.of(&predicted_bbox_in_frame_px[tracks[t]], detection, buffer);
                let allowed = track.class_index == detection.class_index && value >= pass.least && value > 0.0;
                allowed.then_some(f64::from(value))
            });
            pairs.into_iter().map(|(t, d)| (tracks[t], detections[d])).collect::<Vec<_>>()
        };
        let mut matches = Matches { of_track: vec![None; self.live.len()], high_used: vec![false; high.len()] };

        // 1. High-score detections against every confirmed track, matched last step or lost.
        let confirmed: Vec<usize> = (0..self.live.len()).filter(|&t| self.live[t].id.is_some()).collect();
        let all_high: Vec<usize> = (0..high.len()).collect();
        let first = Pass {
            similarity: Similarity::IouTimesScore,
            least: config.high_match_min_similarity,
            buffer_per_skipped_frame: 0.0,
        };
        for (t, d) in associate(&confirmed, high, &all_high, first) {
            matches.of_track[t] = Some(high[d]);
            matches.high_used[d] = true;
        }
        // 2. Low-score detections against the confirmed tracks still unmatched that were matched
        //    on the previous step.
        let recently_seen: Vec<usize> = confirmed
            .iter()
            .copied()
            .filter(|&t| matches.of_track[t].is_none() && self.live[t].matched_last_step)
            .collect();
        let all_low: Vec<usize> = (0..low.len()).collect();
        let second = Pass { similarity: Similarity::Iou, least: config.low_match_min_iou, buffer_per_skipped_frame: 0.0 };
        for (t, d) in associate(&recently_seen, low, &all_low, second) {
            matches.of_track[t] = Some(low[d]);
        }
        // 3. The remaining high-score detections against tentative tracks.
        let tentative: Vec<usize> = (0..self.live.len()).filter(|&t| self.live[t].id.is_none()).collect();
        let free_high: Vec<usize> = (0..high.len()).filter(|&d| !matches.high_used[d]).collect();
        let third = Pass {
            similarity: Similarity::IouTimesScore,
            least: config.tentative_match_min_similarity,
            buffer_per_skipped_frame: config.tentative_buffer_per_skipped_frame,
        };
        for (t, d) in associate(&tentative, high, &free_high, third) {
            matches.of_track[t] = Some(high[d]);
            matches.high_used[d] = true;
        }
        matches
    }

    /// Every confirmed track, ended or not, by id. Tracks still tentative are dropped.
    pub fn finish(self) -> Vec<Track> {
        let mut tracks = self.ended;
        tracks.extend(self.live.into_iter().filter_map(LiveTrack::into_track));
        tracks.sort_by_key(|t| t.id);
        tracks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 40×80 box with its top-left corner at (x, y).
    fn det(class_index: usize, score: f32, x: f32, y: f32) -> Detection {
        Detection { class_index, score, bbox_in_frame_px: BoxXyxy::new(x, y, x + 40.0, y + 80.0) }
    }

    fn frame(frame_index: u64, detections: Vec<Detection>) -> FrameDetections {
        FrameDetections { frame_index, detections }
    }

    fn run(config: TrackerConfig, frames: &[FrameDetections]) -> Vec<Track> {
        let mut tracker = Tracker::new(config);
        for f in frames {
            tracker.update(f).expect("frames in order");
        }
        tracker.finish()
    }

    fn frames_of(track: &Track) -> Vec<u64> {
        track.boxes.iter().map(|b| b.frame_index).collect()
    }

    /// Two objects of one class crossing: one moving right at y = 100, one moving left at
    /// y = 120, level at frame 20; the boxes overlap with IoU ≥ 0.5 from frame 17 to 23.
    fn crossing(frame_index: u64) -> FrameDetections {
        let step = frame_index as f32 * 5.0;
        frame(frame_index, vec![det(0, 0.9, 100.0 + step, 100.0), det(0, 0.8, 300.0 - step, 120.0)])
    }

    #[test]
    fn a_track_is_born_after_min_hits_and_starts_at_its_first_detection() {
        let still = |i| frame(i, vec![det(0, 0.9, 10.0, 10.0)]);
        assert!(run(TrackerConfig::default(), &[still(0), still(1)]).is_empty());
        let tracks = run(TrackerConfig::default(), &[still(0), still(1), still(2)]);
        assert_eq!(tracks.len(), 1);
        assert_eq!((tracks[0].id, tracks[0].class_index, frames_of(&tracks[0])), (0, 0, vec![0, 1, 2]));
        assert!(tracks[0].boxes.iter().all(|b| b.source == BoxSource::Detected && b.score == 0.9));
        // A tentative track that misses a step dies: frames 0, 1 are lost, 3, 4, 5 make a track.
        let gappy = [still(0), still(1), frame(2, vec![]), still(3), still(4), still(5)];
        let tracks = run(TrackerConfig::default(), &gappy);
        assert_eq!(tracks.iter().map(frames_of).collect::<Vec<_>>(), vec![vec![3, 4, 5]]);
    }

    #[test]
    fn a_weak_detection_starts_no_track() {
        let weak = |i| frame(i, vec![det(0, 0.55, 10.0, 10.0)]);
        assert!(run(TrackerConfig::default(), &(0..10).map(weak).collect::<Vec<_>>()).is_empty());
    }

    #[test]
    fn a_track_ends_after_max_missed_frames_counted_in_frames() {
        // Seen on frames 0..=5, then on frame 5 + gap; with detector stride 5 in between.
        let config = TrackerConfig { max_missed_frames: 30, ..TrackerConfig::default() };
        let still = |i| frame(i, vec![det(0, 0.9, 10.0, 10.0)]);
        let with_return_after = |gap: u64| {
            let mut frames: Vec<FrameDetections> = (0..=5).map(still).collect();
            frames.extend((10..5 + gap).step_by(5).map(|i| frame(i, vec![])));
            frames.extend((5 + gap..5 + gap + 3).map(still));
            run(config, &frames)
        };
        let kept = with_return_after(30);
        assert_eq!(kept.len(), 1);
        assert_eq!(frames_of(&kept[0]), vec![0, 1, 2, 3, 4, 5, 35, 36, 37]);
        let ended = with_return_after(31);
        assert_eq!(ended.iter().map(frames_of).collect::<Vec<_>>(), vec![(0..=5).collect(), vec![36, 37, 38]]);
        assert_eq!(ended.iter().map(|t| t.id).collect::<Vec<_>>(), vec![0, 1]);
    }

    #[test]
    fn classes_are_tracked_separately() {
        // Two classes on the same box, and a third box that changes class half way.
        let frames: Vec<FrameDetections> = (0..6)
            .map(|i| {
                let switching = if i < 3 { 0 } else { 1 };
                frame(i, vec![det(0, 0.9, 10.0, 10.0), det(1, 0.8, 10.0, 10.0), det(switching, 0.9, 300.0, 10.0)])
            })
            .collect();
        let tracks = run(TrackerConfig { min_hits: 1, ..TrackerConfig::default() }, &frames);
        let summary: Vec<(usize, f32, Vec<u64>)> =
            tracks.iter().map(|t| (t.class_index, t.boxes[0].bbox_in_frame_px.x1, frames_of(t))).collect();
        assert_eq!(
            summary,
            vec![
                (0, 10.0, vec![0, 1, 2, 3, 4, 5]),
                (1, 10.0, vec![0, 1, 2, 3, 4, 5]),
                (0, 300.0, vec![0, 1, 2]),
                (1, 300.0, vec![3, 4, 5]),
            ]
        );
    }

    #[test]
    fn low_score_detections_carry_a_tracked_object_but_never_a_lost_one() {
        let seen = |i, score| frame(i, vec![det(0, score, 10.0 + i as f32, 10.0)]);
        let mut frames: Vec<FrameDetections> = (0..5).map(|i| seen(i, 0.9)).collect();
        frames.extend((5..10).map(|i| seen(i, 0.3)));
        frames.extend((10..13).map(|i| seen(i, 0.9)));
        let tracks = run(TrackerConfig::default(), &frames);
        assert_eq!(tracks.iter().map(frames_of).collect::<Vec<_>>(), vec![(0..13).collect::<Vec<u64>>()]);
        assert_eq!(tracks[0].boxes[7].score, 0.3);
        // After a missed step the track is lost, and low-score detections no longer match it.
        frames[5] = frame(5, vec![]);
        let tracks = run(TrackerConfig::default(), &frames);
        assert_eq!(tracks.iter().map(frames_of).collect::<Vec<_>>(), vec![vec![0, 1, 2, 3, 4, 10, 11, 12]]);
    }

    #[test]
    fn crossing_objects_keep_their_ids() {
        let frames: Vec<FrameDetections> = (0..41).map(crossing).collect();
        let tracks = run(TrackerConfig::default(), &frames);
        assert_eq!(tracks.len(), 2);
        for track in &tracks {
            assert_eq!(frames_of(track), (0..41).collect::<Vec<u64>>());
            // Every box of a track is on its object's line: no swap at the crossing.
            let y1 = track.boxes[0].bbox_in_frame_px.y1;
            assert!(track.boxes.iter().all(|b| b.bbox_in_frame_px.y1 == y1), "{track:?}");
        }
        assert_eq!((tracks[0].boxes[40].bbox_in_frame_px.x1, tracks[1].boxes[40].bbox_in_frame_px.x1), (300.0, 100.0));
    }

    #[test]
    fn every_third_frame_is_followed_across_the_gaps() {
        let frames: Vec<FrameDetections> = (0..41).step_by(3).map(crossing).collect();
        let tracks = run(TrackerConfig::default(), &frames);
        assert_eq!(tracks.len(), 2);
        for track in &tracks {
            assert_eq!(frames_of(track), (0..41).step_by(3).collect::<Vec<u64>>());
            let y1 = track.boxes[0].bbox_in_frame_px.y1;
            assert!(track.boxes.iter().all(|b| b.bbox_in_frame_px.y1 == y1), "{track:?}");
        }
    }

    #[test]
    fn a_new_track_is_found_again_when_the_detector_skips_frames() {
        // 7 px/frame at stride 3: 21 px between detector steps, half the box's width. Without
        // the widening, IoU 0.32 × score 0.8 < 0.3 and the tentative track never gets a 2nd hit.
        let frames: Vec<FrameDetections> =
            (0..30).step_by(3).map(|i| frame(i, vec![det(0, 0.8, 100.0 + 7.0 * i as f32, 100.0)])).collect();
        let tracks = run(TrackerConfig::default(), &frames);
        assert_eq!(tracks.iter().map(frames_of).collect::<Vec<_>>(), vec![(0..30).step_by(3).collect::<Vec<u64>>()]);
        let unwidened = TrackerConfig { tentative_buffer_per_skipped_frame: 0.0, ..TrackerConfig::default() };
        assert!(run(unwidened, &frames).is_empty());
    }

    #[test]
    fn identical_input_gives_identical_tracks() {
        // Crossing objects, a second class, clutter that never confirms, and a gap.
        let frames: Vec<FrameDetections> = (0..60)
            .filter(|i| i % 7 != 3)
            .map(|i| {
                let mut f = crossing(i);
                f.detections.push(det(1, 0.7, 500.0 - i as f32, 400.0));
                f.detections.push(det(0, 0.65, (i * 37 % 600) as f32, (i * 53 % 400) as f32));
                f
            })
            .collect();
        let first = run(TrackerConfig::default(), &frames);
        assert_eq!(first.iter().map(|t| t.id).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(first, run(TrackerConfig::default(), &frames));
    }

    #[test]
    fn frames_out_of_order_are_refused() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        assert_eq!(tracker.update(&frame(4, vec![])), Ok(()));
        assert_eq!(
            tracker.update(&frame(4, vec![])),
            Err(TrackError::FrameOutOfOrder { frame_index: 4, previous_frame_index: 4 })
        );
    }

    #[test]
    fn unusable_boxes_are_ignored() {
        let broken = |i| {
            let nan = Detection { class_index: 0, score: 0.9, bbox_in_frame_px: BoxXyxy::new(f32::NAN, 0.0, 5.0, 5.0) };
            let empty = Detection { class_index: 0, score: 0.9, bbox_in_frame_px: BoxXyxy::new(5.0, 5.0, 5.0, 9.0) };
            frame(i, vec![nan, empty, det(0, 0.9, 100.0, 100.0)])
        };
        let tracks = run(TrackerConfig::default(), &(0..4).map(broken).collect::<Vec<_>>());
        assert_eq!(tracks.len(), 1);
        assert_eq!(tracks[0].boxes.len(), 4);
    }
}
