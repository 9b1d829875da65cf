//! The YOLO adapters on YOLO-layout graphs the project builds itself (tests/python/
//! make_yolo_models.py), and `prelabel run` on the exact YOLOv8n / YOLO26 graphs with random
//! weights from ../shared (AGPL-generated, so never committed).

mod support;

use std::path::{Path, PathBuf};

use prelabel_encord::LabelRow;
use support::*;

/// The generated graphs, in a fresh directory.
fn yolo_graphs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    python_script("make_yolo_models.py", &[dir.path().to_str().unwrap()]);
    dir
}

/// A 128x128 lossless clip: 2 red, 2 green, 2 blue, 2 black frames. In the graphs, red scores
/// class 0 (person) at anchor 0, green class 1 (car) at anchor 1, blue class 2 (dog) at anchor 2.
fn colour_clip(dir: &Path) -> PathBuf {
    let path = dir.join("colours.mkv");
    let colours = ["red", "lime", "blue", "black"];
    let inputs: Vec<String> = colours.iter().map(|c| format!("color=c={c}:s=128x128:r=1:d=2[{c}]")).collect();
    let graph = format!("{};[red][lime][blue][black]concat=n=4", inputs.join(";"));
    ffmpeg(&["-filter_complex", &graph, "-c:v", "ffv1", "-pix_fmt", "bgr0", path.to_str().unwrap()]);
    path
}

fn label(video: &Path, model: &Path, out: &Path, extra: &[&str]) -> LabelRow {
    let mut args = vec!["run", video.to_str().unwrap(), "--model", model.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"];
    args.extend_from_slice(extra);
    prelabel_ok(&args);
    read_label_row(out)
}

/// (frame, class name, x, y, w, h) of every box, in frame order.
fn boxes(row: &LabelRow) -> Vec<(u64, String, [f64; 4])> {
    let unit = row.data_units.values().next().unwrap();
    unit.labels
        .iter()
        .flat_map(|(f, l)| {
            l.objects.iter().map(|o| {
                let b = o.bounding_box;
                (*f, o.name.clone(), [b.x, b.y, b.w, b.h])
            })
        })
        .collect()
}

fn expected_colour_boxes() -> Vec<(u64, String, [f64; 4])> {
    // Anchors (cx, cy, w, h) in the 128x128 input = frame pixels: (32,32,32,32), (96,32,32,48),
    // (64,96,64,32); normalised top-left x, y, w, h below.
    let person = [0.125, 0.125, 0.25, 0.25];
    let car = [0.625, 0.0625, 0.25, 0.375];
    let dog = [0.25, 0.625, 0.5, 0.25];
    [(0, "person", person), (1, "person", person), (2, "car", car), (3, "car", car), (4, "dog", dog), (5, "dog", dog)]
        .into_iter()
        .map(|(f, n, b)| (f, n.to_owned(), b))
        .collect()
}

fn assert_boxes_close(got: &[(u64, String, [f64; 4])], want: &[(u64, String, [f64; 4])]) {
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!((g.0, &g.1), (w.0, &w.1), "{got:?}");
        assert!(g.2.iter().zip(w.2).all(|(a, b)| (a - b).abs() < 1e-6), "{g:?} != {w:?}");
    }
}

#[test]
fn raw_head_and_end_to_end_layouts_put_each_batch_row_on_its_own_frame() {
    let graphs = yolo_graphs();
    let dir = tempfile::tempdir().unwrap();
    let clip = colour_clip(dir.path());
    for model in ["yolo_raw.onnx", "yolo_e2e.onnx"] {
        let model = graphs.path().join(model);
        // Batch 1, a batch of 3 (batches straddle colour changes, the last one short) and 4.
        for batch in ["1", "3", "4"] {
            let out = dir.path().join(format!("b{batch}.json"));
            let row = label(&clip, &model, &out, &["--batch-size", batch, "--score-threshold", "0.5"]);
            assert_boxes_close(&boxes(&row), &expected_colour_boxes());
        }
    }
}

#[test]
fn an_ultralytics_nms_export_runs_one_frame_per_call_whatever_the_batch_size() {
    // Such an export fills only row 0 of a batch: batching it would lose frames 1.. of each batch.
    let graphs = yolo_graphs();
    let dir = tempfile::tempdir().unwrap();
    let clip = colour_clip(dir.path());
    let out = dir.path().join("nms.json");
    let model = graphs.path().join("yolo_e2e_nms_export.onnx");
    let row = label(&clip, &model, &out, &["--batch-size", "4", "--score-threshold", "0.5"]);
    assert_boxes_close(&boxes(&row), &expected_colour_boxes());
}

