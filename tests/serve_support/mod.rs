//! Helpers for the `prelabel serve` tests: a project directory with three real videos and a
//! freshly generated user key, the server process, and a minimal signing HTTP/1.1 client (plain
//! `std::net`, so that a test sees exactly what came back, down to "not one byte").
#![allow(dead_code)] // each test file uses its own subset

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prelabel_encord::auth::SigningKey;

pub use crate::support::{Server, keygen};
use serde_json::{Value, json};

/// The project hash.
pub const PROJECT: &str = "00000000-0000-4000-8000-0000000000a1";
/// The ontology hash.
pub const ONTOLOGY: &str = "00000000-0000-4000-8000-0000000000b1";
/// The agent stage "Pre-Labeling Agent".
pub const AGENT: &str = "00000000-0000-4000-8000-0000000000c1";
/// The annotation stage "Annotate 1".
pub const ANNOTATE: &str = "00000000-0000-4000-8000-0000000000c2";
/// The review stage "Review 1", where the "Failed" pathway leads.
pub const REVIEW: &str = "00000000-0000-4000-8000-0000000000c3";
/// The pathway "Annotate 1" out of the agent stage.
pub const TO_ANNOTATE: &str = "00000000-0000-4000-8000-0000000000d1";
/// The registered user's e-mail.
pub const EMAIL: &str = "agent@example.com";
/// Feature hash of the ontology's "Person" object.
pub const PERSON: &str = "perFeat1";

/// One video of the test project.
pub struct TestVideo {
    /// Its data hash.
    pub data_hash: &'static str,
    /// Its task.
    pub task: &'static str,
    /// Its storage item.
    pub item: &'static str,
    /// Its file.
    pub file: PathBuf,
    /// Its frame count.
    pub frames: u64,
}

/// The three videos, all starting in the agent stage, in task order. The first has a label row
/// before any client runs (a box "a person drew"); the second has its facts given in
/// project.json, the others are probed.
pub fn videos() -> [TestVideo; 3] {
    let data = |name: &str| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    [
        TestVideo {
            data_hash: "00000000-0000-4000-8000-00000000f001",
            task: "00000000-0000-4000-8000-0000000002a1",
            item: "00000000-0000-4000-8000-0000000003a1",
            file: data("bikes.mp4"),
            frames: 250,
        },
        TestVideo {
            data_hash: "00000000-0000-4000-8000-00000000f002",
            task: "00000000-0000-4000-8000-0000000002a2",
            item: "00000000-0000-4000-8000-0000000003a2",
            file: data("vtest.avi"),
            frames: 795,
        },
        TestVideo {
            data_hash: "00000000-0000-4000-8000-00000000f003",
            task: "00000000-0000-4000-8000-0000000002a3",
            item: "00000000-0000-4000-8000-0000000003a3",
            file: data("bikes.mp4"),
            frames: 250,
        },
    ]
}

/// The label hash of the first video's pre-existing row.
pub const HUMAN_ROW: &str = "00000000-0000-4000-8000-0000000001a1";
/// The object hash of the box "a person drew" in that row.
pub const HUMAN_BOX: &str = "hUmAnBx1";

/// A project directory (in a temporary directory) with a registered user key.
pub struct Fixture {
    /// The temporary directory; the project is `dir/project`.
    pub dir: tempfile::TempDir,
    /// The registered user's private key file.
    pub key_path: PathBuf,
    /// The registered user's key.
    pub key: SigningKey,
}

impl Fixture {
    /// Writes project.json, the ontology file and the pre-existing label row.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let project_dir = dir.path().join("project");
        std::fs::create_dir_all(&project_dir).expect("project dir");
        let key_path = keygen(dir.path(), "agent_key");
        let public_key = std::fs::read_to_string(key_path.with_extension("pub")).expect("public key");
        let key = SigningKey::from_openssh(&std::fs::read_to_string(&key_path).expect("key")).expect("parse key");

