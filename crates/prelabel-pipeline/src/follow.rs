//! On the caller's thread: following each detected frame's detections by image motion over the
//! frames after it that the detector skipped, as their luma arrives from the decode thread.

use std::collections::BTreeMap;

use prelabel_core::{Detection, LumaFrame};
use prelabel_track::{FollowedDetections, follow_detections};

/// One video's following. Luma frames come in frame order (from the one decode thread of the
/// video) and detections in any order (from the inference sessions); a detected frame is
/// followed once its detections and the luma of it and of the frames after it up to the next
/// detected frame are in. Luma is held only until then, so memory is bounded by how far decode runs ahead
/// of inference, not by the video's length.
pub(crate) struct Follower {
    stride: u64,
    lumas: BTreeMap<u64, LumaFrame>,
    /// Detected frames not followed yet.
    waiting: BTreeMap<u64, Vec<Detection>>,
    /// The video's last frame, once decode ended.
    last_frame: Option<u64>,
    /// Followed frames, by frame index.
    followed: Vec<FollowedDetections>,
}

impl Follower {
    /// Following for a detector that runs on every `stride`-th frame.
    pub(crate) fn new(stride: u64) -> Self {
        Self { stride: stride.max(1), lumas: BTreeMap::new(), waiting: BTreeMap::new(), last_frame: None, followed: Vec::new() }
    }

    /// Takes the luma of the next frame.
    pub(crate) fn luma(&mut self, luma: LumaFrame) {
        self.lumas.insert(luma.frame_index, luma);
        self.advance();
    }

    /// Takes the detections of a detected frame.
    pub(crate) fn detected(&mut self, frame_index: u64, detections: &[Detection]) {
        self.waiting.insert(frame_index, detections.to_vec());
        self.advance();
    }

    /// The video's decode ended after `frames_decoded` frames: every detected frame can be
    /// followed to the end with the luma there is.
    pub(crate) fn ended(&mut self, frames_decoded: u64) {
        self.last_frame = frames_decoded.checked_sub(1);
        self.advance();
    }

    /// Every detected frame followed so far, by frame index.
    pub(crate) fn into_followed(mut self) -> Vec<FollowedDetections> {
        self.followed.sort_unstable_by_key(|f| f.frame_index);
        self.followed
    }

    /// Follows every waiting frame whose luma is all in.
    fn advance(&mut self) {
        while let Some(entry) = self.waiting.first_entry() {
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
