//! The tracker on synthetic detection streams with known identities (tests/python/
//! track_synth.py): scored with motmetrics against the ground truth and against supervision's
//! ByteTrack on the same detections (tests/python/track_eval.py), and tracked on every third
//! frame then interpolated and extrapolated (as `prelabel run --track` does), against tracking
//! every frame; and, on frames rendered from the ground truth, with and without telling objects
//! apart by appearance.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use prelabel_core::{BoxXyxy, Detection, FrameDetections, FramePx, LumaFrame};
use prelabel_track::{Track, Tracker, TrackerConfig, follow_detections};
use serde::Deserialize;
use serde_json::{Value, json};
use support::*;

/// The seed of the synthetic streams (picked before any measurement). The floors below hold for
/// seeds 0 to 9, not only this one.
const SEED: &str = "7";

/// A stream as track_synth.py writes it (the ground truth is only read by track_eval.py).
#[derive(Deserialize)]
struct Stream {
    width: u32,
    height: u32,
    frames: Vec<StreamFrame>,
}

#[derive(Deserialize)]
struct StreamFrame {
    frame: u64,
    detections: Vec<StreamDetection>,
    ground_truth: Vec<TruthBox>,
}

/// Where an object truly is on a frame, clipped to the frame.
#[derive(Deserialize)]
struct TruthBox {
    id: u64,
    x1: f32,
    y1: f32,
    x2: f32,
    y2: f32,
}

#[derive(Deserialize)]
struct StreamDetection {
    x1: f32,
    y1: f32,
    x2: f32,
    y2: f32,
    score: f32,
    class_index: usize,
}

impl StreamFrame {
    fn frame_detections(&self) -> FrameDetections {
        let detections = self
            .detections
            .iter()
            .map(|d| Detection { class_index: d.class_index, score: d.score, bbox_in_frame_px: BoxXyxy::new(d.x1, d.y1, d.x2, d.y2) })
            .collect();
        FrameDetections { frame_index: self.frame, detections }
    }
}

/// Writes the synthetic streams into `dir` and reads them back by scenario name.
fn synthetic_streams(dir: &Path) -> Vec<(String, Stream)> {
    python_script("track_synth.py", &[dir.to_str().unwrap(), "--seed", SEED]);
    let mut paths: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_str().unwrap().to_owned();
            (name, serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap())
        })
        .collect()
}

/// Tracks the frames of `stream` whose index is a multiple of `stride`, with default settings;
/// with `looks`, the tracker is told what each detection looks like on [`rendered`] frames.
fn track(stream: &Stream, stride: u64, looks: bool) -> Vec<Track> {
    let mut tracker = Tracker::new(TrackerConfig::default());
    for frame in stream.frames.iter().filter(|f| f.frame % stride == 0) {
        let detections = frame.frame_detections();
        let cues = looks.then(|| follow_detections(frame.frame, &[&rendered(stream, frame)], &detections.detections));
        tracker.update_followed(&detections, cues.as_ref()).unwrap();
    }
    tracker.finish()
}

/// Frame pixels per luma sample of [`rendered`] frames.
const RENDER_SCALE: u32 = 2;

/// `frame` as a camera would show it, in luma: a flat grey background with every object over its
/// true box, nearer ones (lower bottom edge, as track_synth.py decides occlusion) over farther
/// ones. Each object has a look of its own, picked from its id: a shade for the top half of its
/// box and one for the bottom half (a coat and trousers), with noise on every sample.
fn rendered(stream: &Stream, frame: &StreamFrame) -> LumaFrame {
    let (width, height) = ((stream.width / RENDER_SCALE) as usize, (stream.height / RENDER_SCALE) as usize);
    // A reproducible hash of the inputs, for the shades and the noise.
    let mix = |a: u64, b: u64| (a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b).wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 40;
    let mut samples: Vec<u8> = (0..width * height).map(|i| 128 - 8 + (mix(frame.frame, i as u64) % 17) as u8).collect();
    let mut nearest_last: Vec<&TruthBox> = frame.ground_truth.iter().collect();
    nearest_last.sort_by(|a, b| a.y2.total_cmp(&b.y2));
    for truth in nearest_last {
        let shade = |half: u64| 30 + (mix(truth.id, half) % 190) as u8;
        let (top, bottom) = (shade(1), shade(2));
        let sample = |v: f32, end: usize| ((v / RENDER_SCALE as f32) as usize).min(end);
        let (x1, x2, y1, y2) = (sample(truth.x1, width), sample(truth.x2, width), sample(truth.y1, height), sample(truth.y2, height));
        for y in y1..y2 {
            let base = if y < (y1 + y2) / 2 { top } else { bottom };
            for x in x1..x2 {
                let noise = (mix(frame.frame ^ truth.id, (y * width + x) as u64) % 17) as u8;
                samples[y * width + x] = base.saturating_add(noise).saturating_sub(8);
            }
        }
    }
    LumaFrame::new(frame.frame, width, height, RENDER_SCALE, samples).unwrap()
}

