//! Detector and pipeline flags shared by the commands that label video.

use std::path::{Path, PathBuf};

use anyhow::Context;

use clap::Args;
use prelabel_decode::HwDecode;
use prelabel_detect::{DetectorOptions, Device, Runtime};
use prelabel_encord::{ClassMap, Ontology};
use prelabel_pipeline::{Detectors, ImageCues, PipelineOptions, TrackingOptions};
use prelabel_track::TrackerConfig;

/// How to load the detector and run the pipeline.
#[derive(Args, Debug, Clone)]
pub struct DetectorArgs {
    /// The ONNX detector (SSD boxes+scores, YOLO raw head, or YOLO end-to-end).
    #[arg(long)]
    pub model: PathBuf,
    /// Map a model class onto an ontology object of another name, e.g. `person=Pedestrian`
    /// (repeatable).
    #[arg(long = "alias", value_name = "CLASS=OBJECT", value_parser = parse_alias)]
    pub aliases: Vec<(String, String)>,
    /// Minimum class score kept.
    #[arg(long, default_value_t = 0.4, value_parser = parse_unit)]
    pub score_threshold: f32,
    /// Per-class NMS IoU threshold.
    #[arg(long, default_value_t = 0.5, value_parser = parse_unit)]
    pub iou_threshold: f32,
    /// Most detections kept per frame.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_detections: u32,
    /// Frames per inference call, for models with a dynamic batch axis [default: 1 on cpu, 8 on a GPU].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: Option<u32>,
    /// Run the detector on every n-th frame.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub frame_stride: u64,
    /// Where inference runs: cpu, cuda, tensorrt, or auto (cuda where it can be used, else the cpu
    /// with a warning; cuda and tensorrt never fall back).
    #[arg(long, default_value = "cpu")]
    pub device: Device,
    /// CPU threads to use in all [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    /// Video decoder: software, or nvdec (NVIDIA's hardware decoder where the codec and driver
    /// allow it, else software; the summary says which ran) [default: software on cpu, nvdec on
    /// a GPU].
    #[arg(long)]
    pub decoder: Option<HwDecode>,
    /// Detector sessions, each on its own inference thread with a share of --threads (as even as
    /// whole threads allow)
    /// [default: on cpu one per core up to 4; on a GPU 2].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub inference_sessions: Option<u32>,
}

fn parse_alias(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((class, object)) if !class.trim().is_empty() && !object.trim().is_empty() => {
            Ok((class.trim().to_owned(), object.trim().to_owned()))
        }
        _ => Err(format!("`{text}` is not CLASS=OBJECT")),
    }
}

fn parse_unit(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("`{text}` is not a number in 0..1")),
    }
}

impl DetectorArgs {
    /// The thread budget: --threads, else every core.
    pub fn total_threads(&self) -> usize {
        self.threads.map_or_else(|| std::thread::available_parallelism().map_or(1, usize::from), |t| t as usize)
    }

    /// Loads ONNX Runtime and the model's sessions, and returns them with the pipeline settings.
    ///
    /// The thread budget: the sessions share every core (on a CPU one single-threaded session
    /// per core up to 4, then more threads per session, since a small model's intra-op threads
    /// scale worse than whole frames in parallel); FFmpeg gets one frame thread per four cores
    /// (the decode thread mostly waits on inference).
    pub fn load(&self) -> anyhow::Result<(Detectors, PipelineOptions)> {
        let runtime = Runtime::load(None)?;
        let (device, fallback) = self.device.resolve(&runtime);
        if let Some(reason) = fallback {
            eprintln!("warning: --device auto: using the cpu ({reason})");
        }
        let total = self.total_threads();
        let on_cpu = device == Device::Cpu;
        let batch_size = self.batch_size.map_or(if on_cpu { 1 } else { 8 }, |b| b as usize);
        let sessions = self.inference_sessions.map_or(if on_cpu { total.min(4) } else { 2 }, |s| s as usize);
        let options = DetectorOptions {
            device,
            // Shared out among the sessions by `Detectors::load`.
            intra_threads: total,
            score_threshold: self.score_threshold,
            iou_threshold: self.iou_threshold,
            max_detections: self.max_detections as usize,
            batch_size,
        };
        let detectors = Detectors::load(&runtime, &self.model, options, sessions)?;
        let pipeline = PipelineOptions {
            decode_threads: (total / 4).max(1),
            hw_decode: self.decoder.unwrap_or(if on_cpu { HwDecode::Software } else { HwDecode::Nvdec }),
            frame_stride: self.frame_stride,
            queue_batches: 2 * sessions,
            // Set by callers that track, with `PipelineOptions::with_image_cues_for`.
            image_cues: ImageCues::None,
        };
        Ok((detectors, pipeline))
    }