/// `prelabel run` of bikes.mp4 with the graph `name`, which must be refused as a bad model (exit
/// 11) in one line that names it, with nothing written; returns that line.
fn refused_model(name: &str) -> String {
    let graphs = yolo_graphs();
    let dir = tempfile::tempdir().unwrap();
    let model = graphs.path().join(name);
    let out = prelabel(&[
        "run",
        data("bikes.mp4").to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--out",
        dir.path().join("x.json").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(11), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(name), "{stderr}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "nothing written");
    stderr
}

#[test]
fn a_model_with_an_unknown_output_layout_is_refused_naming_what_it_found() {
    let stderr = refused_model("unknown_layout.onnx");
    assert!(stderr.contains("logits: Tensor<f32>(batch, 7)"), "{stderr}");
}

#[test]
fn a_model_whose_output_is_not_shaped_as_declared_is_refused_when_it_runs() {
    // ONNX Runtime only warns that the run's [1, 18] differs from the declared [batch, 3, 6].
    let stderr = refused_model("yolo_e2e_misdeclared.onnx");
    assert!(stderr.contains("output `output0` has shape [1, 18] where rank 3 was expected"), "{stderr}");
}

/// Runs a real Ultralytics graph on every 25th frame of bikes.mp4 at batch 1 and 4.
fn real_graph_runs_and_batches_agree(name: &str) {
    let Some(model) = shared_asset(name) else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = |batch: &str| {
        let out = dir.path().join(format!("{batch}.json"));
        let args = ["--frame-stride", "25", "--batch-size", batch, "--threads", "2"];
        let row = label(&data("bikes.mp4"), &model, &out, &args);
        let ontology: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(format!("{batch}.ontology.json"))).unwrap()).unwrap();
        assert_eq!(ontology["objects"].as_array().unwrap().len(), 80, "generated from the 80 COCO names in the metadata");
        boxes(&row)
    };
    let single = run("1");
    assert!(!single.is_empty(), "random weights calibrated to fire still give boxes");
    assert!(single.iter().all(|(f, _, b)| f % 25 == 0 && b.iter().all(|v| (0.0..=1.0).contains(v))));
    assert_boxes_close(&run("4"), &single);
}

#[test]
fn prelabel_runs_the_yolov8n_graph() {
    real_graph_runs_and_batches_agree("yolov8n_random.onnx");
}

#[test]
fn prelabel_runs_the_yolo26_end_to_end_graph() {
    real_graph_runs_and_batches_agree("yolo_e2e_random.onnx");
}

#[test]
fn frames_of_several_videos_share_batches_and_return_to_their_own_video() {
    use prelabel_detect::{DetectorOptions, Device, Runtime};
    use prelabel_pipeline::{Detectors, PipelineOptions, detect_videos};

    let graphs = yolo_graphs();
    let dir = tempfile::tempdir().unwrap();
    let clip = colour_clip(dir.path());
    // The same 8 frames three times, and a file that is not a video between them.
    let broken = dir.path().join("broken.mp4");
    std::fs::write(&broken, b"not a video").unwrap();
    let copies: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("c{i}.mkv"))).collect();
    for copy in &copies {
        std::fs::copy(&clip, copy).unwrap();
    }
    let videos: Vec<&Path> = vec![&copies[0], &broken, &copies[1], &copies[2]];

    let options = DetectorOptions {
        device: Device::Cpu,
        // One for each of the two sessions.
        intra_threads: 2,
        score_threshold: 0.5,
        iou_threshold: 0.5,
        max_detections: 100,
        batch_size: 3,
    };
    let mut detectors = Detectors::load(&Runtime::load(None).unwrap(), &graphs.path().join("yolo_raw.onnx"), options, 2).unwrap();
    let pipeline = PipelineOptions {
        decode_threads: 1,
        hw_decode: Default::default(),
        frame_stride: 1,
        queue_batches: 2,
        image_cues: Default::default(),
    };
    let mut results = Vec::new();
    let flow = detect_videos(&videos, &mut detectors, pipeline, 3, |_, _| {}, |i, r| results.push((i, r))).unwrap();

    results.sort_by_key(|(i, _)| *i);
    assert_eq!(results.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 1, 2, 3], "every video is handed over once");
    let error = results[1].1.as_ref().err().unwrap().to_string();
    assert!(error.contains("broken.mp4"), "{error}");
    // Class 0 (person) on the red frames 0-1, 1 (car) on green 2-3, 2 (dog) on blue 4-5; the
    // black frames 6-7 have none.
    let expected_classes = [0, 0, 1, 1, 2, 2];
    for (i, result) in results.iter().filter(|(i, _)| *i != 1) {
        let detected = result.as_ref().unwrap();
        assert_eq!(detected.frames.iter().map(|f| f.frame_index).collect::<Vec<_>>(), (0..8).collect::<Vec<_>>(), "video {i}");
        let classes: Vec<usize> = detected.frames.iter().flat_map(|f| f.detections.iter().map(|d| d.class_index)).collect();
        assert_eq!(classes, expected_classes, "video {i}: its own frames' detections, in frame order");
    }
    // 24 frames at batch 3: 8 calls when the videos share batches (9 if each video's last batch
    // were sent short).
    assert_eq!(flow.batches, 8, "{flow:?}");
    assert_eq!((flow.sessions, flow.decoders), (2, 3));
}
