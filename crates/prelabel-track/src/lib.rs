//! Multi-object tracking over the detector's per-frame output, in the ByteTrack family.
//!
//! [`Tracker`] links [`prelabel_core::FrameDetections`] across frames into [`Track`]s: each
//! track follows one object of one class with a constant-velocity Kalman filter, is matched to
//! detections by the overlap of its predicted box with theirs (high-score detections first, then
//! low-score ones to carry it through occlusion), with what the detections look like
//! ([`Appearance`], when given) breaking near-ties between objects that overlap it, is confirmed
//! once it has been seen for a few frames and ends after a number of frames without a match. The detector may run on every n-th
//! frame only: the filter predicts across the frame gap (moved along the detections' image motion
//! over the skipped frames, from [`follow_detections`], when given), boxes are widened for
//! matching by the frames skipped, [`Track::interpolated`] fills the frames in between that motion
//! did not, and [`Track::extrapolated`] the skipped frames next to a track's ends.
//!
//! Everything is deterministic: the same frames give the same tracks, with ids numbered
//! 0, 1, 2, … in the order the tracks were confirmed.

mod appearance;
mod assignment;
mod kalman;
mod motion;
mod track;
mod tracker;

pub use appearance::Appearance;
pub use motion::{FollowedDetections, follow_detections};
pub use track::{BoxSource, EXTRAPOLATED_CONFIDENCE_SCALE, INTERPOLATED_CONFIDENCE_SCALE, Track, TrackBox};
pub use tracker::{TrackError, Tracker, TrackerConfig};
