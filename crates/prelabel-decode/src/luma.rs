//! One swscale pass from a decoded frame into its downscaled luma, for following motion.

use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg::util::frame;
use ffmpeg_next as ffmpeg;
use prelabel_core::LumaFrame;

use crate::{DecodeError, Frame};

/// Luma frames are at most this wide: the frame is downscaled by the smallest whole factor that
/// brings it there (768 pixels by 2, 1920 by 5). Enough to follow a pedestrian, and a 384 × 288
/// frame is 108 KiB.
pub const MAX_LUMA_WIDTH: u32 = 400;

/// Converts frames into [`LumaFrame`]s: full-range grey, area-averaged down by a whole factor. The scaler is
/// rebuilt only when the frame size or format changes.
#[derive(Default)]
pub struct LumaWriter {
    scaler: Option<LumaScaler>,
}

struct LumaScaler {
    source: (Pixel, u32, u32),
    factor: u32,
    context: scaling::Context,
    scaled: frame::Video,
}

// SAFETY: the swscale context and the frame are owned exclusively by this writer and only used
// through `&mut self`; FFmpeg's SwsContext has no thread affinity.
unsafe impl Send for LumaScaler {}

impl LumaWriter {
    /// A writer with no scaler yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The luma of `frame`, downscaled to at most [`MAX_LUMA_WIDTH`] samples a row.
    pub fn write(&mut self, frame: &Frame<'_>) -> Result<LumaFrame, DecodeError> {
        let video = frame.video();
        let source = (video.format(), video.width(), video.height());
        let scaler = match &mut self.scaler {
            Some(s) if s.source == source => s,
            slot => slot.insert(LumaScaler::new(source)?),
        };
        scaler.context.run(video, &mut scaler.scaled).map_err(|e| luma_error(source, e))?;
        let scaled = &scaler.scaled;
        let (width, height) = (scaled.width() as usize, scaled.height() as usize);
        let stride = scaled.stride(0);
        let data = scaled.data(0);
        let samples: Vec<u8> = (0..height).flat_map(|y| &data[y * stride..y * stride + width]).copied().collect();
        LumaFrame::new(frame.index(), width, height, scaler.factor, samples).map_err(|e| luma_error(source, e))
    }
}

fn luma_error((format, width, height): (Pixel, u32, u32), reason: impl ToString) -> DecodeError {
    DecodeError::Luma { width, height, format, reason: reason.to_string() }
}

impl LumaScaler {
    fn new(source: (Pixel, u32, u32)) -> Result<Self, DecodeError> {
        let (format, width, height) = source;
        let factor = width.div_ceil(MAX_LUMA_WIDTH).max(1);
        let (scaled_width, scaled_height) = ((width / factor).max(1), (height / factor).max(1));
        let context = scaling::Context::get(format, width, height, Pixel::GRAY8, scaled_width, scaled_height, scaling::Flags::AREA)
            .map_err(|e| luma_error(source, e))?;
        Ok(Self { source, factor, context, scaled: frame::Video::new(Pixel::GRAY8, scaled_width, scaled_height) })
    }
}
