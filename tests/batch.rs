//! `prelabel batch`: a manifest with a corrupt video and bad lines, a run killed half-way and
//! resumed, and shards that split the manifest.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use support::*;

fn batch(manifest: &Path, out_dir: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_prelabel"));
    command
        .args(["batch", "--manifest", manifest.to_str().unwrap(), "--out-dir", out_dir.to_str().unwrap()])
        .args(["--model", ssd_model().to_str().unwrap(), "--threads", "1"])
        .args(extra);
    command
}

fn run_batch(manifest: &Path, out_dir: &Path, extra: &[&str]) -> Output {
    batch(manifest, out_dir, extra).output().expect("run prelabel batch")
}

/// `n` copies of a clip under distinct names (so distinct derived data hashes), and a manifest.
fn copies(dir: &Path, clip: &Path, n: usize) -> (PathBuf, Vec<PathBuf>) {
    let ext = clip.extension().unwrap().to_str().unwrap();
    let files: Vec<PathBuf> = (0..n)
        .map(|i| {
            let path = dir.join(format!("clip-{i}.{ext}"));
            std::fs::copy(clip, &path).unwrap();
            path
        })
        .collect();
    let manifest = dir.join("videos.jsonl");
    let lines: Vec<String> =
        files.iter().map(|f| serde_json::json!({"path": f.file_name().unwrap().to_str().unwrap()}).to_string()).collect();
    std::fs::write(&manifest, lines.join("\n")).unwrap();
    (manifest, files)
}

fn label_rows(out_dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".label_row.json"))
        .collect()
}

/// A label row with its creation and edit times blanked (they say when, not what).
fn without_times(path: &Path) -> Value {
    fn blank(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    if ["createdAt", "lastEditedAt", "created_at", "last_edited_at"].contains(&key.as_str()) {
                        *value = Value::Null;
                    } else {
                        blank(value);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(blank),
            _ => {}
        }
    }
    let mut row: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    blank(&mut row);
    row
}

#[test]
fn good_videos_are_labelled_and_the_corrupt_one_and_bad_lines_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(data("bikes.mp4"), dir.path().join("bikes.mp4")).unwrap();
    std::fs::copy(data("vtest.avi"), dir.path().join("vtest.avi")).unwrap();
    std::fs::write(dir.path().join("broken.mp4"), (0u32..50_000).map(|i| (i.wrapping_mul(2654435761) >> 7) as u8).collect::<Vec<_>>())
        .unwrap();
    let manifest = dir.path().join("videos.jsonl");
    std::fs::write(
        &manifest,
        "{\"path\": \"bikes.mp4\", \"data_hash\": \"00000000-0000-4000-8000-00000000f001\"}\n\
         {\"path\": \"broken.mp4\"}\n\
         this line is not JSON\n\
         {\"path\": \"vtest.avi\"}\n",
    )
    .unwrap();
    let out_dir = dir.path().join("labels");
    // Two videos decoding at once: the corrupt one fails while a good one is in flight.
    let out = run_batch(&manifest, &out_dir, &["--frame-stride", "25", "--max-in-flight-videos", "2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "some failed: {stderr}");
    assert!(stderr.contains(&format!("{}:3: skipped: not JSON", manifest.display())), "{stderr}");

    let summary: Value = serde_json::from_slice(&std::fs::read(out_dir.join("summary.json")).unwrap()).unwrap();
    let status: Vec<(&str, &str)> = summary["videos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["source"].as_str().unwrap().rsplit('/').next().unwrap(), v["status"].as_str().unwrap()))
        .collect();
    assert_eq!(status, [("bikes.mp4", "done"), ("broken.mp4", "failed"), ("vtest.avi", "done")], "in manifest order");
    assert!(summary["videos"][1]["error"].as_str().unwrap().contains("broken.mp4"), "{summary}");
    assert_eq!(summary["bad_lines"][0]["line"], 3);
    let rows = label_rows(&out_dir);
    assert_eq!(rows.len(), 2);
    assert!(rows.contains("00000000-0000-4000-8000-00000000f001.label_row.json"), "the given data hash names the output");
    assert!(read_label_row(&out_dir.join("00000000-0000-4000-8000-00000000f001.label_row.json")).object_answers.len() > 5);
}

#[test]
fn a_killed_run_resumes_without_redoing_finished_videos_and_ends_like_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, _) = copies(dir.path(), &data("vtest.avi"), 4);
    let args = ["--frame-stride", "5"];

    let killed_dir = dir.path().join("killed");
    let mut child = batch(&manifest, &killed_dir, &args).stderr(std::process::Stdio::null()).spawn().unwrap();
    let first_done = (0..6000).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        killed_dir.exists() && !label_rows(&killed_dir).is_empty()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(first_done, "the first video was finished before the kill");
    let before = label_rows(&killed_dir);
    assert!(before.len() < 4, "killed half-way, not at the end");
    for row in &before {
        read_label_row(&killed_dir.join(row)); // every file left is a complete label row
    }
    // The kill may land inside a write (the summary is rewritten after each video): its temporary
    // file is left. A resumed run keeps a fresh one, which may be another shard's write in progress,
    // so the killed run is dated an hour back, as a crashed host's would be by the time it resumes.
    for entry in std::fs::read_dir(&killed_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "tmp") {
            date_back_an_hour(&path);
        }
    }

    let resumed = run_batch(&manifest, &killed_dir, &args);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let summary: Value = serde_json::from_slice(&std::fs::read(killed_dir.join("summary.json")).unwrap()).unwrap();
    let already: usize = summary["videos"].as_array().unwrap().iter().filter(|v| v["status"] == "already_done").count();
    assert_eq!(already, before.len(), "finished videos are not redone");
    let leftovers: Vec<String> = std::fs::read_dir(&killed_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let clean_dir = dir.path().join("clean");
    assert!(run_batch(&manifest, &clean_dir, &args).status.success());
    assert_eq!(label_rows(&killed_dir), label_rows(&clean_dir));
    for row in label_rows(&clean_dir) {
        assert_eq!(without_times(&killed_dir.join(&row)), without_times(&clean_dir.join(&row)), "{row}");
    }
}

