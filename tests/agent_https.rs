//! `prelabel serve-agent` over real HTTPS on loopback (a test CA and leaf certificate made with
//! the `openssl` CLI): `prelabel serve` holds a project with vtest.avi, whose row has a box a
//! person drew on frame 400; the editor's payload for frame 400 labels that frame (seeking, not
//! decoding from frame 0), keeps the person's box, and a second call does not duplicate.
//! Connectivity test, CORS, and the error answers Encord expects.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use prelabel_encord::auth::SigningKey;
use prelabel_encord::client::{EncordClient, RetryPolicy};
use serde_json::{Value, json};
use support::*;

const FRAME: u64 = 400;

/// A test CA and a leaf certificate for 127.0.0.1 / localhost signed by it: (CA cert, leaf cert, leaf key).
fn test_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |name: &str| dir.join(name);
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl CLI");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=prelabel test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        p("leaf.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
    (p("ca.pem"), p("leaf.pem"), p("leaf.key"))
}

/// A running `prelabel serve-agent`.
struct Agent {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Agent {
    fn start(server: &Server, key: &Path, cert: &Path, cert_key: &Path, dir: &Path, extra: &[&str]) -> Self {
        let log = (0..).map(|n| dir.join(format!("agent-{n}.log"))).find(|p| !p.exists()).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_prelabel"))
            .args(["serve-agent", "--bind", "127.0.0.1:0", "--model", ssd_model().to_str().unwrap(), "--threads", "2"])
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(cert_key)
            .args(extra)
            .env("ENCORD_SSH_KEY_FILE", key)
            .env("ENCORD_DOMAIN", &server.base)
            .env_remove("ENCORD_SSH_KEY")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start prelabel serve-agent");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let Some(base) = line.trim().strip_prefix("listening on ").map(str::to_owned) else {
            let _ = child.kill();
            panic!("serve-agent did not start: {line:?}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        };
        assert!(base.starts_with("https://127.0.0.1:"), "{base}");
        Self { child, base, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTPS client that trusts only the test CA.
fn https(ca: &Path) -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    reqwest::blocking::Client::builder().add_root_certificate(ca).timeout(std::time::Duration::from_secs(120)).build().unwrap()
}

struct Setup {
    dir: tempfile::TempDir,
    key: PathBuf,
    server: Server,
    ca: PathBuf,
    cert: PathBuf,
    cert_key: PathBuf,
    human: Value,
}

fn setup() -> Setup {
    setup_counting(None)
}

/// [`setup`], with Encord counting `frames` frames of vtest.avi's 795 when given.
fn setup_counting(frames: Option<u64>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "agent_key");
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap().trim().to_owned();
    let vtest = data("vtest.avi");
    let (row, human) = human_row(&vtest, FRAME, [0.45, 0.4, 0.1, 0.3]);
    let project = dir.path().join("project");
    let mut spec = json!({"initial_label_row": row});
    if let Some(frames) = frames {
        spec["frame_count"] = json!(frames);
    }
    project_json(&project, &[(&vtest, spec)], &public);
    let server = Server::start(&project, &[]);
    let (ca, cert, cert_key) = test_pki(dir.path());
    Setup { dir, key, server, ca, cert, cert_key, human }
}

impl Setup {
    /// `prelabel serve-agent` on this setup's server, key and certificate, with `extra`.
    fn agent(&self, extra: &[&str]) -> Agent {
        Agent::start(&self.server, &self.key, &self.cert, &self.cert_key, self.dir.path(), extra)
    }
}

fn api(setup: &Setup) -> EncordClient {
    let key = SigningKey::from_openssh(&std::fs::read_to_string(&setup.key).unwrap()).unwrap();
    EncordClient::new(&setup.server.base, key, RetryPolicy::default()).unwrap()
}

/// The last keyframe at or before `frame` in `video`, from ffprobe's packet flags.
fn keyframe_before(video: &Path, frame: u64) -> u64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-show_entries", "packet=flags", "-of", "csv=p=0"])
        .arg(video)
        .output()
        .expect("ffprobe");
    let flags = String::from_utf8(out.stdout).unwrap();
    // MPEG-4 Part 2 in AVI has no B-frames: packet order is frame order.
    flags.lines().enumerate().filter(|(i, f)| f.starts_with('K') && *i as u64 <= frame).map(|(i, _)| i as u64).last().unwrap()
}

fn post(client: &reqwest::blocking::Client, base: &str, body: &Value) -> reqwest::blocking::Response {
    client.post(format!("{base}/")).json(body).send().unwrap()
}

fn editor_payload(data_hash: &str, frame: u64) -> Value {
    json!({"projectHash": ids::PROJECT, "dataHash": data_hash, "frame": frame, "objectHashes": null})
}

#[test]
fn labels_frame_400_over_https_by_seeking_keeps_the_persons_box_and_does_not_duplicate() {
    let setup = setup();
    let agent = setup.agent(&[]);
    let client = https(&setup.ca);

    let started = std::time::Instant::now();
    let response = post(&client, &agent.base, &editor_payload(&ids::data_hash(0), FRAME));
    let elapsed = started.elapsed();
    let status = response.status();
    let decoded: u64 = response.headers()["x-prelabel-decoded-frames"].to_str().unwrap().parse().unwrap();
    let body: Value = response.json().unwrap();
    assert_eq!(status, 200, "{body}\n{}", agent.log());
    eprintln!("frame {FRAME}: {body} in {elapsed:?}, {decoded} frames decoded");

    // It decoded from the keyframe before frame 400, not from frame 0.
    let keyframe = keyframe_before(&data("vtest.avi"), FRAME);
    assert_eq!(decoded, FRAME - keyframe + 1, "decoded from keyframe {keyframe}");
    assert!(decoded < FRAME / 2, "{decoded} frames decoded to reach frame {FRAME}");

    // The saved row: the offline run's detections on frame 400 (same hashes, boxes and scores:
    // `prelabel run --frame-stride 400` runs the detector on frames 0 and 400), and the person's box.
    let api = api(&setup);
    let row = stored_row(&api, &ids::data_hash(0));
    let saved = objects(&row);
    let offline_path = setup.dir.path().join("offline.json");
    let model = ssd_model();
    prelabel_ok(&[
        "run",
        data("vtest.avi").to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--frame-stride",
        "400",
        "--data-hash",
        &ids::data_hash(0),
        "--out",
        offline_path.to_str().unwrap(),
        "--quiet",
        "--threads",
        "2",
    ]);
    let offline = objects(&serde_json::from_slice(&std::fs::read(&offline_path).unwrap()).unwrap());
    let summary = |map: &BTreeMap<(u64, String), Value>| -> Vec<(String, Value, Value, Value)> {
        map.iter()
            .filter(|((f, _), o)| *f == FRAME && o["manualAnnotation"] == false)
            .map(|((_, h), o)| (h.clone(), o["value"].clone(), o["boundingBox"].clone(), o["confidence"].clone()))
            .collect()
    };
    let ours = summary(&saved);
    assert_eq!(ours, summary(&offline), "the agent's boxes on frame {FRAME} are the offline run's");
    let count = |class: &str| ours.iter().filter(|(_, v, _, _)| v == class).count();
    assert!(count("person") >= 3 && count("car") >= 2, "persons {} cars {}", count("person"), count("car"));
    assert_eq!(body["message"], format!("{} objects on frame {FRAME}", ours.len()));
    assert_eq!(saved[&(FRAME, "HumanBx1".to_owned())], setup.human, "the person's box is unchanged");
    assert!(saved.keys().all(|(f, _)| *f == FRAME), "only frame {FRAME} was labelled");

    // Again: the same objects, not twice as many.
    let again = post(&client, &agent.base, &editor_payload(&ids::data_hash(0), FRAME));
    assert_eq!(again.status(), 200);
    let row2 = stored_row(&api, &ids::data_hash(0));
    let saved2 = objects(&row2);
    assert_eq!(saved2.keys().collect::<Vec<_>>(), saved.keys().collect::<Vec<_>>());
    assert_eq!(summary(&saved2), ours);
    assert_eq!(saved2[&(FRAME, "HumanBx1".to_owned())], setup.human);
    assert_eq!(row2["object_answers"].as_object().unwrap().len(), saved.len(), "one answer per object");
    assert!(agent.log().contains("infer_ms"), "per-stage latency is logged");
}

#[test]
fn answers_the_connectivity_test_cors_and_bad_requests_as_encord_expects() {
    let setup = setup();
    let agent = setup.agent(&[]);
    let client = https(&setup.ca);
    let url = format!("{}/", agent.base);
    let message = |r: reqwest::blocking::Response| -> (u16, String) {
        let status = r.status().as_u16();
        let body: Value = r.json().expect("a JSON body");
        let text = body["message"].as_str().expect("a message").to_owned();
        assert!(!text.contains("http://") && !text.contains("https://") && !text.contains("X-Sig"), "{text}");
        (status, text)
    };

    // Connectivity test: 200 at once, whatever the body.
    let test = client.post(&url).header("X-Encord-Editor-Agent", "test").body("").send().unwrap();
    assert_eq!(test.status(), 200);

    // CORS preflight from Encord's app: allowed.
    let preflight = |origin: &str| {
        client
            .request(reqwest::Method::OPTIONS, &url)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type,x-encord-editor-agent")
            .send()
            .unwrap()
    };
    let ok = preflight("https://app.encord.com");
    assert_eq!(ok.status(), 204);
    let h = ok.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.encord.com");
    assert_eq!(h["access-control-allow-methods"], "POST");
    assert_eq!(h["access-control-allow-headers"], "Content-Type, X-Encord-Editor-Agent, X-Cloud-Trace-Context");
    assert_eq!(h["access-control-max-age"], "3600");
    assert_eq!(h["vary"], "Origin");
    // … and from anywhere else: refused, without an allow-origin header.
    let evil = preflight("https://evil.example");
    assert_eq!(evil.status(), 403);
    assert!(!evil.headers().contains_key("access-control-allow-origin"));
    let evil_post = client.post(&url).header("Origin", "https://evil.example").json(&editor_payload(&ids::data_hash(0), 1)).send().unwrap();
    assert_eq!(evil_post.status(), 403);
    // The connectivity test from the editor itself carries the allow-origin header.
    let from_app = client.post(&url).header("Origin", "https://app.us.encord.com").header("X-Encord-Editor-Agent", "1").send().unwrap();
    assert_eq!(
        (from_app.status().as_u16(), from_app.headers()["access-control-allow-origin"].to_str().unwrap()),
        (200, "https://app.us.encord.com")
    );

    // Malformed bodies: 400 with a message.
    let (status, text) = message(client.post(&url).header("Content-Type", "application/json").body("{not json").send().unwrap());
    assert_eq!(status, 400, "{text}");
    let (status, text) = message(post(&client, &agent.base, &json!({"projectHash": ids::PROJECT, "frame": 3})));
    assert_eq!(status, 400, "{text}");
    let (status, text) = message(post(&client, &agent.base, &json!({"projectHash": "../../x", "dataHash": ids::data_hash(0), "frame": 3})));
    assert_eq!(status, 400, "{text}");
    let (status, text) =
        message(post(&client, &agent.base, &json!({"projectHash": ids::PROJECT, "dataHash": ids::data_hash(0), "frame": -1})));
    assert_eq!(status, 400, "{text}");
    // A frame past the end.
    let (status, text) = message(post(&client, &agent.base, &editor_payload(&ids::data_hash(0), 5000)));
    assert_eq!((status, text.contains("past the end")), (400, true), "{text}");
    // A data unit the project does not have.
    let (status, text) = message(post(&client, &agent.base, &editor_payload("00000000-0000-4000-8000-00000000ffff", 3)));
    assert_eq!(status, 400, "{text}");
    // A body over the limit (64 KiB by default).
    let mut big = editor_payload(&ids::data_hash(0), 3);
    big["padding"] = json!("x".repeat(100 * 1024));
    let (status, text) = message(post(&client, &agent.base, &big));
    assert_eq!(status, 413, "{text}");
    // Nothing was saved by any of these.
    let meta = api(&setup).label_row_metadata(ids::PROJECT, &[ids::data_hash(0)]).unwrap();
    let row = api(&setup).label_rows(ids::PROJECT, &[meta[0].label_hash.clone().unwrap()]).unwrap().remove(0);
    assert_eq!(objects(&row).len(), 1, "only the person's box");

    // A key the server does not know: 403.
    let stranger = keygen(setup.dir.path(), "stranger_key");
    let refused = Agent::start(&setup.server, &stranger, &setup.cert, &setup.cert_key, setup.dir.path(), &[]);
    let (status, text) = message(post(&client, &refused.base, &editor_payload(&ids::data_hash(0), 3)));
    assert_eq!(status, 403, "{text}");
}

#[test]
fn from_frame_scope_tracks_on_from_the_frame_and_reruns_without_duplicates() {
    let setup = setup();
    let agent = setup.agent(&["--scope", "from-frame", "--max-frames", "40", "--frame-stride", "2"]);
    let client = https(&setup.ca);
    let response = post(&client, &agent.base, &editor_payload(&ids::data_hash(0), FRAME));
    let decoded: u64 = response.headers()["x-prelabel-decoded-frames"].to_str().unwrap().parse().unwrap();
    let status = response.status();
    let body: Value = response.json().unwrap();
    assert_eq!(status, 200, "{body}\n{}", agent.log());
    assert_eq!(body["message"].as_str().unwrap().split_once(" object boxes on frames ").unwrap().1, "400-439", "{body}");
    assert_eq!(decoded, FRAME - keyframe_before(&data("vtest.avi"), FRAME) + 40, "pre-roll from the keyframe, then 40 frames");

    let api = api(&setup);
    let saved = objects(&stored_row(&api, &ids::data_hash(0)));
    let frames: std::collections::BTreeSet<u64> = saved.keys().map(|(f, _)| *f).collect();
    assert!(frames.iter().all(|f| (FRAME..FRAME + 40).contains(f)), "{frames:?}");
    // Tracks: boxes on the frames the detector skipped too (interpolated, and after the last
    // detected frame, 438, extrapolated), several per object.
    assert_eq!(frames, (FRAME..FRAME + 40).collect(), "every frame of the range is labelled");
    let tracks: std::collections::BTreeSet<&String> = saved.keys().filter(|(_, h)| h != "HumanBx1").map(|(_, h)| h).collect();
    assert!(tracks.len() >= 3 && saved.len() > 3 * tracks.len(), "{} boxes in {} tracks", saved.len(), tracks.len());
    assert_eq!(saved[&(FRAME, "HumanBx1".to_owned())], setup.human);

    let again = post(&client, &agent.base, &editor_payload(&ids::data_hash(0), FRAME));
    assert_eq!(again.status(), 200);
    let saved2 = objects(&stored_row(&api, &ids::data_hash(0)));
    assert_eq!(saved2.keys().collect::<Vec<_>>(), saved.keys().collect::<Vec<_>>(), "no duplicates");
}

#[test]
fn a_range_stops_at_encord_s_last_frame() {
    // Encord counts 420 frames (FFmpeg decodes 795): a 40-frame range from 400 ends at 419.
    let setup = setup_counting(Some(FRAME + 20));
    let agent = setup.agent(&["--scope", "from-frame", "--max-frames", "40", "--frame-stride", "2"]);
    let response = post(&https(&setup.ca), &agent.base, &editor_payload(&ids::data_hash(0), FRAME));
    let status = response.status();
    let body: Value = response.json().unwrap();
    assert_eq!(status, 200, "{body}\n{}", agent.log());
    assert_eq!(body["message"].as_str().unwrap().split_once(" object boxes on frames ").unwrap().1, "400-419", "{body}");
    let frames: std::collections::BTreeSet<u64> = objects(&stored_row(&api(&setup), &ids::data_hash(0))).keys().map(|(f, _)| *f).collect();
    assert_eq!(frames, (FRAME..FRAME + 20).collect(), "every frame up to Encord's last");
}

/// For one `from-frame` call at stride 3 from frame 400 (40 frames) by an agent started with
/// `extra`: per object, each box on a frame the detector skipped between two of the object's
/// boxes on frames it ran on, and how far (frame pixels, the largest of x, y, w and h) that box
/// is from the straight line between those two.
fn deviations_from_straight_lines(extra: &[&str]) -> Vec<f64> {
    let setup = setup();
    let mut args = vec!["--scope", "from-frame", "--max-frames", "40", "--frame-stride", "3"];
    args.extend(extra);
    let agent = setup.agent(&args);
    let response = post(&https(&setup.ca), &agent.base, &editor_payload(&ids::data_hash(0), FRAME));
    assert_eq!(response.status(), 200, "{}", agent.log());
    let mut boxes: BTreeMap<String, BTreeMap<u64, [f64; 4]>> = BTreeMap::new();
    for ((frame, hash), object) in objects(&stored_row(&api(&setup), &ids::data_hash(0))) {
        let b = &object["boundingBox"];
        let xywh = ["x", "y", "w", "h"].map(|k| b[k].as_f64().unwrap());
        boxes.entry(hash).or_default().insert(frame, xywh);
    }
    let (width, height) = (768.0, 576.0);
    let mut deviations = Vec::new();
    for (hash, frames) in boxes.iter().filter(|(h, _)| *h != "HumanBx1") {
        let detected: Vec<u64> = frames.keys().copied().filter(|f| (f - FRAME).is_multiple_of(3)).collect();
        for pair in detected.windows(2).filter(|p| p[1] - p[0] == 3) {
            let (a, b) = (frames[&pair[0]], frames[&pair[1]]);
            for f in pair[0] + 1..pair[1] {
                let Some(between) = frames.get(&f) else { panic!("{hash} has no box on frame {f}: {frames:?}") };
                let t = (f - pair[0]) as f64 / 3.0;
                let off = (0..4).map(|i| (between[i] - (a[i] + (b[i] - a[i]) * t)).abs() * if i % 2 == 0 { width } else { height });
                deviations.push(off.fold(0.0, f64::max));
            }
        }
    }
    deviations
}

#[test]
fn from_frame_scope_follows_image_motion_over_skipped_frames_unless_told_not_to() {
    // Along straight lines, every skipped frame's box is on the line (up to the row's rounding).
    let linear = deviations_from_straight_lines(&["--linear-interpolation"]);
    assert!(linear.len() >= 20, "{} boxes between detected frames", linear.len());
    assert!(linear.iter().all(|&d| d < 0.1), "{linear:?}");
    // By default the agent follows each object's image motion, as `run` and the worker do: people
    // walking do not move in straight lines at 10 fps (their boxes sway with their steps).
    let followed = deviations_from_straight_lines(&[]);
    assert!(followed.len() >= 20, "{} boxes between detected frames", followed.len());
    let off_line = followed.iter().filter(|&&d| d > 0.5).count();
    eprintln!("following motion: {off_line} of {} boxes between detected frames are off the straight line", followed.len());
    assert!(off_line * 5 >= followed.len(), "{followed:?}");
}

#[test]
fn a_range_too_short_for_tracks_is_labelled_with_its_detections() {
    // Three frames cannot hold a track (one must span 5 to be kept): the frames get the
    // detector's boxes as they are, not none.
    let setup = setup();
    let args = ["--scope", "from-frame", "--max-frames", "3"];
    let agent = setup.agent(&args);
    let response = post(&https(&setup.ca), &agent.base, &editor_payload(&ids::data_hash(0), FRAME));
    assert_eq!(response.status(), 200, "{}", agent.log());
    let saved = objects(&stored_row(&api(&setup), &ids::data_hash(0)));
    for frame in FRAME..FRAME + 3 {
        let boxes = saved.iter().filter(|((f, _), o)| *f == frame && o["manualAnnotation"] == false).count();
        assert!(boxes >= 3, "{boxes} boxes on frame {frame}");
    }
    assert!(saved.keys().all(|(f, _)| (FRAME..FRAME + 3).contains(f)));
}

#[test]
fn the_agent_decodes_as_decoder_asks() {
    // `--decoder nvdec` reaches the agent's decode: NVDEC where it can, else software with the
    // reason (this machine has no CUDA device), logged per call; the frame is labelled either way.
    let setup = setup();
    let agent = setup.agent(&["--decoder", "nvdec"]);
    let response = post(&https(&setup.ca), &agent.base, &editor_payload(&ids::data_hash(0), FRAME));
    assert_eq!(response.status(), 200, "{}", agent.log());
    let log = agent.log();
    assert!(log.contains("decoder=nvdec") || log.contains("decoder=software ("), "{log}");
}

#[test]
fn a_call_from_another_frame_replaces_the_models_boxes_on_its_frames_instead_of_adding_to_them() {
    // Per frame, the model's object hashes after from-frame calls on `frames`, in turn.
    let hashes_after = |frames: &[u64]| -> BTreeMap<u64, Vec<String>> {
        let setup = setup();
        let args = ["--scope", "from-frame", "--max-frames", "40", "--frame-stride", "2"];
        let agent = setup.agent(&args);
        for &frame in frames {
            let response = post(&https(&setup.ca), &agent.base, &editor_payload(&ids::data_hash(0), frame));
            assert_eq!(response.status(), 200, "{}", agent.log());
        }
        let mut hashes: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for ((frame, hash), _) in
            objects(&stored_row(&api(&setup), &ids::data_hash(0))).into_iter().filter(|(_, o)| o["manualAnnotation"] == false)
        {
            hashes.entry(frame).or_default().push(hash);
        }
        hashes
    };
    // The call from 410 has its own tracks (other hashes), yet on 410-449 the row holds exactly
    // what that call alone would have made; 400-409 keep the first call's boxes.
    let (both, first, second) = (hashes_after(&[FRAME, FRAME + 10]), hashes_after(&[FRAME]), hashes_after(&[FRAME + 10]));
    let on = |hashes: &BTreeMap<u64, Vec<String>>, frames: std::ops::Range<u64>| -> Vec<(u64, Vec<String>)> {
        hashes.iter().filter(|(f, _)| frames.contains(f)).map(|(f, h)| (*f, h.clone())).collect()
    };
    assert!(!on(&second, FRAME + 10..FRAME + 50).is_empty());
    assert_eq!(on(&both, FRAME + 10..FRAME + 50), on(&second, FRAME + 10..FRAME + 50), "no duplicates where the calls overlap");
    assert_eq!(on(&both, FRAME..FRAME + 10), on(&first, FRAME..FRAME + 10));
}

#[test]
fn concurrent_calls_on_one_row_are_serialised_and_other_videos_run_alongside() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "agent_key");
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap().trim().to_owned();
    let (vtest, bikes) = (data("vtest.avi"), data("bikes.mp4"));
    let project = dir.path().join("project");
    project_json(&project, &[(&vtest, json!({})), (&bikes, json!({}))], &public);
    let server = Server::start(&project, &[]);
    let (ca, cert, cert_key) = test_pki(dir.path());
    let agent = Agent::start(&server, &key, &cert, &cert_key, dir.path(), &["--detectors", "2"]);
    let client = https(&ca);
    // Different frames of one video at once: without the per-row lock one save would lose the
    // other's frame (a save replaces the whole row).
    let calls = [(0, 400), (0, 10), (0, 700), (1, 100), (1, 200)];
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = calls
            .iter()
            .map(|&(video, frame)| {
                let (client, base) = (&client, &agent.base);
                s.spawn(move || post(client, base, &editor_payload(&ids::data_hash(video), frame)).status().as_u16())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}\n{}", agent.log());
    let key = SigningKey::from_openssh(&std::fs::read_to_string(&key).unwrap()).unwrap();
    let api = EncordClient::new(&server.base, key, RetryPolicy::default()).unwrap();
    for video in 0..2 {
        let meta = api.label_row_metadata(ids::PROJECT, &[ids::data_hash(video)]).unwrap();
        let row = api.label_rows(ids::PROJECT, &[meta[0].label_hash.clone().unwrap()]).unwrap().remove(0);
        let frames: std::collections::BTreeSet<u64> = objects(&row).keys().map(|(f, _)| *f).collect();
        let wanted: std::collections::BTreeSet<u64> = calls.iter().filter(|(v, _)| *v == video).map(|(_, f)| *f).collect();
        assert_eq!(frames, wanted, "video {video}: every call's frame is in the saved row");
    }
}