    /// The ontology to label into (read from `ontology_file`, or generated from the model's
    /// class names, renamed by the aliases) and the map from model classes onto it.
    pub fn ontology_for(&self, ontology_file: Option<&Path>, class_names: &[String]) -> anyhow::Result<(Ontology, ClassMap)> {
        let ontology = match ontology_file {
            Some(path) => Ontology::from_file(path)?,
            None => {
                let renamed: Vec<String> = class_names
                    .iter()
                    .map(|c| self.aliases.iter().find(|(class, _)| class.eq_ignore_ascii_case(c)).map_or(c.clone(), |(_, o)| o.clone()))
                    .collect();
                Ontology::from_class_names(&renamed)
            }
        };
        let class_map = ClassMap::new(&ontology, class_names, &self.aliases)
            .with_context(|| ontology_file.map_or_else(|| "class aliases".to_owned(), |p| p.display().to_string()))?;
        Ok((ontology, class_map))
    }

    /// The model's file stem, which goes into object hashes.
    pub fn model_name(&self) -> String {
        self.model.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned())
    }
}

/// Default of `--min-track-frames`.
const DEFAULT_MIN_TRACK_FRAMES: u64 = 5;
/// Default of `--max-missed-frames`.
const DEFAULT_MAX_MISSED_FRAMES: u64 = 30;

/// How detections are linked into tracks (with `run --track`, and in the worker by default).
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct TrackArgs {
    /// Tracks covering fewer frames than this are dropped.
    #[arg(long, default_value_t = DEFAULT_MIN_TRACK_FRAMES)]
    pub min_track_frames: u64,
    /// Frames a track lives on without a detection (at least the --frame-stride: a track lives
    /// until the detector runs again); also the longest gap filled by interpolation and the most
    /// frames extrapolated at a track's ends.
    #[arg(long, default_value_t = DEFAULT_MAX_MISSED_FRAMES)]
    pub max_missed_frames: u64,
    /// With --frame-stride above 1: box the skipped frames along a straight line between
    /// detections, instead of following each object's image motion over them (which also guides
    /// the tracker to where the object went).
    #[arg(long)]
    pub linear_interpolation: bool,
}

impl Default for TrackArgs {
    /// The flags' defaults, for callers that take no tracking flags.
    fn default() -> Self {
        Self { min_track_frames: DEFAULT_MIN_TRACK_FRAMES, max_missed_frames: DEFAULT_MAX_MISSED_FRAMES, linear_interpolation: false }
    }
}

impl TrackArgs {
    /// [`options`](Self::options) when `track`ing; otherwise `None`, with a warning when any of
    /// these flags was given (they would do nothing).
    pub fn options_when(&self, track: bool, frame_stride: u64) -> Option<TrackingOptions> {
        if !track && *self != Self::default() {
            eprintln!("warning: tracking is off, so --min-track-frames, --max-missed-frames and --linear-interpolation do nothing");
        }
        track.then(|| self.options(frame_stride))
    }

    /// The tracking settings these flags describe, for a detector that runs on every
    /// `frame_stride`-th frame: a track lives at least until the detector runs again, so
    /// `--max-missed-frames` is raised to the stride where it is shorter.
    pub fn options(&self, frame_stride: u64) -> TrackingOptions {
        let max_missed_frames = self.max_missed_frames.max(frame_stride);
        TrackingOptions {
            tracker: TrackerConfig { max_missed_frames, ..TrackerConfig::default() },
            min_track_frames: self.min_track_frames,
            max_interpolation_gap_frames: max_missed_frames,
            follow_motion: !self.linear_interpolation,
        }
    }
}
