//! `prelabel bench` on a short input: the JSON report holds all three measurements and ratios
//! computed from its own numbers. Only the report's internal consistency is checked, never speed.

mod support;

use serde_json::Value;
use support::*;

fn number(v: &Value, what: &str) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{what} is not a number: {v}"))
}

/// Checks one measurement: frames, seconds and fps agree, and a peak RSS is reported.
fn check_measurement(m: &Value, what: &str) -> f64 {
    let frames = number(&m["frames"], what);
    let seconds = number(&m["seconds"], what);
    let fps = number(&m["fps"], what);
    assert!(frames > 0.0 && seconds > 0.0 && fps > 0.0, "{what}: {m}");
    assert!((fps - frames / seconds).abs() <= 1e-9 * fps, "{what}: fps is not frames / seconds: {m}");
    assert!(m["peak_rss_kib"].as_u64().is_some_and(|k| k > 0), "{what}: no peak RSS: {m}");
    fps
}

#[test]
fn bench_reports_three_measurements_and_consistent_ratios() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.json");
    let run = prelabel_ok(&[
        "bench",
        "--model",
        ssd_model().to_str().unwrap(),
        "--video",
        data("bikes.mp4").to_str().unwrap(),
        "--frame-stride",
        "10",
        "--threads",
        "2",
        "--batch-sizes",
        "1,4",
        "--inference-frames",
        "10",
        "--repeat",
        "2",
        "--markdown",
        "--out",
        out.to_str().unwrap(),
        "--plot",
        dir.path().join("bench.svg").to_str().unwrap(),
    ]);
    let report: Value = serde_json::from_slice(&std::fs::read(&out).expect("bench.json")).expect("bench JSON");

    assert!(report["machine"]["cores"].as_u64().is_some_and(|c| c > 0), "{report}");
    assert!(report["machine"]["date"].as_str().is_some_and(|d| !d.is_empty()), "{report}");
    assert_eq!(report["frame_stride"], 10);
    assert_eq!(report["baseline"], Value::Null, "no baseline without --baseline");

    let decode = check_measurement(&report["decode"], "decode ceiling");
    let batches = report["batches"].as_array().expect("batches");
    assert_eq!(batches.len(), 2, "{report}");

    // The bundled SSD has a fixed batch of 1: batch 4 is reported as not applicable.
    let one = &batches[0];
    assert_eq!(one["batch_size"], 1);
    assert_eq!(one["not_applicable"], Value::Null);
    let inference = check_measurement(&one["inference"], "inference ceiling");
    let full = check_measurement(&one["full"], "full pipeline");
    // 10 pre-made tensors at stride 10 stand for 100 video frames.
    assert_eq!(one["inference"]["frames"], 100);
    for (m, per) in [(&one["inference"], "frame"), (&one["full"], "batch interval")] {
        let latency = &m["latency_ms"];
        assert_eq!(latency["per"], per);
        let (p50, p95) = (number(&latency["p50"], "p50"), number(&latency["p95"], "p95"));
        assert!(p50 > 0.0 && p50 <= p95, "{latency}");
    }
    let ratios = &one["ratios"];
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    assert!(close(number(&ratios["full_over_inference"], "ratio"), full / inference), "{ratios}");
    assert!(close(number(&ratios["full_over_decode"], "ratio"), full / decode), "{ratios}");
    assert_eq!(ratios["full_over_python"], Value::Null);

    // --repeat 2: each figure is one of its two runs (the lower, for two), all runs listed.
    for (m, what) in [(&report["decode"], "decode"), (&one["inference"], "inference"), (&one["full"], "full")] {
        let runs: Vec<f64> = m["fps_runs"].as_array().unwrap().iter().map(|v| number(v, what)).collect();
        assert_eq!(runs.len(), 2, "{what}: {m}");
        assert_eq!(number(&m["fps"], what), runs.iter().copied().fold(f64::INFINITY, f64::min), "{what}: {m}");
    }

    // The full pipeline's flow: which side waited, from its own shares.
    let flow = &one["flow"];
    assert_eq!(flow["sessions"], report["sessions"]);
    let (idle, blocked) = (number(&flow["inference_idle_share"], "idle"), number(&flow["decode_blocked_share"], "blocked"));
    assert!((0.0..=1.0).contains(&idle) && (0.0..=1.0).contains(&blocked), "{flow}");
    assert_eq!(flow["bound"], if idle > blocked { "decode-bound" } else { "inference-bound" }, "{flow}");
    let depth = number(&flow["mean_queue_depth"], "depth");
    assert!(depth >= 0.0 && depth <= number(&flow["queue_capacity"], "capacity"), "{flow}");

    // --plot: an SVG with the decode ceiling, the inference ceiling and the full pipeline.
    let svg = std::fs::read_to_string(dir.path().join("bench.svg")).expect("bench.svg");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
    for name in ["decode ceiling", "inference ceiling", "full pipeline"] {
        assert!(svg.contains(name), "{name} missing from the plot");
    }
    assert_eq!(svg.matches("<polyline").count(), 3, "one line per measurement, no baseline line");

    let four = &batches[1];
    assert_eq!(four["batch_size"], 4);
    assert!(four["not_applicable"].as_str().is_some_and(|r| r.contains("fixed at 1")), "{four}");
    assert_eq!(four["full"], Value::Null);

    // --markdown: the header, the separator and one row for the one measured batch size.
    let markdown = String::from_utf8_lossy(&run.stdout);
    let rows: Vec<&str> = markdown.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(rows.len(), 3, "{markdown}");
    assert!(rows[2].contains("bikes.mp4") && rows[2].contains("| 10 | 1 |"), "{markdown}");
}

