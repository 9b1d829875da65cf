//! Following each detected frame's detections by image motion over the frames after it that the
//! detector skipped, as their luma and detections arrive (on the pipeline's caller's thread, or
//! in the editor agent's decode loop).

use std::collections::BTreeMap;

use prelabel_core::{Detection, LumaFrame};
use prelabel_track::{FollowedDetections, follow_detections};

/// One video's following. Luma frames come in frame order (from the one decode thread of the
/// video) and detections in any order (from the inference sessions); detected frames (`first`,
/// `first + stride`, `first + 2 × stride`, …) are followed in frame order, each once its
/// detections and the luma of it and of the frames after it up to the next detected frame are
/// in. Luma is held only until then, so memory is bounded by how far decode runs ahead of
/// inference, not by the video's length.
pub struct Follower {
    first: u64,
    stride: u64,
    lumas: BTreeMap<u64, LumaFrame>,
    /// Detected frames not followed yet.
    waiting: BTreeMap<u64, Vec<Detection>>,
    /// The video's last frame, once decode ended.
    last_frame: Option<u64>,
    /// Followed frames, in frame order.
    followed: Vec<FollowedDetections>,
}

impl Follower {
    /// Following for a detector that runs on every `stride`-th frame from frame `first` on.
    pub fn new(first: u64, stride: u64) -> Self {
        Self { first, stride: stride.max(1), lumas: BTreeMap::new(), waiting: BTreeMap::new(), last_frame: None, followed: Vec::new() }
    }

    /// Takes the luma of the next frame (frames before `first` are not needed, and dropped).
    pub fn luma(&mut self, luma: LumaFrame) {
        if luma.frame_index < self.first {
            return;
        }
        self.lumas.insert(luma.frame_index, luma);
        self.advance();
    }

    /// Takes the detections of a detected frame.
    pub fn detected(&mut self, frame_index: u64, detections: &[Detection]) {
        self.waiting.insert(frame_index, detections.to_vec());
        self.advance();
    }

    /// Decode ended before frame `frame_end` (the video's frame count, or where a range ended):
    /// follows every detected frame left to the end with the luma there is, and returns every
    /// detected frame followed, in frame order.
    pub fn finish(mut self, frame_end: u64) -> Vec<FollowedDetections> {
        self.last_frame = frame_end.checked_sub(1);
        self.advance();
        self.followed
    }

    /// Follows the next detected frames, in order, as far as their detections and luma are in.
    /// In order, because a frame's luma is dropped once the detected frame before it is followed.
    fn advance(&mut self) {
        let next_detected = |followed: &[FollowedDetections]| followed.last().map_or(self.first, |f| f.frame_index + self.stride);
        while let Some(entry) = self.waiting.first_entry().filter(|e| *e.key() == next_detected(&self.followed)) {
            let first = *entry.key();
            let wanted_last = first + self.stride;
            let last = self.last_frame.map_or(wanted_last, |l| wanted_last.min(l));
            // Luma comes in frame order, so the last frame's being in means all of them are.
            if !self.lumas.contains_key(&last) && self.last_frame.is_none() {
                return;
            }
            let detections = entry.remove();
            let lumas: Vec<&LumaFrame> = self.lumas.range(first..=last).map(|(_, l)| l).collect();
            self.followed.push(follow_detections(first, &lumas, &detections));
            // Frames before `last` belong to this detected frame alone; `last` is the next one's.
            self.lumas = self.lumas.split_off(&last);
        }
    }
}

#[cfg(test)]
mod tests {
    use prelabel_core::BoxXyxy;

    use super::*;

    /// Frame `i` of a texture moving 2 samples right a frame.
    fn luma(i: u64) -> LumaFrame {
        let (w, h) = (160usize, 120usize);
        let value = |x: usize, y: usize| {
            let x = x as f64 - 2.0 * i as f64;
            (128.0 + 60.0 * (x * 0.37).sin() * (y as f64 * 0.23).cos() + 40.0 * ((x + 2.0 * y as f64) * 0.11).sin()) as u8
        };
        LumaFrame::new(i, w, h, 2, (0..h).flat_map(|y| (0..w).map(move |x| value(x, y))).collect()).expect("w × h samples")
    }

    fn detections() -> Vec<Detection> {
        vec![Detection { class_index: 0, score: 0.9, bbox_in_frame_px: BoxXyxy::new(100.0, 60.0, 160.0, 160.0) }]
    }

    #[test]
    fn detections_coming_back_out_of_order_are_followed_as_in_order() {
        let mut in_order = Follower::new(0, 3);
        for i in 0..7 {
            in_order.luma(luma(i));
            if i % 3 == 0 {
                in_order.detected(i, &detections());
            }
        }
        let expected = in_order.finish(7);
        assert_eq!(expected.iter().map(|f| f.frame_index).collect::<Vec<_>>(), vec![0, 3, 6]);
        // Moving 4 frame pixels a frame, followed onto the next detected frame.
        let shifts = &expected[0].centre_shifts_px[0];
        assert_eq!(shifts.len(), 3);
        assert!(shifts.iter().zip([4.0, 8.0, 12.0]).all(|(s, x)| (s[0] - x).abs() < 0.5 && s[1].abs() < 0.5), "{shifts:?}");

        // Frame 3's detections (another session's batch) come back before frame 0's.
        let mut out_of_order = Follower::new(0, 3);
        (0..7).for_each(|i| out_of_order.luma(luma(i)));
        out_of_order.detected(3, &detections());
        out_of_order.detected(6, &detections());
        out_of_order.detected(0, &detections());
        assert_eq!(out_of_order.finish(7), expected);
    }
}
