//! Encord's data model as prelabel writes it: the ontology (which objects a project labels), the
//! mapping from model classes to ontology objects, and the video label row (PROTOCOL.md §5) that
//! carries one bounding box per object instance per frame.
//!
//! The JSON shapes follow Encord's own SDK (encord 0.1.211) field for field; the golden test
//! reads the SDK's canonical example row and writes it back unchanged.

pub mod auth;
mod class_map;
pub mod client;
mod hash;
mod label_row;
mod merge;
mod ontology;
mod write;

pub use class_map::{ClassMap, ClassMapError};
pub use hash::{encord_timestamp, encord_timestamp_now, object_hash, owner_prefix, uuid_from_seed};
pub use label_row::{
    BoundingBox, DataUnit, FrameLabels, FrameObject, InstanceBox, LabelRow, LabelRowBuilder, LabelSource, ObjectAnswer, VideoMeta,
    mime_type_for,
};
pub use merge::{MergeError, MergeStats, merge_prelabels, merge_prelabels_on_frames, own_hashes_outside};
pub use ontology::{Ontology, OntologyError, OntologyObject};
pub use write::{WriteError, write_json_atomically};