#[test]
fn bench_baseline_ratio_comes_from_the_python_run() {
    // The baseline venv is made by benches/setup-baseline (a network install), never by the tests.
    let venv = std::env::var_os("PRELABEL_BENCH_VENV").map_or_else(|| root().join(".deps/venv-bench"), Into::into);
    if !venv.join("bin/python").exists() {
        eprintln!("SKIPPED: {} not found (run benches/setup-baseline to make it)", venv.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.json");
    // Cargo runs integration tests in the repository root, where the baseline scripts are.
    prelabel_ok(&[
        "bench",
        "--model",
        ssd_model().to_str().unwrap(),
        "--video",
        data("bikes.mp4").to_str().unwrap(),
        "--frame-stride",
        "10",
        "--threads",
        "1",
        "--inference-frames",
        "5",
        "--baseline",
        "--out",
        out.to_str().unwrap(),
    ]);
    let report: Value = serde_json::from_slice(&std::fs::read(&out).expect("bench.json")).expect("bench JSON");
    let baseline = &report["baseline"];
    let full = check_measurement(&report["batches"][0]["full"], "full pipeline");
    // Both sides decode every frame of the same clip and run the detector on the same ones.
    assert_eq!(baseline["frames"], report["batches"][0]["full"]["frames"], "{report}");
    assert_eq!(baseline["frames_inferred"], 25, "{baseline}");
    let python = number(&baseline["fps"], "baseline fps");
    assert!(python > 0.0, "{baseline}");
    let ratio = number(&report["batches"][0]["ratios"]["full_over_python"], "ratio");
    assert!((ratio - full / python).abs() <= 1e-9 * ratio.max(1.0), "{report}");
}

#[test]
fn editor_latency_mode_reaches_a_middle_frame_without_decoding_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("editor.json");
    let model = ssd_model();
    let video = data("vtest.avi");
    prelabel_ok(&[
        "bench",
        "--model",
        model.to_str().unwrap(),
        "--video",
        video.to_str().unwrap(),
        "--threads",
        "1",
        "--editor-frame",
        "400",
        "--out",
        out.to_str().unwrap(),
    ]);
    let report: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let calls = report["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2, "{report}");
    for call in calls {
        assert!(call["message"].as_str().unwrap().ends_with("on frame 400"), "{call}");
        let decoded = call["frames_decoded"].as_u64().unwrap();
        assert_eq!(decoded, 400 - call["decode_start"].as_u64().unwrap() + 1, "{call}");
        assert!(decoded < 401, "seeks instead of decoding 401 frames: {call}");
        assert!(number(&call["total_ms"], "total") > 0.0);
    }
    assert_eq!(report["decode_from_zero_frames"], 401);
}

#[test]
fn editor_latency_mode_refuses_the_options_it_would_ignore() {
    for option in [&["--baseline"][..], &["--batch-sizes", "1,4"], &["--frame-stride", "3"], &["--repeat", "3"], &["--markdown"]] {
        let out = prelabel(&[&["bench", "--editor-frame", "10"][..], option].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{option:?}: {stderr}");
        assert!(stderr.contains("--editor-frame") && stderr.contains(option[0]), "{option:?}: {stderr}");
    }
}
