//! Finished tracks and the interpolation of their gaps.

use prelabel_core::{BoxXyxy, FramePx};

/// The confidence of an interpolated box is the lower of its two detected neighbours' scores
/// times this factor: a box nobody detected is never as sure as the detections it came from, and
/// never 1.0.
pub const INTERPOLATED_CONFIDENCE_SCALE: f32 = 0.8;

/// Where a box of a track came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoxSource {
    /// A detection the tracker matched to the track on this frame.
    Detected,
    /// Interpolated between two detected boxes of the track by [`Track::interpolated`].
    Interpolated,
}

/// One box of a track on one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackBox {
    /// 0-based frame index in presentation order.
    pub frame_index: u64,
    /// Corners in the pixels of the original video frame.
    pub bbox_in_frame_px: BoxXyxy<FramePx>,
    /// The detection's score, or the interpolated confidence (see
    /// [`INTERPOLATED_CONFIDENCE_SCALE`]).
    pub score: f32,
    /// Detected or interpolated.
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
    /// detection was matched to it (plus interpolated frames after [`Track::interpolated`]).
    pub boxes: Vec<TrackBox>,
}

impl Track {
    /// This track with every frame strictly between two consecutive detected boxes filled in,
    /// where that gap is at most `max_gap_frames` frames long (the count of frames missing, so
    /// boxes on frames 10 and 14 leave a gap of 3). Each filled box is interpolated linearly in
    /// corner space (x1, y1, x2, y2) by frame index, with the confidence
    /// `min(score_a, score_b) * INTERPOLATED_CONFIDENCE_SCALE` and [`BoxSource::Interpolated`].
    /// Interpolated boxes already in the track are replaced, so applying it twice with the same
    /// `max_gap_frames` changes nothing.
    pub fn interpolated(&self, max_gap_frames: u64) -> Track {
        let detected: Vec<&TrackBox> = self.boxes.iter().filter(|b| b.source == BoxSource::Detected).collect();
        let mut boxes = Vec::with_capacity(self.boxes.len());
        for pair in detected.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            boxes.push(*a);
            let missing = b.frame_index.saturating_sub(a.frame_index + 1);
            if missing <= max_gap_frames {
                boxes.extend((a.frame_index + 1..b.frame_index).map(|frame_index| interpolate(a, b, frame_index)));
            }
        }
        boxes.extend(detected.last().copied());
        Track { id: self.id, class_index: self.class_index, boxes }
    }
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
        Track { id: 4, class_index: 2, boxes }
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

    #[test]
    fn a_track_of_one_box_or_none_is_unchanged() {
        let single = track(vec![detected(3, [0.0, 0.0, 10.0, 10.0], 0.6)]);
        assert_eq!(single.interpolated(10), single);
        let empty = track(Vec::new());
        assert_eq!(empty.interpolated(10), empty);
    }
}