#[test]
fn three_shards_split_the_manifest_without_overlap_in_one_shared_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, files) = copies(dir.path(), &data("bikes.mp4"), 9);
    // The shared folder holds a temporary file a killed run left an hour ago, and one another
    // shard is writing now: the first goes, the second stays.
    let out_dir = dir.path().join("labels");
    std::fs::create_dir_all(&out_dir).unwrap();
    let (stale, fresh) = (out_dir.join(".prelabel-killed.tmp"), out_dir.join(".prelabel-writing.tmp"));
    std::fs::write(&stale, b"partial").unwrap();
    std::fs::write(&fresh, b"partial").unwrap();
    date_back_an_hour(&stale);
    // The three shards at once, as the pods of an Indexed Job on a shared volume run.
    let shards: Vec<(&str, std::process::Child)> = ["0/3", "1/3", "2/3"]
        .into_iter()
        .map(|shard| {
            let mut command = batch(&manifest, &out_dir, &["--shard", shard, "--frame-stride", "50"]);
            (shard, command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap())
        })
        .collect();
    let mut seen: Vec<BTreeSet<String>> = Vec::new();
    for (shard, child) in shards {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{shard}: {}", String::from_utf8_lossy(&out.stderr));
        let file = out_dir.join(format!("summary-shard-{}-of-3.json", &shard[..1]));
        let summary: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        seen.push(
            summary["videos"].as_array().unwrap().iter().map(|v| format!("{}.label_row.json", v["data_hash"].as_str().unwrap())).collect(),
        );
    }
    let all: BTreeSet<String> = files.iter().map(|f| format!("{}.label_row.json", prelabel_pipeline::derived_data_hash(f))).collect();
    let union: BTreeSet<String> = seen.iter().flatten().cloned().collect();
    assert_eq!(union, all, "together the shards cover the manifest");
    assert_eq!(seen.iter().map(BTreeSet::len).sum::<usize>(), all.len(), "no video in two shards");
    assert!(seen.iter().all(|s| !s.is_empty()), "each shard had work: {seen:?}");
    assert_eq!(label_rows(&out_dir), all, "every row written, none lost to another shard");
    assert!(!stale.exists() && fresh.exists());
    assert!(!out_dir.join("summary.json").exists());
}

/// `python3 -m http.server` on a loopback port, serving `dir`; killed when dropped.
struct FileServer(std::process::Child, u16);

