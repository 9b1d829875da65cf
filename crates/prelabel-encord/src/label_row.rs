//! The video label row (PROTOCOL.md §5) and the builder that fills it from detections.
//!
//! The row's types are generic over their containers, with the owned model as the default
//! (`LabelRow` is `LabelRow<BTreeMap<u64, FrameLabels>, BTreeMap<String, ObjectAnswer>>`), so the
//! builder can write the same JSON from its compact store through views that make each frame
//! object as it is serialised.

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::path::Path;

use prelabel_core::{BoxXyxy, FrameDetections, FramePx, NormXywh};
use rayon::prelude::*;
use serde::ser::{Error as _, SerializeMap};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::{RawValue, to_raw_value};

use crate::hash::{owned_object_hash_bytes, owner_prefix};
use crate::write::write_atomically;
use crate::{ClassMap, Ontology, WriteError};

/// One Encord label row for one video (field order as Encord's SDK writes it).
///
/// `Labels` is the frame-to-labels map of the data unit and `Answers` the object-answers map;
/// the defaults are the owned model every reader and the merge use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelRow<Labels = BTreeMap<u64, FrameLabels>, Answers = BTreeMap<String, ObjectAnswer>> {
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
    pub object_answers: Answers,
    /// Classification instances, kept as they are.
    pub classification_answers: BTreeMap<String, Value>,
    /// Dynamic object attributes, kept as they are.
    pub object_actions: BTreeMap<String, Value>,
    /// `NOT_LABELLED`, `LABEL_IN_PROGRESS`, …
    pub label_status: String,
    /// Exactly one data unit for a video, keyed by its data hash.
    pub data_units: BTreeMap<String, DataUnit<Labels>>,
    /// `{}` for a plain video.
    #[serde(default)]
    pub spaces: Value,
}

/// Static attribute answers of one object instance (`Text`: the hash's string type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectAnswer<Text = String> {
    /// Attribute answers, kept as they are.
    pub classifications: Vec<Value>,
    /// The object instance.
    #[serde(rename = "objectHash")]
    pub object_hash: Text,
}

/// The video inside a label row (`Labels`: the frame-to-labels map, see [`LabelRow`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataUnit<Labels = BTreeMap<u64, FrameLabels>> {
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
    pub labels: Labels,
    /// Duration in seconds.
    pub data_duration: f64,
    /// Frames per second.
    pub data_fps: f64,
}

/// The labels on one frame (`Objects`: the sequence of [`FrameObject`]s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameLabels<Objects = Vec<FrameObject>> {
    /// Object instances present on this frame.
    pub objects: Objects,
    /// Always empty when written (classifications live in `classification_answers`).
    pub classifications: Vec<Value>,
}

/// One object instance's bounding box on one frame (`Text`: the string type of its text fields;
/// the builder writes `FrameObject<&str>`s borrowed from its store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameObject<Text = String> {
    /// Ontology object name.
    pub name: Text,
    /// Ontology object colour.
    pub color: Text,
    /// `bounding_box`.
    pub shape: Text,
    /// Lower-case name with spaces as `_`.
    pub value: Text,
    /// When the box was made, in Encord's format.
    pub created_at: Text,
    /// Who made it; null lets the server fill in the caller.
    pub created_by: Option<Text>,
    /// Detector confidence on this frame.
    pub confidence: f64,
    /// Object instance, the same on every frame of one instance.
    pub object_hash: Text,
    /// Ontology object's feature hash.
    pub feature_hash: Text,
    /// False for model output.
    pub manual_annotation: bool,
    /// Last edit time, in Encord's format.
    pub last_edited_at: Text,
    /// Who edited it last; null lets the server fill in the caller.
    pub last_edited_by: Option<Text>,
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
/// Object hashes start with the model's [`owner_prefix`] and go on with 4 characters derived
/// from (data hash, model, frame and detection index) or (data hash, model, the tracks' origin,
/// track id), so the same input always gives the same hashes and a merge knows the model's own.
///
/// Boxes are stored compactly (instance, corners in frame pixels, score: 32 bytes a box, plus
/// an inline hash and ontology index per instance); the frame objects of the row are made only
/// when it is finished ([`finish`](Self::finish)) or written ([`write_json`](Self::write_json),
/// which never holds them all).
pub struct LabelRowBuilder<'a> {
    ontology: &'a Ontology,
    class_map: &'a ClassMap,
    meta: VideoMeta,
    /// The model's name.
    model: String,
    /// `track`, or `track@F` for tracks numbered from frame F (see [`LabelSource`]).
    track_origin: String,
    /// [`owner_prefix`] of `model`.
    owner_prefix: [u8; 4],
    timestamp: String,
    /// Each ontology object's `value` (lower case, spaces as `_`), by ontology index.
    object_values: Vec<String>,
    /// The boxes on each frame, in the order they were added.
    boxes_per_frame: BTreeMap<u64, Vec<StoredBox>>,
    /// Object instances in the order they were added; [`StoredBox::instance`] indexes this.
    instances: Vec<Instance>,
    /// Every instance's hash, to keep them unique.
    used_hashes: HashSet<InlineHash, BuildHasherDefault<FoldHasher>>,
}

