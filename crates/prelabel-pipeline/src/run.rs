//! decode ‖ inference ‖ collect, over bounded channels.
//!
//! - **Decode threads**, one per video in flight: FFmpeg decode, frame stride (every frame is
//!   decoded, every n-th converted), one swscale pass into the model's layout, then into the batch
//!   being assembled. Frames of different videos fill the same batches.
//! - **Inference threads**, one per detector session: take whole batches from the queue, run
//!   ONNX Runtime, decode the head and suppress (post-processing runs on the session's thread, so
//!   one session's post-processing overlaps the other's inference).
//! - **The caller's thread** collects each video's detections and hands over a video once all
//!   of its frames are back.
//!
//! Batch tensors go round a fixed pool, so memory does not grow with the videos' length. The
//! queue between decode and inference is sampled every time a session takes a batch, and both
//! sides time their waits, so a run says whether it was decode-bound or inference-bound.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use prelabel_core::{Detection, FrameDetections, InputTransform, LumaFrame};
use prelabel_decode::{DecodeError, DecodeReport, HwDecode, LumaWriter, TensorWriter, VideoInfo, VideoSource};
use prelabel_detect::{DetectError, Detector};
use prelabel_track::FollowedDetections;

use crate::follow::{Follower, ImageCues};
use crate::{Detectors, TrackingOptions};

/// A stage failed; the message names the stage, then the stage's own one-line error.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Opening or decoding the video failed.
    #[error("decode: {0}")]
    Decode(DecodeError),
    /// Running the detector failed.
    #[error("infer: {0}")]
    Detect(DetectError),
    /// The video could not be fetched (see [`VideoInput`]).
    #[error("{0}")]
    Fetch(String),
}

/// A local video file, kept at its path until dropped (a download is deleted then).
pub type LocalVideo<'a> = Box<dyn AsRef<Path> + Send + 'a>;

/// A video the pipeline can decode: a local file as it is, or something fetched first (a
/// download). Fetching runs on the video's decode thread, so fetching the next video overlaps
/// the inference of the ones before it.
pub trait VideoInput: Sync {
    /// Makes the video readable as a local file; the error is the video's failure, as one line.
    fn fetch(&self) -> Result<LocalVideo<'_>, String>;
}

impl VideoInput for &Path {
    fn fetch(&self) -> Result<LocalVideo<'_>, String> {
        Ok(Box::new(*self))
    }
}

/// How the pipeline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineOptions {
    /// FFmpeg frame threads per video (0: FFmpeg chooses).
    pub decode_threads: usize,
    /// Software decode, or NVDEC where it can be used.
    pub hw_decode: HwDecode,
    /// Run the detector on every n-th frame (1 = every frame); all frames are still decoded.
    pub frame_stride: u64,
    /// Batches that may wait between decode and inference.
    pub queue_batches: usize,
    /// The image cues taken for the tracker ([`VideoDetections::followed`]): luma is made on the
    /// decode thread of the frames they need. Set from the tracking options with
    /// [`PipelineOptions::with_image_cues_for`].
    pub image_cues: ImageCues,
}

impl PipelineOptions {
    /// These options, taking the image cues that tracking with `tracking` uses.
    pub fn with_image_cues_for(self, tracking: Option<&TrackingOptions>) -> Self {
        Self { image_cues: ImageCues::for_tracking(tracking, self.frame_stride), ..self }
    }
}

/// Progress of one video, reported after each batch it had frames in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Frames decoded up to the last detected frame.
    pub frames_done: u64,
    /// Frames the container announced, when it did.
    pub frames_total: Option<u64>,
}

/// Wall time per stage for one video.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimings {
    /// FFmpeg demux + decode.
    pub decode: Duration,
    /// swscale into the model layout.
    pub preprocess: Duration,
    /// ONNX Runtime (a shared batch's time is split over its frames).
    pub infer: Duration,
    /// Head decode, thresholds, NMS (split like `infer`).
    pub postprocess: Duration,
    /// From opening the video to its last detections.
    pub total: Duration,
}

/// Which side of the queue between decode and inference held a run back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// Inference sessions waited for frames longer, relatively, than decode waited for room.
    Decode,
    /// Decode waited for room in the queue: inference is the bottleneck (what a fast pipeline
    /// wants).
    Inference,
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Bound::Decode => "decode-bound",
            Bound::Inference => "inference-bound",
        })
    }
}