impl FileServer {
    fn start(dir: &Path) -> Self {
        use std::io::BufRead;
        let mut child = Command::new("python3")
            .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", dir.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 http.server");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
        let port = line.split(" port ").nth(1).and_then(|r| r.split_whitespace().next()).and_then(|p| p.parse().ok());
        Self(child, port.unwrap_or_else(|| panic!("unexpected http.server line {line:?}")))
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn url_entries_are_downloaded_labelled_and_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("served");
    std::fs::create_dir(&served).unwrap();
    std::fs::copy(data("bikes.mp4"), served.join("bikes.mp4")).unwrap();
    let files = FileServer::start(&served);
    let url = format!("http://127.0.0.1:{}/bikes.mp4", files.1);
    let manifest = dir.path().join("videos.jsonl");
    let lines = [
        serde_json::json!({"url": url, "title": "street.mp4", "data_hash": "00000000-0000-4000-8000-00000000f001"}).to_string(),
        serde_json::json!({"url": format!("http://127.0.0.1:{}/missing.mp4", files.1)}).to_string(),
    ];
    std::fs::write(&manifest, lines.join("\n")).unwrap();
    let out_dir = dir.path().join("labels");
    let out = run_batch(&manifest, &out_dir, &["--frame-stride", "25"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    let summary: Value = serde_json::from_slice(&std::fs::read(out_dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["videos"][0]["status"], "done", "{summary}");
    assert_eq!(summary["videos"][1]["status"], "failed");
    assert!(summary["videos"][1]["error"].as_str().unwrap().contains("HTTP 404"), "{summary}");
    let row = read_label_row(&out_dir.join("00000000-0000-4000-8000-00000000f001.label_row.json"));
    assert_eq!(row.data_title, "street.mp4");
    let unit = row.data_units.values().next().unwrap();
    assert_eq!((unit.data_link.as_str(), unit.width, unit.height), (url.as_str(), 640, 272));
    assert!(!unit.labels.is_empty());
    assert_eq!(label_rows(&out_dir).len(), 1);
    let temporaries =
        std::fs::read_dir(&out_dir).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".tmp")).count();
    assert_eq!(temporaries, 0, "downloads are deleted");
}

#[test]
fn upload_saves_each_row_to_the_project_beside_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "agent_key");
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap().trim().to_owned();
    let bikes = data("bikes.mp4");
    let (human, human_object) = human_row(&bikes, 3, [0.1, 0.1, 0.2, 0.2]);
    let project = dir.path().join("project");
    project_json(&project, &[(&bikes, serde_json::json!({"initial_label_row": human}))], &public);
    let server = Server::start(&project, &[]);
    let manifest = dir.path().join("videos.jsonl");
    std::fs::write(&manifest, serde_json::json!({"path": bikes.to_str().unwrap(), "data_hash": ids::data_hash(0)}).to_string()).unwrap();
    let out_dir = dir.path().join("labels");
    // A first run without --upload writes the file only; the run with --upload then uploads that
    // file rather than taking it for done (and a third run has nothing left to do).
    assert!(run_batch(&manifest, &out_dir, &["--frame-stride", "25"]).status.success());
    let upload = || {
        let out = batch(&manifest, &out_dir, &["--frame-stride", "25", "--upload", ids::PROJECT, "--json-summary"])
            .env("ENCORD_SSH_KEY_FILE", &key)
            .env("ENCORD_DOMAIN", &server.base)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
        summary["videos"][0]["status"].as_str().unwrap().to_owned()
    };
    assert_eq!(upload(), "uploaded");
    assert_eq!(upload(), "already_done");
    // From scratch, labelling and uploading in one run (replacing the pre-labels saved above).
    std::fs::remove_dir_all(&out_dir).unwrap();
    assert_eq!(upload(), "done");

    let file = read_label_row(&out_dir.join(format!("{}.label_row.json", ids::data_hash(0))));
    let written: BTreeSet<(u64, String)> = file
        .data_units
        .values()
        .flat_map(|u| u.labels.iter().flat_map(|(f, l)| l.objects.iter().map(move |o| (*f, o.object_hash.clone()))))
        .collect();
    assert!(!written.is_empty());
    let key = prelabel_encord::auth::SigningKey::from_openssh(&std::fs::read_to_string(&key).unwrap()).unwrap();
    let api = prelabel_encord::client::EncordClient::new(&server.base, key, Default::default()).unwrap();
    let saved = objects(&stored_row(&api, &ids::data_hash(0)));
    let prelabels: BTreeSet<(u64, String)> = saved.iter().filter(|(_, o)| o["manualAnnotation"] == false).map(|(k, _)| k.clone()).collect();
    assert_eq!(prelabels, written, "the project holds the file's pre-labels");
    assert_eq!(saved[&(3, "HumanBx1".to_owned())], human_object, "and the person's box, unchanged");
}

#[test]
fn a_run_with_no_usable_line_still_writes_its_own_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("labels");
    std::fs::create_dir_all(&out_dir).unwrap();
    // An earlier run's summary, which this run must not leave standing.
    std::fs::write(out_dir.join("summary.json"), r#"{"videos": [{"status": "done"}], "bad_lines": []}"#).unwrap();
    let manifest = dir.path().join("videos.jsonl");
    std::fs::write(&manifest, "not json\n").unwrap();
    let out = run_batch(&manifest, &out_dir, &[]);
    assert_eq!(out.status.code(), Some(4), "a bad line counts as failed: {}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&std::fs::read(out_dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["videos"], serde_json::json!([]));
    assert_eq!(summary["bad_lines"][0]["line"], 1);
}

/// Sets `path`'s modification time to an hour ago: a temporary file a killed run left long since.
fn date_back_an_hour(path: &Path) {
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options().write(true).open(path).unwrap().set_modified(an_hour_ago).unwrap();
}
