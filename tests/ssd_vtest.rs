//! `prelabel run` with the bundled real detector on the real vtest.avi footage: the known
//! detections, parity with an independent Python reference decode, and Encord's own SDK reading
//! the label row back. The clip is labelled once and shared by the tests in this file.

mod support;

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::OnceLock;

use prelabel_decode::{TensorWriter, VideoSource};
use prelabel_detect::{Detector, DetectorOptions, Device, Runtime};
use prelabel_encord::{FrameObject, LabelRow};
use serde_json::Value;
use support::*;

struct Labelled {
    _dir: tempfile::TempDir,
    row_path: PathBuf,
    ontology_path: PathBuf,
    row: LabelRow,
    summary: Value,
}

fn labelled() -> &'static Labelled {
    static RUN: OnceLock<Labelled> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let row_path = dir.path().join("vtest.label_row.json");
        let out = prelabel_ok(&[
            "run",
            data("vtest.avi").to_str().unwrap(),
            "--model",
            ssd_model().to_str().unwrap(),
            "--out",
            row_path.to_str().unwrap(),
            "--json-summary",
        ]);
        let summary = serde_json::from_slice(&out.stdout).expect("JSON summary on stdout");
        Labelled { ontology_path: dir.path().join("vtest.ontology.json"), row: read_label_row(&row_path), row_path, summary, _dir: dir }
    })
}

fn frame_objects(row: &LabelRow, frame: u64) -> &[FrameObject] {
    let unit = row.data_units.values().next().expect("one data unit");
    unit.labels.get(&frame).map_or(&[], |l| &l.objects)
}

/// `ffmpeg` output options: H.264 without loss, in 4:4:4 (no chroma resampling).
const LOSSLESS_444: [&str; 6] = ["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p"];

#[test]
fn frame_400_holds_the_three_pedestrians_and_two_parked_vans() {
    let run = labelled();
    let objects = frame_objects(&run.row, 400);
    let count = |name: &str| objects.iter().filter(|o| o.name == name && o.confidence >= 0.5).count();
    assert!(count("person") >= 3, "{objects:#?}");
    assert!(count("car") >= 2, "{objects:#?}");
    assert!(objects.iter().all(|o| !o.manual_annotation && o.object_hash.len() == 8));
    assert_eq!(run.summary["status"], "complete");
    assert_eq!(run.summary["frames"]["decoded"], 795);
    assert_eq!(run.summary["frames"]["detected"], 795);
    assert_eq!(run.row.data_units.values().next().unwrap().width, 768);
}