/// How the stages kept up with each other.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FlowStats {
    /// Inference sessions (threads).
    pub sessions: usize,
    /// Decode threads (videos in flight at most).
    pub decoders: usize,
    /// Capacity of the queue between decode and inference, in batches.
    pub queue_capacity: usize,
    /// Batches run through inference.
    pub batches: u64,
    /// Mean number of batches left waiting in that queue when a session took one: near the
    /// capacity when inference is the bottleneck, near 0 when decode is.
    pub mean_queue_depth: f64,
    /// Time the sessions waited for a batch, summed over sessions.
    pub inference_waiting: Duration,
    /// Time the decode threads waited for a free batch tensor or queue room, summed over threads.
    pub decode_blocked: Duration,
    /// Wall time of the run so far.
    pub wall: Duration,
}

impl FlowStats {
    /// Share of the sessions' time spent waiting for input (0..1).
    pub fn inference_idle_share(&self) -> f64 {
        share(self.inference_waiting, self.wall, self.sessions)
    }

    /// Share of the decode threads' time spent blocked on the queue or the tensor pool (0..1).
    pub fn decode_blocked_share(&self) -> f64 {
        share(self.decode_blocked, self.wall, self.decoders)
    }

    /// Which side held the run back.
    pub fn bound(&self) -> Bound {
        if self.inference_idle_share() > self.decode_blocked_share() { Bound::Decode } else { Bound::Inference }
    }
}

fn share(part: Duration, wall: Duration, threads: usize) -> f64 {
    let whole = wall.as_secs_f64() * threads as f64;
    if whole > 0.0 { (part.as_secs_f64() / whole).min(1.0) } else { 0.0 }
}

/// Everything the detector found in one video.
#[derive(Debug, Clone)]
pub struct VideoDetections {
    /// What the container says about the video.
    pub info: VideoInfo,
    /// Detections of every frame the detector ran on, in frame order.
    pub frames: Vec<FrameDetections>,
    /// With [`PipelineOptions::image_cues`]: what each detected frame's detections look like there
    /// (and how they moved over the frames after it, when following motion), in frame order;
    /// otherwise empty.
    pub followed: Vec<FollowedDetections>,
    /// How decoding ended (frames decoded, lost, corrupt).
    pub report: DecodeReport,
    /// The frame after the last one decoded: the video's frame count when it was decoded from
    /// the start (as the pipeline does), the end of the range when only a range was.
    pub frame_end: u64,
    /// Time per stage.
    pub timings: StageTimings,
    /// How the stages kept up, over the run up to this video's end.
    pub flow: FlowStats,
}

impl VideoDetections {
    /// Leaves out the frames from `frame_end` on, when the video was decoded past it: Encord
    /// rejects a label row with a box on a frame at or past its `number_of_frames`, which can be
    /// fewer than FFmpeg decodes (variable frame rate, edit lists). Returns how many decoded
    /// frames were left out.
    pub fn cut_at(&mut self, frame_end: u64) -> u64 {
        let past = self.frame_end.saturating_sub(frame_end);
        if past > 0 {
            self.frames.retain(|f| f.frame_index < frame_end);
            self.followed.retain(|f| f.frame_index < frame_end);
            self.frame_end = frame_end;
        }
        past
    }
}

/// Decodes `video`, runs the detectors on every `frame_stride`-th frame and returns the
/// detections; `on_progress` is called on the caller's thread after each batch.
pub fn detect_video(
    video: &Path,
    detectors: &mut Detectors,
    options: PipelineOptions,
    mut on_progress: impl FnMut(Progress),
) -> Result<VideoDetections, PipelineError> {
    let mut result = None;
    detect_videos(&[video], detectors, options, 1, |_, p| on_progress(p), |_, r| result = Some(r))?;
    result.unwrap_or_else(|| unreachable!("detect_videos hands over every video it was given"))
}

