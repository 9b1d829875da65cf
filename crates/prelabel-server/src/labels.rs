//! Label rows as the server keeps them: what a client may change (the labels and answers), what
//! the server owns (ids, titles, the video's link, size, rate and length), and the checks a save
//! must pass.

use std::collections::BTreeMap;

use prelabel_encord::{DataUnit, FrameLabels, LabelRow, ObjectAnswer, Ontology, encord_timestamp_now};
use serde_json::Value;

use crate::error::ApiError;
use crate::project::{Project, StageKind, Video};

/// What a client owns in a label row; a save replaces all of it.
#[derive(Debug, Default)]
pub(crate) struct Content {
    labels: BTreeMap<u64, FrameLabels>,
    object_answers: BTreeMap<String, ObjectAnswer>,
    classification_answers: BTreeMap<String, Value>,
    object_actions: BTreeMap<String, Value>,
}

impl Content {
    /// The client-owned part of `row` (whose one data unit [`check`] has accepted).
    pub(crate) fn of(mut row: LabelRow) -> Self {
        let labels = row.data_units.pop_first().map(|(_, unit)| unit.labels).unwrap_or_default();
        Self {
            labels,
            object_answers: row.object_answers,
            classification_answers: row.classification_answers,
            object_actions: row.object_actions,
        }
    }
}

/// Checks a label row for `video`: it is that video's, it has exactly its one data unit, no
/// label lies on a frame at or past the end (`CORRUPTED_LABEL_ERROR`), every object's feature
/// hash is an ontology object (`FEATURE_DOES_NOT_EXIST_ERROR`) and every object has its entry in
/// `object_answers` (`ANSWER_DICTIONARY_ERROR`).
pub(crate) fn check(row: &LabelRow, video: &Video, ontology: &Ontology) -> Result<(), ApiError> {
    if row.data_hash != video.data_hash {
        return Err(ApiError::InvalidArguments(format!(
            "the label row is for data {}, not for {} ({})",
            row.data_hash, video.data_hash, video.title
        )));
    }
    let unit = match (row.data_units.len(), row.data_units.get(&video.data_hash)) {
        (1, Some(unit)) => unit,
        _ => {
            return Err(ApiError::InvalidArguments(format!(
                "a video label row has exactly one data unit, keyed by its data hash {}",
                video.data_hash
            )));
        }
    };
    for (&frame, frame_labels) in &unit.labels {
        if frame >= video.frame_count {
            return Err(ApiError::CorruptedLabel(format!(
                "frame {frame} is past the end of {} ({} frames, 0 to {})",
                video.title,
                video.frame_count,
                video.frame_count.saturating_sub(1)
            )));
        }
        for object in &frame_labels.objects {
            if !ontology.objects.iter().any(|o| o.feature_node_hash == object.feature_hash) {
                return Err(ApiError::UnknownFeature(format!(
                    "featureHash {} (object {} on frame {frame}) is not an object of the ontology",
                    object.feature_hash, object.object_hash
                )));
            }
            if !row.object_answers.contains_key(&object.object_hash) {
                return Err(ApiError::AnswerDictionary(format!(
                    "object {} on frame {frame} has no entry in object_answers",
                    object.object_hash
                )));
            }
        }
    }
    Ok(())
}

/// Fills null `createdBy` and `lastEditedBy` values with `email`, as Encord does for the SDK's
/// user.
pub(crate) fn fill_authors(content: &mut Content, email: &str) {
    for object in content.labels.values_mut().flat_map(|f| f.objects.iter_mut()) {
        object.created_by.get_or_insert_with(|| email.to_owned());
        object.last_edited_by.get_or_insert_with(|| email.to_owned());
    }
}

/// The row as the server stores it: `content` from the client, everything else from the project
/// (the data link is the unsigned storage link; the task status is filled in when it is sent).
pub(crate) fn stored_row(project: &Project, video: &Video, label_hash: String, created_at: Option<String>, content: Content) -> LabelRow {
    let now = encord_timestamp_now();
    let unit = DataUnit {
        data_hash: video.data_hash.clone(),
        data_title: video.title.clone(),
        data_link: video.storage_link(),
        data_type: video.mime_type.clone(),
        data_sequence: 0,
        width: video.width,
        height: video.height,
        labels: content.labels,
        data_duration: video.duration_secs(),
        data_fps: video.fps,
    };
    LabelRow {
        label_hash: Some(label_hash),
        branch_name: "main".to_owned(),
        created_at: Some(created_at.unwrap_or_else(|| now.clone())),
        last_edited_at: Some(now),
        data_hash: video.data_hash.clone(),
        dataset_hash: project.dataset_hash.clone(),
        dataset_title: project.dataset_title.clone(),
        data_title: video.title.clone(),
        data_type: "video".to_owned(),
        annotation_task_status: None,
        is_shadow_data: false,
        object_answers: content.object_answers,
        classification_answers: content.classification_answers,
        object_actions: content.object_actions,
        label_status: "LABEL_IN_PROGRESS".to_owned(),
        data_units: BTreeMap::from([(video.data_hash.clone(), unit)]),
        spaces: Value::Object(Default::default()),
    }
}

/// A stored row as a client receives it: with the task's status and the given data link (the
/// signed URL or the storage link).
pub(crate) fn row_for_client(row: &LabelRow, stage: StageKind, data_link: String) -> LabelRow {
    let mut row = row.clone();
    row.annotation_task_status = Some(annotation_task_status(stage).to_owned());
    for unit in row.data_units.values_mut() {
        unit.data_link = data_link.clone();
    }
    row
}

/// The legacy `annotation_task_status` of a task in a stage of this kind.
pub(crate) fn annotation_task_status(stage: StageKind) -> &'static str {
    match stage {
        StageKind::Agent | StageKind::Annotation | StageKind::ConsensusAnnotation => "QUEUED",
        StageKind::Review | StageKind::ConsensusReview => "IN_REVIEW",
        StageKind::Done => "COMPLETED",
    }
}
