//! The staged pipeline from a video file to detections, and the label row built from them.
//!
//! Two stages run at the same time, joined by bounded channels: a decode thread (FFmpeg decode,
//! frame stride, swscale into the model's layout, filling whole batches) and the inference stage
//! on the caller's thread (ONNX Runtime, head decode, NMS). Batch tensors go round a fixed pool,
//! so memory does not grow with the video's length. Errors and end of stream travel in-band.

pub mod batch;
mod label;
mod meta;
pub mod rows;
mod run;
pub mod worker;

pub use label::{Labelled, TrackStats, TrackingOptions, build_label_row};
pub use meta::{derived_data_hash, video_meta_for_file, video_meta_for_stored_row};
pub use run::{PipelineError, PipelineOptions, Progress, StageTimings, VideoDetections, detect_video};
