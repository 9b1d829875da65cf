//! Every kind of bad input gets a one-line error naming the file and the cause, its own exit
//! code, and leaves nothing half-written behind.

mod support;

use std::path::Path;
use std::process::Output;

use support::*;

/// Exit codes of `prelabel run` (see src/exit.rs).
const PARTIAL: i32 = 3;
const BAD_VIDEO: i32 = 10;
const BAD_MODEL: i32 = 11;
const BAD_ONTOLOGY: i32 = 12;
const OUTPUT: i32 = 13;

/// Runs `prelabel run VIDEO --model MODEL --out DIR/out.json EXTRA…`.
fn run(video: &Path, model: &Path, out_dir: &Path, extra: &[&str]) -> Output {
    let out = out_dir.join("out.json");
    let mut args = vec!["run", video.to_str().unwrap(), "--model", model.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    prelabel(&args)
}

/// The run failed with `code` and one stderr line that names `input` and contains `cause`.
fn assert_one_line_error(out: &Output, code: i32, input: &Path, cause: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    let line = stderr.trim_end();
    assert!(line.starts_with("error: "), "{line}");
    assert!(line.contains(&input.display().to_string()), "names {}: {line}", input.display());
    assert!(line.to_lowercase().contains(cause), "says `{cause}`: {line}");
}

fn assert_empty(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn missing_video() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("nope.mp4");
    let out_dir = tempfile::tempdir().unwrap();
    assert_one_line_error(&run(&video, &ssd_model(), out_dir.path(), &[]), BAD_VIDEO, &video, "no such file");
    assert_empty(out_dir.path());
}

#[test]
fn files_that_are_not_videos() {
    let dir = tempfile::tempdir().unwrap();
    let random = dir.path().join("random.mp4");
    std::fs::write(&random, (0u32..100_000).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8).collect::<Vec<_>>()).unwrap();
    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let audio = dir.path().join("tone.m4a");
    ffmpeg(&["-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "aac", audio.to_str().unwrap()]);
    for (video, cause) in [(&random, "not a video"), (&empty, "not a video"), (&audio, "no video stream")] {
        let out_dir = tempfile::tempdir().unwrap();
        assert_one_line_error(&run(video, &ssd_model(), out_dir.path(), &[]), BAD_VIDEO, video, cause);
        assert_empty(out_dir.path());
    }
}

#[test]
fn truncated_video_is_labelled_as_far_as_it_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("truncated.avi");
    let bytes = std::fs::read(data("vtest.avi")).unwrap();
    std::fs::write(&video, &bytes[..bytes.len() * 3 / 10]).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(&video, &ssd_model(), out_dir.path(), &["--frame-stride", "10", "--json-summary"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(PARTIAL), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with(&format!("warning: {}: partly decoded", video.display())), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["status"], "partial");
    let decoded = summary["frames"]["decoded"].as_u64().unwrap();
    assert!(decoded > 100 && decoded < 795, "{summary}");
    assert_eq!(summary["frames"]["lost"].as_u64().unwrap(), 795 - decoded);
    assert!(stderr.contains(&format!("{} frames lost", 795 - decoded)), "{stderr}");
    // The frames that did decode are labelled.
    let row = read_label_row(&out_dir.path().join("out.json"));
    let labels = &row.data_units.values().next().unwrap().labels;
    assert!(labels.len() > 10 && labels.keys().all(|f| *f < decoded && f % 10 == 0));
}

#[test]
fn model_that_is_not_onnx() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.onnx");
    std::fs::write(&model, b"this is not a protobuf, just text pretending to be a model").unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    assert_one_line_error(&run(&data("bikes.mp4"), &model, out_dir.path(), &[]), BAD_MODEL, &model, "not a loadable onnx model");
    let missing = dir.path().join("missing.onnx");
    assert_one_line_error(&run(&data("bikes.mp4"), &missing, out_dir.path(), &[]), BAD_MODEL, &missing, "no such model file");
    assert_empty(out_dir.path());
}

#[test]
fn ontology_that_does_not_parse() {
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated.json");
    std::fs::write(&truncated, br#"{"objects": [{"id": "1", "name": "Car""#).unwrap();
    let wrong_shape = dir.path().join("wrong.json");
    std::fs::write(&wrong_shape, br#"{"objects": "car"}"#).unwrap();
    for ontology in [&truncated, &wrong_shape] {
        let out_dir = tempfile::tempdir().unwrap();
        let out = run(&data("bikes.mp4"), &ssd_model(), out_dir.path(), &["--ontology", ontology.to_str().unwrap()]);
        assert_one_line_error(&out, BAD_ONTOLOGY, ontology, "not an encord ontology");
        assert_empty(out_dir.path());
    }
}

#[test]
fn alias_to_an_object_the_ontology_lacks() {
    let ontology = root().join("crates/prelabel-encord/tests/fixtures/ontology_example.json");
    let out_dir = tempfile::tempdir().unwrap();
    let args = ["--ontology", ontology.to_str().unwrap(), "--alias", "person=Pedestrian"];
    let out = run(&data("bikes.mp4"), &ssd_model(), out_dir.path(), &args);
    assert_one_line_error(&out, BAD_ONTOLOGY, &ontology, "no bounding-box object named `pedestrian`");
    assert_empty(out_dir.path());
}

#[test]
fn output_that_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    // A directory that does not exist, a path below a regular file, and a directory itself.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let targets = [dir.path().join("missing/out.json"), blocker.join("out.json"), dir.path().to_path_buf()];
    for target in &targets {
        let out = prelabel(&[
            "run",
            data("bikes.mp4").to_str().unwrap(),
            "--model",
            ssd_model().to_str().unwrap(),
            "--out",
            target.to_str().unwrap(),
        ]);
        assert_one_line_error(&out, OUTPUT, target, "cannot write");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["file"], "nothing half-written");
}

#[test]
fn existing_output_is_replaced_whole() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("out.json");
    std::fs::write(&out, b"old").unwrap();
    let ran = run(&data("bikes.mp4"), &ssd_model(), out_dir.path(), &["--frame-stride", "50", "--quiet"]);
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let row = read_label_row(&out);
    assert_eq!(row.data_title, "bikes.mp4");
    let mut names: Vec<_> = std::fs::read_dir(out_dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    assert_eq!(names, ["out.json", "out.ontology.json"], "no temporary files left");
}

#[test]
fn a_gpu_device_that_is_not_there_fails_unless_auto_is_asked_to_fall_back() {
    // This build (and this machine) has no CUDA: `cuda` is an error, never a silent CPU run.
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(&data("bikes.mp4"), &ssd_model(), out_dir.path(), &["--device", "cuda"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(14), "the runtime code: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cuda"), "{stderr}");
    assert_empty(out_dir.path());

    // `auto` labels on the CPU and says so once.
    let out = run(&data("bikes.mp4"), &ssd_model(), out_dir.path(), &["--device", "auto", "--frame-stride", "50", "--quiet"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.matches("warning: --device auto: using the cpu").count(), 1, "{stderr}");
    assert!(out_dir.path().join("out.json").is_file());
}

#[test]
fn nvdec_falls_back_to_software_where_there_is_no_gpu_and_labels_the_same() {
    let out_dir = tempfile::tempdir().unwrap();
    let label = |extra: &[&str]| {
        let mut args = vec!["--frame-stride", "25", "--json-summary"];
        args.extend_from_slice(extra);
        let out = run(&data("bikes.mp4"), &ssd_model(), out_dir.path(), &args);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let row = read_label_row(&out_dir.path().join("out.json"));
        let boxes: Vec<(u64, String, f64, f64, f64, f64)> = row
            .data_units
            .values()
            .next()
            .unwrap()
            .labels
            .iter()
            .flat_map(|(f, l)| {
                l.objects.iter().map(|o| (*f, o.name.clone(), o.bounding_box.x, o.bounding_box.y, o.bounding_box.w, o.bounding_box.h))
            })
            .collect();
        (summary, boxes)
    };
    let (software, software_labels) = label(&[]);
    let (nvdec, nvdec_labels) = label(&["--decoder", "nvdec"]);
    assert_eq!(software["video"]["decoder"], "software");
    // bikes.mp4 is H.264, which NVDEC decodes; this machine has no CUDA device.
    let decoder = nvdec["video"]["decoder"].as_str().unwrap();
    assert!(decoder.starts_with("software (no CUDA device"), "{decoder}");
    assert_eq!(nvdec["frames"]["hw_decoded"], 0);
    assert_eq!(nvdec["frames"]["decoded"], 250);
    assert!(!software_labels.is_empty());
    assert_eq!(nvdec_labels, software_labels);
}

#[test]
fn tracking_flags_without_tracking_are_warned_about_not_silently_dropped() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(&data("vtest.avi"), &ssd_model(), out_dir.path(), &["--frame-stride", "100", "--linear-interpolation", "--quiet"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("warning: tracking is off, so"), "{stderr}");
    let quiet = run(&data("vtest.avi"), &ssd_model(), out_dir.path(), &["--frame-stride", "100", "--quiet"]);
    assert!(quiet.stderr.is_empty(), "{}", String::from_utf8_lossy(&quiet.stderr));
}