/// Runs the pipeline over `videos` with at most `in_flight` of them decoding at once, their
/// frames sharing batches. `on_video(i, result)` is called on the caller's thread as soon as
/// video `i` is done (in completion order); a video that cannot be decoded is handed over as an
/// error and the others go on. An inference error stops the run and is returned.
pub fn detect_videos(
    videos: &[impl VideoInput],
    detectors: &mut Detectors,
    options: PipelineOptions,
    in_flight: usize,
    mut on_progress: impl FnMut(usize, Progress),
    mut on_video: impl FnMut(usize, Result<VideoDetections, PipelineError>),
) -> Result<FlowStats, PipelineError> {
    let layout = *detectors.model().input_layout();
    let batch_size = detectors.model().max_batch();
    let sessions = detectors.len();
    let decoders = in_flight.clamp(1, videos.len().max(1));
    let queue = options.queue_batches.max(1);
    let counters = Counters::new(sessions, decoders, queue);

    std::thread::scope(|scope| {
        let (batches_tx, batches_rx) = bounded::<Batch>(queue);
        // Every tensor is somewhere: queued, assembling, or held by a session.
        let pool = queue + sessions + 1;
        let (free_tx, free_rx) = bounded::<Vec<f32>>(pool);
        for _ in 0..pool {
            // The pool's capacity is exactly `pool`, so these sends cannot block or fail.
            let _ = free_tx.send(Vec::with_capacity(batch_size * layout.image_len()));
        }
        let (events_tx, events_rx) = bounded::<Event>(queue + sessions + 4 * decoders);

        for detector in detectors.sessions_mut() {
            let (batches, free, events, counters) = (batches_rx.clone(), free_tx.clone(), events_tx.clone(), &counters);
            scope.spawn(move || infer_batches(detector, &batches, &free, &events, counters));
        }
        drop((batches_rx, free_tx));

        let assembler =
            Assembler { pending: Mutex::new(None), free: free_rx, batches: batches_tx, batch_size, decoders, counters: &counters };
        let decode_events = events_tx;
        scope.spawn(move || {
            let next = AtomicUsize::new(0);
            std::thread::scope(|decode_scope| {
                for _ in 0..decoders {
                    let (assembler, events, next) = (&assembler, decode_events.clone(), &next);
                    decode_scope.spawn(move || {
                        let mut writer = TensorWriter::new(layout);
                        let mut luma_writer = options.image_cues.wanted().then(LumaWriter::new);
                        let mut image = vec![0.0f32; layout.image_len()];
                        loop {
                            let video = next.fetch_add(1, Ordering::Relaxed);
                            let Some(input) = videos.get(video) else { break };
                            // None, or a closed channel: inference stopped, and its error is
                            // reported by the caller's thread.
                            let ended = match input.fetch() {
                                Ok(local) => {
                                    let writers = Writers { tensor: &mut writer, luma: luma_writer.as_mut(), image: &mut image };
                                    decode_video(video, local.as_ref().as_ref(), options, writers, assembler, &events)
                                }
                                Err(reason) => {
                                    Some(Event::Ended(Ended { video, frames_sent: 0, result: Err(PipelineError::Fetch(reason)) }))
                                }
                            };
                            let Some(ended) = ended else { break };
                            if events.send(ended).is_err() {
                                break;
                            }
                        }
                    });
                }
            });
            // Every decode thread is done: the last, partly filled batch goes too.
            assembler.flush();
        });

        let mut collector = Collector { videos: Vec::new(), counters: &counters };
        collector.videos.resize_with(videos.len(), || None);
        for event in &events_rx {
            // The videos this event may have finished.
            let candidates: Vec<usize> = match event {
                Event::Opened { video, info } => {
                    collector.open(video, info, options);
                    continue;
                }
                Event::Luma { video, luma } => {
                    collector.luma(video, luma);
                    continue;
                }
                Event::Detected(done) => {
                    let touched = collector.detected(done);
                    touched.iter().for_each(|&(video, progress)| on_progress(video, progress));
                    touched.into_iter().map(|(video, _)| video).collect()
                }
                Event::Ended(ended) => {
                    let video = ended.video;
                    if let Some(error) = collector.ended(ended) {
                        on_video(video, Err(error));
                        continue;
                    }
                    vec![video]
                }
                Event::Failed(error) => return Err(PipelineError::Detect(error)),
            };
            for video in candidates {
                if let Some(result) = collector.take_if_finished(video) {
                    if let Ok(d) = &result {
                        on_progress(video, Progress { frames_done: d.report.frames_decoded, frames_total: d.info.frame_count_hint });
                    }
                    on_video(video, result);
                }
            }
        }
        Ok(counters.flow())
    })
}

