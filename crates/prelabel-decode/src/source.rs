//! Demux + decode of one video.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant};

use ffmpeg_next as ffmpeg;
use ffmpeg::codec::threading;
use ffmpeg::util::frame;

use crate::DecodeError;

/// What the container says about the video stream.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Average frame rate (frames per second); 0 when the container does not say.
    pub fps: f64,
    /// Frame count from the container header, when it has one.
    pub frame_count_hint: Option<u64>,
    /// Duration in seconds, when known.
    pub duration_secs: Option<f64>,
    /// Codec name, e.g. `h264`.
    pub codec: String,
}

/// One decoded frame, lent to the caller of [`VideoSource::decode`].
pub struct Frame<'a> {
    index: u64,
    video: &'a frame::Video,
}

impl Frame<'_> {
    /// 0-based index in presentation order.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.video.width()
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.video.height()
    }

    pub(crate) fn video(&self) -> &frame::Video {
        self.video
    }
}

/// How a decode ended.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeReport {
    /// Frames decoded (and handed to the caller, unless it stopped early).
    pub frames_decoded: u64,
    /// Packets the demuxer or decoder rejected as corrupt.
    pub corrupt_packets: u64,
    /// The demuxer stopped on an error other than end of file (e.g. a truncated file).
    pub read_error: Option<String>,
    /// Frames the container announced but that could not be decoded.
    pub frames_lost: u64,
    /// Wall time spent inside FFmpeg (demux + decode), excluding the caller's work.
    pub decode_time: Duration,
}

impl DecodeReport {
    /// True when part of the video could not be decoded.
    pub fn is_partial(&self) -> bool {
        self.frames_lost > 0 || self.read_error.is_some() || self.corrupt_packets > 0
    }
}

/// An opened video file, ready to decode.
pub struct VideoSource {
    path: PathBuf,
    input: ffmpeg::format::context::Input,
    decoder: ffmpeg::decoder::Video,
    stream_index: usize,
    info: VideoInfo,
}

fn init_ffmpeg() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // `init` only registers devices/network in old FFmpeg; it cannot fail on 5.x+.
        let _ = ffmpeg::init();
        // We report decode problems ourselves, in one line per input.
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
    });
}

impl VideoSource {
    /// Opens `path` and its best video stream; `decode_threads` is FFmpeg's frame-thread count
    /// (0 lets FFmpeg choose).
    pub fn open(path: &Path, decode_threads: usize) -> Result<Self, DecodeError> {
        init_ffmpeg();
        let path_buf = path.to_path_buf();
        if !path.exists() {
            return Err(DecodeError::NotFound { path: path_buf });
        }
        let input = ffmpeg::format::input(path)
            .map_err(|source| DecodeError::NotAVideo { path: path_buf.clone(), cause: source })?;
        let stream = input
            .streams()
            .best(ffmpeg::media::Type::Video)
            .ok_or_else(|| DecodeError::NoVideoStream { path: path_buf.clone() })?;
        let stream_index = stream.index();
        let decoder_error = |source| DecodeError::Decoder { path: path_buf.clone(), cause: source };
        let mut context = ffmpeg::codec::context::Context::from_parameters(stream.parameters()).map_err(decoder_error)?;
        context.set_threading(threading::Config { kind: threading::Type::Frame, count: decode_threads, ..Default::default() });
        let decoder = context.decoder().video().map_err(decoder_error)?;

        let rate = stream.avg_frame_rate();
        let fps = if rate.denominator() != 0 { f64::from(rate) } else { 0.0 };
        let duration_secs = (stream.duration() > 0)
            .then(|| stream.duration() as f64 * f64::from(stream.time_base()))
            .or_else(|| (input.duration() > 0).then(|| input.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE)));
        let frame_count_hint = (stream.frames() > 0).then_some(stream.frames() as u64);
        let info = VideoInfo {
            width: decoder.width(),
            height: decoder.height(),
            fps,
            frame_count_hint,
            duration_secs,
            codec: decoder.codec().map(|c| c.name().to_owned()).unwrap_or_default(),
        };
        if info.width == 0 || info.height == 0 {
            return Err(DecodeError::NoVideoStream { path: path_buf });
        }
        Ok(Self { path: path_buf, input, decoder, stream_index, info })
    }

    /// What the container says about the stream.
    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// The file this source reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Decodes every frame in presentation order and hands each to `on_frame`, which may stop
    /// the decode early with `ControlFlow::Break`. Corrupt packets are skipped and counted; a
    /// file that yields no frame at all is an error.
    pub fn decode(mut self, mut on_frame: impl FnMut(Frame<'_>) -> ControlFlow<()>) -> Result<DecodeReport, DecodeError> {
        let mut report = DecodeReport {
            frames_decoded: 0,
            corrupt_packets: 0,
            read_error: None,
            frames_lost: 0,
            decode_time: Duration::ZERO,
        };
        let mut decoded = frame::Video::empty();
        let mut packet = ffmpeg::Packet::empty();
        let mut stopped = false;

        // Hands every frame the decoder has ready to `on_frame`.
        let mut drain = |decoder: &mut ffmpeg::decoder::Video, report: &mut DecodeReport, started: Instant| -> bool {
            let mut clock = started;
            loop {
                match decoder.receive_frame(&mut decoded) {
                    Ok(()) => {
                        report.decode_time += clock.elapsed();
                        let flow = on_frame(Frame { index: report.frames_decoded, video: &decoded });
                        report.frames_decoded += 1;
                        clock = Instant::now();
                        if flow.is_break() {
                            return true;
                        }
                    }
                    Err(ffmpeg::Error::Other { errno: ffmpeg::util::error::EAGAIN }) | Err(ffmpeg::Error::Eof) => {
                        report.decode_time += clock.elapsed();
                        return false;
                    }
                    Err(_) => report.corrupt_packets += 1,
                }
            }
        };

        loop {
            let started = Instant::now();
            match packet.read(&mut self.input) {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => {
                    report.decode_time += started.elapsed();
                    break;
                }
                Err(ffmpeg::Error::InvalidData) => {
                    report.corrupt_packets += 1;
                    continue;
                }
                Err(e) => {
                    report.read_error = Some(e.to_string());
                    break;
                }
            }
            if packet.stream() != self.stream_index {
                continue;
            }
            if self.decoder.send_packet(&packet).is_err() {
                report.corrupt_packets += 1;
            }
            if drain(&mut self.decoder, &mut report, started) {
                stopped = true;
                break;
            }
        }
        if !stopped {
            // Flush the frames the decoder (and its frame threads) still hold.
            let started = Instant::now();
            if self.decoder.send_eof().is_ok() {
                drain(&mut self.decoder, &mut report, started);
            }
            if let Some(expected) = self.info.frame_count_hint {
                report.frames_lost = expected.saturating_sub(report.frames_decoded);
            }
        }
        if report.frames_decoded == 0 {
            let reason = report.read_error.clone().unwrap_or_else(|| match report.corrupt_packets {
                0 => "the video stream is empty".to_owned(),
                n => format!("{n} corrupt packets"),
            });
            return Err(DecodeError::NoFrames { path: self.path, reason });
        }
        Ok(report)
    }
}
