//! What a model's input tensor looks like, so the decoder can write frames straight into it.

/// Order of the axes of one image in the input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelOrder {
    /// `[3, H, W]` per image: planar (Ultralytics YOLO).
    Nchw,
    /// `[H, W, 3]` per image: packed (TensorFlow SSD).
    Nhwc,
}

/// Value range of the RGB samples the model expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelRange {
    /// 0.0..=1.0
    Unit,
    /// 0.0..=255.0
    Byte,
}

impl PixelRange {
    /// The value that stands for a full-intensity sample.
    pub fn max_value(self) -> f32 {
        match self {
            PixelRange::Unit => 1.0,
            PixelRange::Byte => 255.0,
        }
    }
}

/// How a frame is fitted into the input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ResizeMode {
    /// Plain resize to the input size, aspect ratio not kept.
    Stretch,
    /// Aspect ratio kept, centred, the rest filled with `pad_value` (in the model's range).
    Letterbox {
        /// The fill value, e.g. 114/255 for Ultralytics models.
        pad_value: f32,
    },
}

/// The model's input for one image: RGB, float32, in this size, order, range and fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputLayout {
    /// Input width in pixels.
    pub width: u32,
    /// Input height in pixels.
    pub height: u32,
    /// Axis order of one image.
    pub channel_order: ChannelOrder,
    /// Sample range.
    pub pixel_range: PixelRange,
    /// Resize or letterbox.
    pub resize: ResizeMode,
}

impl InputLayout {
    /// Number of f32 values one image takes in the tensor.
    pub fn image_len(&self) -> usize {
        self.width as usize * self.height as usize * 3
    }

    /// The placement of a frame of the given size into this input.
    pub fn transform_for(&self, frame_width: u32, frame_height: u32) -> crate::InputTransform {
        match self.resize {
            ResizeMode::Stretch => crate::InputTransform::stretch(frame_width, frame_height, self.width, self.height),
            ResizeMode::Letterbox { .. } => crate::InputTransform::letterbox(frame_width, frame_height, self.width, self.height),
        }
    }
}