/// Whose pre-labels a row holds, which goes into their object hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelSource<'s> {
    /// The model's name: every object hash of its pre-labels starts with its [`owner_prefix`].
    pub model: &'s str,
    /// For tracks numbered from this frame on by a run that covers only part of the video (the
    /// editor agent's calls): it tells their hashes apart from those of runs from other frames,
    /// whose track 0 is another object. `None` for runs over the whole video.
    pub tracks_from_frame: Option<u64>,
    /// Object hashes the new instances must not take: for a run merged on some frames only, the
    /// model's instances that live on outside them ([`own_hashes_outside`](crate::own_hashes_outside));
    /// a new instance with one of their hashes would join that other object.
    pub taken_hashes: &'s [String],
}

impl<'s> LabelSource<'s> {
    /// Pre-labels of `model` over the whole video.
    pub fn model(model: &'s str) -> Self {
        Self { model, tracks_from_frame: None, taken_hashes: &[] }
    }
}

/// One box of an object instance: frame, corners in frame pixels, confidence.
pub type InstanceBox = (u64, BoxXyxy<FramePx>, f32);

/// What an object instance's hash is derived from, besides the data hash and source.
#[derive(Debug, Clone, Copy)]
enum InstanceKey {
    /// Detection `index` of frame `frame_index` (one instance per detection).
    Detection { frame_index: u64, index: usize },
    /// A tracked object.
    Track(u64),
}

/// One box in the builder's store.
#[derive(Debug, Clone, Copy)]
struct StoredBox {
    /// Index into the builder's instances.
    instance: usize,
    /// Corners in frame pixels (normalised when the frame object is made).
    bbox_in_frame_px: BoxXyxy<FramePx>,
    /// Detector confidence.
    score: f32,
}

/// One object instance in the builder's store.
#[derive(Debug, Clone, Copy)]
struct Instance {
    /// The instance's object hash.
    object_hash: InlineHash,
    /// Index into the ontology's objects.
    object_index: usize,
}

/// An object hash held inline: the 8 base64 characters of [`object_hash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct InlineHash([u8; 8]);

impl InlineHash {
    /// The hash as text (base64 characters are ASCII, so the empty fallback is never taken).
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// A hasher for [`InlineHash`]es in a set: their bytes already come from SHA-256, so folding them
/// into a word and mixing it once (splitmix64's finaliser, which spreads the base64 characters'
/// 6 bits a byte over all 64) is as good as hashing them again, and much cheaper than SipHash on
/// a long video.
#[derive(Default)]
struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
}

/// `n` in decimal, written into `digits` (no allocation).
fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &str {
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written, so the empty fallback is never taken.
    std::str::from_utf8(&digits[start..]).unwrap_or_default()
}

