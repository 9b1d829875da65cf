//! `prelabel bench`: how fast the pipeline runs against its own ceilings and against the Python
//! way of doing the same work, measured in one run on the same frames.
//!
//! Per batch size: the **decode ceiling** (FFmpeg decode + conversion into the model's layout,
//! nothing else; it does not depend on the batch size, so it is measured once), the **inference
//! ceiling** (tensors converted up front and held in memory, through the same detector sessions
//! as the pipeline, in parallel, [`Detector::detect`] only) and the **full pipeline**
//! ([`detect_video`], [`build_label_row`] and the row serialised to JSON). The full pipeline's
//! flow figures (queue depth, idle and blocked shares) say which side held it back. With `--baseline`, `benches/baseline_python.py` does the same work the way an
//! Encord-agents user does it today (OpenCV decode, one `onnxruntime` run per frame, NumPy
//! post-processing), in a venv made by `benches/setup-baseline`.
//!
//! Frame rates are in video frames per second: decoded frames per second for the decode ceiling,
//! the full pipeline and the baseline; for the inference ceiling, detector frames per second
//! times the frame stride (the video rate inference alone could keep up with). The ratios compare
//! figures measured in this run only.
//!
//! Peak RSS: before each measurement the process's high-water mark is reset (`5` into
//! `/proc/self/clear_refs`), so `VmHWM` afterwards is the peak during that measurement (memory
//! already held when it started included). Where the reset is refused, the figure is the
//! process's peak so far, and the report says so.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use prelabel_core::InputTransform;
use prelabel_decode::{DecodeError, TensorWriter, VideoSource};
use prelabel_detect::{Detector, OutputLayout};
use prelabel_encord::{ClassMap, LabelSource, Ontology, WriteError, encord_timestamp_now, write_json_atomically};
use prelabel_pipeline::{Detectors, PipelineOptions, Progress, VideoDetections, build_label_row, detect_video, video_meta_for_file};
use serde::{Deserialize, Serialize};

use crate::detector_args::DetectorArgs;
use crate::exit;
use crate::summary::FlowSummary;

/// The bundled detector, the default `--model` of `prelabel bench`.
const DEFAULT_MODEL: &str = "models/ssdlite_mobilenet_v2_coco_300.onnx";
/// The bundled sample clip, the default `--video` of `prelabel bench`.
const DEFAULT_VIDEO: &str = "tests/data/vtest.avi";
/// Batch sizes measured when neither `--batch-sizes` nor `--batch-size` is given.
const DEFAULT_BATCH_SIZES: [u32; 3] = [1, 4, 8];
/// The Python baseline and the script that makes its venv, relative to the working directory.
const BASELINE_SCRIPT: &str = "benches/baseline_python.py";
const BASELINE_SETUP: &str = "benches/setup-baseline";

/// Arguments of `prelabel bench` (run it from the repository root: the defaults and the baseline
/// scripts are paths relative to it).
#[derive(Args)]
#[command(mut_arg("model", |a| a.required(false).default_value(DEFAULT_MODEL)))]
pub struct BenchArgs {
    #[command(flatten)]
    detector: DetectorArgs,
    /// The video to measure on.
    #[arg(long, default_value = DEFAULT_VIDEO)]
    video: PathBuf,
    /// Batch sizes to measure, comma-separated [default: --batch-size if given, else 1,4,8]; a
    /// model with a fixed batch axis is measured at its own size only.
    #[arg(long, value_delimiter = ',', conflicts_with = "batch_size", value_parser = clap::value_parser!(u32).range(1..))]
    batch_sizes: Vec<u32>,
    /// Frames converted up front and held in memory for the inference ceiling (the first ones the
    /// frame stride selects).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    inference_frames: u32,
    /// Also run the Python baseline (benches/baseline_python.py; its venv is made by
    /// benches/setup-baseline on first use). SSD boxes+scores models only.
    #[arg(long)]
    baseline: bool,
    /// Write the report as JSON here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the results as Markdown table rows (for benches/RESULTS.md) on stdout.
    #[arg(long)]
    markdown: bool,
    /// Measure everything this many times, interleaved (decode, inference, full pipeline, Python,
    /// then again), and report each measurement's median run: on a shared machine rates move by
    /// ±20 % from one minute to the next, and interleaving puts all of them in the same conditions.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// Draw frames per second against batch size, one line per measurement, into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Instead, measure the editor agent: request to saved row for this frame of --video
    /// (served by an in-process Encord-compatible server), against decoding from frame 0. One
    /// frame, one session: the options of the throughput measurements are refused with it.
    #[arg(long, value_name = "FRAME", conflicts_with_all = [
        "batch_sizes", "batch_size", "frame_stride", "inference_frames", "baseline", "markdown", "repeat", "plot",
    ])]
    editor_frame: Option<u64>,
}

