//! `prelabel run --track` on vtest.avi with the real detector: thousands of per-frame boxes
//! become tens of object instances that Encord's SDK reads back, and with `--frame-stride 3` the
//! frames the detector skipped are filled along each object's image motion, or by straight-line
//! interpolation (and, next to a track's ends, by extrapolation); either way the tracker tells
//! objects whose boxes overlap apart by what they look like.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use support::*;

/// Object hash → frame → (x1, y1, x2, y2) normalised, and the run's JSON summary.
type Instances = BTreeMap<String, BTreeMap<u64, [f64; 4]>>;

fn track(dir: &Path, stride: &str, extra: &[&str]) -> (Instances, Value, std::path::PathBuf) {
    let out = dir.join(format!("stride{stride}{}.label_row.json", extra.concat()));
    let model = ssd_model();
    let video = data("vtest.avi");
    let mut args = vec![
        "run",
        video.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--track",
        "--frame-stride",
        stride,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    args.push("--json-summary");
    let ran = prelabel_ok(&args);
    let summary: Value = serde_json::from_slice(&ran.stdout).unwrap();
    let row = read_label_row(&out);
    let mut instances = Instances::new();
    for (frame, labels) in &row.data_units.values().next().unwrap().labels {
        for o in &labels.objects {
            let b = o.bounding_box;
            assert!(o.confidence < 1.0 && o.confidence > 0.0, "{o:?}");
            instances.entry(o.object_hash.clone()).or_default().insert(*frame, [b.x, b.y, b.x + b.w, b.y + b.h]);
        }
    }
    // Every object has a box on every frame from its first to its last: the gaps between its
    // detections are filled (by motion, or along straight lines), none is left with holes.
    for (hash, frames) in &instances {
        let (first, last) = (frames.keys().next().unwrap(), frames.keys().next_back().unwrap());
        assert_eq!(frames.len() as u64, last - first + 1, "object {hash} has holes: {:?}", frames.keys().collect::<Vec<_>>());
    }
    (instances, summary, out)
}

#[test]
fn tracks_turn_thousands_of_boxes_into_tens_of_objects_and_strides_interpolate() {
    let dir = tempfile::tempdir().unwrap();
    let (every, summary, row_path) = track(dir.path(), "1", &[]);
    let detections = summary["detections"].as_u64().unwrap();
    let objects = every.len() as f64;
    let mean_frames = every.values().map(|f| f.len()).sum::<usize>() as f64 / objects;
    eprintln!(
        "tracking: {detections} detections -> {objects} objects ({:.0}x fewer), {mean_frames:.1} frames per object",
        detections as f64 / objects
    );
    assert!((10.0..200.0).contains(&objects), "tens of objects, not {objects}");
    assert!(detections as f64 / objects >= 20.0);
    assert!(mean_frames >= 20.0, "each object lives on many frames");
    assert_eq!(summary["tracks"]["tracks"].as_f64(), Some(objects));

    // Encord's SDK reads the tracked row back, each object on many frames.
    let sdk_view = dir.path().join("sdk.json");
    let ontology = dir.path().join("stride1.ontology.json");
    let (r, o, s) = (row_path.to_str().unwrap(), ontology.to_str().unwrap(), sdk_view.to_str().unwrap());
    python_script("check_label_row_sdk.py", &[r, o, "--frames", "795", "--fps", "10", "--width", "768", "--height", "576", s]);
    let sdk: Value = serde_json::from_slice(&std::fs::read(&sdk_view).unwrap()).unwrap();
    let mut frames_per_object: BTreeMap<&str, usize> = BTreeMap::new();
    for entry in sdk["objects"].as_array().unwrap() {
        *frames_per_object.entry(entry["object_hash"].as_str().unwrap()).or_default() += 1;
    }
    let written: BTreeMap<&str, usize> = every.iter().map(|(h, f)| (h.as_str(), f.len())).collect();
    assert_eq!(frames_per_object, written);

    // Stride 3: the detector runs on a third of the frames, tracks still cover the frames between,
    // following each object's image motion over them (by default), or along straight lines.
    let recovery = |extra: &[&str]| {
        let (strided, strided_summary, _) = track(dir.path(), "3", extra);
        assert_eq!(strided_summary["frames"]["detected"], 265);
        let interpolated = strided_summary["tracks"]["boxes_interpolated"].as_u64().unwrap();
        let detected = strided_summary["tracks"]["boxes_detected"].as_u64().unwrap();
        assert!(interpolated > detected, "most boxes are between detected frames: {strided_summary}");
        // Share of the stride-1 boxes with a stride-3 box of IoU >= 0.5 on the same frame, in the
        // stride-3 object that overlaps that stride-1 object most (by majority).
        let (mut total, mut recovered) = (0usize, 0usize);
        for boxes in every.values() {
            let overlap =
                |other: &BTreeMap<u64, [f64; 4]>| boxes.iter().filter(|(f, b)| other.get(f).is_some_and(|o| iou(b, o) >= 0.5)).count();
            total += boxes.len();
            recovered += strided.values().map(overlap).max().unwrap_or(0);
        }
        let share = recovered as f64 / total as f64;
        let speed_up = summary["seconds"]["total"].as_f64().unwrap() / strided_summary["seconds"]["total"].as_f64().unwrap();
        eprintln!("stride 3 {extra:?}: {recovered} of {total} stride-1 boxes recovered ({share:.3}); {speed_up:.2}x faster end to end");
        share
    };
    let followed = recovery(&[]);
    let linear = recovery(&["--linear-interpolation"]);
    // Following the image motion links more of the objects across the skipped frames (the same
    // detections go in both runs, so this is no timing accident).
    assert!(followed > linear, "motion {followed} vs straight lines {linear}");
    // Regression guards a little below the measured levels (2026-11-29: 0.904 following motion,
    // 0.884 along straight lines, against the 0.9 the tracking issue asks for; 0.895 and 0.848
    // before the tracker told objects apart by appearance, 0.882 before a track that missed a
    // step was widened for all the frames skipped since its last match, 0.774 before
    // confirmation counted frames, confirmed tracks were re-matched with widened boxes after
    // skipped frames and track ends were extrapolated).
    assert!(followed >= 0.89, "{followed}");
    assert!(linear >= 0.86, "{linear}");
}

#[test]
fn at_a_stride_longer_than_max_missed_frames_tracks_live_until_the_detector_runs_again() {
    // Stride 40 with the default 30 frames of patience: a track must outlive the gap between two
    // detector steps, or every object splits into a new one every other step (58 objects of at
    // most 101 frames before the patience was raised to the stride; 18 of up to 795 after).
    let dir = tempfile::tempdir().unwrap();
    let (objects, summary, _) = track(dir.path(), "40", &[]);
    assert_eq!(summary["frames"]["detected"], 20);
    let longest = objects.values().map(|f| f.keys().next_back().unwrap() - f.keys().next().unwrap() + 1).max().unwrap();
    eprintln!("stride 40: {} objects, the longest over {longest} frames", objects.len());
    assert!(longest > 4 * 40, "the longest object covers {longest} frames");
    assert!(objects.len() < 30, "{} objects", objects.len());
}