impl<'a> LabelRowBuilder<'a> {
    /// A builder for `meta`'s video; `source` says whose pre-labels these are (it goes into the
    /// object hashes) and `timestamp` (Encord's format) is written as the creation and edit time.
    pub fn new(ontology: &'a Ontology, class_map: &'a ClassMap, meta: VideoMeta, source: LabelSource<'_>, timestamp: String) -> Self {
        Self {
            ontology,
            class_map,
            meta,
            model: source.model.to_owned(),
            track_origin: source.tracks_from_frame.map_or_else(|| "track".to_owned(), |f| format!("track@{f}")),
            owner_prefix: owner_prefix(source.model),
            timestamp,
            object_values: ontology.objects.iter().map(|o| o.name.to_lowercase().replace(' ', "_")).collect(),
            boxes_per_frame: BTreeMap::new(),
            instances: Vec::new(),
            used_hashes: source.taken_hashes.iter().filter_map(|h| Some(InlineHash(h.as_bytes().try_into().ok()?))).collect(),
        }
    }

    /// Adds one frame's detections, one object instance each; detections of classes the
    /// ontology lacks are skipped.
    pub fn add_frame(&mut self, frame: &FrameDetections) {
        self.add_frames(std::slice::from_ref(frame));
    }

    /// [`add_frame`](Self::add_frame) for each of `frames` in order, with the same result. The
    /// hashes the detections get unless they collide are computed first, on all cores when there
    /// are many (hashing is most of the work on a long video).
    pub fn add_frames(&mut self, frames: &[FrameDetections]) {
        let first_choice_hashes = |frame: &FrameDetections| {
            (0..frame.detections.len())
                .map(|index| self.hash_with_salt(InstanceKey::Detection { frame_index: frame.frame_index, index }, 0))
                .collect::<Vec<InlineHash>>()
        };
        let detections: usize = frames.iter().map(|f| f.detections.len()).sum();
        let first_choices: Vec<InlineHash> = if detections >= PARALLEL_HASHING_FROM {
            frames.par_iter().flat_map_iter(first_choice_hashes).collect()
        } else {
            frames.iter().flat_map(first_choice_hashes).collect()
        };
        self.used_hashes.reserve(first_choices.len());
        let mut first_choices = first_choices.into_iter();
        for frame in frames {
            let mut boxes = Vec::with_capacity(frame.detections.len());
            for (index, detection) in frame.detections.iter().enumerate() {
                let key = InstanceKey::Detection { frame_index: frame.frame_index, index };
                if let Some(instance) = self.add_instance(key, detection.class_index, first_choices.next()) {
                    boxes.push(StoredBox { instance, bbox_in_frame_px: detection.bbox_in_frame_px, score: detection.score });
                }
            }
            if !boxes.is_empty() {
                // One map lookup per frame; a frame given twice keeps both lots of boxes.
                self.boxes_per_frame.entry(frame.frame_index).or_default().append(&mut boxes);
            }
        }
    }

    /// Adds one tracked object as one instance with a box on each of its frames; returns false
    /// (and adds nothing) when its class has no ontology object.
    pub fn add_track(&mut self, track_id: u64, class_index: usize, boxes: &[InstanceBox]) -> bool {
        let Some(instance) = self.add_instance(InstanceKey::Track(track_id), class_index, None) else {
            return false;
        };
        for &(frame_index, bbox_in_frame_px, score) in boxes {
            self.boxes_per_frame.entry(frame_index).or_default().push(StoredBox { instance, bbox_in_frame_px, score });
        }
        true
    }

    /// Adds one object instance keyed by `key` (hashed with the data hash and source) and returns
    /// its index; `None` (nothing added) when its class has no ontology object.
    fn add_instance(&mut self, key: InstanceKey, class_index: usize, first_choice: Option<InlineHash>) -> Option<usize> {
        let object_index = self.class_map.object_for(class_index)?;
        let object_hash = self.unique_hash(key, first_choice);
        self.instances.push(Instance { object_hash, object_index });
        Some(self.instances.len() - 1)
    }