/// Figures the stages share while they run, and the run's shape.
struct Counters {
    started: Instant,
    sessions: usize,
    decoders: usize,
    queue_capacity: usize,
    inference_waiting_ns: AtomicU64,
    decode_blocked_ns: AtomicU64,
    depth_sum: AtomicU64,
    depth_samples: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, elapsed: Duration) {
        counter.fetch_add(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn new(sessions: usize, decoders: usize, queue_capacity: usize) -> Self {
        Self {
            started: Instant::now(),
            sessions,
            decoders,
            queue_capacity,
            inference_waiting_ns: AtomicU64::new(0),
            decode_blocked_ns: AtomicU64::new(0),
            depth_sum: AtomicU64::new(0),
            depth_samples: AtomicU64::new(0),
        }
    }

    /// The figures so far.
    fn flow(&self) -> FlowStats {
        let samples = self.depth_samples.load(Ordering::Relaxed);
        FlowStats {
            sessions: self.sessions,
            decoders: self.decoders,
            queue_capacity: self.queue_capacity,
            batches: samples,
            mean_queue_depth: if samples > 0 { self.depth_sum.load(Ordering::Relaxed) as f64 / samples as f64 } else { 0.0 },
            inference_waiting: Duration::from_nanos(self.inference_waiting_ns.load(Ordering::Relaxed)),
            decode_blocked: Duration::from_nanos(self.decode_blocked_ns.load(Ordering::Relaxed)),
            wall: self.started.elapsed(),
        }
    }
}

/// One frame in a batch: its video, its index, and how it was placed into the input.
#[derive(Debug, Clone, Copy)]
struct Item {
    video: usize,
    frame_index: u64,
    transform: InputTransform,
}

/// A batch of frames already in the model's layout.
struct Batch {
    items: Vec<Item>,
    tensor: Vec<f32>,
}

/// A batch's detections, frame by frame.
struct Detected {
    items: Vec<Item>,
    per_frame: Vec<Vec<Detection>>,
    infer_time: Duration,
    postprocess_time: Duration,
}

/// How one video's decode ended.
struct Ended {
    video: usize,
    /// Frames handed to inference.
    frames_sent: u64,
    /// The decode report and the conversion time, or why fetching or decoding failed.
    result: Result<(DecodeReport, Duration), PipelineError>,
}

/// What the stages tell the caller's thread.
enum Event {
    Opened {
        video: usize,
        info: VideoInfo,
    },
    /// The luma of a video's next frame the image cues need.
    Luma {
        video: usize,
        luma: LumaFrame,
    },
    Detected(Detected),
    Ended(Ended),
    Failed(DetectError),
}

/// Fills batches with the frames of every decode thread, in arrival order.
struct Assembler<'a> {
    pending: Mutex<Option<Batch>>,
    free: Receiver<Vec<f32>>,
    batches: Sender<Batch>,
    batch_size: usize,
    /// Decode threads feeding it: with one, frames are converted straight into the batch.
    decoders: usize,
    counters: &'a Counters,
}

impl Assembler<'_> {
    /// Adds frame `frame_index` of `video`, which `convert` writes into a tensor slot and returns
    /// how it placed it. With one decode thread the frame is converted straight into the batch
    /// (under a lock nobody else wants); with several, into this thread's `scratch` first, so
    /// their conversions run in parallel, then copied in. `Ok(false)`: inference has stopped.
    fn push(
        &self,
        video: usize,
        frame_index: u64,
        scratch: &mut [f32],
        convert: impl FnOnce(&mut [f32]) -> Result<InputTransform, DecodeError>,
    ) -> Result<bool, DecodeError> {
        enum Conversion<F> {
            Done(InputTransform),
            InBatch(F),
        }
        let conversion = if self.decoders > 1 { Conversion::Done(convert(scratch)?) } else { Conversion::InBatch(convert) };
        let mut pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let batch = match &mut *pending {
            Some(batch) => batch,
            None => {
                let clock = Instant::now();
                let Ok(mut tensor) = self.free.recv() else { return Ok(false) };
                Counters::add(&self.counters.decode_blocked_ns, clock.elapsed());
                tensor.clear();
                pending.insert(Batch { items: Vec::with_capacity(self.batch_size), tensor })
            }
        };
        let start = batch.tensor.len();
        let transform = match conversion {
            Conversion::Done(transform) => {
                batch.tensor.extend_from_slice(scratch);
                transform
            }
            Conversion::InBatch(convert) => {
                batch.tensor.resize(start + scratch.len(), 0.0);
                convert(&mut batch.tensor[start..]).inspect_err(|_| batch.tensor.truncate(start))?
            }
        };
        batch.items.push(Item { video, frame_index, transform });
        if batch.items.len() < self.batch_size {
            return Ok(true);
        }
        let clock = Instant::now();
        let sent = pending.take().is_some_and(|full| self.batches.send(full).is_ok());
        Counters::add(&self.counters.decode_blocked_ns, clock.elapsed());
        Ok(sent)
    }

    /// Sends the partly filled batch, if any. A batch can be left with no frame (the frame that
    /// opened it failed to convert): it is not sent, as the model may refuse an empty batch.
    fn flush(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(batch) = pending.take().filter(|batch| !batch.items.is_empty()) {
            // A closed queue means inference stopped; its error is reported there.
            let _ = self.batches.send(batch);
        }
    }
}

