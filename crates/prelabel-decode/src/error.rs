use std::path::PathBuf;

/// Why a video could not be opened or decoded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The file does not exist.
    #[error("{path}: no such file")]
    NotFound {
        /// The video.
        path: PathBuf,
    },
    /// FFmpeg could not open or probe the file as a media container.
    #[error("{path}: not a video FFmpeg can read ({cause})")]
    NotAVideo {
        /// The video.
        path: PathBuf,
        /// FFmpeg's reason.
        cause: ffmpeg_next::Error,
    },
    /// The container holds no video stream (e.g. audio only).
    #[error("{path}: no video stream in the file")]
    NoVideoStream {
        /// The video.
        path: PathBuf,
    },
    /// The video stream's codec cannot be opened by this FFmpeg build.
    #[error("{path}: cannot open the video decoder ({cause})")]
    Decoder {
        /// The video.
        path: PathBuf,
        /// FFmpeg's reason.
        cause: ffmpeg_next::Error,
    },
    /// Not one frame could be decoded.
    #[error("{path}: no frame could be decoded ({reason})")]
    NoFrames {
        /// The video.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// swscale could not convert a frame into the model's layout.
    #[error("{path}: cannot convert a {width}x{height} {format:?} frame into the model input ({cause})")]
    Convert {
        /// The video.
        path: PathBuf,
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
        /// Frame pixel format.
        format: ffmpeg_next::format::Pixel,
        /// FFmpeg's reason.
        cause: ffmpeg_next::Error,
    },
    /// swscale could not convert a frame into its luma (see [`LumaWriter`](crate::LumaWriter)).
    #[error("{path}: cannot convert a {width}x{height} {format:?} frame into its luma ({reason})")]
    Luma {
        /// The video.
        path: PathBuf,
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
        /// Frame pixel format.
        format: ffmpeg_next::format::Pixel,
        /// FFmpeg's reason.
        reason: String,
    },
}
