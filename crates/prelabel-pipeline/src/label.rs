//! From detections to an Encord label row.

use prelabel_encord::{ClassMap, LabelRow, LabelRowBuilder, Ontology, VideoMeta, encord_timestamp_now};

use crate::VideoDetections;

/// A label row and how many detections each model class had.
pub struct Labelled {
    /// The row: one object instance per detection whose class maps to the ontology.
    pub row: LabelRow,
    /// Detections per model class index (dropped classes included).
    pub detections_per_class: Vec<u64>,
}

/// Builds the label row for `detections`; `model_name` goes into the object hashes.
pub fn build_label_row(
    ontology: &Ontology,
    class_map: &ClassMap,
    class_count: usize,
    meta: VideoMeta,
    model_name: &str,
    detections: &VideoDetections,
) -> Labelled {
    let mut builder = LabelRowBuilder::new(ontology, class_map, meta, model_name, encord_timestamp_now());
    let mut detections_per_class = vec![0u64; class_count];
    for frame in &detections.frames {
        builder.add_frame(frame);
        for d in &frame.detections {
            if let Some(count) = detections_per_class.get_mut(d.class_index) {
                *count += 1;
            }
        }
    }
    Labelled { row: builder.finish(), detections_per_class }
}
