//! The tracker on synthetic detection streams with known identities (tests/python/
//! track_synth.py): scored with motmetrics against the ground truth and against supervision's
//! ByteTrack on the same detections (tests/python/track_eval.py), and tracked on every third
//! frame then interpolated and extrapolated (as `prelabel run --track` does), against tracking
//! every frame.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use prelabel_core::{BoxXyxy, Detection, FrameDetections, FramePx};
use prelabel_track::{Track, Tracker, TrackerConfig};
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

/// Tracks the frames of `stream` whose index is a multiple of `stride`, with default settings.
fn track(stream: &Stream, stride: u64) -> Vec<Track> {
    let mut tracker = Tracker::new(TrackerConfig::default());
    for frame in stream.frames.iter().filter(|f| f.frame % stride == 0) {
        tracker.update(&frame.frame_detections()).unwrap();
    }
    tracker.finish()
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

#[test]
fn tracks_synthetic_streams_at_least_as_well_as_supervision_bytetrack() {
    let dir = tempfile::tempdir().unwrap();
    let (streams_dir, tracks_dir) = (dir.path().join("streams"), dir.path().join("prelabel"));
    std::fs::create_dir_all(&tracks_dir).unwrap();
    for (name, stream) in synthetic_streams(&streams_dir) {
        let tracks = track(&stream, 1);
        std::fs::write(tracks_dir.join(format!("{name}.json")), tracks_json(&stream, &tracks).to_string()).unwrap();
    }
    let out = dir.path().join("eval.json");
    let run = python_script("track_eval.py", &[streams_dir.to_str().unwrap(), tracks_dir.to_str().unwrap(), out.to_str().unwrap()]);
    eprintln!("{}", String::from_utf8_lossy(&run.stdout));

    let eval: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let overall = |tracker: &str, metric: &str| eval["overall"][tracker][metric].as_f64().unwrap();
    let (ours_idf1, theirs_idf1) = (overall("prelabel", "idf1"), overall("supervision", "idf1"));
    let (ours_mota, theirs_mota) = (overall("prelabel", "mota"), overall("supervision", "mota"));
    assert!(ours_idf1 >= theirs_idf1, "IDF1: prelabel {ours_idf1:.3} < supervision {theirs_idf1:.3}");
    // Measured: MOTA 0.908 and IDF1 0.930 at this seed, 0.900-0.925 and 0.904-0.947 over seeds
    // 0-9. The floors sit a little below, so a regression fails but another seed does not.
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
/// recover. 93% where it holds for seeds 0-9 (measured minimum 95.2%, in jitter). Two scenarios
/// are harder at stride 3 and have lower floors, measured over seeds 0-9: circular (85-99%:
/// objects up to 14 px/frame, so up to a box width per detector step while turning, and
/// occluding each other: tracks break where they would not at stride 1) and crossing_three
/// (80-99.5%: three objects meeting at one point between two detector steps can swap
/// identities).
fn stride_3_floor(scenario: &str) -> f64 {
    match scenario {
        "circular" => 0.8,
        "crossing_three" => 0.75,
        _ => 0.93,
    }
}

#[test]
fn tracking_every_third_frame_and_interpolating_recovers_the_every_frame_tracks() {
    let dir = tempfile::tempdir().unwrap();
    let max_gap_frames = TrackerConfig::default().max_missed_frames;
    for (name, stream) in synthetic_streams(dir.path()) {
        let every_frame = track(&stream, 1);
        let every_third: Vec<Track> = track(&stream, 3)
            .iter()
            .map(|t| t.interpolated(max_gap_frames).extrapolated(max_gap_frames, stream.width, stream.height))
            .collect();
        let share = recovered_share(&every_frame, &every_third);
        eprintln!("{name:<20} stride 3 + inter/extrapolation recovers {:.1}% of the stride-1 boxes", share * 100.0);
        assert!(share >= stride_3_floor(&name), "{name}: {share:.3}");
    }
}