    /// A hash not yet used in this row nor taken: on a collision (the part after the owner prefix
    /// has 24 bits), the next salt is tried, which keeps the result deterministic for the same
    /// input order and taken hashes.
    /// `first_choice`, when given, is the key's hash with salt 0, computed beforehand.
    fn unique_hash(&mut self, key: InstanceKey, first_choice: Option<InlineHash>) -> InlineHash {
        for salt in 0.. {
            let hash = match first_choice {
                Some(hash) if salt == 0 => hash,
                _ => self.hash_with_salt(key, salt),
            };
            if self.used_hashes.insert(hash) {
                return hash;
            }
        }
        unreachable!("salts run on until a hash is free: a row cannot hold all 2^24 of a model's hashes")
    }

    /// The hash of `key` (with the data hash and model) and `salt`: the model's [`owner_prefix`],
    /// then 4 characters derived from the data hash, the model, the frame and detection index
    /// (or the tracks' origin and the track id), and the salt, in decimal.
    fn hash_with_salt(&self, key: InstanceKey, salt: u64) -> InlineHash {
        let (mut first_digits, mut second_digits, mut salt_digits) = ([0u8; 20], [0u8; 20], [0u8; 20]);
        let [first, second] = match key {
            InstanceKey::Detection { frame_index, index } => {
                [decimal(frame_index, &mut first_digits), decimal(index as u64, &mut second_digits)]
            }
            InstanceKey::Track(track_id) => [self.track_origin.as_str(), decimal(track_id, &mut second_digits)],
        };
        let parts = [self.meta.data_hash.as_str(), &self.model, first, second, decimal(salt, &mut salt_digits)];
        InlineHash(owned_object_hash_bytes(self.owner_prefix, &parts))
    }

    /// The frame object of `stored`, its text fields made by `text` from the builder's strings
    /// (borrowed for streaming, owned for [`finish`](Self::finish)).
    fn frame_object<'s, T>(&'s self, stored: &StoredBox, text: impl Fn(&'s str) -> T) -> FrameObject<T> {
        let instance = &self.instances[stored.instance];
        let object = &self.ontology.objects[instance.object_index];
        let bbox = NormXywh::norm_from_frame(&stored.bbox_in_frame_px, self.meta.width, self.meta.height);
        FrameObject {
            name: text(&object.name),
            color: text(&object.color),
            shape: text(&object.shape),
            value: text(&self.object_values[instance.object_index]),
            created_at: text(&self.timestamp),
            created_by: None,
            confidence: f64::from(stored.score),
            object_hash: text(instance.object_hash.as_str()),
            feature_hash: text(&object.feature_node_hash),
            manual_annotation: false,
            last_edited_at: text(&self.timestamp),
            last_edited_by: None,
            bounding_box: bbox.into(),
        }
    }

    /// Every instance's hash in `object_answers` order (sorted, as a map keyed by the hash
    /// writes them).
    fn sorted_hashes(&self) -> Vec<InlineHash> {
        let mut hashes: Vec<InlineHash> = self.instances.iter().map(|instance| instance.object_hash).collect();
        hashes.sort_unstable();
        hashes
    }

    /// The row around `labels` and `object_answers`: every other field, for both
    /// [`finish`](Self::finish) and [`write_json`](Self::write_json).
    fn row<Labels, Answers>(&self, labels: Labels, object_answers: Answers) -> LabelRow<Labels, Answers> {
        let meta = &self.meta;
        let data_unit = DataUnit {
            data_hash: meta.data_hash.clone(),
            data_title: meta.data_title.clone(),
            data_link: meta.data_link.clone(),
            data_type: meta.mime_type.clone(),
            data_sequence: 0,
            width: meta.width,
            height: meta.height,
            labels,
            data_duration: meta.duration_secs,
            data_fps: meta.fps,
        };
        LabelRow {
            label_hash: Some(meta.label_hash.clone()),
            branch_name: "main".to_owned(),
            created_at: Some(self.timestamp.clone()),
            last_edited_at: Some(self.timestamp.clone()),
            data_hash: meta.data_hash.clone(),
            dataset_hash: meta.dataset_hash.clone(),
            dataset_title: meta.dataset_title.clone(),
            data_title: meta.data_title.clone(),
            data_type: "video".to_owned(),
            annotation_task_status: None,
            is_shadow_data: false,
            object_answers,
            classification_answers: BTreeMap::new(),
            object_actions: BTreeMap::new(),
            label_status: "LABEL_IN_PROGRESS".to_owned(),
            data_units: BTreeMap::from([(meta.data_hash.clone(), data_unit)]),
            spaces: Value::Object(Default::default()),
        }
    }