/// The tracks in track_eval.py's format: every frame of the stream with the boxes on it.
fn tracks_json(stream: &Stream, tracks: &[Track]) -> Value {
    let mut by_frame: BTreeMap<u64, Vec<Value>> = stream.frames.iter().map(|f| (f.frame, Vec::new())).collect();
    for t in tracks {
        for b in &t.boxes {
            let r = b.bbox_in_frame_px;
            by_frame.entry(b.frame_index).or_default().push(json!({"id": t.id, "x1": r.x1, "y1": r.y1, "x2": r.x2, "y2": r.y2}));
        }
    }
    let frames: Vec<Value> = by_frame.into_iter().map(|(frame, tracks)| json!({"frame": frame, "tracks": tracks})).collect();
    json!({ "frames": frames })
}

/// Tracks every frame of `streams` (read from `streams_dir`), with or without looks, and scores
/// the tracks with track_eval.py, beside supervision's ByteTrack: prints its table and returns its
/// figures. The tracks go into a folder beside `streams_dir`.
fn scored(streams_dir: &Path, streams: &[(String, Stream)], looks: bool) -> Value {
    let tracks_dir = streams_dir.with_file_name(if looks { "looks" } else { "boxes" });
    std::fs::create_dir_all(&tracks_dir).unwrap();
    for (name, stream) in streams {
        let tracks = track(stream, 1, looks);
        std::fs::write(tracks_dir.join(format!("{name}.json")), tracks_json(stream, &tracks).to_string()).unwrap();
    }
    let out = tracks_dir.with_extension("eval.json");
    let run = python_script("track_eval.py", &[streams_dir.to_str().unwrap(), tracks_dir.to_str().unwrap(), out.to_str().unwrap()]);
    eprintln!("{}", String::from_utf8_lossy(&run.stdout));
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

#[test]
fn tracks_synthetic_streams_at_least_as_well_as_supervision_bytetrack() {
    let dir = tempfile::tempdir().unwrap();
    let streams_dir = dir.path().join("streams");
    let eval = scored(&streams_dir, &synthetic_streams(&streams_dir), false);
    let overall = |tracker: &str, metric: &str| eval["overall"][tracker][metric].as_f64().unwrap();
    let (ours_idf1, theirs_idf1) = (overall("prelabel", "idf1"), overall("supervision", "idf1"));
    let (ours_mota, theirs_mota) = (overall("prelabel", "mota"), overall("supervision", "mota"));
    assert!(ours_idf1 >= theirs_idf1, "IDF1: prelabel {ours_idf1:.3} < supervision {theirs_idf1:.3}");
    // Measured on boxes alone: MOTA 0.914 and IDF1 0.907 at this seed, 0.903-0.929 and
    // 0.883-0.919 over seeds 0-9 (meeting_and_turning_back, where tracking by boxes alone swaps
    // people, pulls IDF1 down). The floors sit a little below, so a regression fails but another
    // seed does not.
    assert!(ours_mota >= 0.88, "MOTA: prelabel {ours_mota:.3} (supervision {theirs_mota:.3})");
    assert!(ours_idf1 >= 0.88, "IDF1: prelabel {ours_idf1:.3}");
}

/// The share of the boxes of `reference` that `candidate` recovers: each reference track is
/// mapped to the candidate track of its class that has a box with IoU ≥ 0.5 on the most of its
/// frames, and those frames count as recovered.
fn recovered_share(reference: &[Track], candidate: &[Track]) -> f64 {
    let indexed: Vec<(usize, BTreeMap<u64, BoxXyxy<FramePx>>)> =
        candidate.iter().map(|t| (t.class_index, t.boxes.iter().map(|b| (b.frame_index, b.bbox_in_frame_px)).collect())).collect();
    let (mut recovered, mut total) = (0_usize, 0_usize);
    for r in reference {
        let overlaps = |boxes: &BTreeMap<u64, BoxXyxy<FramePx>>| {
            r.boxes.iter().filter(|b| boxes.get(&b.frame_index).is_some_and(|c| c.iou(&b.bbox_in_frame_px) >= 0.5)).count()
        };
        let best = indexed.iter().filter(|(class, _)| *class == r.class_index).map(|(_, boxes)| overlaps(boxes)).max();
        recovered += best.unwrap_or(0);
        total += r.boxes.len();
    }
    recovered as f64 / total as f64
}

/// The least share of the stride-1 boxes that stride 3 + interpolation + extrapolation must
/// recover, both told what the detections look like. 90% where it holds for seeds 0-9 (measured
/// minimum 92.4%, in jitter; circular and crossing_three, down to 85.7% and 80.3% on boxes alone,
/// are at 96.3% and 99.1% with looks). meeting_and_turning_back is harder at stride 3, 57.6-81.0%
/// over seeds 0-9: the people turn between two detector steps, so each track is predicted on
/// past the detection of its own person, beyond the overlap threshold, and only the other
/// person's detection is left to match (at stride 1 looks keep every identity but a few).
fn stride_3_floor(scenario: &str) -> f64 {
    match scenario {
        "meeting_and_turning_back" => 0.5,
        _ => 0.9,
    }
}

#[test]
fn tracking_every_third_frame_and_interpolating_recovers_the_every_frame_tracks() {
    let dir = tempfile::tempdir().unwrap();
    let max_gap_frames = TrackerConfig::default().max_missed_frames;
    let mut below = Vec::new();
    for (name, stream) in synthetic_streams(dir.path()) {
        // With looks, as `prelabel run --track` tracks.
        let every_frame = track(&stream, 1, true);
        let every_third: Vec<Track> = track(&stream, 3, true)
            .iter()
            .map(|t| t.interpolated(max_gap_frames).extrapolated(max_gap_frames, stream.width, stream.height))
            .collect();
        let share = recovered_share(&every_frame, &every_third);
        eprintln!("{name:<24} stride 3 + inter/extrapolation recovers {:.1}% of the stride-1 boxes", share * 100.0);
        if share < stride_3_floor(&name) {
            below.push(format!("{name}: {share:.3}"));
        }
    }
    assert!(below.is_empty(), "below the floor: {below:?}");
}

#[test]
fn telling_objects_apart_by_appearance_keeps_more_identities() {
    let dir = tempfile::tempdir().unwrap();
    let streams_dir = dir.path().join("streams");
    let streams = synthetic_streams(&streams_dir);
    let (by_boxes, by_looks) = (scored(&streams_dir, &streams, false), scored(&streams_dir, &streams, true));
    let figure = |eval: &Value, scenario: &str, metric: &str| {
        let scores = if scenario == "overall" { &eval["overall"] } else { &eval["scenarios"][scenario] };
        scores["prelabel"][metric].as_f64().unwrap()
    };
    eprintln!("{:<20} {:>17} {:>17} {:>13}", "", "IDF1 boxes/looks", "switches", "MOTA");
    let names: Vec<&str> = streams.iter().map(|(name, _)| name.as_str()).chain(["overall"]).collect();
    for name in &names {
        let pair = |metric| (figure(&by_boxes, name, metric), figure(&by_looks, name, metric));
        let ((idf1_boxes, idf1_looks), (switches_boxes, switches_looks), (mota_boxes, mota_looks)) =
            (pair("idf1"), pair("num_switches"), pair("mota"));
        eprintln!(
            "{name:<20} {idf1_boxes:>8.3} {idf1_looks:>8.3} {switches_boxes:>8} {switches_looks:>8} {mota_boxes:>6.3} {mota_looks:>6.3}"
        );
    }
    let overall = |eval: &Value, metric| figure(eval, "overall", metric);
    // Where objects cross or meet, the one that looks like a track wins it: fewer identity
    // switches and a higher IDF1 over all scenarios; detection-level accuracy (MOTA) is no lower.
    // Measured over seeds 0-9: 7-16 switches on boxes alone, 5-9 with looks; in
    // meeting_and_turning_back IDF1 0.56-0.92 on boxes, 0.86-0.98 with looks; elsewhere IDF1
    // moves by -0.001 to +0.151 (circular and crossing_three, where boxes alone swapped).
    assert!(overall(&by_looks, "num_switches") < overall(&by_boxes, "num_switches"));
    assert!(overall(&by_looks, "idf1") > overall(&by_boxes, "idf1"));
    assert!(overall(&by_looks, "mota") >= overall(&by_boxes, "mota") - 0.002);
}
