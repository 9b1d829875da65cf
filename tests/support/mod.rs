//! Helpers shared by the integration tests: the built binary, the test venv's Python, FFmpeg.
#![allow(dead_code)] // each test file uses its own subset

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use prelabel_encord::LabelRow;

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A bundled test clip.
pub fn data(name: &str) -> PathBuf {
    root().join("tests/data").join(name)
}

/// The bundled real detector.
pub fn ssd_model() -> PathBuf {
    root().join("models/ssdlite_mobilenet_v2_coco_300.onnx")
}

/// Runs the `prelabel` binary built with this test.
pub fn prelabel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_prelabel")).args(args).output().expect("run prelabel")
}

/// Runs `prelabel` and fails the test with its stderr unless it exits 0.
pub fn prelabel_ok(args: &[&str]) -> Output {
    let out = prelabel(args);
    assert!(out.status.success(), "prelabel {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The test venv's Python (made by `scripts/setup --python`, which `scripts/test` runs).
pub fn python() -> Command {
    let python = std::env::var_os("PRELABEL_PYTHON").map_or_else(|| root().join(".venv/bin/python"), PathBuf::from);
    assert!(python.exists(), "{}: the test venv is missing; run scripts/test (or scripts/setup --python)", python.display());
    Command::new(python)
}

/// Runs a script from tests/python and fails the test with its output unless it exits 0.
pub fn python_script(script: &str, args: &[&str]) -> Output {
    let out = python().arg(root().join("tests/python").join(script)).args(args).output().expect("run python");
    assert!(
        out.status.success(),
        "{script} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs the `ffmpeg` CLI (installed by scripts/setup) to make a test input.
pub fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg").args(["-v", "error", "-y"]).args(args).status().expect("ffmpeg CLI");
    assert!(status.success(), "ffmpeg {args:?} failed");
}

/// Reads a label row written by `prelabel run`.
pub fn read_label_row(path: &Path) -> LabelRow {
    serde_json::from_slice(&std::fs::read(path).expect("label row file")).expect("label row JSON")
}

/// A file from ../shared/assets that must not be committed (AGPL-generated graphs), or `None`
/// with a note on stderr when this checkout has no ../shared.
pub fn shared_asset(name: &str) -> Option<PathBuf> {
    let path = root().join("../shared/assets").join(name);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!("SKIPPED: {} not found (AGPL-generated graphs are used from ../shared only)", path.display());
        None
    }
}

/// The stored label row of the test project's video `data_hash`, read through the Encord API.
pub fn stored_row(client: &prelabel_encord::client::EncordClient, data_hash: &str) -> serde_json::Value {
    let meta = client.label_row_metadata(ids::PROJECT, &[data_hash.to_owned()]).unwrap();
    let label_hash = meta[0].label_hash.clone().expect("the row exists");
    client.label_rows(ids::PROJECT, &[label_hash]).unwrap().remove(0)
}

/// (frame, object hash) → the object entry, for every object of a label row; fails on an
/// object twice on one frame.
pub fn objects(row: &serde_json::Value) -> std::collections::BTreeMap<(u64, String), serde_json::Value> {
    let data_hash = row["data_hash"].as_str().unwrap();
    let mut out = std::collections::BTreeMap::new();
    for (frame, labels) in row["data_units"][data_hash]["labels"].as_object().into_iter().flatten() {
        for object in labels["objects"].as_array().into_iter().flatten() {
            let key = (frame.parse().unwrap(), object["objectHash"].as_str().unwrap().to_owned());
            assert!(out.insert(key, object.clone()).is_none(), "an object twice on one frame");
        }
    }
    out
}

/// A label row for `video` (the test project's video 0) holding one box a person drew on
/// `frame` (`HumanBx1`, class person, normalised `[x, y, w, h]`), and that object entry.
pub fn human_row(video: &Path, frame: u64, bbox: [f64; 4]) -> (serde_json::Value, serde_json::Value) {
    let labels: Vec<String> =
        std::fs::read_to_string(ssd_model().with_extension("labels.txt")).unwrap().lines().map(str::to_owned).collect();
    let person = prelabel_encord::Ontology::from_class_names(&labels).objects[0].clone();
    let info = prelabel_decode::VideoSource::open(video, 1).unwrap().info().clone();
    let title = video.file_name().unwrap().to_str().unwrap();
    let object = serde_json::json!({"name": person.name, "color": person.color, "shape": "bounding_box", "value": "person",
        "createdAt": "Thu, 02 Jan 2025 03:04:05 UTC", "createdBy": "ann@example.com", "confidence": 1.0,
        "objectHash": "HumanBx1", "featureHash": person.feature_node_hash, "manualAnnotation": true,
        "lastEditedAt": "Thu, 02 Jan 2025 03:04:05 UTC", "lastEditedBy": "ann@example.com",
        "boundingBox": {"x": bbox[0], "y": bbox[1], "w": bbox[2], "h": bbox[3]}});
    let data_hash = ids::data_hash(0);
    let row = serde_json::json!({"label_hash": null, "branch_name": "main", "created_at": null, "last_edited_at": null,
        "data_hash": data_hash, "dataset_hash": "00000000-0000-4000-8000-0000000000e1", "dataset_title": "Street videos",
        "data_title": title, "data_type": "video", "annotation_task_status": null, "is_shadow_data": false,
        "object_answers": {"HumanBx1": {"classifications": [], "objectHash": "HumanBx1"}},
        "classification_answers": {}, "object_actions": {}, "label_status": "LABEL_IN_PROGRESS",
        "data_units": {data_hash.clone(): {"data_hash": data_hash, "data_title": title, "data_link": format!("videos/{title}"),
            "data_type": prelabel_encord::mime_type_for(video), "data_sequence": 0, "width": info.width, "height": info.height,
            "labels": {frame.to_string(): {"objects": [object.clone()], "classifications": []}},
            "data_duration": info.duration_secs.unwrap_or_default(), "data_fps": info.fps}},
        "spaces": {}});
    (row, object)
}

/// Intersection over union of two `[x1, y1, x2, y2]` boxes; 0 when both are empty.
pub fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// Writes a float32 array as a NumPy `.npy` file.
pub fn write_npy(path: &Path, shape: &[usize], data: &[f32]) {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}", dims.join(", "));
    // Magic (6) + version (2) + length (2) + header, padded with spaces to 64 bytes, ending in \n.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).expect("write npy");
}

/// A running `prelabel serve`.
pub struct Server {
    child: Option<Child>,
    /// The port it listens on.
    pub port: u16,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    log: PathBuf,
}

impl Server {
    /// Starts `prelabel serve --project-dir DIR ARGS…` on a free port and waits for its
    /// `listening on` line; its stderr goes to `DIR/../server-<n>.log`.
    pub fn start(project_dir: &Path, args: &[&str]) -> Self {
        let log = (0..).map(|n| project_dir.with_file_name(format!("server-{n}.log"))).find(|p| !p.exists()).expect("log name");
        let mut child = Command::new(env!("CARGO_BIN_EXE_prelabel"))
            .arg("serve")
            .arg("--project-dir")
            .arg(project_dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start prelabel serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read stdout");
        let Some(base) = line.trim().strip_prefix("listening on ").map(str::to_owned) else {
            let _ = child.kill();
            panic!("prelabel serve did not start: {line:?}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        };
        let port = base.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port in the listening line");
        Self { child: Some(child), port, base, log }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and checks that the server exits with status 0.
    pub fn stop(mut self) {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
        assert!(status.success());
        let exit = child.wait().expect("wait for the server");
        assert!(exit.success(), "prelabel serve exited with {exit}:\n{}", self.log());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Makes an Ed25519 key pair with `ssh-keygen`; returns the private key's path.
pub fn keygen(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let status =
        Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"]).arg(&path).status().expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen failed");
    path
}

/// Ids of the test project (see `project_json`).
pub mod ids {
    /// The project.
    pub const PROJECT: &str = "00000000-0000-4000-8000-0000000000a1";
    /// The agent stage "Pre-Labeling Agent".
    pub const AGENT_STAGE: &str = "00000000-0000-4000-8000-0000000000c1";
    /// The annotation stage "Annotate 1".
    pub const ANNOTATE_STAGE: &str = "00000000-0000-4000-8000-0000000000c2";
    /// The review stage "Review 1" (where the "Failed" pathway leads).
    pub const REVIEW_STAGE: &str = "00000000-0000-4000-8000-0000000000c3";

    /// The data hash of the i-th video.
    pub fn data_hash(i: usize) -> String {
        format!("00000000-0000-4000-8000-00000000f{i:03}")
    }

    /// The task of the i-th video.
    pub fn task(i: usize) -> String {
        format!("00000000-0000-4000-8000-0000000002{i:02}")
    }
}

/// Writes a workflow project for `prelabel serve` into `dir`: the ontology generated from the
/// bundled model's COCO classes, an agent stage "Pre-Labeling Agent" with pathways "Annotate 1"
/// and "Failed", and one task per video (copied into `dir/videos`), each with `extra`
/// fields merged into its entry (e.g. `initial_label_row`, or `width`… for a file FFmpeg cannot
/// probe); `public_key` is the one registered user's (agent@example.com).
pub fn project_json(dir: &Path, videos: &[(&Path, serde_json::Value)], public_key: &str) {
    let labels: Vec<String> =
        std::fs::read_to_string(ssd_model().with_extension("labels.txt")).unwrap().lines().map(str::to_owned).collect();
    let ontology = prelabel_encord::Ontology::from_class_names(&labels);
    std::fs::create_dir_all(dir.join("videos")).unwrap();
    let videos: Vec<serde_json::Value> = videos
        .iter()
        .enumerate()
        .map(|(i, (path, extra))| {
            let file = format!("videos/{}", path.file_name().unwrap().to_str().unwrap());
            std::fs::copy(path, dir.join(&file)).unwrap();
            let mut video = serde_json::json!({
                "file": file, "data_hash": ids::data_hash(i), "task_uuid": ids::task(i),
                "storage_item_uuid": format!("00000000-0000-4000-8000-0000000003{i:02}"), "stage": ids::AGENT_STAGE,
            });
            for (key, value) in extra.as_object().into_iter().flatten() {
                video[key] = value.clone();
            }
            video
        })
        .collect();
    let project = serde_json::json!({
        "project": {"hash": ids::PROJECT, "title": "Street footage"},
        "ontology": {"hash": "00000000-0000-4000-8000-0000000000b1", "title": "COCO", "structure": ontology},
        "dataset": {"hash": "00000000-0000-4000-8000-0000000000e1", "title": "Street videos"},
        "stages": [
            {"uuid": ids::AGENT_STAGE, "title": "Pre-Labeling Agent", "type": "AGENT", "pathways": [
                {"uuid": "00000000-0000-4000-8000-0000000000d1", "title": "Annotate 1", "destination": ids::ANNOTATE_STAGE},
                {"uuid": "00000000-0000-4000-8000-0000000000d2", "title": "Failed", "destination": ids::REVIEW_STAGE}]},
            {"uuid": ids::ANNOTATE_STAGE, "title": "Annotate 1", "type": "ANNOTATION"},
            {"uuid": ids::REVIEW_STAGE, "title": "Review 1", "type": "REVIEW"},
            {"uuid": "00000000-0000-4000-8000-0000000000c4", "title": "Complete", "type": "DONE"}
        ],
        "videos": videos,
        "users": [{"email": "agent@example.com", "public_key": public_key}],
    });
    std::fs::write(dir.join("project.json"), serde_json::to_vec_pretty(&project).unwrap()).unwrap();
}
