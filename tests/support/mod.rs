//! Helpers shared by the integration tests: the built binary, the test venv's Python, FFmpeg.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