/// What a decode thread converts frames with, kept from one video to the next.
struct Writers<'w> {
    /// Into the model's layout.
    tensor: &'w mut TensorWriter,
    /// Into luma, when taking image cues.
    luma: Option<&'w mut LumaWriter>,
    /// A frame in the model's layout, when several threads decode (see [`Assembler::push`]).
    image: &'w mut [f32],
}

/// One decode thread's work on one video: opens it and hands every `frame_stride`-th frame to the
/// assembler, to be converted into the batch (through `image` when several threads decode), and,
/// when taking image cues, the luma of the frames they need to the caller's thread. Returns how the video ended,
/// or `None` when inference stopped (there is nobody left to tell).
fn decode_video(
    video: usize,
    path: &Path,
    options: PipelineOptions,
    writers: Writers<'_>,
    assembler: &Assembler<'_>,
    events: &Sender<Event>,
) -> Option<Event> {
    let Writers { tensor: writer, luma: mut luma_writer, image } = writers;
    let ended = |frames_sent, result: Result<_, DecodeError>| {
        Some(Event::Ended(Ended { video, frames_sent, result: result.map_err(PipelineError::Decode) }))
    };
    let source = match VideoSource::open_with(path, options.decode_threads, options.hw_decode) {
        Ok(source) => source,
        Err(e) => return ended(0, Err(e)),
    };
    events.send(Event::Opened { video, info: source.info().clone() }).ok()?;
    let stride = options.frame_stride.max(1);
    let mut preprocess = Duration::ZERO;
    let mut frames_sent = 0u64;
    let mut failure = None;
    let mut stopped = false;
    let report = source.decode(|frame| {
        if let Some(luma_writer) = luma_writer.as_deref_mut().filter(|_| options.image_cues.wants_luma_of(frame.index(), stride)) {
            let clock = Instant::now();
            let luma = luma_writer.write(&frame);
            preprocess += clock.elapsed();
            match luma.map(|luma| events.send(Event::Luma { video, luma })) {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    stopped = true;
                    return ControlFlow::Break(());
                }
                Err(e) => {
                    failure = Some(e);
                    return ControlFlow::Break(());
                }
            }
        }
        if frame.index() % stride != 0 {
            return ControlFlow::Continue(());
        }
        let convert = |slot: &mut [f32]| {
            let clock = Instant::now();
            let transform = writer.write(&frame, slot);
            preprocess += clock.elapsed();
            transform
        };
        match assembler.push(video, frame.index(), image, convert) {
            Ok(true) => {
                frames_sent += 1;
                ControlFlow::Continue(())
            }
            Ok(false) => {
                stopped = true;
                ControlFlow::Break(())
            }
            Err(e) => {
                failure = Some(e);
                ControlFlow::Break(())
            }
        }
    });
    if stopped {
        return None;
    }
    let result = match (report, failure) {
        (_, Some(e)) | (Err(e), None) => Err(e),
        (Ok(report), None) => Ok((report, preprocess)),
    };
    ended(frames_sent, result)
}

