//! `prelabel run`: one video in, one Encord label row out.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use prelabel_detect::{Detector, DetectorOptions, Device, Runtime};
use prelabel_encord::{ClassMap, LabelRowBuilder, Ontology, WriteError, encord_timestamp_now, write_json_atomically};
use prelabel_pipeline::{PipelineOptions, Progress, detect_video, video_meta_for_file};

use crate::exit;
use crate::summary::{ClassCount, Summary};

/// Arguments of `prelabel run`.
#[derive(Args)]
pub struct RunArgs {
    /// The video to label (anything FFmpeg reads: MP4, AVI, MKV, WebM, …).
    video: PathBuf,
    /// The ONNX detector (SSD boxes+scores, YOLO raw head, or YOLO end-to-end).
    #[arg(long)]
    model: PathBuf,
    /// Encord ontology structure JSON; without it one is generated from the model's classes and
    /// written next to the output.
    #[arg(long)]
    ontology: Option<PathBuf>,
    /// Where to write the label row [default: <video stem>.label_row.json].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Map a model class onto an ontology object of another name, e.g. `person=Pedestrian`
    /// (repeatable).
    #[arg(long = "alias", value_name = "CLASS=OBJECT", value_parser = parse_alias)]
    aliases: Vec<(String, String)>,
    /// Minimum class score kept.
    #[arg(long, default_value_t = 0.4, value_parser = parse_unit)]
    score_threshold: f32,
    /// Per-class NMS IoU threshold.
    #[arg(long, default_value_t = 0.5, value_parser = parse_unit)]
    iou_threshold: f32,
    /// Most detections kept per frame.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    max_detections: u32,
    /// Frames per inference call, for models with a dynamic batch axis [default: 1 on cpu, 8 on a GPU].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: Option<u32>,
    /// Run the detector on every n-th frame.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    frame_stride: u64,
    /// Where inference runs: cpu, cuda or tensorrt.
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// CPU threads to use in all [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    /// Encord data hash of the video [default: derived from the file name and size].
    #[arg(long)]
    data_hash: Option<String>,
    /// No progress bar and no summary.
    #[arg(long, short)]
    quiet: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json_summary: bool,
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

/// `clip.label_row.json` → `clip.ontology.json`, `out.json` → `out.ontology.json`.
fn ontology_path_for(out: &Path) -> PathBuf {
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.strip_suffix(".label_row.json").or_else(|| name.strip_suffix(".json")).unwrap_or(&name);
    out.with_file_name(format!("{stem}.ontology.json"))
}

/// Fails early, before any decoding, when `path` cannot be written.
fn check_writable(path: &Path) -> Result<(), WriteError> {
    let error = |cause| WriteError { path: path.to_path_buf(), cause };
    if path.is_dir() {
        return Err(error(std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory")));
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    tempfile::Builder::new().prefix(".prelabel-").tempfile_in(dir).map(drop).map_err(error)
}

/// Splits the thread budget: ONNX Runtime gets every core; FFmpeg gets one frame thread per
/// four cores (the decode thread mostly waits on inference).
fn thread_budget(threads: Option<u32>) -> (usize, usize) {
    let total = threads.map_or_else(|| std::thread::available_parallelism().map_or(1, usize::from), |t| t as usize);
    (total, (total / 4).max(1))
}

/// Runs `prelabel run`.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let out = args.out.clone().unwrap_or_else(|| {
        let stem = args.video.file_stem().map_or_else(|| "video".into(), |s| s.to_string_lossy().into_owned());
        PathBuf::from(format!("{stem}.label_row.json"))
    });
    check_writable(&out)?;
    let generated_ontology_path = args.ontology.is_none().then(|| ontology_path_for(&out));
    if let Some(path) = &generated_ontology_path {
        check_writable(path)?;
    }

    let runtime = Runtime::load(None)?;
    let (intra_threads, decode_threads) = thread_budget(args.threads);
    let batch_size = args.batch_size.map_or(if args.device == Device::Cpu { 1 } else { 8 }, |b| b as usize);
    let mut detector = Detector::load(
        &runtime,
        &args.model,
        DetectorOptions {
            device: args.device,
            intra_threads,
            score_threshold: args.score_threshold,
            iou_threshold: args.iou_threshold,
            max_detections: args.max_detections as usize,
            batch_size,
        },
    )?;
    let class_names = detector.class_names().to_vec();
    let ontology = match &args.ontology {
        Some(path) => Ontology::from_file(path)?,
        None => {
            // Aliases rename the generated objects.
            let renamed: Vec<String> = class_names
                .iter()
                .map(|c| {
                    args.aliases.iter().find(|(class, _)| class.eq_ignore_ascii_case(c)).map_or(c.clone(), |(_, o)| o.clone())
                })
                .collect();
            Ontology::from_class_names(&renamed)
        }
    };
    let class_map = ClassMap::new(&ontology, &class_names, &args.aliases)
        .with_context(|| args.ontology.as_ref().map_or_else(|| "class aliases".to_owned(), |p| p.display().to_string()))?;

    let progress = progress_bar(args.quiet || args.json_summary);
    let detections = detect_video(
        &args.video,
        &mut detector,
        PipelineOptions { decode_threads, frame_stride: args.frame_stride, queue_batches: 2 },
        |p: Progress| {
            if let Some(total) = p.frames_total {
                progress.set_length(total.max(p.frames_done));
            }
            progress.set_position(p.frames_done);
        },
    )?;
    progress.finish_and_clear();

    let label_clock = Instant::now();
    let model_name = args.model.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let meta = video_meta_for_file(&args.video, &detections.info, detections.report.frames_decoded, args.data_hash.as_deref());
    let mut builder = LabelRowBuilder::new(&ontology, &class_map, meta, &model_name, encord_timestamp_now());
    let mut per_class = vec![0u64; class_names.len()];
    for frame in &detections.frames {
        builder.add_frame(frame);
        for d in &frame.detections {
            per_class[d.class_index] += 1;
        }
    }
    let row = builder.finish();
    let label_time = label_clock.elapsed();

    let write_clock = Instant::now();
    write_json_atomically(&out, &row)?;
    if let Some(path) = &generated_ontology_path {
        write_json_atomically(path, &ontology)?;
    }
    let write_time = write_clock.elapsed();

    let classes = per_class
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(k, &count)| ClassCount {
            class: class_names[k].clone(),
            object: class_map.object_for(k).map(|o| ontology.objects[o].name.clone()),
            count,
        })
        .collect();
    let summary = Summary::new(
        &args.video,
        &out,
        generated_ontology_path.as_deref(),
        &detector,
        args.device,
        &detections,
        args.frame_stride,
        classes,
        (label_time, write_time),
    );
    let partial = detections.report.is_partial();
    if partial {
        eprintln!("warning: {}", summary.partial_reason(&args.video));
    }
    if args.json_summary {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if !args.quiet {
        eprint!("{summary}");
    }
    Ok(ExitCode::from(if partial { exit::PARTIAL } else { exit::SUCCESS }))
}

fn progress_bar(hidden: bool) -> ProgressBar {
    if hidden || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} frames  {per_sec:.0}  ETA {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    let bar = ProgressBar::new(0).with_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
