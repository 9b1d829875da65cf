//! The video label row (PROTOCOL.md §5) and the builder that fills it from detections.

use std::collections::{BTreeMap, HashSet};

use prelabel_core::{BoxXyxy, FrameDetections, FramePx, NormXywh};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ClassMap, Ontology, object_hash};

/// One Encord label row for one video (field order as Encord's SDK writes it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelRow {
    /// Label row id (UUID).
    pub label_hash: Option<String>,
    /// Label branch, `main`.
    pub branch_name: String,
    /// Creation time in Encord's format, or null.
    pub created_at: Option<String>,
    /// Last edit time in Encord's format, or null.
    pub last_edited_at: Option<String>,
    /// Data unit id (UUID).
    pub data_hash: String,
    /// Dataset id (UUID).
    pub dataset_hash: String,
    /// Dataset title.
    pub dataset_title: String,
    /// Title of the video.
    pub data_title: String,
    /// `video`.
    pub data_type: String,
    /// Workflow task status, or null.
    pub annotation_task_status: Option<String>,
    /// Shadow-data flag; false for ordinary videos.
    #[serde(default)]
    pub is_shadow_data: bool,
    /// One entry per object instance, keyed by object hash.
    pub object_answers: BTreeMap<String, ObjectAnswer>,
    /// Classification instances, kept as they are.
    pub classification_answers: BTreeMap<String, Value>,
    /// Dynamic object attributes, kept as they are.
    pub object_actions: BTreeMap<String, Value>,
    /// `NOT_LABELLED`, `LABEL_IN_PROGRESS`, …
    pub label_status: String,
    /// Exactly one data unit for a video, keyed by its data hash.
    pub data_units: BTreeMap<String, DataUnit>,
    /// `{}` for a plain video.
    #[serde(default)]
    pub spaces: Value,
}

/// Static attribute answers of one object instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectAnswer {
    /// Attribute answers, kept as they are.
    pub classifications: Vec<Value>,
    /// The object instance.
    #[serde(rename = "objectHash")]
    pub object_hash: String,
}

/// The video inside a label row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataUnit {
    /// Data unit id (UUID).
    pub data_hash: String,
    /// Title of the video.
    pub data_title: String,
    /// Signed URL or storage link.
    pub data_link: String,
    /// MIME type, e.g. `video/mp4`.
    pub data_type: String,
    /// `0` for a video.
    pub data_sequence: u32,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Labels per frame index; frames without labels are left out.
    pub labels: BTreeMap<u64, FrameLabels>,
    /// Duration in seconds.
    pub data_duration: f64,
    /// Frames per second.
    pub data_fps: f64,
}

/// The labels on one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameLabels {
    /// Object instances present on this frame.
    pub objects: Vec<FrameObject>,
    /// Always empty when written (classifications live in `classification_answers`).
    pub classifications: Vec<Value>,
}

/// One object instance's bounding box on one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameObject {
    /// Ontology object name.
    pub name: String,
    /// Ontology object colour.
    pub color: String,
    /// `bounding_box`.
    pub shape: String,
    /// Lower-case name with spaces as `_`.
    pub value: String,
    /// When the box was made, in Encord's format.
    pub created_at: String,
    /// Who made it; null lets the server fill in the caller.
    pub created_by: Option<String>,
    /// Detector confidence on this frame.
    pub confidence: f64,
    /// Object instance, the same on every frame of one instance.
    pub object_hash: String,
    /// Ontology object's feature hash.
    pub feature_hash: String,
    /// False for model output.
    pub manual_annotation: bool,
    /// Last edit time, in Encord's format.
    pub last_edited_at: String,
    /// Who edited it last; null lets the server fill in the caller.
    pub last_edited_by: Option<String>,
    /// The box, normalised top-left x, y, width and height.
    pub bounding_box: BoundingBox,
}

/// Encord's `boundingBox`: top-left `x, y`, width `w`, height `h`, normalised to 0..1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoundingBox {
    /// Height / frame height.
    pub h: f64,
    /// Width / frame width.
    pub w: f64,
    /// Left edge / frame width.
    pub x: f64,
    /// Top edge / frame height.
    pub y: f64,
}

impl From<NormXywh> for BoundingBox {
    fn from(n: NormXywh) -> Self {
        Self { h: n.h, w: n.w, x: n.x, y: n.y }
    }
}

/// The MIME type Encord stores in a video data unit, from the file extension (`video/mp4` when
/// the extension says nothing more specific).
pub fn mime_type_for(path: &std::path::Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("avi") => "video/x-msvideo",
        Some("mkv") => "video/x-matroska",
        Some("webm") => "video/webm",
        Some("mov") => "video/quicktime",
        _ => "video/mp4",
    }
}

/// What a label row says about its video.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoMeta {
    /// Label row id.
    pub label_hash: String,
    /// Data unit id.
    pub data_hash: String,
    /// Title of the video.
    pub data_title: String,
    /// Dataset id.
    pub dataset_hash: String,
    /// Dataset title.
    pub dataset_title: String,
    /// Link to the video.
    pub data_link: String,
    /// MIME type.
    pub mime_type: String,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
    /// Duration in seconds.
    pub duration_secs: f64,
}

