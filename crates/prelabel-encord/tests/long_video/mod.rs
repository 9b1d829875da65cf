//! The long video of the label-row memory test and the criterion bench (`benches/label_row.rs`
//! includes this file): 100,000 frames × 10 boxes, one million objects.

use prelabel_core::{BoxXyxy, Detection, FrameDetections};
use prelabel_encord::{ClassMap, LabelRowBuilder, LabelSource, Ontology, VideoMeta};

/// Frames of the video.
pub const FRAMES: u64 = 100_000;
/// Boxes the detector found on every frame.
pub const BOXES_PER_FRAME: usize = 10;
/// The model's classes, all in the ontology.
pub const CLASSES: [&str; 3] = ["person", "car", "Traffic Light"];

/// The video's label-row metadata (1080p, 25 fps).
pub fn meta() -> VideoMeta {
    VideoMeta {
        label_hash: "5e1b3c1e-3b1a-8a4c-9d2e-0f6a7b8c9d0e".into(),
        data_hash: "0d9a8b7c-6f5e-8d4c-b3a2-918070605040".into(),
        data_title: "long.mp4".into(),
        dataset_hash: "a1b2c3d4-e5f6-8a7b-8c9d-0e1f2a3b4c5d".into(),
        dataset_title: "local".into(),
        data_link: "long.mp4".into(),
        mime_type: "video/mp4".into(),
        width: 1920,
        height: 1080,
        fps: 25.0,
        duration_secs: FRAMES as f64 / 25.0,
    }
}

/// The ontology made from [`CLASSES`] and the identity map onto it.
pub fn ontology_and_map() -> (Ontology, ClassMap) {
    let ontology = Ontology::from_class_names(&CLASSES);
    let map = ClassMap::new(&ontology, &CLASSES, &[]).expect("every class is in the ontology");
    (ontology, map)
}

/// The detector's output on `frame_index`: [`BOXES_PER_FRAME`] boxes of every class, moving.
pub fn frame_detections(frame_index: u64) -> FrameDetections {
    let detections = (0..BOXES_PER_FRAME)
        .map(|i| {
            let x = (i * 150) as f32 + (frame_index % 100) as f32;
            Detection {
                class_index: i % CLASSES.len(),
                score: 0.3 + i as f32 * 0.061,
                bbox_in_frame_px: BoxXyxy::new(x, 200.0, x + 120.5, 480.25),
            }
        })
        .collect();
    FrameDetections { frame_index, detections }
}

/// An empty builder for the video.
pub fn new_builder<'a>(ontology: &'a Ontology, map: &'a ClassMap) -> LabelRowBuilder<'a> {
    LabelRowBuilder::new(ontology, map, meta(), LabelSource::model("ssdlite_mobilenet_v2_coco_300"), "Thu, 02 Jan 2025 03:04:05 UTC".into())
}
