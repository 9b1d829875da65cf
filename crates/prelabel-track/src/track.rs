//! Finished tracks, the interpolation of their gaps and their extrapolation into the frames the
//! detector skipped next to their ends.

use prelabel_core::{BoxXyxy, FramePx};

/// The confidence of an interpolated box is the lower of its two detected neighbours' scores
/// times this factor: a box nobody detected is never as sure as the detections it came from, and
/// never 1.0.
pub const INTERPOLATED_CONFIDENCE_SCALE: f32 = 0.8;

/// The confidence of an extrapolated box is its track's nearest detected box's score times this
/// factor: lower than an interpolated box's, since only one end of it was seen and the object
/// may already have left (or not yet come).
pub const EXTRAPOLATED_CONFIDENCE_SCALE: f32 = 0.5;

/// Where a box of a track came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoxSource {
    /// A detection the tracker matched to the track on this frame.
    Detected,
    /// Interpolated between two detected boxes of the track by [`Track::interpolated`].
    Interpolated,
    /// On a frame the detector skipped between two detected boxes of the track, moved from the
    /// first with the image motion of its content, and corrected linearly towards the second
    /// (see [`Tracker::update_followed`](crate::Tracker::update_followed)).
    Followed,
    /// Extrapolated beyond the track's first or last detected box by [`Track::extrapolated`].
    Extrapolated,
}

/// One box of a track on one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackBox {
    /// 0-based frame index in presentation order.
    pub frame_index: u64,
    /// Corners in the pixels of the original video frame.
    pub bbox_in_frame_px: BoxXyxy<FramePx>,
    /// The detection's score, or the followed, interpolated or extrapolated confidence (see
    /// [`INTERPOLATED_CONFIDENCE_SCALE`], [`EXTRAPOLATED_CONFIDENCE_SCALE`]).
    pub score: f32,
    /// Detected, followed, interpolated or extrapolated.
    pub source: BoxSource,
}

/// One object followed across frames.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// 0, 1, 2, … in the order the tracker confirmed its tracks.
    pub id: u64,
    /// The class of every detection in the track.
    pub class_index: usize,
    /// The track's boxes by increasing frame index, one per frame at most: from its first
    /// detection (including those before it was confirmed) to its last, on the frames where a
    /// detection was matched to it and the frames between two of them that image motion was
    /// followed over ([`BoxSource::Followed`]), plus interpolated frames after
    /// [`Track::interpolated`] and extrapolated ones after [`Track::extrapolated`].
    pub boxes: Vec<TrackBox>,
    /// Frames just before the first detection that the detector skipped (it ran on the frame
    /// before them, without this track): the object may have been there already, unseen.
    pub unobserved_frames_before: u64,
    /// Frames just after the last detection that the detector skipped (up to the next frame it
    /// ran on, which did not find the object, or else up to the video's last frame when the
    /// tracker was finished with [`Tracker::finish_video`](crate::Tracker::finish_video)); 0
    /// when the detector ran on no later frame and the video's length was not given.
    pub unobserved_frames_after: u64,
}

impl Track {
    /// This track with every frame strictly between two consecutive detected boxes filled in,
    /// where that gap is at most `max_gap_frames` frames long (the count of frames missing, so
    /// boxes on frames 10 and 14 leave a gap of 3). Each filled box is interpolated linearly in
    /// corner space (x1, y1, x2, y2) by frame index, with the confidence
    /// `min(score_a, score_b) * INTERPOLATED_CONFIDENCE_SCALE` and [`BoxSource::Interpolated`].
    /// Interpolated boxes already in the track are replaced, so applying it twice with the same
    /// `max_gap_frames` changes nothing; extrapolated boxes are kept, and so are gaps the tracker
    /// already filled with [`BoxSource::Followed`] boxes.
    pub fn interpolated(&self, max_gap_frames: u64) -> Track {
        let followed_frames: std::collections::BTreeSet<u64> =
            self.boxes.iter().filter(|b| b.source == BoxSource::Followed).map(|b| b.frame_index).collect();
        let detected: Vec<&TrackBox> = self.boxes.iter().filter(|b| b.source == BoxSource::Detected).collect();
        let filled = detected.windows(2).flat_map(|pair| {
            let (a, b) = (pair[0], pair[1]);
            let missing = b.frame_index.saturating_sub(a.frame_index + 1);
            let followed = followed_frames.range(a.frame_index + 1..b.frame_index).next().is_some();
            let frames = if missing <= max_gap_frames && !followed { a.frame_index + 1..b.frame_index } else { 0..0 };
            frames.map(move |frame_index| interpolate(a, b, frame_index))
        });
        self.with_boxes_replaced(BoxSource::Interpolated, filled.collect())
    }

