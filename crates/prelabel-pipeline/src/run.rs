//! decode ‖ detect over bounded channels.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use prelabel_core::{FrameDetections, InputTransform};
use prelabel_decode::{DecodeError, DecodeReport, TensorWriter, VideoInfo, VideoSource};
use prelabel_detect::{DetectError, Detector};

/// A stage failed; the message names the stage, then the stage's own one-line error.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Opening or decoding the video failed.
    #[error("decode: {0}")]
    Decode(DecodeError),
    /// Running the detector failed.
    #[error("infer: {0}")]
    Detect(DetectError),
}

/// How the pipeline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineOptions {
    /// FFmpeg frame threads (0: FFmpeg chooses).
    pub decode_threads: usize,
    /// Run the detector on every n-th frame (1 = every frame); all frames are still decoded.
    pub frame_stride: u64,
    /// Batches that may wait between decode and inference.
    pub queue_batches: usize,
}

/// Progress, reported after each batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Frames decoded up to the last detected frame.
    pub frames_done: u64,
    /// Frames the container announced, when it did.
    pub frames_total: Option<u64>,
}

/// Wall time per stage, summed over the video.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimings {
    /// FFmpeg demux + decode.
    pub decode: Duration,
    /// swscale into the model layout.
    pub preprocess: Duration,
    /// ONNX Runtime.
    pub infer: Duration,
    /// Head decode, thresholds, NMS.
    pub postprocess: Duration,
    /// The whole run, start to end.
    pub total: Duration,
}

/// Everything the detector found in one video.
#[derive(Debug, Clone)]
pub struct VideoDetections {
    /// What the container says about the video.
    pub info: VideoInfo,
    /// Detections of every frame the detector ran on, in frame order.
    pub frames: Vec<FrameDetections>,
    /// How decoding ended (frames decoded, lost, corrupt).
    pub report: DecodeReport,
    /// Time per stage.
    pub timings: StageTimings,
}

/// A batch of frames already in the model's layout.
struct Batch {
    frames: Vec<(u64, InputTransform)>,
    tensor: Vec<f32>,
}

/// What the decode thread sends: batches, then exactly one end marker.
enum Message {
    Batch(Batch),
    End(Result<(DecodeReport, Duration), DecodeError>),
}

/// Decodes `video`, runs `detector` on every `frame_stride`-th frame and returns the
/// detections; `on_progress` is called on the caller's thread after each batch.
pub fn detect_video(
    video: &Path,
    detector: &mut Detector,
    options: PipelineOptions,
    mut on_progress: impl FnMut(Progress),
) -> Result<VideoDetections, PipelineError> {
    let started = Instant::now();
    let source = VideoSource::open(video, options.decode_threads).map_err(PipelineError::Decode)?;
    let info = source.info().clone();
    let layout = *detector.input_layout();
    let batch_size = detector.max_batch();
    let stride = options.frame_stride.max(1);
    let queue = options.queue_batches.max(1);

    std::thread::scope(|scope| {
        let (batches_tx, batches_rx) = bounded::<Message>(queue);
        let (free_tx, free_rx) = bounded::<Vec<f32>>(queue + 2);
        for _ in 0..queue + 2 {
            // Capacity is queue + 2, so these sends cannot block or fail.
            let _ = free_tx.send(Vec::with_capacity(batch_size * layout.image_len()));
        }
        scope.spawn(move || {
            let mut writer = TensorWriter::new(layout);
            let end = decode_batches(source, &mut writer, stride, batch_size, &batches_tx, &free_rx);
            // The receiver may be gone after an inference error; nothing is left to tell.
            let _ = batches_tx.send(Message::End(end));
        });
        let mut timings = StageTimings::default();
        let mut frames = Vec::new();
        for message in &batches_rx {
            match message {
                Message::Batch(batch) => {
                    let transforms: Vec<InputTransform> = batch.frames.iter().map(|(_, t)| *t).collect();
                    let result = detector.detect(&batch.tensor, &transforms).map_err(PipelineError::Detect)?;
                    timings.infer += result.infer_time;
                    timings.postprocess += result.postprocess_time;
                    let last = batch.frames.last().map_or(0, |(i, _)| *i);
                    frames.extend(
                        batch.frames.iter().zip(result.per_frame).map(|(&(frame_index, _), detections)| {
                            FrameDetections { frame_index, detections }
                        }),
                    );
                    let _ = free_tx.send(batch.tensor);
                    on_progress(Progress { frames_done: last + 1, frames_total: info.frame_count_hint });
                }
                Message::End(end) => {
                    let (report, preprocess) = end.map_err(PipelineError::Decode)?;
                    timings.decode = report.decode_time;
                    timings.preprocess = preprocess;
                    timings.total = started.elapsed();
                    on_progress(Progress { frames_done: report.frames_decoded, frames_total: info.frame_count_hint });
                    return Ok(VideoDetections { info, frames, report, timings });
                }
            }
        }
        unreachable!("the decode thread always sends an end marker before hanging up")
    })
}

/// The decode thread: fills batch tensors from the pool and sends them; returns the decode
/// report and the time spent converting frames.
fn decode_batches(
    source: VideoSource,
    writer: &mut TensorWriter,
    stride: u64,
    batch_size: usize,
    batches: &Sender<Message>,
    free: &Receiver<Vec<f32>>,
) -> Result<(DecodeReport, Duration), DecodeError> {
    let image_len = writer.layout().image_len();
    let mut preprocess = Duration::ZERO;
    let mut pending: Option<Batch> = None;
    let mut convert_error = None;
    let report = source.decode(|frame| {
        if frame.index() % stride != 0 {
            return ControlFlow::Continue(());
        }
        let batch = match &mut pending {
            Some(b) => b,
            None => match free.recv() {
                Ok(mut tensor) => {
                    tensor.clear();
                    pending.insert(Batch { frames: Vec::with_capacity(batch_size), tensor })
                }
                Err(_) => return ControlFlow::Break(()),
            },
        };
        let start = batch.tensor.len();
        batch.tensor.resize(start + image_len, 0.0);
        let clock = Instant::now();
        match writer.write(&frame, &mut batch.tensor[start..]) {
            Ok(transform) => batch.frames.push((frame.index(), transform)),
            Err(e) => {
                convert_error = Some(e);
                return ControlFlow::Break(());
            }
        }
        preprocess += clock.elapsed();
        if batch.frames.len() == batch_size {
            let full = pending.take().map(Message::Batch);
            if full.is_some_and(|m| batches.send(m).is_err()) {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    })?;
    if let Some(e) = convert_error {
        return Err(e);
    }
    if let Some(batch) = pending.take() {
        // A closed channel means inference stopped; its error is reported there.
        let _ = batches.send(Message::Batch(batch));
    }
    Ok((report, preprocess))
}
