//! Video decoding with FFmpeg (through `ffmpeg-next`) and conversion of frames into a model's
//! input tensor.
//!
//! [`VideoSource`] demuxes and decodes one video with FFmpeg's frame threading and numbers the
//! frames the way Encord does: 0-based, in presentation order, one index per decoded frame
//! (never derived from timestamps, so variable frame rates and B-frames cannot shift or
//! duplicate indices). [`TensorWriter`] resizes and converts a frame into the model's input
//! layout with one swscale pass.

mod error;
mod source;
mod tensor;

pub use error::DecodeError;
pub use source::{DecodeReport, Frame, SeekReport, VideoInfo, VideoSource};
pub use tensor::TensorWriter;