    /// The finished label row, every frame object materialised.
    pub fn finish(self) -> LabelRow {
        let labels = self
            .boxes_per_frame
            .iter()
            .map(|(&frame_index, boxes)| {
                let objects = boxes.iter().map(|stored| self.frame_object(stored, str::to_owned)).collect();
                (frame_index, FrameLabels::of(objects))
            })
            .collect();
        let answers = self.sorted_hashes().iter().map(|hash| object_answer(hash, str::to_owned)).collect();
        self.row(labels, answers)
    }

    /// Writes the row's JSON into `writer`, making each frame object as it is written: besides
    /// the builder's own store it holds only the instances' hashes in order (8 bytes each). The
    /// bytes are exactly those of `serde_json::to_vec(&builder.finish())`. An unbuffered writer
    /// gets many small writes.
    pub fn write_json(&self, writer: impl io::Write) -> io::Result<()> {
        let hashes = self.sorted_hashes();
        let row = self.row(FramesView { builder: self }, AnswersView { hashes: &hashes });
        serde_json::to_writer(writer, &row).map_err(io::Error::from)
    }

    /// [`write_json`](Self::write_json) into `path` atomically, as
    /// [`write_json_atomically`](crate::write_json_atomically) does: the file is complete or
    /// not there.
    pub fn write_json_atomically(&self, path: &Path) -> Result<(), WriteError> {
        write_atomically(path, |writer| self.write_json(writer))
    }
}

impl<Objects> FrameLabels<Objects> {
    /// A frame's labels with these objects and no classifications, as the builder writes them.
    fn of(objects: Objects) -> Self {
        Self { objects, classifications: Vec::new() }
    }
}

/// The data unit's `labels` of a builder's row, frame objects made as they are serialised.
struct FramesView<'b, 'a> {
    builder: &'b LabelRowBuilder<'a>,
}

/// The `objects` of one frame of a builder's row, made as they are serialised.
struct FrameObjectsView<'b, 'a> {
    builder: &'b LabelRowBuilder<'a>,
    boxes: &'b [StoredBox],
}

/// The `object_answers` of a builder's row, made as they are serialised.
struct AnswersView<'b> {
    /// The instances' hashes, sorted.
    hashes: &'b [InlineHash],
}

/// The `object_answers` entry of `hash`: its key and value, their text made by `text` (borrowed
/// for streaming, owned for [`LabelRowBuilder::finish`]).
fn object_answer<'s, T>(hash: &'s InlineHash, text: impl Fn(&'s str) -> T) -> (T, ObjectAnswer<T>) {
    (text(hash.as_str()), ObjectAnswer { classifications: Vec::new(), object_hash: text(hash.as_str()) })
}

/// Detections from which [`LabelRowBuilder::add_frames`] hashes on all cores.
const PARALLEL_HASHING_FROM: usize = 4096;

/// Frames whose JSON is made at once, in parallel, before it is written: a window of a few MiB.
const FRAMES_PER_WINDOW: usize = 1024;