        let ontology_fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/prelabel-encord/tests/fixtures/ontology_example.json");
        std::fs::copy(ontology_fixture, project_dir.join("ontology.json")).expect("copy ontology");
        let [first, second, third] = videos();
        std::fs::write(project_dir.join("human_row.json"), human_row(&first).to_string()).expect("write row");
        let project = json!({
            "project": {"hash": PROJECT, "title": "Street footage", "creator_email": "owner@example.com"},
            "ontology": {"hash": ONTOLOGY, "title": "Cars and people", "structure": "ontology.json"},
            "dataset": {"hash": "00000000-0000-4000-8000-0000000000e1", "title": "Test clips"},
            "stages": [
                {"uuid": AGENT, "title": "Pre-Labeling Agent", "type": "AGENT", "pathways": [
                    {"uuid": TO_ANNOTATE, "title": "Annotate 1", "destination": ANNOTATE},
                    {"uuid": "00000000-0000-4000-8000-0000000000d2", "title": "Failed", "destination": REVIEW}]},
                {"uuid": ANNOTATE, "title": "Annotate 1", "type": "ANNOTATION"},
                {"uuid": REVIEW, "title": "Review 1", "type": "REVIEW"},
                {"uuid": "00000000-0000-4000-8000-0000000000c4", "title": "Complete", "type": "DONE"}
            ],
            "videos": [
                {"file": first.file, "data_hash": first.data_hash, "task_uuid": first.task, "storage_item_uuid": first.item,
                 "stage": AGENT, "initial_label_row": "human_row.json"},
                {"file": second.file, "data_hash": second.data_hash, "task_uuid": second.task, "storage_item_uuid": second.item,
                 "stage": AGENT, "width": 768, "height": 576, "fps": 10.0, "frame_count": 795},
                {"file": third.file, "data_hash": third.data_hash, "task_uuid": third.task, "storage_item_uuid": third.item,
                 "stage": AGENT, "title": "bikes-again.mp4"}
            ],
            "users": [{"email": EMAIL, "public_key": public_key.trim()}]
        });
        std::fs::write(project_dir.join("project.json"), serde_json::to_vec_pretty(&project).expect("json")).expect("write project");
        Self { dir, key_path, key }
    }

    /// The project directory.
    pub fn project_dir(&self) -> PathBuf {
        self.dir.path().join("project")
    }
}

/// A label row with one box "a person drew" on frames 0 and 1.
fn human_row(video: &TestVideo) -> Value {
    let object = |frame: u64| {
        json!({"name": "Person", "color": "#E27300", "shape": "bounding_box", "value": "person",
               "createdAt": "Thu, 02 Jan 2025 03:04:05 UTC", "createdBy": "annotator@example.com", "confidence": 1.0,
               "objectHash": HUMAN_BOX, "featureHash": PERSON, "manualAnnotation": true,
               "lastEditedAt": "Thu, 02 Jan 2025 03:04:05 UTC", "lastEditedBy": "annotator@example.com",
               "boundingBox": {"h": 0.5, "w": 0.1, "x": 0.4 + frame as f64 * 0.01, "y": 0.3}})
    };
    json!({
        "label_hash": HUMAN_ROW, "branch_name": "main", "created_at": "Thu, 02 Jan 2025 03:04:05 UTC",
        "last_edited_at": "Thu, 02 Jan 2025 03:04:05 UTC", "data_hash": video.data_hash,
        "dataset_hash": "00000000-0000-4000-8000-0000000000e1", "dataset_title": "Test clips", "data_title": "bikes.mp4",
        "data_type": "video", "annotation_task_status": null, "object_answers": {HUMAN_BOX: {"classifications": [], "objectHash": HUMAN_BOX}},
        "classification_answers": {}, "object_actions": {}, "label_status": "LABEL_IN_PROGRESS",
        "data_units": {video.data_hash: {"data_hash": video.data_hash, "data_title": "bikes.mp4", "data_link": "ignored",
            "data_type": "video/mp4", "data_sequence": 0, "width": 640, "height": 272, "data_duration": 10.0, "data_fps": 25.0,
            "labels": {"0": {"objects": [object(0)], "classifications": []}, "1": {"objects": [object(1)], "classifications": []}}}},
        "spaces": {}
    })
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Sends one HTTP/1.1 request (`Connection: close`) and reads the whole response. A connection
/// closed before any byte of a response is `Err(UnexpectedEof)`.
pub fn send(port: u16, method: &str, target: &str, headers: &[(&str, String)], body: &[u8]) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    if raw.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed without a response"));
    }
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of the response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status line");
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned())).collect();
    assert!(
        !headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked")),
        "this test client does not decode chunked bodies"
    );
    Ok(Response { status, headers, body: raw[split + 4..].to_vec() })
}

