//! Types every prelabel stage shares: boxes in named coordinate spaces, the mapping between a
//! video frame and the model's input, the model's input layout, detections, and the downscaled
//! luma the tracker reads looks and follows motion on.
//!
//! Box-format mix-ups (centre vs corner, yx vs xy, letterbox offsets) are this domain's classic
//! bug, so every box type carries its coordinate space in its type: a [`BoxXyxy<InputPx>`] cannot
//! be passed where a [`BoxXyxy<FramePx>`] is expected, and the only way between them is
//! [`InputTransform::frame_from_input`].

mod geometry;
mod layout;
mod luma;

pub use geometry::{BoxXyxy, FramePx, InputPx, InputTransform, NormXywh};
pub use layout::{ChannelOrder, InputLayout, PixelRange, ResizeMode};
pub use luma::{LumaFrame, LumaSizeError};

/// One object found by the detector on one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Index into the model's class names.
    pub class_index: usize,
    /// Confidence in 0..1 as the model reports it.
    pub score: f32,
    /// Corners in the pixels of the original video frame.
    pub bbox_in_frame_px: BoxXyxy<FramePx>,
}

/// The detections on one video frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameDetections {
    /// 0-based frame index in presentation order, as Encord numbers frames.
    pub frame_index: u64,
    /// Detections after thresholding and NMS, best score first.
    pub detections: Vec<Detection>,
}
