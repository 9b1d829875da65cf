//! By-hand latency check of `prelabel serve-agent` (ignored: run with `--ignored --nocapture`):
//! a 1080p H.264 clip (vtest.avi scaled up, x264's default GOP of 250 frames), the editor's call
//! for its middle frame, request to saved row, against decoding from frame 0 to that frame.
//! Prints the numbers; asserts no times.

mod support;

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use prelabel_decode::VideoSource;
use serde_json::json;
use support::*;

#[test]
#[ignore = "a measurement, not a check: run by hand"]
fn single_frame_latency_in_the_middle_of_a_1080p_clip() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("vtest-1080p.mp4");
    ffmpeg(&[
        "-i",
        data("vtest.avi").to_str().unwrap(),
        "-vf",
        "scale=1920:1080",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        clip.to_str().unwrap(),
    ]);
    let frames = {
        let mut n = 0u64;
        VideoSource::open(&clip, 1)
            .unwrap()
            .decode(|_| {
                n += 1;
                ControlFlow::Continue(())
            })
            .unwrap();
        n
    };
    let middle = frames / 2;

    // Decoding alone: from frame 0 to the middle frame, and by seeking.
    let from_zero = {
        let t = Instant::now();
        VideoSource::open(&clip, 1)
            .unwrap()
            .decode(|f| if f.index() >= middle { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
            .unwrap();
        t.elapsed()
    };
    let (seeking, decoded) = {
        let t = Instant::now();
        let r = VideoSource::open(&clip, 1).unwrap().decode_from(middle, |_| ControlFlow::Break(())).unwrap();
        (t.elapsed(), r.report.frames_decoded)
    };
    eprintln!(
        "1080p clip: {frames} frames; decode to frame {middle}: from 0 {from_zero:?} ({} frames), seeking {seeking:?} ({decoded} frames)",
        middle + 1
    );

    // Request to saved row, through `prelabel serve` and the agent over plain loopback HTTP
    // (TLS costs one handshake per connection).
    let key = keygen(dir.path(), "agent_key");
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap().trim().to_owned();
    let project = dir.path().join("project");
    project_json(&project, &[(&clip, json!({}))], &public);
    let server = Server::start(&project, &[]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_prelabel"))
        .args(["serve-agent", "--insecure-http", "--bind", "127.0.0.1:0", "--model", ssd_model().to_str().unwrap(), "--threads", "2"])
        .env("ENCORD_SSH_KEY_FILE", &key)
        .env("ENCORD_DOMAIN", &server.base)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("agent.log")).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").unwrap().to_owned();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(300)).build().unwrap();
    for (frame, label) in [(middle, "middle"), (middle, "middle, again"), (0, "frame 0"), (frames - 1, "last frame")] {
        let t = Instant::now();
        let r = client
            .post(format!("{base}/"))
            .json(&json!({"projectHash": ids::PROJECT, "dataHash": ids::data_hash(0), "frame": frame}))
            .send()
            .unwrap();
        let decoded = r.headers().get("x-prelabel-decoded-frames").map(|v| v.to_str().unwrap().to_owned());
        let status = r.status();
        let body = r.text().unwrap();
        eprintln!("{label} (frame {frame}): {status} {body} in {:?}, decoded {decoded:?}", t.elapsed());
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.path().join("agent.log")).unwrap();
    for l in log.lines().filter(|l| l.contains("labelled")) {
        eprintln!("{l}");
    }
}
