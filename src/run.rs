//! `prelabel run`: one video in, one Encord label row out.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use prelabel_encord::{LabelSource, WriteError, write_json_atomically};
use prelabel_pipeline::{Progress, build_label_row, detect_video, video_meta_for_file};

use crate::detector_args::{DetectorArgs, TrackArgs};
use crate::exit;
use crate::summary::{ClassCount, Summary};

/// Arguments of `prelabel run`.
#[derive(Args)]
pub struct RunArgs {
    /// The video to label (anything FFmpeg reads: MP4, AVI, MKV, WebM, …).
    video: PathBuf,
    #[command(flatten)]
    detector: DetectorArgs,
    /// Link detections across frames: one Encord object per tracked object, with a box on every
    /// frame it covers (interpolated between detected frames when --frame-stride > 1).
    #[arg(long)]
    track: bool,
    #[command(flatten)]
    tracking: TrackArgs,
    /// Encord ontology structure JSON; without it one is generated from the model's classes and
    /// written next to the output.
    #[arg(long)]
    ontology: Option<PathBuf>,
    /// Where to write the label row [default: <video stem>.label_row.json].
    #[arg(long)]
    out: Option<PathBuf>,
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

    let tracking = args.tracking.options_when(args.track, args.detector.frame_stride);
    let (mut detectors, pipeline) = args.detector.load()?;
    let class_names = detectors.model().class_names().to_vec();
    let (ontology, class_map) = args.detector.ontology_for(args.ontology.as_deref(), &class_names)?;

    let progress = progress_bar(args.quiet || args.json_summary);
    let detections = detect_video(&args.video, &mut detectors, pipeline.with_image_cues_for(tracking.as_ref()), |p: Progress| {
        if let Some(total) = p.frames_total {
            progress.set_length(total.max(p.frames_done));
        }
        progress.set_position(p.frames_done);
    })?;
    progress.finish_and_clear();

    let label_clock = Instant::now();
    let meta = video_meta_for_file(&args.video, &detections.info, detections.report.frames_decoded, args.data_hash.as_deref());
    let labelled = build_label_row(
        &ontology,
        &class_map,
        class_names.len(),
        meta,
        LabelSource::model(&args.detector.model_name()),
        &detections,
        tracking.as_ref(),
    )?;
    let (row, per_class, tracks) = (labelled.row, labelled.detections_per_class, labelled.tracks);
    let label_time = label_clock.elapsed();

    let write_clock = Instant::now();
    row.write_json_atomically(&out)?;
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
        detectors.model(),
        &detections,
        args.detector.frame_stride,
        classes,
        (label_time, write_time),
    )
    .with_tracks(tracks);
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