/// One inference thread: runs `detector` on batches until the queue closes or the caller's
/// thread stops listening.
fn infer_batches(detector: &mut Detector, batches: &Receiver<Batch>, free: &Sender<Vec<f32>>, events: &Sender<Event>, counters: &Counters) {
    loop {
        let clock = Instant::now();
        let Ok(Batch { items, tensor }) = batches.recv() else { return };
        Counters::add(&counters.inference_waiting_ns, clock.elapsed());
        counters.depth_sum.fetch_add(batches.len() as u64, Ordering::Relaxed);
        counters.depth_samples.fetch_add(1, Ordering::Relaxed);
        let transforms: Vec<InputTransform> = items.iter().map(|i| i.transform).collect();
        let event = match detector.detect(&tensor, &transforms) {
            Ok(result) => Event::Detected(Detected {
                items,
                per_frame: result.per_frame,
                infer_time: result.infer_time,
                postprocess_time: result.postprocess_time,
            }),
            Err(e) => Event::Failed(e),
        };
        // The pool has room for every tensor it lent.
        let _ = free.send(tensor);
        let failed = matches!(event, Event::Failed(_));
        if events.send(event).is_err() || failed {
            return;
        }
    }
}

/// One video on the caller's thread, from its opening to its hand-over.
struct Collecting {
    info: VideoInfo,
    opened: Instant,
    frames: Vec<FrameDetections>,
    /// Following motion, when asked for.
    follower: Option<Follower>,
    timings: StageTimings,
    ended: Option<Ended>,
}

/// The caller's side: gathers detections per video and hands over finished videos.
struct Collector<'a> {
    videos: Vec<Option<Collecting>>,
    counters: &'a Counters,
}

impl Collector<'_> {
    fn open(&mut self, video: usize, info: VideoInfo, options: PipelineOptions) {
        let follower = options.image_cues.wanted().then(|| Follower::new(0, options.frame_stride, options.image_cues));
        self.videos[video] =
            Some(Collecting { info, opened: Instant::now(), frames: Vec::new(), follower, timings: StageTimings::default(), ended: None });
    }

    /// Passes a frame's luma to its video's image cues.
    fn luma(&mut self, video: usize, luma: LumaFrame) {
        if let Some(follower) = self.videos[video].as_mut().and_then(|v| v.follower.as_mut()) {
            follower.luma(luma);
        }
    }

    /// Files a batch's detections under their videos; returns each touched video with its
    /// progress.
    fn detected(&mut self, done: Detected) -> Vec<(usize, Progress)> {
        let share = done.items.len().max(1) as u32;
        let mut touched: Vec<(usize, Progress)> = Vec::new();
        for (item, detections) in done.items.iter().zip(done.per_frame) {
            let Some(video) = self.videos[item.video].as_mut() else { continue };
            video.timings.infer += done.infer_time / share;
            video.timings.postprocess += done.postprocess_time / share;
            if let Some(follower) = video.follower.as_mut() {
                follower.detected(item.frame_index, &detections);
            }
            video.frames.push(FrameDetections { frame_index: item.frame_index, detections });
            let frames_done = item.frame_index + 1;
            match touched.iter_mut().find(|(v, _)| *v == item.video) {
                Some((_, p)) => p.frames_done = p.frames_done.max(frames_done),
                None => touched.push((item.video, Progress { frames_done, frames_total: video.info.frame_count_hint })),
            }
        }
        touched
    }

    /// Records how a video's decode ended; returns the error of a video that never opened.
    fn ended(&mut self, ended: Ended) -> Option<PipelineError> {
        match self.videos[ended.video].as_mut() {
            Some(collecting) => {
                collecting.ended = Some(ended);
                None
            }
            None => ended.result.err(),
        }
    }

    /// Hands over `video` if its decode ended and all its frames are back.
    fn take_if_finished(&mut self, video: usize) -> Option<Result<VideoDetections, PipelineError>> {
        let slot = &mut self.videos[video];
        let collecting = slot.as_ref()?;
        if collecting.ended.as_ref()?.frames_sent != collecting.frames.len() as u64 {
            return None;
        }
        let Collecting { info, opened, mut frames, follower, mut timings, ended } = slot.take()?;
        let (report, preprocess) = match ended?.result {
            Ok(ended) => ended,
            Err(e) => return Some(Err(e)),
        };
        let frame_end = report.frames_decoded;
        let followed = follower.map_or_else(Vec::new, |follower| follower.finish(frame_end));
        frames.sort_unstable_by_key(|f| f.frame_index);
        timings.decode = report.decode_time;
        timings.preprocess = preprocess;
        timings.total = opened.elapsed();
        let flow = self.counters.flow();
        Some(Ok(VideoDetections { info, frames, followed, report, frame_end, timings, flow }))
    }
}
