//! A swscale context with its output frame, shared by the writers that convert decoded frames.

use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg::util::{color, frame};
use ffmpeg_next as ffmpeg;

/// What a [`Swscale`] was made for: a frame's pixel format, size, and the colour matrix it is
/// tagged with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Source {
    pub(crate) format: Pixel,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) colour_space: color::Space,
}

/// The [`Source`] of a decoded frame.
pub(crate) fn source_of(video: &frame::Video) -> Source {
    Source { format: video.format(), width: video.width(), height: video.height(), colour_space: video.color_space() }
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
    /// A context from `source` to `target` at `width × height`, resampling with `flags`. YUV is
    /// read with the colour matrix the source is tagged with (BT.709 for most HD video), as the
    /// `ffmpeg` command line reads it; an untagged one keeps swscale's BT.601. The range stays
    /// the one the pixel format implies (`yuvj*` full, other YUV limited).
    pub(crate) fn new(source: Source, target: Pixel, width: u32, height: u32, flags: scaling::Flags) -> Result<Self, ffmpeg::Error> {
        let mut context = scaling::Context::get(source.format, source.width, source.height, target, width, height, flags)?;
        if source.colour_space != color::Space::Unspecified && is_rgb(target) {
            read_with_matrix(&mut context, source.colour_space);
        }
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

/// Whether `format` is an RGB format.
fn is_rgb(format: Pixel) -> bool {
    // SAFETY: av_pix_fmt_desc_get returns a pointer to a static descriptor, or null.
    let descriptor = unsafe { ffmpeg::ffi::av_pix_fmt_desc_get(format.into()).as_ref() };
    descriptor.is_some_and(|d| d.flags & ffmpeg::ffi::AV_PIX_FMT_FLAG_RGB as u64 != 0)
}

/// Sets `context` (into RGB) to read its input with the colour matrix of `space`, keeping the
/// ranges and the output side as swscale chose them. A context that reports no such details is
/// left alone; one from RGB input ignores the matrix.
fn read_with_matrix(context: &mut scaling::Context, space: color::Space) {
    let (mut current_inv_table, mut table) = (std::ptr::null_mut(), std::ptr::null_mut());
    let (mut src_range, mut dst_range, mut brightness, mut contrast, mut saturation) = (0, 0, 0, 0, 0);
    // SAFETY: the context is valid and exclusively borrowed; the out-pointers are live locals.
    // The tables swscale hands back are its own static coefficient tables (or the context's
    // copy of them), only read by the set call below; sws_getCoefficients returns a static table.
    unsafe {
        let sws = context.as_mut_ptr();
        let got = ffmpeg::ffi::sws_getColorspaceDetails(
            sws,
            &mut current_inv_table,
            &mut src_range,
            &mut table,
            &mut dst_range,
            &mut brightness,
            &mut contrast,
            &mut saturation,
        );
        if got < 0 {
            return;
        }
        // Indexed by AVColorSpace; values outside its table get swscale's default.
        let inv_table = ffmpeg::ffi::sws_getCoefficients(ffmpeg::ffi::AVColorSpace::from(space) as i32);
        ffmpeg::ffi::sws_setColorspaceDetails(sws, inv_table, src_range, table.cast_const(), dst_range, brightness, contrast, saturation);
    }
}
