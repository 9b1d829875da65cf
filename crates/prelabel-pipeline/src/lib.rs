//! The staged pipeline from a video file to detections, and the label row built from them.
//!
//! Stages run at the same time, joined by bounded channels: decode threads (FFmpeg decode, frame
//! stride, swscale into the model's layout, filling shared batches), one inference thread per
//! detector session (ONNX Runtime, head decode, NMS), and the caller's thread collecting each
//! video's detections (see `run`) and, for tracking, the image cues of them (what each looks like
//! and, at a stride, its image motion over the skipped frames: see `follow`). Batch tensors go
//! round a fixed pool, so memory does not grow with the video's length. Errors and end of stream travel in-band.

pub mod batch;
mod follow;
mod label;
mod meta;
pub mod rows;
mod run;
mod sessions;
pub mod worker;

pub use follow::{Follower, ImageCues};
pub use label::{Labelled, TrackStats, TrackingOptions, build_label_row};
pub use meta::{derived_data_hash, video_meta_for_file, video_meta_for_stored_row};
pub use run::{
    Bound, FlowStats, LocalVideo, PipelineError, PipelineOptions, Progress, StageTimings, VideoDetections, VideoInput, detect_video,
    detect_videos,
};
pub use sessions::Detectors;