/// One measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    /// Video frames the rate is computed from (see the module docs).
    pub frames: u64,
    /// Wall time.
    pub seconds: f64,
    /// Video frames per second.
    pub fps: f64,
    /// Latency percentiles, where measured.
    pub latency_ms: Option<Latency>,
    /// Peak resident memory during the measurement, KiB (see `Report::peak_rss_scope`).
    pub peak_rss_kib: Option<u64>,
    /// With `--repeat`: every run's fps, in run order (this measurement is the median one).
    pub fps_runs: Vec<f64>,
}

/// Latency percentiles in milliseconds, and what one sample is.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// What was timed.
    pub per: &'static str,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
}

/// The ratios of the full pipeline's rate to the other rates of the same run.
#[derive(Debug, Clone, Serialize)]
pub struct Ratios {
    /// Full pipeline fps / inference ceiling fps.
    pub full_over_inference: f64,
    /// Full pipeline fps / decode ceiling fps.
    pub full_over_decode: f64,
    /// Full pipeline fps / Python baseline fps, with `--baseline`.
    pub full_over_python: Option<f64>,
}

/// The results at one batch size.
#[derive(Debug, Clone, Serialize)]
pub struct BatchResult {
    /// Frames per inference call.
    pub batch_size: u32,
    /// Why this batch size was not measured (a model with a fixed batch axis).
    pub not_applicable: Option<String>,
    /// Pre-made tensors through the detector only.
    pub inference: Option<Measurement>,
    /// Decode → detections → label row → JSON.
    pub full: Option<Measurement>,
    /// Full pipeline against the other measurements.
    pub ratios: Option<Ratios>,
    /// How the full pipeline's stages kept up.
    pub flow: Option<Flow>,
}

/// How the full pipeline's stages kept up, and which decoder ran.
#[derive(Debug, Clone, Serialize)]
pub struct Flow {
    /// Queue depth, waits and the verdict (their fields appear at this level in the JSON).
    #[serde(flatten)]
    pub stages: FlowSummary,
    /// The decoder that ran (`software`, `nvdec`, or `software (why not NVDEC)`).
    pub decoder: String,
    /// Frames NVDEC decoded.
    pub hw_decoded_frames: u64,
}

impl Flow {
    fn of(detections: &VideoDetections) -> Self {
        Self {
            stages: FlowSummary::from(&detections.flow),
            decoder: detections.info.decoder.clone(),
            hw_decoded_frames: detections.report.hw_frames,
        }
    }
}

/// What `benches/baseline_python.py` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baseline {
    /// Frames decoded.
    pub frames: u64,
    /// Frames the detector ran on.
    pub frames_inferred: u64,
    /// Detections kept.
    pub detections: u64,
    /// Wall time.
    pub seconds: f64,
    /// Decoded frames per second.
    pub fps: f64,
    /// The Python process's peak resident memory, KiB.
    pub peak_rss_kib: u64,
    /// With `--repeat`: every run's fps, in run order (this run is the median one).
    #[serde(default)]
    pub fps_runs: Vec<f64>,
}

/// The machine the numbers come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Cores available to this process.
    pub cores: usize,
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: Option<String>,
    /// When the run started (UTC).
    pub date: String,
    /// `git rev-parse HEAD`, with `-dirty` when the tree has changes.
    pub commit: Option<String>,
}

