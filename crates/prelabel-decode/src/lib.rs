//! Video decoding with FFmpeg (through `ffmpeg-next`) and conversion of frames into a model's
//! input tensor.
//!
//! [`VideoSource`] demuxes and decodes one video with FFmpeg's frame threading and numbers the
//! frames the way Encord does: 0-based, in presentation order, one index per decoded frame
//! (never derived from timestamps, so variable frame rates and B-frames cannot shift or
//! duplicate indices). [`TensorWriter`] resizes and converts a frame into the model's input
//! layout with one swscale pass. With [`HwDecode::Nvdec`], NVIDIA's hardware decoder is used
//! where it can be, and software decode where not (see the `hw` module). [`LumaWriter`] makes
//! the downscaled grey frames the tracker reads looks and follows motion on.

mod error;
mod hw;
mod luma;
mod rotation;
mod scale;
mod source;
mod tensor;

pub use error::DecodeError;
pub use hw::HwDecode;
pub use luma::{LumaWriter, MAX_LUMA_WIDTH};
pub use rotation::Rotation;
pub use source::{DecodeReport, Frame, OwnedFrame, SeekReport, VideoInfo, VideoSource};
pub use tensor::TensorWriter;
