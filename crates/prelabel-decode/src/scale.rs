//! A swscale context with its output frame, shared by the writers that convert decoded frames.

use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg::util::frame;
use ffmpeg_next as ffmpeg;

/// A frame's pixel format, width and height: what a [`Swscale`] was made for.
pub(crate) type Source = (Pixel, u32, u32);

/// The [`Source`] of a decoded frame.
pub(crate) fn source_of(video: &frame::Video) -> Source {
    (video.format(), video.width(), video.height())
}

/// One swscale context from one [`Source`] to one target format and size, with the frame it
/// writes into. Writers keep one and make a new one only when the frames' source changes.
pub(crate) struct Swscale {
    source: Source,
    context: scaling::Context,
    scaled: frame::Video,
}

// SAFETY: the swscale context and the frame are owned exclusively by this value and only used
// through `&mut self`; FFmpeg's SwsContext has no thread affinity.
unsafe impl Send for Swscale {}

impl Swscale {
    /// A context from `source` to `target` at `width × height`, resampling with `flags`.
    pub(crate) fn new(source: Source, target: Pixel, width: u32, height: u32, flags: scaling::Flags) -> Result<Self, ffmpeg::Error> {
        let (format, source_width, source_height) = source;
        let context = scaling::Context::get(format, source_width, source_height, target, width, height, flags)?;
        Ok(Self { source, context, scaled: frame::Video::new(target, width, height) })
    }

    /// What it converts from.
    pub(crate) fn source(&self) -> Source {
        self.source
    }

    /// Converts `video` (of this context's source) and returns the converted frame.
    pub(crate) fn run(&mut self, video: &frame::Video) -> Result<&frame::Video, ffmpeg::Error> {
        self.context.run(video, &mut self.scaled)?;
        Ok(&self.scaled)
    }
}