/// The whole report (`--out`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Where it ran.
    pub machine: Machine,
    /// The command line.
    pub command: String,
    /// The model file.
    pub model: PathBuf,
    /// The video file.
    pub video: PathBuf,
    /// Thread budget given with --threads (all cores when absent).
    pub threads: Option<u32>,
    /// Detector runs on every n-th frame.
    pub frame_stride: u64,
    /// Detector sessions, each on its own inference thread (the inference ceiling uses them all).
    pub sessions: usize,
    /// Interleaved runs of every measurement; each figure is its median run.
    pub repeat: u32,
    /// `measurement` when each peak RSS is that measurement's own; `process` when the high-water
    /// mark could not be reset and each figure is the process's peak so far.
    pub peak_rss_scope: &'static str,
    /// Decode + conversion into the model's layout only (independent of the batch size).
    pub decode: Measurement,
    /// Per batch size.
    pub batches: Vec<BatchResult>,
    /// The Python baseline, with `--baseline`.
    pub baseline: Option<Baseline>,
}

/// Resets the process's peak RSS; false where the kernel refuses.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The process's peak RSS (`VmHWM`) in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}

/// Nearest-rank percentile of `samples` (sorted here), in milliseconds.
fn latency(per: &'static str, mut samples: Vec<Duration>) -> Option<Latency> {
    if samples.is_empty() {
        return None;
    }
    samples.sort();
    let at = |p: f64| {
        let rank = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
        samples[rank - 1].as_secs_f64() * 1e3
    };
    Some(Latency { per, p50: at(0.50), p95: at(0.95) })
}

fn measurement(frames: u64, elapsed: Duration, latency_ms: Option<Latency>) -> Measurement {
    let seconds = elapsed.as_secs_f64();
    let fps = if seconds > 0.0 { frames as f64 / seconds } else { 0.0 };
    Measurement { frames, seconds, fps, latency_ms, peak_rss_kib: peak_rss_kib(), fps_runs: Vec::new() }
}

/// The run with the median fps (the lower middle one for an even count) and every run's fps in
/// run order; `None` for no runs.
fn median_run<T>(runs: Vec<T>, fps: impl Fn(&T) -> f64) -> Option<(T, Vec<f64>)> {
    let all: Vec<f64> = runs.iter().map(&fps).collect();
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by(|&a, &b| all[a].total_cmp(&all[b]));
    let middle = *order.get(order.len().checked_sub(1)? / 2)?;
    runs.into_iter().nth(middle).map(|run| (run, all))
}

/// The median measurement, carrying every run's fps.
fn median_measurement(runs: Vec<Measurement>) -> Option<Measurement> {
    median_run(runs, |m| m.fps).map(|(m, fps_runs)| Measurement { fps_runs, ..m })
}

/// Decodes `video` and converts every `stride`-th frame into `writer`'s layout, one frame at a
/// time; calls `keep` with each converted frame until it returns `Break`. Returns the frames
/// decoded.
fn decode_converted(
    video: &Path,
    pipeline: PipelineOptions,
    writer: &mut TensorWriter,
    mut keep: impl FnMut(&[f32], InputTransform) -> ControlFlow<()>,
) -> Result<u64, DecodeError> {
    let source = VideoSource::open_with(video, pipeline.decode_threads, pipeline.hw_decode)?;
    let stride = pipeline.frame_stride.max(1);
    let mut image = vec![0.0f32; writer.layout().image_len()];
    let mut failed = None;
    let report = source.decode(|frame| {
        if frame.index() % stride != 0 {
            return ControlFlow::Continue(());
        }
        match writer.write(&frame, &mut image) {
            Ok(transform) => keep(&image, transform),
            Err(e) => {
                failed = Some(e);
                ControlFlow::Break(())
            }
        }
    })?;
    failed.map_or(Ok(report.frames_decoded), Err)
}

/// The decode ceiling: decode + conversion, nothing kept.
fn decode_ceiling(video: &Path, detector: &Detector, pipeline: PipelineOptions) -> Result<Measurement, DecodeError> {
    let mut writer = TensorWriter::new(*detector.input_layout());
    let started = Instant::now();
    let frames = decode_converted(video, pipeline, &mut writer, |_, _| ControlFlow::Continue(()))?;
    Ok(measurement(frames, started.elapsed(), None))
}

