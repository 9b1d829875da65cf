//! The tracker's image cues: what each detected frame's detections look like there and, at a
//! stride, how they moved by image motion over the frames after it that the detector skipped,
//! taken as their luma and detections arrive (on the pipeline's caller's thread, or in the editor
//! agent's decode loop).

use std::collections::BTreeMap;

use prelabel_core::{Detection, LumaFrame};
use prelabel_track::{FollowedDetections, follow_detections};

use crate::TrackingOptions;

/// What the tracker is given of the frames' pixels, beside the detected boxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageCues {
    /// Nothing: the boxes alone (no luma is made).
    #[default]
    None,
    /// What each detection looks like on its frame, to tell apart objects whose boxes overlap
    /// (the luma of the frames the detector runs on).
    Appearance,
    /// That, and each detection's image motion over the frames after it that the detector
    /// skipped (the luma of every frame).
    AppearanceAndMotion,
}

impl ImageCues {
    /// The cues tracking with `tracking` uses, for a detector that runs on every `stride`-th frame:
    /// none without tracking, motion only when following it was asked for and there are frames to
    /// follow it over.
    pub fn for_tracking(tracking: Option<&TrackingOptions>, stride: u64) -> Self {
        match tracking {
            None => Self::None,
            Some(t) if t.follow_motion && stride > 1 => Self::AppearanceAndMotion,
            Some(_) => Self::Appearance,
        }
    }

    /// Whether luma is made at all.
    pub fn wanted(self) -> bool {
        self != Self::None
    }

    /// Whether the luma of the frame `since_first` frames after the first detected frame is
    /// needed, for a detector that runs on every `stride`-th frame.
    pub fn wants_luma_of(self, since_first: u64, stride: u64) -> bool {
        match self {
            Self::None => false,
            Self::Appearance => since_first.is_multiple_of(stride.max(1)),
            Self::AppearanceAndMotion => true,
        }
    }
}

/// One video's image cues. Luma frames come in frame order (from the one decode thread of the
/// video) and detections in any order (from the inference sessions); detected frames (`first`,
/// `first + stride`, `first + 2 × stride`, …) are followed in frame order, each once its
/// detections and the luma of it (and, following motion, of the frames after it up to the next
/// detected frame) are in. Luma is held only until then, so memory is bounded by how far decode
/// runs ahead of inference, not by the video's length.
pub struct Follower {
    first: u64,
    stride: u64,
    cues: ImageCues,
    lumas: BTreeMap<u64, LumaFrame>,
    /// Detected frames not followed yet.
    waiting: BTreeMap<u64, Vec<Detection>>,
    /// The video's last frame, once decode ended.
    last_frame: Option<u64>,
    /// Followed frames, in frame order.
    followed: Vec<FollowedDetections>,
}

impl Follower {
    /// `cues` for a detector that runs on every `stride`-th frame from frame `first` on.
    pub fn new(first: u64, stride: u64, cues: ImageCues) -> Self {
        let stride = stride.max(1);
        Self { first, stride, cues, lumas: BTreeMap::new(), waiting: BTreeMap::new(), last_frame: None, followed: Vec::new() }
    }