/// Builds a label row from detections: one object instance per detection, or one per track
/// with a box on every frame it covers.
///
/// Object hashes are derived from (data hash, `source`, frame and detection index) or (data
/// hash, `source`, track id), so the same input always gives the same hashes.
pub struct LabelRowBuilder<'a> {
    ontology: &'a Ontology,
    class_map: &'a ClassMap,
    meta: VideoMeta,
    source: String,
    timestamp: String,
    labels: BTreeMap<u64, FrameLabels>,
    object_answers: BTreeMap<String, ObjectAnswer>,
    used_hashes: HashSet<String>,
}

/// One box of an object instance: frame, corners in frame pixels, confidence.
pub type InstanceBox = (u64, BoxXyxy<FramePx>, f32);

impl<'a> LabelRowBuilder<'a> {
    /// A builder for `meta`'s video; `source` names the model (it goes into the object hashes)
    /// and `timestamp` (Encord's format) is written as the creation and edit time.
    pub fn new(ontology: &'a Ontology, class_map: &'a ClassMap, meta: VideoMeta, source: &str, timestamp: String) -> Self {
        Self {
            ontology,
            class_map,
            meta,
            source: source.to_owned(),
            timestamp,
            labels: BTreeMap::new(),
            object_answers: BTreeMap::new(),
            used_hashes: HashSet::new(),
        }
    }

    /// Adds one frame's detections, one object instance each; detections of classes the
    /// ontology lacks are skipped.
    pub fn add_frame(&mut self, frame: &FrameDetections) {
        for (i, detection) in frame.detections.iter().enumerate() {
            let key = [frame.frame_index.to_string(), i.to_string()];
            let boxes = [(frame.frame_index, detection.bbox_in_frame_px, detection.score)];
            self.add_instance(&key, detection.class_index, &boxes);
        }
    }

    /// Adds one tracked object as one instance with a box on each of its frames; returns false
    /// (and adds nothing) when its class has no ontology object.
    pub fn add_track(&mut self, track_id: u64, class_index: usize, boxes: &[InstanceBox]) -> bool {
        self.add_instance(&["track".to_owned(), track_id.to_string()], class_index, boxes)
    }

    /// Adds one object instance keyed by `key` (hashed with the data hash and source).
    fn add_instance(&mut self, key: &[String], class_index: usize, boxes: &[InstanceBox]) -> bool {
        let Some(object) = self.class_map.object_for(class_index).map(|k| &self.ontology.objects[k]) else {
            return false;
        };
        let hash = self.unique_hash(key);
        self.object_answers.insert(hash.clone(), ObjectAnswer { classifications: Vec::new(), object_hash: hash.clone() });
        for (frame_index, bbox_in_frame_px, score) in boxes {
            let bbox = NormXywh::norm_from_frame(bbox_in_frame_px, self.meta.width, self.meta.height);
            let entry = FrameObject {
                name: object.name.clone(),
                color: object.color.clone(),
                shape: object.shape.clone(),
                value: object.name.to_lowercase().replace(' ', "_"),
                created_at: self.timestamp.clone(),
                created_by: None,
                confidence: f64::from(*score),
                object_hash: hash.clone(),
                feature_hash: object.feature_node_hash.clone(),
                manual_annotation: false,
                last_edited_at: self.timestamp.clone(),
                last_edited_by: None,
                bounding_box: bbox.into(),
            };
            self.labels.entry(*frame_index).or_insert_with(|| FrameLabels { objects: Vec::new(), classifications: Vec::new() }).objects.push(entry);
        }
        true
    }

    /// A hash not yet used in this row: on the (rare) 48-bit collision, the next salt is tried,
    /// which keeps the result deterministic for the same input order.
    fn unique_hash(&mut self, key: &[String]) -> String {
        let mut salt = 0u32;
        loop {
            let salt_text = salt.to_string();
            let mut parts: Vec<&str> = vec![&self.meta.data_hash, &self.source];
            parts.extend(key.iter().map(String::as_str));
            parts.push(&salt_text);
            let hash = object_hash(&parts);
            if self.used_hashes.insert(hash.clone()) {
                return hash;
            }
            salt += 1;
        }
    }