/// The inference ceiling: the first `count` selected frames converted up front, then through
/// every session in parallel, `max_batch` at a time (as the pipeline runs them); latency per
/// frame is each call's time over its frames.
fn inference_ceiling(video: &Path, detectors: &mut Detectors, pipeline: PipelineOptions, count: usize) -> anyhow::Result<Measurement> {
    let mut writer = TensorWriter::new(*detectors.model().input_layout());
    let image_len = writer.layout().image_len();
    let mut tensors = Vec::with_capacity(count * image_len);
    let mut transforms = Vec::with_capacity(count);
    decode_converted(video, pipeline, &mut writer, |image, transform| {
        tensors.extend_from_slice(image);
        transforms.push(transform);
        if transforms.len() < count { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
    })?;
    let batch = detectors.model().max_batch();
    let calls: Vec<(&[f32], &[InputTransform])> = tensors.chunks(batch * image_len).zip(transforms.chunks(batch)).collect();
    // One untimed call per session first: the first run allocates ONNX Runtime's buffers (and on
    // a GPU picks its kernels). The full pipeline runs on the same, warm, sessions.
    if let Some((images, transforms)) = calls.first() {
        for detector in detectors.sessions_mut() {
            detector.detect(images, transforms)?;
        }
    }
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let per_session: Vec<anyhow::Result<Vec<Duration>>> = std::thread::scope(|scope| {
        let (calls, next) = (&calls, &next);
        let threads: Vec<_> = detectors
            .sessions_mut()
            .iter_mut()
            .map(|detector| {
                scope.spawn(move || {
                    let mut per_frame = Vec::new();
                    while let Some((images, transforms)) = calls.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let call = Instant::now();
                        detector.detect(images, transforms)?;
                        let each = call.elapsed() / transforms.len() as u32;
                        per_frame.extend(std::iter::repeat_n(each, transforms.len()));
                    }
                    Ok(per_frame)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    let elapsed = started.elapsed();
    let mut per_frame = Vec::with_capacity(transforms.len());
    for session in per_session {
        per_frame.extend(session?);
    }
    let video_frames = transforms.len() as u64 * pipeline.frame_stride.max(1);
    Ok(measurement(video_frames, elapsed, latency("frame", per_frame)))
}

/// The full pipeline: `detect_video`, the label row, and the row as JSON. Latency is the interval
/// between batches leaving inference (a pipelined rate, not one frame's way through).
fn full_pipeline(
    video: &Path,
    detectors: &mut Detectors,
    pipeline: PipelineOptions,
    model_name: &str,
    args: &DetectorArgs,
) -> anyhow::Result<(Measurement, Flow)> {
    let class_names = detectors.model().class_names().to_vec();
    let ontology = Ontology::from_class_names(&class_names);
    let class_map = ClassMap::new(&ontology, &class_names, &args.aliases)?;
    let started = Instant::now();
    let mut batch_done = Vec::new();
    let detections = detect_video(video, detectors, pipeline, |_: Progress| batch_done.push(Instant::now()))?;
    let meta = video_meta_for_file(video, &detections.info, detections.report.frames_decoded, None);
    let labelled = build_label_row(&ontology, &class_map, class_names.len(), meta, LabelSource::model(model_name), &detections, None)?;
    labelled.row.write_json(std::io::sink())?;
    let elapsed = started.elapsed();
    // The last progress call is the end of stream, not a batch.
    batch_done.pop();
    let intervals = std::iter::once(started).chain(batch_done.iter().copied()).zip(&batch_done).map(|(a, b)| *b - a).collect();
    let measured = measurement(detections.report.frames_decoded, elapsed, latency("batch interval", intervals));
    Ok((measured, Flow::of(&detections)))
}

/// Runs the Python baseline on the same video, model, thresholds, threads and stride.
fn python_baseline(args: &BenchArgs) -> anyhow::Result<Baseline> {
    for script in [BASELINE_SCRIPT, BASELINE_SETUP] {
        if !Path::new(script).is_file() {
            bail!("{script} not found: run `prelabel bench --baseline` from the repository root");
        }
    }
    let setup =
        Command::new(BASELINE_SETUP).stderr(Stdio::inherit()).output().with_context(|| format!("{BASELINE_SETUP}: cannot run it"))?;
    if !setup.status.success() {
        bail!("{BASELINE_SETUP} failed ({}); run it by hand to see why", setup.status);
    }
    let python = String::from_utf8_lossy(&setup.stdout).lines().last().unwrap_or_default().trim().to_owned();
    let d = &args.detector;
    let threads = d.total_threads();
    let out = Command::new(&python)
        .arg(BASELINE_SCRIPT)
        .arg("--model")
        .arg(&d.model)
        .arg("--video")
        .arg(&args.video)
        .args(["--threads", &threads.to_string(), "--frame-stride", &d.frame_stride.to_string()])
        .args(["--score-threshold", &d.score_threshold.to_string(), "--iou-threshold", &d.iou_threshold.to_string()])
        .args(["--max-detections", &d.max_detections.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("{python}: cannot run {BASELINE_SCRIPT}"))?;
    if !out.status.success() {
        bail!("{BASELINE_SCRIPT} failed ({})", out.status);
    }
    let line = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_owned();
    serde_json::from_str(&line).with_context(|| format!("{BASELINE_SCRIPT}: unexpected output `{line}`"))
}

/// Output of a command, trimmed, when it ran and succeeded.
fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn machine() -> Machine {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| {
        c.lines().find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_owned()))
    });
    let commit = command_output("git", &["rev-parse", "HEAD"]).map(|head| {
        let dirty = command_output("git", &["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
        if dirty { format!("{head}-dirty") } else { head }
    });
    Machine { cores: std::thread::available_parallelism().map_or(1, usize::from), cpu_model, date: encord_timestamp_now(), commit }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// Runs `prelabel bench`.
pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if let Some(frame) = args.editor_frame {
        crate::bench_editor::run(&args.detector, &args.video, frame, args.out.as_deref())?;
        return Ok(ExitCode::SUCCESS);
    }
    let machine = machine();
    let mut batch_sizes = match (&args.batch_sizes[..], args.detector.batch_size) {
        ([], Some(b)) => vec![b],
        ([], None) => DEFAULT_BATCH_SIZES.to_vec(),
        (sizes, _) => sizes.to_vec(),
    };
    // In increasing order, once each: the report's rows and the plot's axis follow them.
    batch_sizes.sort_unstable();
    batch_sizes.dedup();
    let model_name = args.detector.model_name();
    let mut measured_rss = true;
    let (mut decode_runs, mut python_runs) = (Vec::new(), Vec::new());
    let mut batches = Vec::new();
    let mut sessions = 0;
    for &batch_size in &batch_sizes {
        let detector_args = DetectorArgs { batch_size: Some(batch_size), ..args.detector.clone() };
        let (mut detectors, pipeline) = detector_args.load()?;
        sessions = detectors.len();
        let model = detectors.model();
        if args.baseline && !matches!(model.output_layout(), OutputLayout::SsdBoxesScores { .. }) {
            bail!("--baseline: {BASELINE_SCRIPT} supports SSD boxes+scores models only, not {}", args.detector.model.display());
        }
        if model.max_batch() != batch_size as usize {
            let reason = format!("the model's batch axis is fixed at {}", model.max_batch());
            eprintln!("batch {batch_size}: not applicable ({reason})");
            batches.push(BatchResult { batch_size, not_applicable: Some(reason), inference: None, full: None, ratios: None, flow: None });
            continue;
        }
        // The batch-independent figures are measured with the first batch size that applies.
        let first_measured = decode_runs.is_empty();
        let (mut inference_runs, mut full_runs) = (Vec::new(), Vec::new());
        for round in 1..=args.repeat {
            let of = if args.repeat > 1 { format!(" ({round} of {})", args.repeat) } else { String::new() };
            if first_measured {
                eprintln!("decode ceiling{of} …");
                measured_rss &= reset_peak_rss();
                decode_runs.push(decode_ceiling(&args.video, detectors.model(), pipeline)?);
            }
            eprintln!("batch {batch_size}: inference ceiling{of} …");
            measured_rss &= reset_peak_rss();
            inference_runs.push(inference_ceiling(&args.video, &mut detectors, pipeline, args.inference_frames as usize)?);
            eprintln!("batch {batch_size}: full pipeline{of} …");
            measured_rss &= reset_peak_rss();
            full_runs.push(full_pipeline(&args.video, &mut detectors, pipeline, &model_name, &args.detector)?);
            if first_measured && args.baseline {
                eprintln!("Python baseline{of} …");
                python_runs.push(python_baseline(&args)?);
            }
        }
        let full = median_run(full_runs, |(m, _)| m.fps).map(|((m, flow), fps_runs)| (Measurement { fps_runs, ..m }, flow));
        batches.push(BatchResult {
            batch_size,
            not_applicable: None,
            inference: median_measurement(inference_runs),
            ratios: None,
            flow: full.as_ref().map(|(_, flow)| flow.clone()),
            full: full.map(|(m, _)| m),
        });
    }
    let Some(decode) = median_measurement(decode_runs) else {
        bail!("none of the batch sizes {batch_sizes:?} fits {}", args.detector.model.display());
    };
    let baseline = median_run(python_runs, |b| b.fps).map(|(b, fps_runs)| Baseline { fps_runs, ..b });
    for result in &mut batches {
        if let (Some(inference), Some(full)) = (&result.inference, &result.full) {
            result.ratios = Some(Ratios {
                full_over_inference: ratio(full.fps, inference.fps),
                full_over_decode: ratio(full.fps, decode.fps),
                full_over_python: baseline.as_ref().map(|b| ratio(full.fps, b.fps)),
            });
        }
    }
    let report = Report {
        machine,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        model: args.detector.model.clone(),
        video: args.video.clone(),
        threads: args.detector.threads,
        frame_stride: args.detector.frame_stride,
        sessions,
        repeat: args.repeat,
        peak_rss_scope: if measured_rss { "measurement" } else { "process" },
        decode,
        batches,
        baseline,
    };
    eprint!("{}", human_table(&report));
    if args.markdown {
        print!("{}", markdown_rows(&report));
    }
    if let Some(out) = &args.out {
        write_json_atomically(out, &report)?;
    }
    if let Some(plot) = &args.plot {
        std::fs::write(plot, crate::bench_plot::svg(&report)).map_err(|cause| WriteError { path: plot.clone(), cause })?;
    }
    Ok(ExitCode::from(exit::SUCCESS))
}

/// The first 12 hex digits of a commit, keeping a `-dirty` suffix.
fn short_commit(commit: &str) -> String {
    let (hash, dirty) = commit.strip_suffix("-dirty").map_or((commit, ""), |h| (h, "-dirty"));
    format!("{}{dirty}", hash.get(..12).unwrap_or(hash))
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "?".to_owned(), |k| format!("{:.0}", k as f64 / 1024.0))
}

fn latency_text(m: &Measurement) -> String {
    m.latency_ms.as_ref().map_or_else(String::new, |l| format!("{:.1}/{:.1}", l.p50, l.p95))
}

/// The table printed on stderr.
fn human_table(r: &Report) -> String {
    let mut text = format!(
        "\nprelabel bench: {} on {}, threads {}, {} detector sessions, frame stride {}\n{} cores, {}, {}, commit {}\n",
        r.model.display(),
        r.video.display(),
        r.threads.map_or_else(|| "all".to_owned(), |t| t.to_string()),
        r.sessions,
        r.frame_stride,
        r.machine.cores,
        r.machine.cpu_model.as_deref().unwrap_or("unknown CPU"),
        r.machine.date,
        r.machine.commit.as_deref().unwrap_or("unknown"),
    );
    if r.repeat > 1 {
        text += &format!("each figure: the median of {} interleaved runs\n", r.repeat);
    }
    text += &format!("peak RSS is per {} (MiB)\n\n", r.peak_rss_scope);
    text += &format!("{:<26} {:>6} {:>9} {:>8} {:>16} {:>9}\n", "measurement", "batch", "frames", "fps", "p50/p95 ms", "peak RSS");
    let mut line = |name: &str, batch: String, m: &Measurement, per: &str| {
        text += &format!(
            "{name:<26} {batch:>6} {:>9} {:>8.1} {:>16} {:>9}\n",
            m.frames,
            m.fps,
            format!("{} {per}", latency_text(m)),
            mib(m.peak_rss_kib)
        );
    };
    line("decode ceiling", "-".into(), &r.decode, "");
    for b in &r.batches {
        if let (Some(inference), Some(full)) = (&b.inference, &b.full) {
            line("inference ceiling", b.batch_size.to_string(), inference, "/frame");
            line("full pipeline", b.batch_size.to_string(), full, "/batch");
        }
    }
    if let Some(p) = &r.baseline {
        text +=
            &format!("{:<26} {:>6} {:>9} {:>8.1} {:>16} {:>9}\n", "Python baseline", "1", p.frames, p.fps, "", mib(Some(p.peak_rss_kib)));
    }
    text += "\n";
    for b in &r.batches {
        match (&b.ratios, &b.not_applicable) {
            (Some(q), _) => {
                text += &format!(
                    "batch {}: full / inference ceiling {:.2}, full / decode ceiling {:.2}{}\n",
                    b.batch_size,
                    q.full_over_inference,
                    q.full_over_decode,
                    q.full_over_python.map_or_else(String::new, |p| format!(", full / Python baseline {p:.2}"))
                );
                if let Some(f) = &b.flow {
                    text += &format!("         {}\n", f.stages);
                }
            }
            (None, Some(reason)) => text += &format!("batch {}: not applicable ({reason})\n", b.batch_size),
            (None, None) => {}
        }
    }
    text
}

/// The Markdown header and one row per measured batch size, for benches/RESULTS.md.
fn markdown_rows(r: &Report) -> String {
    let mut text = String::from(
        "| date | commit | cores | CPU | model | video | threads | sessions | stride | batch | decode fps | inference fps (p50/p95 ms/frame) | full fps (p50/p95 ms/batch) | full / inference | full / decode | Python fps | full / Python | bound (mean queue depth) | peak RSS MiB (decode / inference / full / Python) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let name = |p: &Path| p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned());
    for b in &r.batches {
        let (Some(inference), Some(full), Some(q)) = (&b.inference, &b.full, &b.ratios) else { continue };
        let python = r.baseline.as_ref();
        text += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {:.1} ({}) | {:.1} ({}) | {:.2} | {:.2} | {} | {} | {} | {} / {} / {} / {} |\n",
            r.machine.date,
            r.machine.commit.as_deref().map_or_else(|| "?".to_owned(), short_commit),
            r.machine.cores,
            r.machine.cpu_model.as_deref().unwrap_or("?"),
            name(&r.model),
            name(&r.video),
            r.threads.map_or_else(|| "all".to_owned(), |t| t.to_string()),
            r.sessions,
            r.frame_stride,
            b.batch_size,
            r.decode.fps,
            inference.fps,
            latency_text(inference),
            full.fps,
            latency_text(full),
            q.full_over_inference,
            q.full_over_decode,
            python.map_or_else(|| "–".to_owned(), |p| format!("{:.1}", p.fps)),
            q.full_over_python.map_or_else(|| "–".to_owned(), |p| format!("{p:.2}")),
            b.flow.as_ref().map_or_else(
                || "–".to_owned(),
                |f| format!("{} ({:.1}/{})", f.stages.bound, f.stages.mean_queue_depth, f.stages.queue_capacity)
            ),
            mib(r.decode.peak_rss_kib),
            mib(inference.peak_rss_kib),
            mib(full.peak_rss_kib),
            python.map_or_else(|| "–".to_owned(), |p| mib(Some(p.peak_rss_kib))),
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_run_is_the_middle_one_by_fps_with_every_run_listed_in_order() {
        let (run, all) = median_run(vec![3.0, 1.0, 2.0], |&f| f).unwrap();
        assert_eq!((run, all), (2.0, vec![3.0, 1.0, 2.0]));
        assert_eq!(median_run(vec![4.0, 1.0, 3.0, 2.0], |&f| f).unwrap().0, 2.0, "the lower middle of an even count");
        assert_eq!(median_run(vec![5.0], |&f| f).unwrap().0, 5.0);
        assert!(median_run(Vec::<f64>::new(), |&f| f).is_none());
    }
}
