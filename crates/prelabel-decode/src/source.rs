//! Demux + decode of one video.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant};

use ffmpeg::codec::threading;
use ffmpeg::util::frame;
use ffmpeg_next as ffmpeg;

use crate::DecodeError;
use crate::hw::{self, HwDecode};
use crate::rotation::Rotation;

/// What the container says about the video stream.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// Frame width in pixels, as displayed (after [`rotation`](Self::rotation)).
    pub width: u32,
    /// Frame height in pixels, as displayed.
    pub height: u32,
    /// How the decoded pictures are turned to be shown upright (from the container's display
    /// matrix); frames are handed out turned.
    pub rotation: Rotation,
    /// Average frame rate (frames per second); 0 when the container does not say.
    pub fps: f64,
    /// Frame count from the container header, when it has one; in MP4, the frames its edit
    /// list shows.
    pub frame_count_hint: Option<u64>,
    /// Duration in seconds, when known.
    pub duration_secs: Option<f64>,
    /// Codec name, e.g. `h264`.
    pub codec: String,
    /// The decoder used: `software`, `nvdec`, or `software (<why NVDEC was not used>)` when
    /// NVDEC was asked for. Whether NVDEC really decoded the frames is in
    /// [`DecodeReport::hw_frames`].
    pub decoder: String,
}

/// One decoded frame, lent to the caller of [`VideoSource::decode`]. The writers that convert
/// it ([`TensorWriter`](crate::TensorWriter), [`LumaWriter`](crate::LumaWriter)) turn it by its
/// [`Rotation`] and scale it to the video's size, so it is used as displayed.
pub struct Frame<'a> {
    path: &'a Path,
    index: u64,
    video: &'a frame::Video,
    shown: Shown,
}

/// How every frame of a video is shown: turned by `rotation`, at the video's displayed size
/// ([`VideoInfo`]'s width and height, which the label row gives too). A picture decoded at
/// another size, after the stream changed resolution part-way, is scaled to that size, as the
/// `ffmpeg` command line scales every frame to one size by default (`-autoscale`; it takes the
/// first frame's, normally the same): so frame pixels mean the same on every frame of a video,
/// and boxes normalised by the video's size stay true. A picture of another aspect ratio is
/// stretched, as there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shown {
    pub(crate) rotation: Rotation,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

impl Shown {
    fn of(info: &VideoInfo) -> Self {
        Self { rotation: info.rotation, width: info.width, height: info.height }
    }

    /// The size the decoded picture is scaled to before it is turned.
    pub(crate) fn decoded_size(self) -> (u32, u32) {
        self.rotation.displayed_size(self.width, self.height)
    }
}

impl Frame<'_> {
    /// The video file it comes from.
    pub fn path(&self) -> &Path {
        self.path
    }

    /// 0-based index in presentation order.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Width in pixels, as displayed: the video's, whatever size this picture was decoded at.
    pub fn width(&self) -> u32 {
        self.shown.width
    }

    /// Height in pixels, as displayed: the video's.
    pub fn height(&self) -> u32 {
        self.shown.height
    }

    /// The decoded picture, not turned yet.
    pub(crate) fn video(&self) -> &frame::Video {
        self.video
    }

    /// How the picture is shown.
    pub(crate) fn shown(&self) -> Shown {
        self.shown
    }

    /// A copy of this frame that outlives the decode callback, e.g. to convert one frame again
    /// and again in a benchmark.
    pub fn to_owned_frame(&self) -> OwnedFrame {
        OwnedFrame { path: self.path.to_owned(), index: self.index, video: self.video.clone(), shown: self.shown }
    }
}

/// A decoded frame copied out of the decoder ([`Frame::to_owned_frame`]).
pub struct OwnedFrame {
    path: PathBuf,
    index: u64,
    video: frame::Video,
    shown: Shown,
}

impl OwnedFrame {
    /// The frame, lent as [`VideoSource::decode`] lends frames.
    pub fn as_frame(&self) -> Frame<'_> {
        Frame { path: &self.path, index: self.index, video: &self.video, shown: self.shown }
    }
}

