//! The tracker: Kalman prediction, ByteTrack's high-score then low-score association per class,
//! birth and death.

use prelabel_core::{BoxXyxy, Detection, FrameDetections, FramePx};

use crate::appearance::Appearance;
use crate::assignment::match_by_similarity;
use crate::kalman::BoxFilter;
use crate::motion::FollowedDetections;
use crate::track::{BoxSource, INTERPOLATED_CONFIDENCE_SCALE, Track, TrackBox};

/// Settings of a [`Tracker`]. `Default` gives ByteTrack's published values for MOT17 (track
/// threshold 0.5, new tracks from 0.6, first match threshold 0.8 as a cost, i.e. IoU × score ≥
/// 0.2, second pass IoU ≥ 0.5, tentative tracks IoU × score ≥ 0.3, 30 frames of patience), with
/// 3 frames to confirm a track (3 hits when the detector runs on every frame), and, for a
/// detector that skips frames (which ByteTrack does not have), a widening of the boxes per
/// skipped frame, and (which ByteTrack does not have either) matches reweighed by appearance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// Detections scoring at least this are matched first, against every confirmed track.
    pub high_score: f32,
    /// Detections scoring at least this, but below `high_score`, are matched second, only to
    /// confirmed tracks that were matched on the previous detector step (to carry them through
    /// occlusion), and, when the detector skipped frames, last to tentative tracks (widened, so
    /// a new object seen weakly on the step after its birth is kept); lower scores are ignored.
    pub low_score: f32,
    /// A high-score detection that matched no track starts a tentative track if it scores at
    /// least this.
    pub new_track_score: f32,
    /// A tentative track is confirmed once its detections, on consecutive detector steps from the
    /// one that started it, span this many frames, first to last (0 and 1 both confirm at once).
    /// Counted in frames like `max_missed_frames`, so an object must persist as long whatever
    /// the detector's stride: 3 frames are 3 hits on every frame, 2 hits at stride 2 or more. A
    /// tentative track that misses a step is dropped.
    pub min_confirm_frames: u64,
    /// A confirmed track is ended when this many frames (not detector steps) have passed since its
    /// last match: it can still be matched `max_missed_frames` frames after it, not later.
    pub max_missed_frames: u64,
    /// The least IoU × detection score between a confirmed track's predicted box and a
    /// high-score detection for them to be matched.
    pub high_match_min_similarity: f32,
    /// The least IoU between a track's predicted box and a low-score detection (both widened by
    /// `buffer_per_skipped_frame` for tentative tracks).
    pub low_match_min_iou: f32,
    /// The least IoU × detection score between a tentative track's predicted box and a
    /// high-score detection, both widened by `buffer_per_skipped_frame`.
    pub tentative_match_min_similarity: f32,
    /// When the detector skips frames, the object can move further between two detector steps
    /// than the prediction follows: a tentative track has no velocity yet, and a confirmed one
    /// does not see a turn or a stop on the skipped frames. So for matching, a track's predicted
    /// box and the detections are each widened by this fraction of their width and height on
    /// every side (the "buffered IoU" of C-BIoU) per frame the detector skipped since the track
    /// was last matched: no widening when it runs on every frame; at stride 3, 0.2 for a track
    /// matched on the previous step and 0.4 for one that missed a step (its object went unseen
    /// over twice as many skipped frames). Tentative tracks are always matched so; confirmed
    /// tracks in a second stage, with `high_match_min_similarity`, among the tracks and
    /// high-score detections that the unwidened first pass left unmatched (C-BIoU's cascade), so
    /// a widened box never takes a detection from a track that overlaps it as is.
    pub buffer_per_skipped_frame: f32,
    /// How much a detection's likeness to a track counts when they are matched, where
    /// [`Tracker::update_followed`] is given the detections' [appearances](FollowedDetections::appearances):
    /// each pair's similarity is multiplied by `1 - appearance_weight + appearance_weight ×
    /// likeness`, the likeness falling from 1 for the same look to 0 at
    /// `appearance_max_distance`, and 0.5 where either look is unknown. It reweighs only the
    /// pairs the thresholds above allow, on their unweighted similarity: a look never allows a
    /// pair nor refuses one. So where two objects overlap a track's predicted box about equally
    /// (crossing, one hiding the other, one turning back) the one that looks like it wins; and
    /// where the only detection left for a track looks wholly unlike it, the matching may leave
    /// the track unmatched on this step rather than swap objects. 0 turns it off.
    pub appearance_weight: f32,
    /// The [`Appearance::distance`] (mean luma difference, 0-255) at which a detection counts as
    /// wholly unlike a track.
    pub appearance_max_distance: f32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            high_score: 0.5,
            low_score: 0.1,
            new_track_score: 0.6,
            min_confirm_frames: 3,
            max_missed_frames: 30,
            high_match_min_similarity: 0.2,
            low_match_min_iou: 0.5,
            tentative_match_min_similarity: 0.3,
            buffer_per_skipped_frame: 0.1,
            appearance_weight: 0.5,
            appearance_max_distance: 40.0,
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
    /// [`TrackerConfig::buffer_per_skipped_frame`]).
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
    /// Whether both boxes are widened, by the track's
    /// [`buffer`](LiveTrack::buffer).
    widened: bool,
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
    last_matched_frame: u64,
    /// Whether it was matched on the latest detector step (ByteTrack's "tracked" state, as
    /// opposed to "lost").
    matched_last_step: bool,
    /// Frames the detector skipped just before the step that started it.
    unobserved_frames_before: u64,
    /// Frames the detector skipped since the track was last matched (before this step, once the
    /// step has begun).
    skipped_frames_since_match: u64,
    /// The first detector step after `last_matched_frame`, once there was one (it missed there).
    first_step_missed: Option<u64>,
    /// The image motion of the detection last matched, from its frame over the frames after it
    /// (see [`FollowedDetections::centre_shifts_px`]); taken up on the next detector step.
    centre_shifts_px: Vec<[f32; 2]>,
    /// Frames since the last match that the filter followed by image motion, each with the
    /// centre's shift since that match, in frame pixels.
    followed_since_match: Vec<(u64, [f32; 2])>,
    /// What its object looks like: the appearances of its high-score detections, averaged with
    /// the latest weighing [`1 - APPEARANCE_KEEP`](APPEARANCE_KEEP).
    appearance: Option<Appearance>,
}