impl Serialize for FramesView<'_, '_> {
    /// Frame by frame in order; each window of [`FRAMES_PER_WINDOW`] frames is first rendered to
    /// compact JSON on all cores (the bytes compact serialisation would write in place), then
    /// written as raw JSON.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let builder = self.builder;
        let frames: Vec<(&u64, &Vec<StoredBox>)> = builder.boxes_per_frame.iter().collect();
        let mut map = serializer.serialize_map(Some(frames.len()))?;
        for window in frames.chunks(FRAMES_PER_WINDOW) {
            let rendered: Vec<serde_json::Result<Box<RawValue>>> =
                window.par_iter().map(|(_, boxes)| to_raw_value(&FrameLabels::of(FrameObjectsView { builder, boxes }))).collect();
            for ((frame_index, _), json) in window.iter().zip(rendered) {
                map.serialize_entry(frame_index, &json.map_err(S::Error::custom)?)?;
            }
        }
        map.end()
    }
}

impl Serialize for FrameObjectsView<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.boxes.iter().map(|stored| self.builder.frame_object(stored, |text| text)))
    }
}

impl Serialize for AnswersView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.hashes.iter().map(|hash| object_answer(hash, |text| text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object_hash;
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
        let mut builder =
            LabelRowBuilder::new(&ontology, &map, meta(), LabelSource::model("model"), "Thu, 02 Jan 2025 03:04:05 UTC".into());
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
        let mut builder = LabelRowBuilder::new(&ontology, &map, meta(), LabelSource::model("model"), String::new());
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
    fn object_hashes_are_the_owner_prefix_then_derived_from_data_hash_model_and_frame_detection_or_track() {
        let ontology = Ontology::from_class_names(&["person"]);
        let map = ClassMap::new(&ontology, &["person"], &[]).unwrap();
        let prefix = String::from_utf8_lossy(&owner_prefix("model")).into_owned();
        for (source, track_origin) in [
            (LabelSource::model("model"), "track"),
            (LabelSource { model: "model", tracks_from_frame: Some(400), taken_hashes: &[] }, "track@400"),
        ] {
            let mut builder = LabelRowBuilder::new(&ontology, &map, meta(), source, String::new());
            builder.add_frame(&FrameDetections { frame_index: 7, detections: vec![detection(0, 0.5, 0.0); 2] });
            builder.add_track(3, 0, &[(9, BoxXyxy::new(0.0, 0.0, 5.0, 5.0), 0.9)]);
            let row = builder.finish();
            let expected: BTreeMap<String, ObjectAnswer> = [["7", "0"], ["7", "1"], [track_origin, "3"]]
                .map(|[a, b]| format!("{prefix}{}", &object_hash(&["D", "model", a, b, "0"])[..4]))
                .into_iter()
                .map(|hash| (hash.clone(), ObjectAnswer { classifications: vec![], object_hash: hash }))
                .collect();
            assert_eq!(row.object_answers, expected, "{source:?}");
        }
    }

    #[test]
    fn a_taken_hash_is_passed_over_for_the_next_salt() {
        let ontology = Ontology::from_class_names(&["person"]);
        let map = ClassMap::new(&ontology, &["person"], &[]).unwrap();
        let prefix = String::from_utf8_lossy(&owner_prefix("model")).into_owned();
        let salted = |salt: &str| format!("{prefix}{}", &object_hash(&["D", "model", "track@400", "3", salt])[..4]);
        let hash_of_track_3 = |taken: &[String]| {
            let source = LabelSource { model: "model", tracks_from_frame: Some(400), taken_hashes: taken };
            let mut builder = LabelRowBuilder::new(&ontology, &map, meta(), source, String::new());
            builder.add_track(3, 0, &[(401, BoxXyxy::new(0.0, 0.0, 5.0, 5.0), 0.9)]);
            builder.finish().object_answers.into_keys().collect::<Vec<_>>()
        };
        assert_eq!(hash_of_track_3(&[]), [salted("0")]);
        assert_eq!(hash_of_track_3(&[salted("0"), "not8".into()]), [salted("1")]);
    }

    #[test]
    fn streamed_json_is_the_finished_row_across_windows_of_frames() {
        let ontology = Ontology::from_class_names(&["person"]);
        let map = ClassMap::new(&ontology, &["person"], &[]).unwrap();
        let mut builder = LabelRowBuilder::new(&ontology, &map, meta(), LabelSource::model("model"), String::new());
        let frames = 2 * FRAMES_PER_WINDOW as u64 + 7;
        for f in 0..frames {
            builder.add_frame(&FrameDetections { frame_index: f, detections: vec![detection(0, 0.5, (f % 90) as f32); 2] });
        }
        let mut streamed = Vec::new();
        builder.write_json(&mut streamed).unwrap();
        let row = builder.finish();
        assert_eq!(row.data_units["D"].labels.len() as u64, frames);
        assert_eq!(streamed, serde_json::to_vec(&row).unwrap());
    }

    #[test]
    fn frames_added_together_give_the_row_frames_added_one_by_one_give() {
        let ontology = Ontology::from_class_names(&["person"]);
        let map = ClassMap::new(&ontology, &["person", "kite"], &[]).unwrap();
        // Enough detections to hash on all cores; every 7th is a kite (no ontology object).
        let frames: Vec<FrameDetections> = (0..600)
            .map(|f| FrameDetections {
                frame_index: f,
                detections: (0..9).map(|i| detection(usize::from((f + i) % 7 == 0), 0.5, i as f32)).collect(),
            })
            .collect();
        assert!(frames.iter().map(|f| f.detections.len()).sum::<usize>() >= PARALLEL_HASHING_FROM);
        let mut together = LabelRowBuilder::new(&ontology, &map, meta(), LabelSource::model("model"), String::new());
        together.add_frames(&frames);
        let mut one_by_one = LabelRowBuilder::new(&ontology, &map, meta(), LabelSource::model("model"), String::new());
        frames.iter().for_each(|f| one_by_one.add_frame(f));
        assert_eq!(together.finish(), one_by_one.finish());
    }

    #[test]
    fn decimal_writes_numbers_as_to_string_does() {
        let mut digits = [0u8; 20];
        for n in [0, 7, 10, 99, 100, 4_294_967_296, u64::MAX] {
            assert_eq!(decimal(n, &mut digits), n.to_string());
        }
    }

    #[test]
    fn streamed_json_is_byte_for_byte_the_finished_row() {
        let ontology = Ontology::from_class_names(&["person", "Traffic Light"]);
        let map = ClassMap::new(&ontology, &["person", "kite", "Traffic Light"], &[]).unwrap();
        let mut builder =
            LabelRowBuilder::new(&ontology, &map, meta(), LabelSource::model("model"), "Thu, 02 Jan 2025 03:04:05 UTC".into());
        for f in 0..20 {
            let detections = (0..f % 4).map(|i| detection(i as usize % 3, 0.3 + i as f32 * 0.17, f as f32 * 7.3 - 20.0)).collect();
            builder.add_frame(&FrameDetections { frame_index: f * 2, detections });
        }
        let track: Vec<InstanceBox> = (5..30).map(|f| (f, BoxXyxy::new(f as f32 * 3.1, 2.5, f as f32 * 3.1 + 40.0, 250.0), 0.61)).collect();
        assert!(builder.add_track(1, 2, &track));
        assert!(!builder.add_track(2, 1, &track), "a kite has no ontology object");
        assert!(builder.add_track(3, 0, &track[..3]));

        let mut streamed = Vec::new();
        builder.write_json(&mut streamed).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("row.json");
        builder.write_json_atomically(&path).unwrap();
        let row = builder.finish();
        let labels = &row.data_units["D"].labels;
        assert!(!labels.contains_key(&0), "a frame without boxes is left out");
        assert_eq!(labels[&6].objects.len(), 4, "frame 6: a person, a traffic light (the kite is skipped) and two tracks");
        let finished = serde_json::to_vec(&row).unwrap();
        assert_eq!(String::from_utf8(streamed).unwrap(), String::from_utf8(finished.clone()).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), finished);
    }

    #[test]
    fn identical_input_gives_identical_object_hashes() {
        let ontology = Ontology::from_class_names(&["person"]);
        let map = ClassMap::new(&ontology, &["person"], &[]).unwrap();
        let build = |source: &str| {
            let mut b = LabelRowBuilder::new(&ontology, &map, meta(), LabelSource::model(source), String::new());
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