/// How a decode ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodeReport {
    /// Frames decoded (and handed to the caller, unless it stopped early).
    pub frames_decoded: u64,
    /// Packets the demuxer or decoder rejected as corrupt.
    pub corrupt_packets: u64,
    /// The decode stopped on an error other than end of file: the demuxer's (e.g. a truncated
    /// file), or a frame that could not be copied out of GPU memory (numbering the frames after
    /// it would need that frame).
    pub read_error: Option<String>,
    /// Frames the container announced but that could not be decoded.
    pub frames_lost: u64,
    /// Wall time spent inside FFmpeg (demux + decode, and copying NVDEC surfaces to system
    /// memory), excluding the caller's work.
    pub decode_time: Duration,
    /// Frames NVDEC decoded (0 in software; below `frames_decoded` if FFmpeg fell back to
    /// software part-way, e.g. when the driver's decode library is missing).
    pub hw_frames: u64,
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
    /// How it was opened, for reopening it the same way.
    opened_with: (usize, HwDecode),
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
    /// Opens `path` and its best video stream for software decoding; `decode_threads` is
    /// FFmpeg's frame-thread count (0 lets FFmpeg choose).
    pub fn open(path: &Path, decode_threads: usize) -> Result<Self, DecodeError> {
        Self::open_with(path, decode_threads, HwDecode::Software)
    }

    /// Opens `path` like [`open`](Self::open), decoding with NVDEC when `hw` asks for it and the
    /// codec, FFmpeg and the driver allow it (frame threads are not used then); otherwise in
    /// software, with the reason in [`VideoInfo::decoder`].
    pub fn open_with(path: &Path, decode_threads: usize, hw: HwDecode) -> Result<Self, DecodeError> {
        init_ffmpeg();
        let path_buf = path.to_path_buf();
        if !path.exists() {
            return Err(DecodeError::NotFound { path: path_buf });
        }
        let input = ffmpeg::format::input(path).map_err(|source| DecodeError::NotAVideo { path: path_buf.clone(), cause: source })?;
        let stream =
            input.streams().best(ffmpeg::media::Type::Video).ok_or_else(|| DecodeError::NoVideoStream { path: path_buf.clone() })?;
        let stream_index = stream.index();
        let decoder_error = |source| DecodeError::Decoder { path: path_buf.clone(), cause: source };
        let mut context = ffmpeg::codec::context::Context::from_parameters(stream.parameters()).map_err(decoder_error)?;
        let (decoder_name, frame_threads) = match hw {
            HwDecode::Software => ("software".to_owned(), decode_threads),
            HwDecode::Nvdec => match hw::attach_nvdec(&mut context) {
                Ok(()) => ("nvdec".to_owned(), 1),
                Err(reason) => (format!("software ({reason})"), decode_threads),
            },
        };
        context.set_threading(threading::Config { kind: threading::Type::Frame, count: frame_threads, ..Default::default() });
        let decoder = context.decoder().video().map_err(decoder_error)?;

        let rate = stream.avg_frame_rate();
        let fps = if rate.denominator() != 0 { f64::from(rate) } else { 0.0 };
        let duration_secs = (stream.duration() > 0)
            .then(|| stream.duration() as f64 * f64::from(stream.time_base()))
            .or_else(|| (input.duration() > 0).then(|| input.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE)));
        // FFmpeg's MP4 (QuickTime) demuxer indexes every frame.
        let frame_count_hint = shown_frame_count(&stream, input.format().name().split(',').any(|n| n == "mp4"));
        let rotation = display_rotation(&stream);
        let (width, height) = rotation.displayed_size(decoder.width(), decoder.height());
        let info = VideoInfo {
            width,
            height,
            rotation,
            fps,
            frame_count_hint,
            duration_secs,
            codec: decoder.codec().map(|c| c.name().to_owned()).unwrap_or_default(),
            decoder: decoder_name,
        };
        if info.width == 0 || info.height == 0 {
            return Err(DecodeError::NoVideoStream { path: path_buf });
        }
        Ok(Self { path: path_buf, input, decoder, stream_index, info, opened_with: (decode_threads, hw) })
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
        let mut report = DecodeReport::default();
        let mut decoded = frame::Video::empty();
        let mut system = frame::Video::empty();
        let mut stopped = false;
        let shown = Shown::of(&self.info);
        let path = self.path.as_path();

        // Hands every frame the decoder has ready to `on_frame`.
        let mut drain = |decoder: &mut ffmpeg::decoder::Video, report: &mut DecodeReport, started: Instant| -> bool {
            let mut clock = started;
            loop {
                match decoder.receive_frame(&mut decoded) {
                    Ok(()) => {
                        let index = report.frames_decoded;
                        let Some(video) = in_system_memory(&decoded, &mut system, index, report) else { return true };
                        report.frames_decoded += 1;
                        report.decode_time += clock.elapsed();
                        let flow = on_frame(Frame { path, index, video, shown });
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
            // A fresh packet each time: `Packet::read` does not release the previous packet's
            // data (FFmpeg's av_read_frame leaves that to the caller), dropping the old one does.
            let mut packet = ffmpeg::Packet::empty();
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
            // Flush the frames the decoder (and its frame threads) still hold. With frame
            // threads, the end-of-stream call also finishes the oldest frame in flight and fails
            // if that frame is corrupt; the decoder is draining all the same, so the rest follow.
            let started = Instant::now();
            if self.decoder.send_eof().is_err() {
                report.corrupt_packets += 1;
            }
            drain(&mut self.decoder, &mut report, started);
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

/// The rotation the stream's display matrix asks for; upright when it has none.
fn display_rotation(stream: &ffmpeg::format::stream::Stream<'_>) -> Rotation {
    let matrix = stream.side_data().find(|side| side.kind() == ffmpeg::codec::packet::side_data::Type::DisplayMatrix);
    let entries: Option<[i32; 9]> = matrix.and_then(|side| {
        let bytes: &[u8; 36] = side.data().get(..36)?.try_into().ok()?;
        Some(std::array::from_fn(|i| i32::from_ne_bytes([bytes[4 * i], bytes[4 * i + 1], bytes[4 * i + 2], bytes[4 * i + 3]])))
    });
    entries.map_or(Rotation::Upright, |m| Rotation::from_display_matrix(&m))
}

/// `decoded` (frame `index`) itself, or its copy in `system` when it is an NVDEC surface (counted
/// in `report.hw_frames`); `None` when the copy fails, which ends the decode as partial
/// (`report.read_error`): the frames after it cannot be handed out without a gap in the frames.
fn in_system_memory<'f>(
    decoded: &'f frame::Video,
    system: &'f mut frame::Video,
    index: u64,
    report: &mut DecodeReport,
) -> Option<&'f frame::Video> {
    match hw::download(decoded, system) {
        Ok(false) => Some(decoded),
        Ok(true) => {
            report.hw_frames += 1;
            Some(system)
        }
        Err(e) => {
            report.read_error = Some(format!("frame {index} could not be copied out of GPU memory ({e})"));
            None
        }
    }
}

/// How [`VideoSource::decode_from`] reached its first frame.
#[derive(Debug, Clone, PartialEq)]
pub struct SeekReport {
    /// The decode as a whole; `frames_decoded` counts every frame decoded, the pre-roll (from
    /// the keyframe up to the requested frame) included.
    pub report: DecodeReport,
    /// Index of the first frame decoded: the keyframe the seek landed on (0 without a seek).
    pub start_index: u64,
    /// Frames decoded before the requested one and not handed to the caller.
    pub pre_roll: u64,
    /// Why the decode started at frame 0 instead of at a keyframe, when it did.
    pub fallback: Option<String>,
}

/// Seeking is abandoned, and the video decoded from frame 0, for this reason.
struct NoSeek(String);

impl VideoSource {
    /// Decodes from frame `first` on: seeks to the nearest keyframe at or before `first`'s
    /// timestamp, decodes forward (the pre-roll is decoded but not handed out) and hands frames
    /// `first`, `first + 1`, … to `on_frame` with the same indices [`decode`](Self::decode)
    /// gives them.
    ///
    /// The index of the keyframe the seek lands on comes from its timestamp:
    /// `round((pts - stream start) · fps · time base)`. That is exact for constant-frame-rate
    /// streams (`r_frame_rate == avg_frame_rate`) whose every frame up to the keyframe decodes
    /// — FFmpeg's own encodes, cameras, AVI without B-frames, H.264/H.265 with B-frames in
    /// MP4 or Matroska. Every pre-roll frame's timestamp is checked against that rule, and the
    /// first one's index against the count of the frames the file shows before it, from its
    /// first keyframe (demuxed, not decoded: a gap in the timestamps before the keyframe, a
    /// recorder's dropped frames, does not show after it, nor does a recording that starts
    /// part-way through a group of pictures; frames an MP4 edit list hides are not counted). A
    /// variable frame rate, a missing timestamp, a seek that lands past `first`, timestamps that
    /// do not step by exactly one frame, or a count that differs make it fall back to decoding
    /// from frame 0 and counting (the reason is in [`SeekReport::fallback`]), so the numbering
    /// is never guessed. From `first` on, frames are numbered by counting, as `decode` does.
    pub fn decode_from(mut self, first: u64, mut on_frame: impl FnMut(Frame<'_>) -> ControlFlow<()>) -> Result<SeekReport, DecodeError> {
        if first == 0 {
            let report = self.decode(on_frame)?;
            return Ok(SeekReport { report, start_index: 0, pre_roll: 0, fallback: None });
        }
        match self.seek_and_decode(first, &mut on_frame) {
            Ok(report) => Ok(report),
            Err(NoSeek(reason)) => {
                let mut pre_roll = 0;
                // Reopened as it was opened (NVDEC or not, the same threads), this one closed first.
                let (path, (threads, hw)) = (self.path.clone(), self.opened_with);
                drop(self);
                let report = VideoSource::open_with(&path, threads, hw)?.decode(|frame| {
                    if frame.index() < first {
                        pre_roll += 1;
                        return ControlFlow::Continue(());
                    }
                    on_frame(frame)
                })?;
                Ok(SeekReport { report, start_index: 0, pre_roll, fallback: Some(reason) })
            }
        }
    }

    /// The seeking path of [`decode_from`](Self::decode_from); `Err` before any frame was
    /// handed to `on_frame` when the numbering cannot be trusted.
    fn seek_and_decode(&mut self, first: u64, on_frame: &mut impl FnMut(Frame<'_>) -> ControlFlow<()>) -> Result<SeekReport, NoSeek> {
        let stream = self.input.stream(self.stream_index).ok_or_else(|| NoSeek("no stream".into()))?;
        let (avg, real, time_base) = (stream.avg_frame_rate(), stream.rate(), stream.time_base());
        if avg.numerator() <= 0 || avg.denominator() <= 0 || time_base.numerator() <= 0 {
            return Err(NoSeek("the stream has no frame rate".into()));
        }
        if f64::from(avg) != f64::from(real) {
            return Err(NoSeek(format!("variable frame rate (average {avg}, real {real})")));
        }
        let origin = match stream.start_time() {
            ffmpeg::ffi::AV_NOPTS_VALUE => 0,
            t => t,
        };
        // Stream ticks per frame.
        let ticks = 1.0 / (f64::from(avg) * f64::from(time_base));
        let index_of = |ts: i64| ((ts - origin) as f64 / ticks).round();
        if let Some(hint) = self.info.frame_count_hint.filter(|&n| first >= n) {
            return Err(NoSeek(format!("frame {first} is past the {hint} frames the container announces")));
        }
        // Seek a little earlier each time the keyframe found lies past `first` (seeking by
        // decode timestamps in B-frame streams can do that), then give up.
        let fps = f64::from(avg);
        for back in [0.0, 1.0, 2.0, 8.0, 64.0].map(|secs: f64| (secs * fps) as u64) {
            let target = origin + ((first.saturating_sub(back)) as f64 * ticks) as i64;
            // SAFETY: the format context is open and owned by `self`; the stream index is valid.
            let sought =
                unsafe { ffmpeg::ffi::avformat_seek_file(self.input.as_mut_ptr(), self.stream_index as i32, i64::MIN, target, target, 0) };
            if sought < 0 {
                return Err(NoSeek(format!("the demuxer cannot seek ({})", ffmpeg::Error::from(sought))));
            }
            self.decoder.flush();
            match self.decode_after_seek(first, index_of, on_frame)? {
                Some(report) => return Ok(report),
                None => continue,
            }
        }
        Err(NoSeek(format!("every seek landed after frame {first}")))
    }

    /// Decodes after a seek; `Ok(None)` when the first frame already lies past `first`.
    fn decode_after_seek(
        &mut self,
        first: u64,
        index_of: impl Fn(i64) -> f64,
        on_frame: &mut impl FnMut(Frame<'_>) -> ControlFlow<()>,
    ) -> Result<Option<SeekReport>, NoSeek> {
        let started = Instant::now();
        let mut report = DecodeReport::default();
        let mut decoded = frame::Video::empty();
        let mut system = frame::Video::empty();
        // (index of the first frame, index of the next frame), once a frame came out.
        let mut numbering: Option<(u64, u64)> = None;
        let mut handed = false;
        let mut stopped = false;
        let mut at_eof = false;
        while !stopped {
            if !at_eof {
                // A fresh packet each time (see `decode`).
                let mut packet = ffmpeg::Packet::empty();
                match packet.read(&mut self.input) {
                    Ok(()) if packet.stream() != self.stream_index => continue,
                    Ok(()) => {
                        if self.decoder.send_packet(&packet).is_err() {
                            report.corrupt_packets += 1;
                        }
                    }
                    Err(ffmpeg::Error::Eof) => {
                        at_eof = true;
                        let _ = self.decoder.send_eof();
                    }
                    Err(ffmpeg::Error::InvalidData) => {
                        report.corrupt_packets += 1;
                        continue;
                    }
                    Err(e) => {
                        report.read_error = Some(e.to_string());
                        at_eof = true;
                        let _ = self.decoder.send_eof();
                    }
                }
            }
            let mut drained = false;
            loop {
                match self.decoder.receive_frame(&mut decoded) {
                    Ok(()) => {}
                    Err(ffmpeg::Error::Eof) => {
                        drained = true;
                        break;
                    }
                    Err(ffmpeg::Error::Other { errno: ffmpeg::util::error::EAGAIN }) => break,
                    Err(_) => {
                        report.corrupt_packets += 1;
                        continue;
                    }
                }
                report.frames_decoded += 1;
                let index = match numbering {
                    Some((_, next)) if handed => next,
                    _ => {
                        let Some(ts) = decoded.timestamp() else {
                            return Err(NoSeek("a frame without a timestamp".into()));
                        };
                        let exact = index_of(ts);
                        if exact < 0.0 {
                            return Err(NoSeek(format!("timestamp {ts} lies before the stream's start")));
                        }
                        let exact = exact as u64;
                        match numbering {
                            None if exact > first => return Ok(None),
                            None => {
                                // A gap in the timestamps before the seek's landing frame
                                // does not show after it: count what the file shows before it.
                                match frames_shown_before(&self.path, self.stream_index, ts) {
                                    Ok(before) if before == exact => {}
                                    Ok(before) => {
                                        let why = format!(
                                            "the timestamp after the seek says frame {exact}, but {before} frames are shown before it"
                                        );
                                        return Err(NoSeek(why));
                                    }
                                    Err(why) => return Err(NoSeek(format!("the frames before the seek cannot be counted: {why}"))),
                                }
                                exact
                            }
                            Some((_, next)) if exact != next => {
                                return Err(NoSeek(format!("timestamps do not step one frame at a time ({exact} after {})", next - 1)));
                            }
                            _ => exact,
                        }
                    }
                };
                numbering = Some((numbering.map_or(index, |(start, _)| start), index + 1));
                if index < first {
                    continue;
                }
                let Some(video) = in_system_memory(&decoded, &mut system, index, &mut report) else {
                    stopped = true;
                    break;
                };
                handed = true;
                if on_frame(Frame { path: &self.path, index, video, shown: Shown::of(&self.info) }).is_break() {
                    stopped = true;
                    break;
                }
            }
            if drained {
                break;
            }
        }
        report.decode_time = started.elapsed();
        let Some((start_index, _)) = numbering else {
            return Err(NoSeek("no frame decoded after the seek".into()));
        };
        if !handed {
            return Err(NoSeek(format!("the video ended before frame {first}")));
        }
        let pre_roll = first - start_index;
        Ok(Some(SeekReport { report, start_index, pre_roll, fallback: None }))
    }
}

/// How many frames of the video stream are shown before the one with presentation timestamp
/// `pts`, by demuxing `path` from the start without decoding (a fraction of a decode's cost;
/// the other streams' data is skipped): the packets with an earlier timestamp, from the first
/// keyframe on (the decoder drops what comes before it) and less those an edit list hides, read
/// up to the first keyframe after that frame's packet. `Err` with the reason when it cannot be
/// counted so: no packet has that timestamp, or a packet after the first keyframe is shown
/// before it (an open group of pictures, whose leading frames the decoder may drop). In a
/// stream whose frames are one packet each, the count is the frame's index; anything else makes
/// it differ, and the caller decode from frame 0.
fn frames_shown_before(path: &Path, stream_index: usize, pts: i64) -> Result<u64, String> {
    let mut input = ffmpeg::format::input(path).map_err(|e| format!("cannot reopen the file to count its frames ({e})"))?;
    // SAFETY: the format context is open and owned by `input`; `nb_streams` streams are valid.
    unsafe {
        let context = input.as_mut_ptr();
        for i in (0..(*context).nb_streams as usize).filter(|&i| i != stream_index) {
            (**(*context).streams.add(i)).discard = ffmpeg::ffi::AVDiscard::AVDISCARD_ALL;
        }
    }
    let (mut before, mut seen, mut first_key) = (0u64, false, None);
    for (stream, packet) in input.packets() {
        // SAFETY: reads a field of the packet it owns (`Packet::flags` drops the flags
        // ffmpeg-next does not name, DISCARD among them).
        let hidden = unsafe { (*ffmpeg::packet::Ref::as_ptr(&packet)).flags } & ffmpeg::ffi::AV_PKT_FLAG_DISCARD != 0;
        let Some(t) = packet.pts().filter(|_| stream.index() == stream_index) else { continue };
        // The first keyframe counts even when hidden: it is decoded, only not shown.
        let first_key = match first_key {
            Some(key) => key,
            None if packet.is_key() => *first_key.insert(t),
            None => continue,
        };
        if hidden {
            continue;
        }
        if t < first_key {
            return Err(format!("a frame after the first keyframe is shown before it (timestamp {t} < {first_key})"));
        }
        if t == pts {
            seen = true;
        } else if t < pts {
            before += 1;
        } else if seen && packet.is_key() {
            // Frames shown before it come before the next keyframe in the file.
            break;
        }
    }
    if seen { Ok(before) } else { Err("no packet has its timestamp".into()) }
}

/// The frames the container announces for the stream, less those its edit list hides: an MP4
/// cut without re-encoding keeps the frames from the keyframe before the cut (and after its end,
/// up to a keyframe), and its edit list shows only those in between, as FFmpeg's decode (and a
/// browser's player) does. For MP4 (`every_frame_indexed`: the demuxer's index holds every
/// frame, and marks those the edit list hides) the index's shown entries are counted; elsewhere
/// the announced count is taken as it is.
fn shown_frame_count(stream: &ffmpeg::format::stream::Stream<'_>, every_frame_indexed: bool) -> Option<u64> {
    let announced = u64::try_from(stream.frames()).ok().filter(|&n| n > 0)?;
    if !every_frame_indexed {
        return Some(announced);
    }
    // SAFETY: the stream belongs to the open format context `stream` borrows; the index entries
    // are only read, within the count FFmpeg gives (`avformat_index_get_entry` only reads the
    // stream, though FFmpeg 5.1 declares it `*mut`).
    let shown = unsafe {
        let st = stream.as_ptr();
        (0..ffmpeg::ffi::avformat_index_get_entries_count(st))
            .map(|i| ffmpeg::ffi::avformat_index_get_entry(st.cast_mut(), i))
            .filter(|&entry| !entry.is_null() && (*entry).flags() & ffmpeg::ffi::AVINDEX_DISCARD_FRAME == 0)
            .count() as u64
    };
    Some(if shown > 0 { shown } else { announced })
}

#[cfg(test)]
mod seek_tests {
    use super::*;
    use sha2_free::digest;

    /// A cheap content digest of a frame's planes (FNV-1a), to compare frames across decodes.
    mod sha2_free {
        pub fn digest(video: &super::frame::Video) -> u64 {
            let mut h = 0xcbf2_9ce4_8422_2325u64;
            for plane in 0..video.planes() {
                let (stride, rows) = (video.stride(plane), video.plane_height(plane) as usize);
                let width = video.plane_width(plane) as usize;
                let data = video.data(plane);
                for y in 0..rows {
                    for &b in &data[y * stride..y * stride + width] {
                        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
                    }
                }
            }
            h
        }
    }

    fn full_digests(path: &Path) -> Vec<u64> {
        let mut out = Vec::new();
        VideoSource::open(path, 1)
            .unwrap()
            .decode(|f| {
                assert_eq!(f.index(), out.len() as u64);
                out.push(digest(f.video()));
                ControlFlow::Continue(())
            })
            .unwrap();
        out
    }

    /// Decodes `count` frames from `first` with a seek; returns their (index, digest) and the report.
    fn seek_digests(path: &Path, first: u64, count: usize) -> (Vec<(u64, u64)>, SeekReport) {
        let mut out = Vec::new();
        let report = VideoSource::open(path, 1)
            .unwrap()
            .decode_from(first, |f| {
                out.push((f.index(), digest(f.video())));
                if out.len() == count { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
            })
            .unwrap();
        (out, report)
    }

    fn check(path: &Path, frames: &[u64], expect_seek: bool) {
        let full = full_digests(path);
        for &first in frames {
            let (got, report) = seek_digests(path, first, 3);
            let want: Vec<(u64, u64)> = (first..(first + 3).min(full.len() as u64)).map(|i| (i, full[i as usize])).collect();
            assert_eq!(got, want, "{}: frames from {first} ({report:?})", path.display());
            if expect_seek && first > 0 {
                assert_eq!(report.fallback, None, "{}: frame {first}", path.display());
                assert_eq!(report.pre_roll, first - report.start_index);
            } else if !expect_seek {
                assert!(report.fallback.is_some(), "{}: frame {first} must not be numbered from timestamps", path.display());
            }
        }
    }

    fn vtest() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/vtest.avi")
    }

    fn ffmpeg(args: &[&str]) {
        let ok = std::process::Command::new("ffmpeg").args(["-v", "error", "-y"]).args(args).status().unwrap().success();
        assert!(ok, "ffmpeg {args:?}");
    }

    #[test]
    fn seeking_in_mpeg4_avi_numbers_frames_as_a_full_decode() {
        // vtest.avi: 795 frames, keyframes at 0, 250, 500, 750.
        check(&vtest(), &[1, 249, 250, 251, 400, 499, 500, 600, 749, 750, 792], true);
        let (_, report) = seek_digests(&vtest(), 400, 1);
        assert_eq!((report.start_index, report.pre_roll, report.report.frames_decoded), (250, 150, 151));
    }

    #[test]
    fn seeking_in_h264_mp4_with_b_frames_numbers_frames_as_a_full_decode() {
        let dir = tempfile::tempdir().unwrap();
        let mp4 = dir.path().join("bframes.mp4");
        let src = vtest();
        ffmpeg(&[
            "-i",
            src.to_str().unwrap(),
            "-frames:v",
            "300",
            "-vf",
            "scale=320:240",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-bf",
            "3",
            "-g",
            "48",
            "-keyint_min",
            "48",
            "-sc_threshold",
            "0",
            "-x264-params",
            "bframes=3:b-pyramid=normal",
            mp4.to_str().unwrap(),
        ]);
        check(&mp4, &[1, 47, 48, 49, 100, 143, 144, 150, 296], true);
        let (_, report) = seek_digests(&mp4, 150, 1);
        assert_eq!(report.start_index, 144, "{report:?}");
    }

    /// The first 90 frames of vtest.avi, small, in Matroska (which says 10/1 frames a second
    /// whatever the timestamps), with the timestamps in milliseconds that `setpts` gives frame
    /// `N`, and a keyframe every 20 frames.
    fn mkv_with_timestamps(dir: &Path, setpts: &str) -> PathBuf {
        let mkv = dir.join("timestamps.mkv");
        let src = vtest();
        let filters = format!("scale=160:120,settb=1/1000,setpts='{setpts}'");
        ffmpeg(&[
            "-i",
            src.to_str().unwrap(),
            "-frames:v",
            "90",
            "-vf",
            &filters,
            "-fps_mode",
            "passthrough",
            "-enc_time_base",
            "1:1000",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "20",
            mkv.to_str().unwrap(),
        ]);
        mkv
    }

    #[test]
    fn a_variable_frame_rate_video_falls_back_to_counting_from_zero() {
        // 10 frames/s for 3 s, then 25 frames/s: only the timestamps tell.
        let dir = tempfile::tempdir().unwrap();
        let mkv = mkv_with_timestamps(dir.path(), "if(lt(N,30),N*100,3000+(N-30)*40)");
        // Inside the constant-rate part the seek is right; past it the timestamps do not step
        // one frame at a time and it counts from frame 0 instead.
        check(&mkv, &[10], true);
        check(&mkv, &[45, 55], false);
    }

    #[test]
    fn a_gap_in_the_timestamps_before_the_keyframe_falls_back_to_counting_from_zero() {
        // 10 frames/s, but 5 frames' time missing after frame 30 (a recorder that dropped them):
        // the timestamps step one frame at a time on either side of the gap, so nothing near a
        // keyframe after it tells; its timestamp puts it 5 frames late.
        let dir = tempfile::tempdir().unwrap();
        let mkv = mkv_with_timestamps(dir.path(), "if(lt(N,30),N*100,(N+5)*100)");
        check(&mkv, &[10, 25], true);
        check(&mkv, &[45, 70], false);
    }

    /// The first 200 frames of vtest.avi at 160 × 120 (10 frames/s), encoded with `codec`
    /// (and its options) into `name` in `dir`.
    fn small_vtest(dir: &Path, name: &str, codec: &[&str]) -> PathBuf {
        let (src, out) = (vtest(), dir.join(name));
        ffmpeg(&[&["-i", src.to_str().unwrap(), "-frames:v", "200", "-vf", "scale=160:120"][..], codec, &[out.to_str().unwrap()]].concat());
        out
    }

    /// `path`'s frames shown, as announced and as decoded, and whether the decode was partial.
    fn shown_frames(path: &Path) -> (Option<u64>, u64, bool) {
        let source = VideoSource::open(path, 1).unwrap();
        let announced = source.info().frame_count_hint;
        let report = source.decode(|_| ControlFlow::Continue(())).unwrap();
        (announced, report.frames_decoded, report.is_partial())
    }

    #[test]
    fn mp4_edit_lists_hide_frames_as_a_full_decode_does_and_seeks_number_frames_alike() {
        let dir = tempfile::tempdir().unwrap();
        let mp4 = small_vtest(dir.path(), "whole.mp4", &["-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "50"]);
        // Copied from 1.3 s on: the file keeps the frames from the keyframe at 0, and its edit
        // list shows them from 1.3 s, so 13 fewer are shown; none of them is reported lost.
        let cut = dir.path().join("cut.mp4");
        ffmpeg(&["-ss", "1.3", "-i", mp4.to_str().unwrap(), "-c", "copy", cut.to_str().unwrap()]);
        assert_eq!(shown_frames(&cut), (Some(187), 187, false));
        check(&cut, &[1, 20, 36, 37, 38, 60, 100, 185], true);

        // The edit list cut short to 13 s (as a player's trim without re-encoding does): the
        // frames after it are stored but not shown.
        let mut bytes = std::fs::read(&mp4).unwrap();
        let elst = bytes.windows(4).position(|w| w == b"elst").expect("an edit list (B-frames make FFmpeg write one)");
        assert_eq!((bytes[elst + 4], &bytes[elst + 8..elst + 12]), (0, &1u32.to_be_bytes()[..]), "version 0, one entry");
        // Its duration, in the movie's time scale (FFmpeg's muxer writes milliseconds).
        bytes[elst + 12..elst + 16].copy_from_slice(&13_000u32.to_be_bytes());
        let trimmed = dir.path().join("trimmed.mp4");
        std::fs::write(&trimmed, bytes).unwrap();
        assert_eq!(shown_frames(&trimmed), (Some(130), 130, false));
    }

    #[test]
    fn streams_whose_timestamps_do_not_give_the_index_fall_back_to_counting_from_zero() {
        let dir = tempfile::tempdir().unwrap();
        // MPEG-4 with B-frames in AVI: its packets carry no presentation timestamps.
        let avi = small_vtest(dir.path(), "bframes.avi", &["-c:v", "mpeg4", "-bf", "2", "-g", "50"]);
        check(&avi, &[60, 120], false);
        // An MPEG-TS recording that starts part-way through a group of pictures: the decoder
        // drops the frames before the first keyframe, which the stream's start time counts.
        let ts = small_vtest(dir.path(), "whole.ts", &["-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-g", "50"]);
        let bytes = std::fs::read(&ts).unwrap();
        let cut = dir.path().join("cut.ts");
        std::fs::write(&cut, &bytes[(bytes.len() / 9 / 188) * 188..]).unwrap();
        let frames = full_digests(&cut).len() as u64;
        assert!(frames < 190, "{frames} frames");
        check(&cut, &[frames / 2, frames - 2], false);
    }
}