/// The share of a track's appearance kept when it is matched again (BoT-SORT's 0.9): a frame where
/// its object is partly hidden changes it little.
const APPEARANCE_KEEP: f32 = 0.9;

impl LiveTrack {
    /// A tentative track from `detection` on `frame_index`, the detector having skipped
    /// `skipped_frames` frames before it.
    fn start(detection: &Detection, cues: DetectionCues, frame_index: u64, skipped_frames: u64) -> Self {
        Self {
            id: None,
            class_index: detection.class_index,
            filter: BoxFilter::new(&detection.bbox_in_frame_px, frame_index),
            boxes: vec![detected_box(detection, frame_index)],
            last_matched_frame: frame_index,
            matched_last_step: true,
            unobserved_frames_before: skipped_frames,
            skipped_frames_since_match: 0,
            first_step_missed: None,
            centre_shifts_px: cues.centre_shifts_px,
            followed_since_match: Vec::new(),
            appearance: cues.appearance,
        }
    }

    /// How much its predicted box and the detections are widened for matching, as a fraction of
    /// their size on every side (see [`TrackerConfig::buffer_per_skipped_frame`]).
    fn buffer(&self, config: &TrackerConfig) -> f32 {
        config.buffer_per_skipped_frame * self.skipped_frames_since_match as f32
    }

    /// Frames its detections span so far, first to last.
    fn span_frames(&self) -> u64 {
        let first = self.boxes.first().map_or(self.last_matched_frame, |b| b.frame_index);
        self.last_matched_frame - first + 1
    }

    /// Moves the filter, over the frames before `frame_index`, with the image motion of the
    /// detection it was last matched to, when it was matched on the latest step.
    fn follow_motion_before(&mut self, frame_index: u64) {
        let shifts = std::mem::take(&mut self.centre_shifts_px);
        let Some(start) = self.boxes.last().filter(|_| self.matched_last_step) else { return };
        let [cx, cy] = start.bbox_in_frame_px.centre();
        // The shift onto this step's own frame only serves the boxes between (see
        // `add_followed_boxes`): the filter meets this frame's detections as predicted.
        let followed = (self.last_matched_frame + 1..=frame_index).zip(shifts);
        for (followed_frame, [dx, dy]) in followed {
            if followed_frame < frame_index {
                self.filter.predict_to(followed_frame);
                self.filter.correct_centre([f64::from(cx + dx), f64::from(cy + dy)]);
            }
            self.followed_since_match.push((followed_frame, [dx, dy]));
        }
    }

    /// Records the outcome of one detector step on `frame_index` (the filter is already there):
    /// the detection matched, if any, with its image cues; its appearance is taken up when it
    /// scores at least `high_score`.
    fn record_step(&mut self, matched: Option<(&Detection, DetectionCues)>, frame_index: u64, high_score: f32) {
        match matched {
            Some((detection, cues)) => {
                self.add_followed_boxes(detection, frame_index);
                self.centre_shifts_px = cues.centre_shifts_px;
                if let Some(seen) = cues.appearance.filter(|_| detection.score >= high_score) {
                    self.appearance = Some(self.appearance.map_or(seen, |known| known.blended(&seen, APPEARANCE_KEEP)));
                }
                self.filter.correct(&detection.bbox_in_frame_px);
                self.boxes.push(detected_box(detection, frame_index));
                self.last_matched_frame = frame_index;
                self.skipped_frames_since_match = 0;
                self.matched_last_step = true;
                self.first_step_missed = None;
            }
            None => {
                self.followed_since_match.clear();
                self.matched_last_step = false;
                self.first_step_missed.get_or_insert(frame_index);
            }
        }
    }

    /// Boxes on the frames between the last match and `frame_index`, where `detection` matched,
    /// when the image motion was followed over at least the first of them: each is the last
    /// detected box moved with the image motion up to its frame (carried on by the filter's
    /// velocity over any frames after the motion could no longer be followed), plus the share of
    /// that path's miss at `frame_index` that linear interpolation gives its frame, so the path
    /// starts and ends on the two detections. Width and height are interpolated.
    fn add_followed_boxes(&mut self, detection: &Detection, frame_index: u64) {
        let mut followed = std::mem::take(&mut self.followed_since_match);
        let (Some(start), Some(&(last_followed, [last_dx, last_dy]))) = (self.boxes.last().copied(), followed.last()) else { return };
        if last_followed == frame_index {
            followed.pop();
        }
        let [vx, vy] = self.filter.centre_velocity().map(|v| v as f32);
        let unfollowed = (frame_index - last_followed) as f32;
        let (a, b) = (&start.bbox_in_frame_px, &detection.bbox_in_frame_px);
        let ([ax, ay], [bx, by]) = (a.centre(), b.centre());
        let miss = [bx - (ax + last_dx + vx * unfollowed), by - (ay + last_dy + vy * unfollowed)];
        let carried_on = (last_followed + 1..frame_index).map(|frame| {
            let since = (frame - last_followed) as f32;
            (frame, [last_dx + vx * since, last_dy + vy * since])
        });
        let span = (frame_index - start.frame_index) as f32;
        let score = start.score.min(detection.score) * INTERPOLATED_CONFIDENCE_SCALE;
        self.boxes.extend(followed.into_iter().chain(carried_on).map(|(frame, [dx, dy])| {
            let t = (frame - start.frame_index) as f32 / span;
            let (w, h) = (a.width() + (b.width() - a.width()) * t, a.height() + (b.height() - a.height()) * t);
            let bbox_in_frame_px = BoxXyxy::from_centre(ax + dx + miss[0] * t, ay + dy + miss[1] * t, w, h);
            TrackBox { frame_index: frame, bbox_in_frame_px, score, source: BoxSource::Followed }
        }));
    }

