//! Label-row metadata for a local video file.

use std::path::Path;

use prelabel_decode::VideoInfo;
use prelabel_encord::{VideoMeta, uuid_from_seed};

/// The file name, as a data title.
fn file_title(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// The data hash a local file gets when none is given: derived from its name and size, so the
/// same file gets the same hash on every run and every host.
pub fn derived_data_hash(path: &Path) -> String {
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    uuid_from_seed(&format!("data:{}:{size}", file_title(path)))
}

/// Metadata for a video outside Encord: the ids are derived from `data_hash` when given, else
/// from the file name and size, so the same file gets the same ids on every run.
pub fn video_meta_for_file(path: &Path, info: &VideoInfo, frames_decoded: u64, data_hash: Option<&str>) -> VideoMeta {
    let title = file_title(path);
    let data_hash = data_hash.map_or_else(|| derived_data_hash(path), str::to_owned);
    let frames = info.frame_count_hint.unwrap_or(frames_decoded).max(frames_decoded);
    let duration_secs = if info.fps > 0.0 { frames as f64 / info.fps } else { info.duration_secs.unwrap_or(0.0) };
    VideoMeta {
        label_hash: uuid_from_seed(&format!("label:{data_hash}")),
        dataset_hash: uuid_from_seed("dataset:local"),
        dataset_title: "prelabel local files".to_owned(),
        data_link: path.display().to_string(),
        mime_type: prelabel_encord::mime_type_for(path).to_owned(),
        width: info.width,
        height: info.height,
        fps: info.fps,
        duration_secs,
        data_title: title,
        data_hash,
    }
}

/// Metadata for a video whose label row came from Encord: the ids, titles and link are the
/// stored row's; size and timing are what the decoder found.
pub fn video_meta_for_stored_row(stored: &serde_json::Value, info: &VideoInfo, frames_decoded: u64) -> VideoMeta {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let data_hash = text(&stored["data_hash"]);
    let unit = &stored["data_units"][&data_hash];
    let frames = info.frame_count_hint.unwrap_or(frames_decoded).max(frames_decoded);
    VideoMeta {
        label_hash: text(&stored["label_hash"]),
        data_title: text(&stored["data_title"]),
        dataset_hash: text(&stored["dataset_hash"]),
        dataset_title: text(&stored["dataset_title"]),
        data_link: text(&unit["data_link"]),
        mime_type: unit["data_type"].as_str().unwrap_or("video/mp4").to_owned(),
        width: info.width,
        height: info.height,
        fps: info.fps,
        duration_secs: if info.fps > 0.0 { frames as f64 / info.fps } else { info.duration_secs.unwrap_or(0.0) },
        data_hash,
    }
}