/// Signs requests as one user.
pub struct Client<'a> {
    /// The server's port.
    pub port: u16,
    /// The signing key.
    pub key: &'a SigningKey,
}

/// Unix time now.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() as i64
}

impl Client<'_> {
    /// A v2 request, signed now; `Err` only for a lost response.
    pub fn try_v2(&self, method: &str, target: &str, body: Option<&Value>) -> std::io::Result<Response> {
        let body = body.map(|b| serde_json::to_vec(b).expect("json")).unwrap_or_default();
        self.try_v2_raw(method, target, &body, target, &body, now())
    }

    /// Sends `body` to `target` with a v2 signature made over `signed_target`, `signed_body`
    /// and `created` (the same as sent, unless a test tampers).
    pub fn try_v2_raw(
        &self,
        method: &str,
        target: &str,
        body: &[u8],
        signed_target: &str,
        signed_body: &[u8],
        created: i64,
    ) -> std::io::Result<Response> {
        let signature = self.key.v2_signature(method, signed_target, signed_body, created);
        let mut headers = vec![
            ("Content-Digest", signature.content_digest),
            ("Signature-Input", signature.signature_input),
            ("Signature", signature.signature),
        ];
        if !body.is_empty() {
            headers.push(("Content-Type", "application/json".to_owned()));
        }
        send(self.port, method, target, &headers, body)
    }

    /// A v2 request, signed now.
    pub fn v2(&self, method: &str, target: &str, body: Option<&Value>) -> Response {
        self.try_v2(method, target, body).expect("a response")
    }

    /// The body of a legacy query.
    pub fn legacy_body(query_type: &str, query_method: &str, uid: Value, payload: Value) -> Vec<u8> {
        let query = json!({"query_type": query_type, "query_method": query_method, "values": {"uid": uid, "payload": payload}});
        serde_json::to_vec(&query).expect("json")
    }

    /// Sends a legacy body signed over `signed_body` (the same bytes, unless a test tampers).
    pub fn try_legacy_raw(&self, signed_body: &[u8], body: &[u8]) -> std::io::Result<Response> {
        let headers = [
            ("Content-Type", "application/json".to_owned()),
            ("ResourceType", "project".to_owned()),
            ("ResourceID", PROJECT.to_owned()),
            ("Authorization", self.key.legacy_authorization(signed_body)),
        ];
        send(self.port, "POST", "/public", &headers, body)
    }

    /// A legacy query on the project; returns the HTTP response (the envelope is its body).
    pub fn legacy(&self, query_type: &str, query_method: &str, uid: Value, payload: Value) -> Response {
        let body = Self::legacy_body(query_type, query_method, uid, payload);
        self.try_legacy_raw(&body, &body).expect("a response")
    }

    /// The task uuids a full listing of `stage` returns, following `nextPageToken`.
    pub fn all_tasks(&self, stage: &str) -> Vec<String> {
        let mut uuids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let query = token.as_ref().map(|t| format!("?pageToken={t}")).unwrap_or_default();
            let page = self.v2("GET", &format!("/v2/public/projects/{PROJECT}/workflow/stages/{stage}/tasks{query}"), None);
            assert_eq!(page.status, 200, "{}", String::from_utf8_lossy(&page.body));
            let page = page.json();
            uuids.extend(page["results"].as_array().expect("results").iter().map(|t| t["uuid"].as_str().expect("uuid").to_owned()));
            match page.get("nextPageToken").and_then(Value::as_str) {
                Some(next) => token = Some(next.to_owned()),
                None => return uuids,
            }
        }
    }
}