    /// This track with boxes on its unobserved frames (see [`Track::unobserved_frames_before`]
    /// and [`Track::unobserved_frames_after`]), at most `max_frames` at either end: each end's
    /// detected box moved along the straight
    /// line through the centres of the two detected boxes at that end (not moved when there is
    /// one), keeping its size, and clipped to the `frame_width × frame_height` frame (a box left
    /// with no area is not added, nor any further one on that side), with the confidence
    /// `score * EXTRAPOLATED_CONFIDENCE_SCALE` and [`BoxSource::Extrapolated`]. When the
    /// detector skips frames, a track's first and last detection are up to a stride away from
    /// where the object came and went; with the detector on every frame there is nothing to add.
    /// Extrapolated boxes already in the track are replaced; interpolated ones are kept.
    pub fn extrapolated(&self, max_frames: u64, frame_width: u32, frame_height: u32) -> Track {
        let detected: Vec<&TrackBox> = self.boxes.iter().filter(|b| b.source == BoxSource::Detected).collect();
        let (width, height) = (frame_width as f32, frame_height as f32);
        // Boxes on the `steps` frames next to `end`, after it (`direction` 1) or before it (-1),
        // moving with the centre's velocity between `inner` and `end` (None: standing still).
        let extend = |end: &TrackBox, inner: Option<&TrackBox>, direction: i64, steps: u64| -> Vec<TrackBox> {
            let [vx, vy] = inner.map_or([0.0, 0.0], |inner| centre_velocity(inner, end));
            (1..=steps)
                .map_while(|k| {
                    let offset = direction * k as i64;
                    let frame_index = end.frame_index.checked_add_signed(offset)?;
                    let (dx, dy) = (vx * offset as f32, vy * offset as f32);
                    let b = &end.bbox_in_frame_px;
                    let clipped: BoxXyxy<FramePx> =
                        BoxXyxy::new((b.x1 + dx).max(0.0), (b.y1 + dy).max(0.0), (b.x2 + dx).min(width), (b.y2 + dy).min(height));
                    (clipped.x2 > clipped.x1 && clipped.y2 > clipped.y1).then_some(TrackBox {
                        frame_index,
                        bbox_in_frame_px: clipped,
                        score: end.score * EXTRAPOLATED_CONFIDENCE_SCALE,
                        source: BoxSource::Extrapolated,
                    })
                })
                .collect()
        };
        let mut added = Vec::new();
        if let (Some(first), Some(last)) = (detected.first(), detected.last()) {
            let before = self.unobserved_frames_before.min(max_frames);
            added.extend(extend(first, detected.get(1).copied(), -1, before));
            let after = self.unobserved_frames_after.min(max_frames);
            added.extend(extend(last, detected.len().checked_sub(2).map(|i| detected[i]), 1, after));
        }
        self.with_boxes_replaced(BoxSource::Extrapolated, added)
    }

    /// This track with its boxes of `source` replaced by `boxes`, all by increasing frame index.
    fn with_boxes_replaced(&self, source: BoxSource, boxes: Vec<TrackBox>) -> Track {
        let mut all: Vec<TrackBox> = self.boxes.iter().filter(|b| b.source != source).copied().chain(boxes).collect();
        all.sort_by_key(|b| b.frame_index);
        Track {
            id: self.id,
            class_index: self.class_index,
            boxes: all,
            unobserved_frames_before: self.unobserved_frames_before,
            unobserved_frames_after: self.unobserved_frames_after,
        }
    }
}

/// The velocity of the centre from `from` to `to` (different frames), in pixels per frame.
fn centre_velocity(from: &TrackBox, to: &TrackBox) -> [f32; 2] {
    let frames = to.frame_index as f32 - from.frame_index as f32;
    let ([ax, ay], [bx, by]) = (from.bbox_in_frame_px.centre(), to.bbox_in_frame_px.centre());
    [(bx - ax) / frames, (by - ay) / frames]
}