    /// The finished track, if it was ever confirmed; `last_frame` is the video's last frame, when
    /// known.
    fn into_track(self, last_frame: Option<u64>) -> Option<Track> {
        // Frames between its last detection and the step that first missed it went unobserved;
        // with no such step it was seen on the last step, and the frames after it up to the
        // video's end (when known) went unobserved.
        let unobserved_frames_after = match (self.first_step_missed, last_frame) {
            (Some(missed), _) => missed - self.last_matched_frame - 1,
            (None, Some(last)) => last.saturating_sub(self.last_matched_frame),
            (None, None) => 0,
        };
        self.id.map(|id| Track {
            id,
            class_index: self.class_index,
            boxes: self.boxes,
            unobserved_frames_before: self.unobserved_frames_before,
            unobserved_frames_after,
        })
    }
}

/// What [`FollowedDetections`] says of one detection.
struct DetectionCues {
    /// Its image motion after its frame, up to the first non-finite shift.
    centre_shifts_px: Vec<[f32; 2]>,
    appearance: Option<Appearance>,
}

fn detected_box(detection: &Detection, frame_index: u64) -> TrackBox {
    TrackBox { frame_index, bbox_in_frame_px: detection.bbox_in_frame_px, score: detection.score, source: BoxSource::Detected }
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
struct Matches {
    /// The detection matched to each live track, by the track's position in `Tracker::live` and
    /// the detection's in the frame.
    of_track: Vec<Option<usize>>,
    /// Whether each high-score detection was matched.
    high_used: Vec<bool>,
}

impl Matches {
    /// The high-score detections not matched yet, by position.
    fn free_high(&self) -> Vec<usize> {
        (0..self.high_used.len()).filter(|&d| !self.high_used[d]).collect()
    }

    /// Records pairs (live track, high-score detection), both by position; `high` gives the
    /// high-score detections' positions in the frame.
    fn take_high(&mut self, pairs: Vec<(usize, usize)>, high: &[usize]) {
        for (t, d) in pairs {
            self.of_track[t] = Some(high[d]);
            self.high_used[d] = true;
        }
    }
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
        self.update_followed(frame, None)
    }

    /// [`update`](Self::update), with the image cues of the frame's detections (from
    /// [`follow_detections`](crate::follow_detections)): what each looks like, which reweighs its
    /// pairs with the tracks (see [`TrackerConfig::appearance_weight`]), and its image motion
    /// over the frames after it that the detector skipped. On the next step, a track matched here
    /// is first moved along its detection's motion, frame by frame, so it is predicted from where
    /// the object went rather than from its velocity alone; and when it is matched again, the
    /// frames between get [`BoxSource::Followed`] boxes along that motion instead of a straight
    /// line. `followed` for another frame is ignored, and a detection's motion ends at its first
    /// non-finite shift.
    ///
    /// # Errors
    /// As [`update`](Self::update).
    pub fn update_followed(&mut self, frame: &FrameDetections, followed: Option<&FollowedDetections>) -> Result<(), TrackError> {
        let frame_index = frame.frame_index;
        if let Some(previous_frame_index) = self.last_frame_index
            && frame_index <= previous_frame_index
        {
            return Err(TrackError::FrameOutOfOrder { frame_index, previous_frame_index });
        }
        // Frames between the previous detector step and this one (none before the first step).
        let skipped_frames = self.last_frame_index.map_or(0, |previous| frame_index - previous - 1);
        self.last_frame_index = Some(frame_index);
        let config = self.config;

        // Confirmed tracks unmatched for longer than max_missed_frames end before matching.
        let (live, expired): (Vec<LiveTrack>, Vec<LiveTrack>) = std::mem::take(&mut self.live)
            .into_iter()
            .partition(|t| t.id.is_none() || frame_index - t.last_matched_frame <= config.max_missed_frames);
        self.live = live;
        self.ended.extend(expired.into_iter().filter_map(|track| track.into_track(None)));

        for track in &mut self.live {
            track.skipped_frames_since_match += skipped_frames;
            track.follow_motion_before(frame_index);
            track.filter.predict_to(frame_index);
        }
        let detections = &frame.detections;
        let (high, low): (Vec<usize>, Vec<usize>) = (0..detections.len())
            .filter(|&d| is_trackable(&detections[d]) && detections[d].score >= config.low_score)
            .partition(|&d| detections[d].score >= config.high_score);
        let followed = followed.filter(|f| f.frame_index == frame_index);
        let appearances: Vec<Option<Appearance>> =
            (0..detections.len()).map(|d| followed.and_then(|f| f.appearances.get(d).copied().flatten())).collect();
        let matches = self.match_detections(detections, &high, &low, &appearances);

        let cues_of = |d: usize| {
            let shifts = followed.and_then(|f| f.centre_shifts_px.get(d));
            let centre_shifts_px =
                shifts.map_or_else(Vec::new, |s| s.iter().take_while(|s| s.iter().all(|v| v.is_finite())).copied().collect());
            DetectionCues { centre_shifts_px, appearance: appearances[d] }
        };
        for (track, matched) in self.live.iter_mut().zip(matches.of_track) {
            track.record_step(matched.map(|d| (&detections[d], cues_of(d))), frame_index, config.high_score);
        }
        // Tentative tracks that missed die at once.
        self.live.retain(|t| t.id.is_some() || t.matched_last_step);

        // Births from the high-score detections nobody took.
        let births = high
            .iter()
            .zip(&matches.high_used)
            .filter(|&(&d, used)| !*used && detections[d].score >= config.new_track_score)
            .map(|(&d, _)| LiveTrack::start(&detections[d], cues_of(d), frame_index, skipped_frames));
        self.live.extend(births);

        // Confirmation, in order of birth. A live tentative track has been matched on every step
        // since it started.
        for track in &mut self.live {
            if track.id.is_none() && track.span_frames() >= config.min_confirm_frames {
                track.id = Some(self.next_id);
                self.next_id += 1;
            }
        }
        Ok(())
    }

    /// Matches the live tracks (already predicted to this step's frame) to its detections in
    /// passes, each an optimal matching within classes; `high` and `low` are positions in
    /// `detections`, and `appearances` are the detections', where known.
    fn match_detections(&self, detections: &[Detection], high: &[usize], low: &[usize], appearances: &[Option<Appearance>]) -> Matches {
        let config = &self.config;
        // The factor of a pair's similarity for how alike the track and the detection look.
        let look_factor = |track: &LiveTrack, d: usize| {
            let likeness = match (&track.appearance, &appearances[d]) {
                (Some(known), Some(seen)) => (1.0 - known.distance(seen) / config.appearance_max_distance).max(0.0),
                // Neither like nor unlike: a detection too small to read does not beat one that
                // looks somewhat like the track.
                _ => 0.5,
            };
            1.0 - config.appearance_weight + config.appearance_weight * likeness
        };
        let predicted_bbox_in_frame_px: Vec<BoxXyxy<FramePx>> = self.live.iter().map(|t| t.filter.bbox_in_frame_px()).collect();
        // Pairs (live track, position in `pool`) from the given tracks and candidates (positions
        // in `pool`, itself positions in `detections`).
        let associate = |tracks: &[usize], pool: &[usize], candidates: &[usize], pass: Pass| {
            let pairs = match_by_similarity(tracks.len(), candidates.len(), |t, d| {
                let (track, d) = (&self.live[tracks[t]], pool[candidates[d]]);
                let detection = &detections[d];
                let buffer = if pass.widened { track.buffer(config) } else { 0.0 };
                let value = pass.similarity.of(&predicted_bbox_in_frame_px[tracks[t]], detection, buffer);
                let allowed = track.class_index == detection.class_index && value >= pass.least && value > 0.0;
                // Above 0 however unlike they look, so an allowed pair stays allowed.
                allowed.then(|| f64::from(value * look_factor(track, d)).max(f64::MIN_POSITIVE))
            });
            pairs.into_iter().map(|(t, d)| (tracks[t], candidates[d])).collect::<Vec<_>>()
        };
        let mut matches = Matches { of_track: vec![None; self.live.len()], high_used: vec![false; high.len()] };
        // The tracks whose boxes widening would change (none when the detector ran on every
        // frame since their last match).
        let widens = |t: &usize| self.live[*t].buffer(config) > 0.0;

        // 1. High-score detections against every confirmed track, matched last step or lost.
        let confirmed: Vec<usize> = (0..self.live.len()).filter(|&t| self.live[t].id.is_some()).collect();
        let first = Pass { similarity: Similarity::IouTimesScore, least: config.high_match_min_similarity, widened: false };
        matches.take_high(associate(&confirmed, high, &matches.free_high(), first), high);
        // 1b. The confirmed tracks left unmatched that the detector skipped frames of since their
        //     last match, against the high-score detections left, with their boxes widened.
        let unmatched: Vec<usize> = confirmed.iter().copied().filter(|&t| matches.of_track[t].is_none()).filter(widens).collect();
        matches.take_high(associate(&unmatched, high, &matches.free_high(), Pass { widened: true, ..first }), high);
        // 2. Low-score detections against the confirmed tracks still unmatched that were matched
        //    on the previous step.
        let recently_seen: Vec<usize> =
            confirmed.iter().copied().filter(|&t| matches.of_track[t].is_none() && self.live[t].matched_last_step).collect();
        let all_low: Vec<usize> = (0..low.len()).collect();
        let second = Pass { similarity: Similarity::Iou, least: config.low_match_min_iou, widened: false };
        for (t, d) in associate(&recently_seen, low, &all_low, second) {
            matches.of_track[t] = Some(low[d]);
        }
        // 3. The remaining high-score detections against tentative tracks, widened.
        let tentative: Vec<usize> = (0..self.live.len()).filter(|&t| self.live[t].id.is_none()).collect();
        let third = Pass { similarity: Similarity::IouTimesScore, least: config.tentative_match_min_similarity, widened: true };
        matches.take_high(associate(&tentative, high, &matches.free_high(), third), high);
        // 4. After skipped frames, the low-score detections left against the tentative tracks
        //    still unmatched, widened: at a stride a new object is seen on few detector steps, and
        //    one weak detection on the step after its birth would otherwise end it.
        let unmatched: Vec<usize> = tentative.iter().copied().filter(|&t| matches.of_track[t].is_none()).filter(widens).collect();
        if !unmatched.is_empty() {
            let taken_low: Vec<usize> = matches.of_track.iter().flatten().copied().collect();
            let free_low: Vec<usize> = (0..low.len()).filter(|&d| !taken_low.contains(&low[d])).collect();
            for (t, d) in associate(&unmatched, low, &free_low, Pass { widened: true, ..second }) {
                matches.of_track[t] = Some(low[d]);
            }
        }
        matches
    }

    /// Every confirmed track, ended or not, by id. Tracks still tentative are dropped.
    pub fn finish(self) -> Vec<Track> {
        self.finish_with(None)
    }

    /// [`finish`](Self::finish) for a video of `frame_count` frames: a track still seen on the
    /// detector's last step may have gone on, unseen, over the frames after it that the detector
    /// skipped, which its [`Track::unobserved_frames_after`] then counts.
    pub fn finish_video(self, frame_count: u64) -> Vec<Track> {
        self.finish_with(frame_count.checked_sub(1))
    }

    fn finish_with(self, last_frame: Option<u64>) -> Vec<Track> {
        let mut tracks = self.ended;
        tracks.extend(self.live.into_iter().filter_map(|track| track.into_track(last_frame)));
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
    fn a_track_is_born_after_min_confirm_frames_and_starts_at_its_first_detection() {
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
    fn confirmation_counts_frames_not_detector_steps() {
        let still = |i| frame(i, vec![det(0, 0.9, 10.0, 10.0)]);
        // Every third frame: two hits span frames 0 to 3, four frames, enough for three.
        assert!(run(TrackerConfig::default(), &[still(0)]).is_empty());
        let tracks = run(TrackerConfig::default(), &[still(0), still(3)]);
        assert_eq!(tracks.iter().map(frames_of).collect::<Vec<_>>(), vec![vec![0, 3]]);
        // Five frames need three hits at stride 2 (0, 2, 4), and still three on every frame.
        let five = TrackerConfig { min_confirm_frames: 5, ..TrackerConfig::default() };
        assert!(run(five, &[still(0), still(2)]).is_empty());
        assert_eq!(run(five, &[still(0), still(2), still(4)]).len(), 1);
        assert!(run(five, &[still(0), still(1), still(2), still(3)]).is_empty());
        assert_eq!(run(five, &(0..5).map(still).collect::<Vec<_>>()).len(), 1);
        // 0 and 1 confirm at once.
        for min_confirm_frames in [0, 1] {
            let config = TrackerConfig { min_confirm_frames, ..TrackerConfig::default() };
            assert_eq!(run(config, &[still(7)]).iter().map(frames_of).collect::<Vec<_>>(), vec![vec![7]]);
        }
    }

    #[test]
    fn a_weak_detection_starts_no_track() {
        let weak = |i| frame(i, vec![det(0, 0.55, 10.0, 10.0)]);
        assert!(run(TrackerConfig::default(), &(0..10).map(weak).collect::<Vec<_>>()).is_empty());
    }

    #[test]
    fn at_a_stride_a_weak_detection_on_the_step_after_a_birth_confirms_the_track() {
        // Born at 0.8, seen at 0.3 on the next detector step: at stride 3 that confirms it (its
        // detections span 4 frames), on every frame the weak detection is not enough (ByteTrack).
        let weak_after_birth = |steps: &[u64]| {
            let weak = steps.iter().map(|&f| frame(f, vec![det(0, 0.3, 100.0 + f as f32, 50.0)]));
            std::iter::once(frame(0, vec![det(0, 0.8, 100.0, 50.0)])).chain(weak).collect::<Vec<_>>()
        };
        let strided = run(TrackerConfig::default(), &weak_after_birth(&[3]));
        assert_eq!(strided.len(), 1);
        assert_eq!(frames_of(&strided[0]), vec![0, 3]);
        assert!(run(TrackerConfig::default(), &weak_after_birth(&[1, 2])).is_empty());
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
        let tracks = run(TrackerConfig { min_confirm_frames: 1, ..TrackerConfig::default() }, &frames);
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

    /// Two objects of one class that meet at frame 10 and turn back: a dark one from x = 100 at
    /// y = 100, and a light one from x = 300 at y = 130, in front of it; 10 pixels a frame. Each
    /// frame's detections (dark first) and its luma.
    fn meeting_and_turning_back(frame_index: u64) -> (FrameDetections, prelabel_core::LumaFrame) {
        let travelled = 10.0 * (10.0 - (10.0 - frame_index as f32).abs());
        let (dark_x, light_x) = (100.0 + travelled, 300.0 - travelled);
        let (width, height) = (200usize, 120usize);
        let mut samples = vec![128u8; width * height];
        // Frame pixels are 2 luma samples; each figure is a 40 × 80 box, its top half one shade
        // and its bottom half another.
        for (x, y, top, bottom) in [(dark_x, 100.0, 30, 70), (light_x, 130.0, 220, 170)] {
            let (x0, y0) = ((x / 2.0) as usize, (y / 2.0) as usize);
            for y in y0..y0 + 40 {
                samples[y * width + x0..y * width + x0 + 20].fill(if y < y0 + 20 { top } else { bottom });
            }
        }
        let luma = prelabel_core::LumaFrame::new(frame_index, width, height, 2, samples).expect("width × height samples");
        (frame(frame_index, vec![det(0, 0.9, dark_x, 100.0), det(0, 0.9, light_x, 130.0)]), luma)
    }

    #[test]
    fn objects_that_meet_and_turn_back_keep_their_ids_by_appearance() {
        let mut by_look = Tracker::new(TrackerConfig::default());
        let mut by_boxes = Tracker::new(TrackerConfig::default());
        for (detections, luma) in (0..21).map(meeting_and_turning_back) {
            let cues = crate::follow_detections(detections.frame_index, &[&luma], &detections.detections);
            assert!(cues.appearances.iter().all(Option::is_some));
            by_look.update_followed(&detections, Some(&cues)).expect("in order");
            by_boxes.update(&detections).expect("in order");
        }
        // Where each track ends; track 0 started on the dark object, track 1 on the light one.
        let ends = |tracks: Vec<Track>| -> Vec<(f32, f32)> {
            tracks.iter().map(|t| (t.boxes[20].bbox_in_frame_px.x1, t.boxes[20].bbox_in_frame_px.y1)).collect()
        };
        // Each back where it came from.
        assert_eq!(ends(by_look.finish()), vec![(100.0, 100.0), (300.0, 130.0)]);
        // By overlap alone, each track carries on with its velocity onto the other object.
        assert_eq!(ends(by_boxes.finish()), vec![(300.0, 130.0), (100.0, 100.0)]);
    }

    /// A 200 × 200-pixel frame of one shade of luma.
    fn shaded(frame_index: u64, shade: u8) -> prelabel_core::LumaFrame {
        prelabel_core::LumaFrame::new(frame_index, 100, 100, 2, vec![shade; 100 * 100]).expect("100 × 100 samples")
    }

    /// Gives `tracker` frame `frame_index`: one object standing still at (50, 50), detected with
    /// `score`, on a frame of `shade`, with its look.
    fn still_on_shade(tracker: &mut Tracker, frame_index: u64, score: f32, shade: u8) {
        let detections = frame(frame_index, vec![det(0, score, 50.0, 50.0)]);
        let cues = crate::follow_detections(frame_index, &[&shaded(frame_index, shade)], &detections.detections);
        tracker.update_followed(&detections, Some(&cues)).expect("in order");
    }

    #[test]
    fn a_track_takes_up_the_looks_of_its_high_score_detections_only() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let mut step = |i: u64, score: f32, shade: u8| {
            still_on_shade(&mut tracker, i, score, shade);
            tracker.live[0]
                .appearance
                .expect("a look")
                .distance(&Appearance::of(&shaded(i, 0), &det(0, 0.9, 50.0, 50.0).bbox_in_frame_px).expect("read"))
        };
        // Its first detection's look, then unchanged by others of the same look (it is confirmed
        // on the third).
        assert_eq!(step(0, 0.9, 40), 40.0);
        assert_eq!(step(1, 0.9, 40), 40.0);
        assert_eq!(step(2, 0.9, 40), 40.0);
        // A low-score detection (partly hidden, say) of another look is matched but not taken up.
        assert_eq!(step(3, 0.3, 240), 40.0);
        // A high-score one moves it a tenth of the way.
        assert!((step(4, 0.9, 240) - 60.0).abs() < 1e-3);
        let tracks = tracker.finish();
        assert_eq!(tracks.iter().map(frames_of).collect::<Vec<_>>(), vec![(0..5).collect::<Vec<u64>>()]);
    }

    #[test]
    fn a_look_never_refuses_a_pair_the_overlap_allows() {
        // One object standing still whose look changes wholly at frame 5 (a light switched on),
        // with appearance counting fully: still one track.
        let config = TrackerConfig { appearance_weight: 1.0, ..TrackerConfig::default() };
        let mut tracker = Tracker::new(config);
        for i in 0..10u64 {
            still_on_shade(&mut tracker, i, 0.9, if i < 5 { 30 } else { 220 });
        }
        assert_eq!(tracker.finish().iter().map(frames_of).collect::<Vec<_>>(), vec![(0..10).collect::<Vec<u64>>()]);
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
        let frames: Vec<FrameDetections> = (0..30).step_by(3).map(|i| frame(i, vec![det(0, 0.8, 100.0 + 7.0 * i as f32, 100.0)])).collect();
        let tracks = run(TrackerConfig::default(), &frames);
        assert_eq!(tracks.iter().map(frames_of).collect::<Vec<_>>(), vec![(0..30).step_by(3).collect::<Vec<u64>>()]);
        let unwidened = TrackerConfig { buffer_per_skipped_frame: 0.0, ..TrackerConfig::default() };
        assert!(run(unwidened, &frames).is_empty());
    }

    #[test]
    fn a_confirmed_track_that_stops_between_detector_steps_is_matched_with_widened_boxes() {
        // Walking right at 8 px/frame up to frame 24, standing still after it and seen less
        // surely from then on; the detector runs on frames 0, 1, 2 (so the track is born without
        // widening), then on every third. The filter predicts it about 24 px on at frame 27: IoU
        // about 0.25 with the detection there, × score 0.55 < 0.2 unwidened; widened by 0.2,
        // IoU 0.4 × 0.55 ≥ 0.2.
        let at = |i: u64| {
            let (x, score) = if i < 24 { (100.0 + 8.0 * i as f32, 0.9) } else { (292.0, 0.55) };
            frame(i, vec![det(0, score, x, 100.0)])
        };
        let steps: Vec<u64> = [0, 1, 2].into_iter().chain((3..40).step_by(3)).collect();
        let frames: Vec<FrameDetections> = steps.iter().copied().map(at).collect();
        let tracks = run(TrackerConfig::default(), &frames);
        assert_eq!(tracks.iter().map(frames_of).collect::<Vec<_>>(), vec![steps.clone()]);
        let unwidened = run(TrackerConfig { buffer_per_skipped_frame: 0.0, ..TrackerConfig::default() }, &frames);
        let walking: Vec<u64> = steps.into_iter().filter(|&i| i <= 24).collect();
        assert_eq!(unwidened.iter().map(frames_of).collect::<Vec<_>>(), vec![walking]);
    }

    #[test]
    fn a_track_that_missed_a_step_is_widened_for_every_frame_skipped_since_its_last_match() {
        // Walking right at 8 px/frame up to frame 21, then at 2 px/frame; the detector runs on
        // frames 0, 1, 2, then on every third, and misses the object on frame 24. On frame 27 the
        // filter predicts it about 36 px right of its detection: widened by 0.2 (the frames
        // skipped before this step) IoU about 0.22 × score 0.7 < 0.2; by 0.4 (the 4 frames
        // skipped since its last match, on 21) IoU about 0.33 × 0.7 ≥ 0.2.
        let at = |i: u64| {
            let x = if i <= 21 { 100.0 + 8.0 * i as f32 } else { 268.0 + 2.0 * (i - 21) as f32 };
            frame(i, if i == 24 { vec![] } else { vec![det(0, if i < 24 { 0.9 } else { 0.7 }, x, 100.0)] })
        };
        let steps: Vec<u64> = [0, 1, 2].into_iter().chain((3..40).step_by(3)).collect();
        let tracks = run(TrackerConfig::default(), &steps.iter().copied().map(at).collect::<Vec<_>>());
        let seen: Vec<u64> = steps.into_iter().filter(|&i| i != 24).collect();
        assert_eq!(tracks.iter().map(frames_of).collect::<Vec<_>>(), vec![seen]);
    }

    #[test]
    fn widened_boxes_never_take_a_detection_from_a_track_that_overlaps_it_as_is() {
        // Two objects standing still 10 px apart, seen every third frame; on frame 9 the left one
        // is missed and a stray detection lies 10 px right of the right one. Widened by half
        // their size on every side, one matching of all pairs would score left–right detection
        // about 0.21 + right–stray about 0.70 > right–right detection 0.9 alone, and move both
        // tracks; first the right track takes its own detection unwidened, and the left one,
        // widened, does not reach the stray.
        let frames: Vec<FrameDetections> = (0..19)
            .step_by(3)
            .map(|i| {
                let (left, right) = (det(0, 0.9, 100.0, 100.0), det(0, 0.9, 150.0, 100.0));
                frame(i, if i == 9 { vec![right, det(0, 0.9, 160.0, 100.0)] } else { vec![left, right] })
            })
            .collect();
        let tracks = run(TrackerConfig { buffer_per_skipped_frame: 0.25, ..TrackerConfig::default() }, &frames);
        let summary: Vec<(Vec<u64>, Vec<f32>)> =
            tracks.iter().map(|t| (frames_of(t), t.boxes.iter().map(|b| b.bbox_in_frame_px.x1).collect())).collect();
        assert_eq!(summary, vec![(vec![0, 3, 6, 12, 15, 18], vec![100.0; 6]), ((0..19).step_by(3).collect(), vec![150.0; 7])]);
    }

    #[test]
    fn tracks_know_the_frames_the_detector_skipped_next_to_their_ends() {
        let seen = |i| frame(i, vec![det(0, 0.9, 10.0, 10.0)]);
        let empty = |i| frame(i, vec![]);
        // Every third frame: first seen on 6 (the detector skipped 4 and 5), last on 15 (it
        // skipped 16 and 17, then missed the object on 18).
        let frames = [empty(0), empty(3), seen(6), seen(9), seen(12), seen(15), empty(18), empty(21)];
        let tracks = run(TrackerConfig::default(), &frames);
        let ends = |t: &Track| (t.unobserved_frames_before, t.unobserved_frames_after);
        assert_eq!(tracks.iter().map(ends).collect::<Vec<_>>(), vec![(2, 2)]);
        // Seen on the first and the last frame given: nothing is known beyond them.
        assert_eq!(run(TrackerConfig::default(), &frames[2..6]).iter().map(ends).collect::<Vec<_>>(), vec![(0, 0)]);
        // A miss then a match again: only the frames after the last match count.
        let back = [seen(0), seen(3), seen(6), empty(9), seen(12), seen(15), empty(20)];
        assert_eq!(run(TrackerConfig::default(), &back).iter().map(ends).collect::<Vec<_>>(), vec![(0, 4)]);
        // A video of 17 frames: the detector's last step was frame 15, so 16 went unobserved.
        let mut tracker = Tracker::new(TrackerConfig::default());
        frames[..6].iter().for_each(|f| tracker.update(f).unwrap());
        assert_eq!(tracker.finish_video(17).iter().map(ends).collect::<Vec<_>>(), vec![(2, 1)]);
        // On every frame, nothing was skipped.
        let every: Vec<FrameDetections> = (0..12).map(|i| if (3..9).contains(&i) { seen(i) } else { empty(i) }).collect();
        assert_eq!(run(TrackerConfig::default(), &every).iter().map(ends).collect::<Vec<_>>(), vec![(0, 0)]);
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
        assert_eq!(tracker.update(&frame(4, vec![])), Err(TrackError::FrameOutOfOrder { frame_index: 4, previous_frame_index: 4 }));
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

    #[test]
    fn skipped_frames_follow_the_image_motion_and_end_on_the_next_detection() {
        // A 40×80 box (centre 20, 40 from its corner) moves 10 px a frame, stops at frame 2, and
        // moves again from frame 7: a straight line between detections would miss both.
        let x_at = [100.0, 110.0, 120.0, 120.0, 120.0, 120.0, 120.0, 125.0, 130.0, 135.0];
        let mut tracker = Tracker::new(TrackerConfig::default());
        for step in [0usize, 3, 6, 9] {
            let detections = vec![det(0, 0.9, x_at[step], 50.0)];
            // What the image motion says, after this frame up to the next detected one.
            let shifts = (step + 1..=(step + 3).min(9)).map(|f| [x_at[f] - x_at[step], 0.0]).collect();
            let followed = FollowedDetections { frame_index: step as u64, centre_shifts_px: vec![shifts], ..Default::default() };
            tracker.update_followed(&frame(step as u64, detections), Some(&followed)).expect("frames in order");
        }
        let tracks = tracker.finish();
        assert_eq!(tracks.len(), 1);
        let track = tracks[0].interpolated(30);
        let xs: Vec<(u64, f32, BoxSource)> = track.boxes.iter().map(|b| (b.frame_index, b.bbox_in_frame_px.x1, b.source)).collect();
        use BoxSource::{Detected, Followed};
        let expected = [Detected, Followed, Followed, Detected, Followed, Followed, Detected, Followed, Followed, Detected];
        for ((frame_index, x, source), (i, (want_x, want_source))) in xs.iter().zip(x_at.iter().zip(expected).enumerate()) {
            assert_eq!((*frame_index, *source), (i as u64, want_source), "{xs:?}");
            assert!((x - want_x).abs() < 0.01, "frame {frame_index}: x {x}, not {want_x}: {xs:?}");
        }
        let followed_scores: Vec<f32> = track.boxes.iter().filter(|b| b.source == Followed).map(|b| b.score).collect();
        assert!(followed_scores.iter().all(|&s| s == 0.9 * INTERPOLATED_CONFIDENCE_SCALE), "{followed_scores:?}");
    }

    #[test]
    fn frames_after_the_motion_was_lost_are_boxed_along_the_filters_velocity() {
        // Moving 10 px a frame: the motion is followed onto frame 1 only (the content could not be
        // followed further), so frame 2 continues the path at the filter's velocity; every frame
        // between the two detections gets a box.
        let mut tracker = Tracker::new(TrackerConfig { min_confirm_frames: 0, ..TrackerConfig::default() });
        let lost = FollowedDetections { frame_index: 0, centre_shifts_px: vec![vec![[10.0, 0.0]]], ..Default::default() };
        tracker.update_followed(&frame(0, vec![det(0, 0.9, 100.0, 50.0)]), Some(&lost)).expect("in order");
        tracker.update_followed(&frame(3, vec![det(0, 0.9, 130.0, 50.0)]), None).expect("in order");
        let track = &tracker.finish()[0].interpolated(30);
        let boxes: Vec<(u64, BoxSource)> = track.boxes.iter().map(|b| (b.frame_index, b.source)).collect();
        use BoxSource::{Detected, Followed};
        assert_eq!(boxes, vec![(0, Detected), (1, Followed), (2, Followed), (3, Detected)]);
        // Frame 1 at the motion's 10 px plus a third of the path's miss at frame 3, frame 2 past
        // it by the filter's velocity plus two thirds of that miss: the path ends on frame 3.
        let xs: Vec<f32> = track.boxes.iter().map(|b| b.bbox_in_frame_px.x1).collect();
        assert!(xs[1] > 100.0 && xs[1] < xs[2] && xs[2] < 130.0, "{xs:?}");
    }

    #[test]
    fn motion_ends_at_its_first_non_finite_shift() {
        // A caller's NaN on frame 2 leaves frame 1 followed and frame 2 carried on: finite boxes.
        let mut tracker = Tracker::new(TrackerConfig { min_confirm_frames: 0, ..TrackerConfig::default() });
        let broken = FollowedDetections {
            frame_index: 0,
            centre_shifts_px: vec![vec![[10.0, 0.0], [f32::NAN, 0.0], [30.0, 0.0]]],
            ..Default::default()
        };
        tracker.update_followed(&frame(0, vec![det(0, 0.9, 100.0, 50.0)]), Some(&broken)).expect("in order");
        tracker.update_followed(&frame(3, vec![det(0, 0.9, 130.0, 50.0)]), None).expect("in order");
        let track = &tracker.finish()[0].interpolated(30);
        assert_eq!(track.boxes.len(), 4);
        let b = &track.boxes;
        assert!(b.iter().all(|b| [b.bbox_in_frame_px.x1, b.bbox_in_frame_px.x2].iter().all(|v| v.is_finite())), "{b:?}");
    }

    #[test]
    fn motion_that_misses_the_next_detection_is_corrected_linearly_towards_it() {
        // The motion says 0 px; the object is found 30 px on at the next step: the skipped frames
        // get the straight line's share of that miss (the filter has no velocity yet).
        let mut tracker = Tracker::new(TrackerConfig { min_confirm_frames: 0, ..TrackerConfig::default() });
        let still = FollowedDetections { frame_index: 0, centre_shifts_px: vec![vec![[0.0, 0.0], [0.0, 0.0]]], ..Default::default() };
        tracker.update_followed(&frame(0, vec![det(0, 0.9, 100.0, 50.0)]), Some(&still)).expect("in order");
        // Motion given for another frame is ignored.
        let elsewhere = FollowedDetections { frame_index: 9, centre_shifts_px: vec![vec![[50.0, 0.0]]], ..Default::default() };
        tracker.update_followed(&frame(3, vec![det(0, 0.9, 130.0, 50.0)]), Some(&elsewhere)).expect("in order");
        let track = &tracker.finish()[0];
        let xs: Vec<f32> = track.boxes.iter().map(|b| b.bbox_in_frame_px.x1).collect();
        assert_eq!(xs, vec![100.0, 110.0, 120.0, 130.0]);
        assert_eq!(track.boxes.iter().filter(|b| b.source == BoxSource::Followed).count(), 2);
    }
}