/// Every 20th frame, as the model input the pipeline makes from it.
fn model_inputs() -> (Vec<u64>, Vec<f32>) {
    let runtime = Runtime::load(None).unwrap();
    let options = DetectorOptions {
        device: Device::Cpu,
        intra_threads: 1,
        score_threshold: 0.4,
        iou_threshold: 0.5,
        max_detections: 100,
        batch_size: 1,
    };
    let detector = Detector::load(&runtime, &ssd_model(), options).unwrap();
    let mut writer = TensorWriter::new(*detector.input_layout());
    let image_len = detector.input_layout().image_len();
    let (mut indices, mut tensor) = (Vec::new(), Vec::new());
    VideoSource::open(&data("vtest.avi"), 1)
        .unwrap()
        .decode(|frame| {
            if frame.index() % 20 == 0 {
                let start = tensor.len();
                tensor.resize(start + image_len, 0.0);
                writer.write(&frame, &mut tensor[start..]).unwrap();
                indices.push(frame.index());
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    (indices, tensor)
}

#[test]
fn boxes_match_an_independent_onnxruntime_reference_decode() {
    let run = labelled();
    let dir = tempfile::tempdir().unwrap();
    let (indices, tensor) = model_inputs();
    let frames_npy = dir.path().join("frames.npy");
    write_npy(&frames_npy, &[indices.len(), 300, 300, 3], &tensor);
    let sizes = dir.path().join("sizes.json");
    std::fs::write(&sizes, serde_json::json!({"width": 768, "height": 576, "frame_indices": indices}).to_string()).unwrap();
    let reference_path = dir.path().join("reference.json");
    python_script(
        "reference_ssd.py",
        &[
            ssd_model().to_str().unwrap(),
            frames_npy.to_str().unwrap(),
            sizes.to_str().unwrap(),
            reference_path.to_str().unwrap(),
            "--score-threshold",
            "0.4",
            "--iou-threshold",
            "0.5",
            "--max-detections",
            "100",
        ],
    );
    let reference: Value = serde_json::from_slice(&std::fs::read(&reference_path).unwrap()).unwrap();
    let labels: Vec<String> =
        std::fs::read_to_string(ssd_model().with_extension("labels.txt")).unwrap().lines().map(str::to_owned).collect();

    let (mut compared, mut worst_iou, mut worst_score) = (0, 1.0f64, 0.0f64);
    for frame in reference["frames"].as_array().unwrap() {
        let index = frame["frame"].as_u64().unwrap();
        let ours = frame_objects(&run.row, index);
        let expected = frame["detections"].as_array().unwrap();
        assert_eq!(ours.len(), expected.len(), "frame {index}: box count differs: ours {ours:#?} reference {expected:#?}");
        let mut unmatched: Vec<&FrameObject> = ours.iter().collect();
        for want in expected {
            let name = &labels[want["class_index"].as_u64().unwrap() as usize];
            let f = |k: &str| want[k].as_f64().unwrap();
            // Encord boxes live inside the frame, so ours are clipped to it; clip the reference too.
            let norm = |v: f64, size: f64| (v / size).clamp(0.0, 1.0);
            let want_box = [norm(f("x1"), 768.0), norm(f("y1"), 576.0), norm(f("x2"), 768.0), norm(f("y2"), 576.0)];
            let (pos, iou) = unmatched
                .iter()
                .enumerate()
                .filter(|(_, o)| &o.name == name)
                .map(|(i, o)| {
                    let b = o.bounding_box;
                    (i, iou(&[b.x, b.y, b.x + b.w, b.y + b.h], &want_box))
                })
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or_else(|| panic!("frame {index}: no {name} box for reference {want}"));
            let got = unmatched.remove(pos);
            assert!(iou >= 0.98, "frame {index}: {name} IoU {iou} with the reference {want}");
            assert!((got.confidence - f("score")).abs() <= 0.01, "frame {index}: {name} score {} vs {want}", got.confidence);
            compared += 1;
            worst_iou = worst_iou.min(iou);
            worst_score = worst_score.max((got.confidence - f("score")).abs());
        }
    }
    assert!(compared > 100, "only {compared} boxes compared");
    let frames = reference["frames"].as_array().unwrap().len();
    eprintln!("parity: {compared} boxes on {frames} frames match; lowest IoU {worst_iou:.6}, largest score difference {worst_score:.2e}");
}

#[test]
fn encord_sdk_reads_back_the_same_boxes_and_confidences() {
    let run = labelled();
    let dir = tempfile::tempdir().unwrap();
    let sdk_view = dir.path().join("sdk.json");
    python_script(
        "check_label_row_sdk.py",
        &[
            run.row_path.to_str().unwrap(),
            run.ontology_path.to_str().unwrap(),
            "--frames",
            "795",
            "--fps",
            "10",
            "--width",
            "768",
            "--height",
            "576",
            sdk_view.to_str().unwrap(),
        ],
    );
    let sdk: Value = serde_json::from_slice(&std::fs::read(&sdk_view).unwrap()).unwrap();
    // (frame, object hash) -> (feature hash, x, y, w, h, confidence) as the SDK read them.
    let read_back: BTreeMap<(u64, String), (String, [f64; 5])> = sdk["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let f = |k: &str| o[k].as_f64().unwrap();
            assert_eq!(o["manual_annotation"], false);
            (
                (o["frame"].as_u64().unwrap(), o["object_hash"].as_str().unwrap().to_owned()),
                (o["feature_hash"].as_str().unwrap().to_owned(), [f("x"), f("y"), f("w"), f("h"), f("confidence")]),
            )
        })
        .collect();
    let unit = run.row.data_units.values().next().unwrap();
    let written: BTreeMap<(u64, String), (String, [f64; 5])> = unit
        .labels
        .iter()
        .flat_map(|(frame, labels)| {
            labels.objects.iter().map(move |o| {
                let b = o.bounding_box;
                ((*frame, o.object_hash.clone()), (o.feature_hash.clone(), [b.x, b.y, b.w, b.h, o.confidence]))
            })
        })
        .collect();
    assert!(written.len() > 1000);
    assert_eq!(read_back, written);
}

#[test]
fn a_video_stored_turned_with_a_display_matrix_is_labelled_as_it_is_shown() {
    // The first 40 frames of vtest.avi, upright, and stored turned a quarter clockwise with a
    // display matrix that turns them back (FFmpeg 5.1 writes `rotate=90` as a quarter turn
    // counter-clockwise on display), as a phone stores portrait video; both lossless 4:4:4, so
    // the detector sees the same picture, resampled along other axes.
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let (upright, turned, stored) = (path("upright.mp4"), path("turned.mp4"), path("stored.mp4"));
    ffmpeg(&[&["-i", data("vtest.avi").to_str().unwrap(), "-frames:v", "40"], &LOSSLESS_444[..], &[&upright]].concat());
    ffmpeg(&[&["-i", &upright, "-vf", "transpose=clock"], &LOSSLESS_444[..], &[&turned]].concat());
    ffmpeg(&["-i", &turned, "-c", "copy", "-metadata:s:v:0", "rotate=90", &stored]);

    let (upright_summary, upright_boxes) = label_boxes(&upright);
    let (stored_summary, stored_boxes) = label_boxes(&stored);
    for (summary, video) in [(&upright_summary, &upright), (&stored_summary, &stored)] {
        assert_eq!((&summary["video"]["width"], &summary["video"]["height"]), (&768.into(), &576.into()), "{video}: the frame as shown");
    }
    assert_eq!(upright_summary["video"]["rotation"], 0);
    assert_eq!(stored_summary["video"]["rotation"], 270);

    // Every box of each run has its twin in the other: same frame and class, IoU ≥ 0.9.
    assert!(upright_boxes.len() >= 100, "{} boxes", upright_boxes.len());
    let (found, kept) = (twinned(&upright_boxes, &stored_boxes, 0.9), twinned(&stored_boxes, &upright_boxes, 0.9));
    eprintln!("turned video: {found} of {} upright boxes found, {kept} of {} kept", upright_boxes.len(), stored_boxes.len());
    assert!(found as f64 >= 0.97 * upright_boxes.len() as f64 && kept as f64 >= 0.97 * stored_boxes.len() as f64);
}

/// A box of a label row: its frame, its class name, and its normalised corners.
type RowBox = (u64, String, [f64; 4]);

/// `prelabel run` on `video` with the bundled detector: the JSON summary and every box of the
/// label row, which must be normalised by the size the summary gives.
fn label_boxes(video: &str) -> (Value, Vec<RowBox>) {
    let out = format!("{video}.label_row.json");
    let ran = prelabel_ok(&["run", video, "--model", ssd_model().to_str().unwrap(), "--out", &out, "--json-summary"]);
    let summary: Value = serde_json::from_slice(&ran.stdout).unwrap();
    let row = read_label_row(std::path::Path::new(&out));
    let unit = row.data_units.values().next().unwrap();
    assert_eq!(
        (Value::from(unit.width), Value::from(unit.height)),
        (summary["video"]["width"].clone(), summary["video"]["height"].clone())
    );
    let boxes = unit
        .labels
        .iter()
        .flat_map(|(frame, l)| l.objects.iter().map(move |o| (*frame, o.name.clone(), o.bounding_box)))
        .map(|(frame, name, b)| (frame, name, [b.x, b.y, b.x + b.w, b.y + b.h]))
        .collect();
    (summary, boxes)
}

/// How many of `ours` have a twin among `theirs`: same frame and class, IoU at least `min_iou`.
fn twinned(ours: &[RowBox], theirs: &[RowBox], min_iou: f64) -> usize {
    ours.iter().filter(|(f, n, b)| theirs.iter().any(|(g, m, c)| f == g && n == m && iou(b, c) >= min_iou)).count()
}

#[test]
fn a_video_that_changes_resolution_part_way_is_labelled_at_one_size() {
    // The first 20 frames of vtest.avi at 768 × 576, then the same 20 frames at 384 × 288: new
    // sequence parameters part-way through one MPEG-TS stream, as when recordings are joined.
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let vtest = data("vtest.avi");
    let first_20 = ["-i", vtest.to_str().unwrap(), "-frames:v", "20"];
    let (full, half, joined) = (path("full.ts"), path("half.ts"), path("joined.ts"));
    ffmpeg(&[&first_20[..], &LOSSLESS_444[..], &[&full]].concat());
    ffmpeg(&[&first_20[..], &["-vf", "scale=384:288:flags=area"], &LOSSLESS_444[..], &[&half]].concat());
    ffmpeg(&["-i", &format!("concat:{full}|{half}"), "-c", "copy", &joined]);

    let (summary, boxes) = label_boxes(&joined);
    assert_eq!(summary["frames"]["decoded"], 40, "{summary}");
    let (first, second): (Vec<RowBox>, Vec<RowBox>) = boxes.into_iter().partition(|(frame, _, _)| *frame < 20);
    let second: Vec<RowBox> = second.into_iter().map(|(frame, name, b)| (frame - 20, name, b)).collect();
    // Each box on the second 20 frames lies where its twin on the first 20 does.
    assert!(first.len() >= 50, "{} boxes", first.len());
    let (found, kept) = (twinned(&first, &second, 0.8), twinned(&second, &first, 0.8));
    eprintln!("joined video: {found} of {} full-size boxes found at half size, {kept} of {} kept", first.len(), second.len());
    assert!(found as f64 >= 0.9 * first.len() as f64 && kept as f64 >= 0.9 * second.len() as f64);
}
