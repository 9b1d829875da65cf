//! One swscale pass from a decoded frame into its downscaled luma, for the tracker's image cues
//! (what each detection looks like, and its image motion over skipped frames).

use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg_next as ffmpeg;
use prelabel_core::LumaFrame;

use crate::scale::{Source, Swscale, source_of};
use crate::source::Shown;
use crate::{DecodeError, Frame, Rotation};

/// Luma frames are at most this wide (as displayed): the frame is downscaled by the smallest
/// whole factor that brings it there (768 pixels by 2, 1920 by 5, a 1080 × 1920 portrait by 3).
/// Enough to follow a pedestrian, and a 384 × 288 frame is 108 KiB.
pub const MAX_LUMA_WIDTH: u32 = 400;

/// Converts frames into [`LumaFrame`]s: full-range grey, area-averaged down by a whole factor
/// from the video's displayed size (see [`Frame::width`]), turned as the frame is displayed. The
/// scaler is rebuilt only when the decoded size or format, or how the frame is shown, changes.
#[derive(Default)]
pub struct LumaWriter {
    scaler: Option<LumaScaler>,
}

struct LumaScaler {
    swscale: Swscale,
    shown: Shown,
    /// Frame pixels per luma sample.
    factor: u32,
}

impl LumaWriter {
    /// A writer with no scaler yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The luma of `frame`, downscaled to at most [`MAX_LUMA_WIDTH`] samples a row.
    pub fn write(&mut self, frame: &Frame<'_>) -> Result<LumaFrame, DecodeError> {
        let video = frame.video();
        let (source, shown) = (source_of(video), frame.shown());
        let rotation = shown.rotation;
        let scaler = match &mut self.scaler {
            Some(s) if s.swscale.source() == source && s.shown == shown => s,
            slot => slot.insert(LumaScaler::new(source, shown).map_err(|e| luma_error(frame, source, e))?),
        };
        let factor = scaler.factor;
        let scaled = scaler.swscale.run(video).map_err(|e| luma_error(frame, source, e))?;
        let (width, height) = (scaled.width() as usize, scaled.height() as usize);
        let stride = scaled.stride(0);
        let data = scaled.data(0);
        let (displayed_width, displayed_height) = rotation.displayed_size(scaled.width(), scaled.height());
        let samples: Vec<u8> = match rotation {
            Rotation::Upright => (0..height).flat_map(|y| &data[y * stride..y * stride + width]).copied().collect(),
            _ => (0..displayed_height as usize)
                .flat_map(|y| rotation.decoded_pixels_of_row(y, width, height))
                .map(|(x, y)| data[y * stride + x])
                .collect(),
        };
        LumaFrame::new(frame.index(), displayed_width as usize, displayed_height as usize, factor, samples)
            .map_err(|e| luma_error(frame, source, e))
    }
}

fn luma_error(frame: &Frame<'_>, source: Source, reason: impl ToString) -> DecodeError {
    let (width, height, format) = (source.width, source.height, source.format);
    DecodeError::Luma { path: frame.path().to_owned(), width, height, format, reason: reason.to_string() }
}

impl LumaScaler {
    fn new(source: Source, shown: Shown) -> Result<Self, ffmpeg::Error> {
        let factor = shown.width.div_ceil(MAX_LUMA_WIDTH).max(1);
        let (width, height) = shown.decoded_size();
        let (scaled_width, scaled_height) = ((width / factor).max(1), (height / factor).max(1));
        let swscale = Swscale::new(source, Pixel::GRAY8, scaled_width, scaled_height, scaling::Flags::AREA)?;
        Ok(Self { swscale, shown, factor })
    }
}