    /// The finished label row.
    pub fn finish(self) -> LabelRow {
        let meta = self.meta;
        let data_unit = DataUnit {
            data_hash: meta.data_hash.clone(),
            data_title: meta.data_title.clone(),
            data_link: meta.data_link,
            data_type: meta.mime_type,
            data_sequence: 0,
            width: meta.width,
            height: meta.height,
            labels: self.labels,
            data_duration: meta.duration_secs,
            data_fps: meta.fps,
        };
        LabelRow {
            label_hash: Some(meta.label_hash),
            branch_name: "main".to_owned(),
            created_at: Some(self.timestamp.clone()),
            last_edited_at: Some(self.timestamp),
            data_hash: meta.data_hash.clone(),
            dataset_hash: meta.dataset_hash,
            dataset_title: meta.dataset_title,
            data_title: meta.data_title,
            data_type: "video".to_owned(),
            annotation_task_status: None,
            is_shadow_data: false,
            object_answers: self.object_answers,
            classification_answers: BTreeMap::new(),
            object_actions: BTreeMap::new(),
            label_status: "LABEL_IN_PROGRESS".to_owned(),
            data_units: BTreeMap::from([(meta.data_hash, data_unit)]),
            spaces: Value::Object(Default::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prelabel_core::{BoxXyxy, Detection};

    #[test]
    fn the_sdk_example_row_reads_and_writes_back_unchanged() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/video_label_row_example.json");
        let original: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let row: LabelRow = serde_json::from_value(original.clone()).unwrap();
        assert_eq!(row.data_units.values().next().unwrap().labels[&1].objects[0].confidence, 0.65);
        assert_eq!(serde_json::to_value(&row).unwrap(), original);
    }

    fn meta() -> VideoMeta {
        VideoMeta {
            label_hash: "L".into(),
            data_hash: "D".into(),
            data_title: "clip.mp4".into(),
            dataset_hash: "S".into(),
            dataset_title: "local".into(),
            data_link: "clip.mp4".into(),
            mime_type: "video/mp4".into(),
            width: 200,
            height: 100,
            fps: 25.0,
            duration_secs: 0.08,
        }
    }

    fn detection(class_index: usize, score: f32, x1: f32) -> Detection {
        Detection { class_index, score, bbox_in_frame_px: BoxXyxy::new(x1, 10.0, x1 + 50.0, 60.0) }
    }

    #[test]
    fn detections_become_normalised_boxes_with_confidence_and_feature_hash() {
        let ontology = Ontology::from_class_names(&["person"]);
        let map = ClassMap::new(&ontology, &["person", "kite"], &[]).unwrap();
        let mut builder = LabelRowBuilder::new(&ontology, &map, meta(), "model", "Thu, 02 Jan 2025 03:04:05 UTC".into());
        builder.add_frame(&FrameDetections { frame_index: 1, detections: vec![detection(0, 0.9, 50.0), detection(1, 0.8, 0.0)] });
        builder.add_frame(&FrameDetections { frame_index: 2, detections: vec![detection(1, 0.7, 0.0)] });
        let row = builder.finish();
        let unit = &row.data_units["D"];
        assert_eq!(unit.labels.keys().collect::<Vec<_>>(), [&1], "frames with no kept box are left out");
        let object = &unit.labels[&1].objects[0];
        assert_eq!(unit.labels[&1].objects.len(), 1, "the kite has no ontology object");
        assert_eq!(object.bounding_box, BoundingBox { x: 0.25, y: 0.1, w: 0.25, h: 0.5 });
        assert_eq!((object.confidence as f32, object.manual_annotation), (0.9, false));
        assert_eq!(object.feature_hash, ontology.objects[0].feature_node_hash);
        assert_eq!(row.object_answers.keys().collect::<Vec<_>>(), [&object.object_hash]);
    }

    #[test]
    fn a_track_is_one_instance_with_a_box_on_each_frame() {
        let ontology = Ontology::from_class_names(&["person"]);
        let map = ClassMap::new(&ontology, &["person", "kite"], &[]).unwrap();
        let mut builder = LabelRowBuilder::new(&ontology, &map, meta(), "model", String::new());
        let boxes: Vec<InstanceBox> = (10..14).map(|f| (f, BoxXyxy::new(50.0, 10.0, 100.0, 60.0), 0.7)).collect();
        assert!(builder.add_track(4, 0, &boxes));
        assert!(!builder.add_track(5, 1, &boxes), "a kite has no ontology object");
        let row = builder.finish();
        assert_eq!(row.object_answers.len(), 1);
        let unit = &row.data_units["D"];
        assert_eq!(unit.labels.keys().copied().collect::<Vec<_>>(), [10, 11, 12, 13]);
        let hashes: HashSet<&str> = unit.labels.values().map(|l| l.objects[0].object_hash.as_str()).collect();
        assert_eq!(hashes.len(), 1, "the same instance on every frame");
    }

    #[test]
    fn identical_input_gives_identical_object_hashes() {
        let ontology = Ontology::from_class_names(&["person"]);
        let map = ClassMap::new(&ontology, &["person"], &[]).unwrap();
        let build = |source: &str| {
            let mut b = LabelRowBuilder::new(&ontology, &map, meta(), source, String::new());
            for f in 0..50 {
                b.add_frame(&FrameDetections { frame_index: f, detections: vec![detection(0, 0.5, 0.0); 3] });
            }
            for id in 0..20 {
                b.add_track(id, 0, &[(id, BoxXyxy::new(0.0, 0.0, 5.0, 5.0), 0.9)]);
            }
            b.finish().object_answers.into_keys().collect::<Vec<_>>()
        };
        let first = build("model-a");
        assert_eq!(first.len(), 170, "every detection and every track gets its own hash");
        assert_eq!(first, build("model-a"));
        assert_ne!(first, build("model-b"));
    }
}