/// The box on `frame_index` (strictly between `a`'s and `b`'s frames) on the straight line from
/// `a` to `b`.
fn interpolate(a: &TrackBox, b: &TrackBox, frame_index: u64) -> TrackBox {
    let t = (frame_index - a.frame_index) as f64 / (b.frame_index - a.frame_index) as f64;
    let lerp = |from: f32, to: f32| (f64::from(from) + (f64::from(to) - f64::from(from)) * t) as f32;
    let (ba, bb) = (&a.bbox_in_frame_px, &b.bbox_in_frame_px);
    TrackBox {
        frame_index,
        bbox_in_frame_px: BoxXyxy::new(lerp(ba.x1, bb.x1), lerp(ba.y1, bb.y1), lerp(ba.x2, bb.x2), lerp(ba.y2, bb.y2)),
        score: a.score.min(b.score) * INTERPOLATED_CONFIDENCE_SCALE,
        source: BoxSource::Interpolated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detected(frame_index: u64, corners: [f32; 4], score: f32) -> TrackBox {
        let [x1, y1, x2, y2] = corners;
        TrackBox { frame_index, bbox_in_frame_px: BoxXyxy::new(x1, y1, x2, y2), score, source: BoxSource::Detected }
    }

    fn track(boxes: Vec<TrackBox>) -> Track {
        Track { id: 4, class_index: 2, boxes, unobserved_frames_before: 0, unobserved_frames_after: 0 }
    }

    fn summary(track: &Track) -> Vec<(u64, [f32; 4], BoxSource)> {
        track
            .boxes
            .iter()
            .map(|b| {
                let r = b.bbox_in_frame_px;
                (b.frame_index, [r.x1, r.y1, r.x2, r.y2], b.source)
            })
            .collect()
    }

    #[test]
    fn fills_a_gap_linearly_in_corner_space_with_scaled_confidence() {
        let t = track(vec![detected(10, [0.0, 0.0, 10.0, 20.0], 0.9), detected(14, [8.0, 4.0, 18.0, 32.0], 0.7)]);
        let filled = t.interpolated(3);
        assert_eq!((filled.id, filled.class_index), (4, 2));
        use BoxSource::{Detected, Interpolated};
        assert_eq!(
            summary(&filled),
            vec![
                (10, [0.0, 0.0, 10.0, 20.0], Detected),
                (11, [2.0, 1.0, 12.0, 23.0], Interpolated),
                (12, [4.0, 2.0, 14.0, 26.0], Interpolated),
                (13, [6.0, 3.0, 16.0, 29.0], Interpolated),
                (14, [8.0, 4.0, 18.0, 32.0], Detected),
            ]
        );
        let scores: Vec<f32> = filled.boxes.iter().map(|b| b.score).collect();
        assert_eq!(scores[0], 0.9);
        assert_eq!(scores[4], 0.7);
        assert!(scores[1..4].iter().all(|s| (s - 0.56).abs() < 1e-6), "{scores:?}");
    }

    #[test]
    fn gaps_longer_than_the_limit_stay_empty() {
        let t = track(vec![
            detected(0, [0.0, 0.0, 10.0, 10.0], 0.9),
            detected(4, [4.0, 0.0, 14.0, 10.0], 0.9),
            detected(5, [5.0, 0.0, 15.0, 10.0], 0.9),
            detected(7, [7.0, 0.0, 17.0, 10.0], 0.9),
        ]);
        let frames: Vec<u64> = t.interpolated(2).boxes.iter().map(|b| b.frame_index).collect();
        assert_eq!(frames, vec![0, 4, 5, 6, 7]);
        let frames: Vec<u64> = t.interpolated(0).boxes.iter().map(|b| b.frame_index).collect();
        assert_eq!(frames, vec![0, 4, 5, 7]);
    }

    #[test]
    fn interpolated_confidence_is_never_certain() {
        let t = track(vec![detected(0, [0.0, 0.0, 10.0, 10.0], 1.0), detected(2, [2.0, 0.0, 12.0, 10.0], 1.0)]);
        let middle = t.interpolated(5).boxes[1];
        assert_eq!((middle.source, middle.score), (BoxSource::Interpolated, INTERPOLATED_CONFIDENCE_SCALE));
        assert!(middle.score < 1.0);
    }

    #[test]
    fn interpolating_twice_changes_nothing() {
        let t = track(vec![detected(3, [0.0, 0.0, 10.0, 10.0], 0.6), detected(9, [6.0, 6.0, 16.0, 16.0], 0.8)]);
        let once = t.interpolated(10);
        assert_eq!(once.boxes.len(), 7);
        assert_eq!(once.interpolated(10), once);
    }

    /// The frames and corners of `track`'s boxes.
    fn corners(track: &Track) -> Vec<(u64, [f32; 4])> {
        summary(track).into_iter().map(|(frame_index, corners, _)| (frame_index, corners)).collect()
    }

    fn with_unobserved(t: Track, before: u64, after: u64) -> Track {
        Track { unobserved_frames_before: before, unobserved_frames_after: after, ..t }
    }

    #[test]
    fn extrapolates_the_ends_along_the_centre_velocity_keeping_their_size() {
        // The centre moves 2 px/frame right while the box widens from 20 to 26 px.
        let t = with_unobserved(track(vec![detected(6, [10.0, 20.0, 30.0, 60.0], 0.9), detected(9, [13.0, 20.0, 39.0, 60.0], 0.7)]), 2, 2);
        let done = t.interpolated(5).extrapolated(30, 768, 576);
        use BoxSource::{Detected, Extrapolated, Interpolated};
        assert_eq!(
            summary(&done),
            vec![
                (4, [6.0, 20.0, 26.0, 60.0], Extrapolated),
                (5, [8.0, 20.0, 28.0, 60.0], Extrapolated),
                (6, [10.0, 20.0, 30.0, 60.0], Detected),
                (7, [11.0, 20.0, 33.0, 60.0], Interpolated),
                (8, [12.0, 20.0, 36.0, 60.0], Interpolated),
                (9, [13.0, 20.0, 39.0, 60.0], Detected),
                (10, [15.0, 20.0, 41.0, 60.0], Extrapolated),
                (11, [17.0, 20.0, 43.0, 60.0], Extrapolated),
            ]
        );
        let scores: Vec<f32> = done.boxes.iter().map(|b| b.score).collect();
        assert_eq!([scores[0], scores[1], scores[6], scores[7]], [0.45, 0.45, 0.35, 0.35]);
        assert_eq!((done.unobserved_frames_before, done.unobserved_frames_after), (2, 2));
    }

    #[test]
    fn extrapolated_boxes_are_clipped_to_the_frame_and_stop_once_outside_it() {
        // Leaving on the left at 10 px/frame: frame 7 touches the edge, 8 is cut in half, 9 and
        // 10 would be outside; at the start, frame 0 is the first there is.
        let t = with_unobserved(track(vec![detected(1, [70.0, 0.0, 90.0, 10.0], 0.8), detected(6, [20.0, 0.0, 40.0, 10.0], 0.8)]), 3, 4);
        assert_eq!(
            corners(&t.extrapolated(30, 100, 8)),
            vec![
                (0, [80.0, 0.0, 100.0, 8.0]),
                (1, [70.0, 0.0, 90.0, 10.0]),
                (6, [20.0, 0.0, 40.0, 10.0]),
                (7, [10.0, 0.0, 30.0, 8.0]),
                (8, [0.0, 0.0, 20.0, 8.0]),
                (9, [0.0, 0.0, 10.0, 8.0]),
            ]
        );
    }

    #[test]
    fn a_single_detected_box_is_extrapolated_standing_still_up_to_max_frames() {
        let t = with_unobserved(track(vec![detected(5, [1.0, 2.0, 3.0, 4.0], 0.6)]), 1, 2);
        assert_eq!(corners(&t.extrapolated(30, 10, 10)), [4, 5, 6, 7].map(|f| (f, [1.0, 2.0, 3.0, 4.0])));
        // At most `max_frames` at either end.
        let frames_of = |t: &Track| t.boxes.iter().map(|b| b.frame_index).collect::<Vec<_>>();
        assert_eq!(frames_of(&t.extrapolated(1, 10, 10)), vec![4, 5, 6]);
        assert_eq!(frames_of(&t.extrapolated(0, 10, 10)), vec![5]);
    }

    #[test]
    fn extrapolation_and_interpolation_replace_only_their_own_boxes() {
        let t = with_unobserved(track(vec![detected(3, [0.0, 0.0, 10.0, 10.0], 0.6), detected(9, [6.0, 6.0, 16.0, 16.0], 0.8)]), 2, 1);
        let both = t.extrapolated(30, 100, 100).interpolated(10);
        assert_eq!(both.boxes.len(), 10);
        assert_eq!(both, t.interpolated(10).extrapolated(30, 100, 100));
        assert_eq!(both.extrapolated(30, 100, 100).interpolated(10), both);
        // Nothing unobserved (the detector on every frame): nothing added.
        let seen = with_unobserved(t.clone(), 0, 0);
        assert_eq!(seen.extrapolated(30, 100, 100), seen);
    }

    #[test]
    fn a_track_of_one_box_or_none_is_unchanged() {
        let single = track(vec![detected(3, [0.0, 0.0, 10.0, 10.0], 0.6)]);
        assert_eq!(single.interpolated(10), single);
        let empty = track(Vec::new());
        assert_eq!(empty.interpolated(10), empty);
    }
}