    /// Takes the luma of the next frame (frames the cues do not need are dropped).
    pub fn luma(&mut self, luma: LumaFrame) {
        let needed = luma.frame_index.checked_sub(self.first).is_some_and(|since| self.cues.wants_luma_of(since, self.stride));
        if !needed {
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
            let wanted_last = if self.cues == ImageCues::AppearanceAndMotion { first + self.stride } else { first };
            let last = self.last_frame.map_or(wanted_last, |l| wanted_last.min(l));
            // Luma comes in frame order, so the last frame's being in means all of them are.
            if !self.lumas.contains_key(&last) && self.last_frame.is_none() {
                return;
            }
            let detections = entry.remove();
            let lumas: Vec<&LumaFrame> = self.lumas.range(first..=last).map(|(_, l)| l).collect();
            self.followed.push(follow_detections(first, &lumas, &detections));
            // The frames before the next detected frame belong to this one alone.
            self.lumas = self.lumas.split_off(&(first + self.stride));
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
        let mut in_order = Follower::new(0, 3, ImageCues::AppearanceAndMotion);
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
        let mut out_of_order = Follower::new(0, 3, ImageCues::AppearanceAndMotion);
        (0..7).for_each(|i| out_of_order.luma(luma(i)));
        out_of_order.detected(3, &detections());
        out_of_order.detected(6, &detections());
        out_of_order.detected(0, &detections());
        assert_eq!(out_of_order.finish(7), expected);
    }

    #[test]
    fn appearance_alone_takes_the_detected_frames_luma_and_no_motion() {
        let cues = ImageCues::Appearance;
        assert_eq!((0..7).filter(|&i| cues.wants_luma_of(i, 3)).collect::<Vec<_>>(), vec![0, 3, 6]);
        let mut follower = Follower::new(0, 3, cues);
        for i in 0..7 {
            follower.luma(luma(i));
            if i % 3 == 0 {
                follower.detected(i, &detections());
            }
            // Only the latest detected frame's luma is held.
            assert!(follower.lumas.len() <= 1, "frame {i}: {:?}", follower.lumas.keys().collect::<Vec<_>>());
        }
        let followed = follower.finish(7);
        assert_eq!(followed.iter().map(|f| f.frame_index).collect::<Vec<_>>(), vec![0, 3, 6]);
        for f in &followed {
            assert_eq!(f.centre_shifts_px, vec![Vec::<[f32; 2]>::new()]);
            assert!(f.appearances[0].is_some(), "{f:?}");
        }
        // The moving texture looks different under the box on each frame.
        assert_ne!(followed[0].appearances, followed[1].appearances);
    }

    #[test]
    fn the_cues_follow_the_tracking_options_and_the_stride() {
        let tracking = |follow_motion| TrackingOptions {
            tracker: Default::default(),
            min_track_frames: 1,
            max_interpolation_gap_frames: 1,
            follow_motion,
        };
        assert_eq!(ImageCues::for_tracking(None, 3), ImageCues::None);
        assert_eq!(ImageCues::for_tracking(Some(&tracking(true)), 3), ImageCues::AppearanceAndMotion);
        assert_eq!(ImageCues::for_tracking(Some(&tracking(true)), 1), ImageCues::Appearance);
        assert_eq!(ImageCues::for_tracking(Some(&tracking(false)), 3), ImageCues::Appearance);
        assert!(!ImageCues::None.wanted() && !ImageCues::None.wants_luma_of(0, 1));
        assert!((0..4).all(|i| ImageCues::AppearanceAndMotion.wants_luma_of(i, 3)));
    }

    #[test]
    fn a_range_from_a_later_frame_takes_each_mode_s_luma_and_frees_it() {
        // The editor agent's range: detected frames 5, 8, 11 of a range ending at frame 12, every
        // luma in before the detections come back, out of order.
        for cues in [ImageCues::Appearance, ImageCues::AppearanceAndMotion] {
            let mut follower = Follower::new(5, 3, cues);
            (0..13).for_each(|i| follower.luma(luma(i)));
            let held: Vec<u64> = follower.lumas.keys().copied().collect();
            let expected_held: Vec<u64> = if cues == ImageCues::Appearance { vec![5, 8, 11] } else { (5..13).collect() };
            assert_eq!(held, expected_held, "{cues:?}");
            follower.detected(8, &detections());
            follower.detected(11, &detections());
            assert!(follower.followed.is_empty(), "frame 5 comes first");
            follower.detected(5, &detections());
            // Every detected frame is taken once its luma is in; following motion, frame 11 waits
            // for the range's end (it would follow onto frame 14), holding the luma it needs.
            let (taken, still_held) = match cues {
                ImageCues::AppearanceAndMotion => (vec![5, 8], vec![11, 12]),
                _ => (vec![5, 8, 11], vec![]),
            };
            assert_eq!(follower.followed.iter().map(|f| f.frame_index).collect::<Vec<_>>(), taken, "{cues:?}");
            assert_eq!(follower.lumas.keys().copied().collect::<Vec<_>>(), still_held, "{cues:?}");
            let followed = follower.finish(13);
            for f in &followed {
                let lumas: Vec<LumaFrame> = match cues {
                    ImageCues::AppearanceAndMotion => (f.frame_index..=(f.frame_index + 3).min(12)).map(luma).collect(),
                    _ => vec![luma(f.frame_index)],
                };
                assert_eq!(*f, follow_detections(f.frame_index, &lumas.iter().collect::<Vec<_>>(), &detections()), "{cues:?}");
            }
            assert_eq!(followed.iter().map(|f| f.frame_index).collect::<Vec<_>>(), vec![5, 8, 11]);
        }
    }
}
