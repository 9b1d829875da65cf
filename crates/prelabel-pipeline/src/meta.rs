//! Label-row metadata for a local video file.

use std::path::Path;

use prelabel_decode::VideoInfo;
use prelabel_encord::{VideoMeta, uuid_from_seed};

/// MIME type from the file extension, as Encord stores it in the data unit.
fn mime_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("avi") => "video/x-msvideo",
        Some("mkv") => "video/x-matroska",
        Some("webm") => "video/webm",
        Some("mov") => "video/quicktime",
        _ => "video/mp4",
    }
}

/// Metadata for a video outside Encord: the ids are derived from `data_hash` when given, else
/// from the file name and size, so the same file gets the same ids on every run.
pub fn video_meta_for_file(path: &Path, info: &VideoInfo, frames_decoded: u64, data_hash: Option<&str>) -> VideoMeta {
    let title = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    let data_hash = data_hash.map_or_else(|| uuid_from_seed(&format!("data:{title}:{size}")), str::to_owned);
    let frames = info.frame_count_hint.unwrap_or(frames_decoded).max(frames_decoded);
    let duration_secs = if info.fps > 0.0 { frames as f64 / info.fps } else { info.duration_secs.unwrap_or(0.0) };
    VideoMeta {
        label_hash: uuid_from_seed(&format!("label:{data_hash}")),
        dataset_hash: uuid_from_seed("dataset:local"),
        dataset_title: "prelabel local files".to_owned(),
        data_link: path.display().to_string(),
        mime_type: mime_type(path).to_owned(),
        width: info.width,
        height: info.height,
        fps: info.fps,
        duration_secs,
        data_title: title,
        data_hash,
    }
}
