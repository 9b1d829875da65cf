//! Merging fresh pre-labels into a label row people may have worked on. A save replaces the
//! whole row on the server, so the worker reads the row, keeps everything a person made or
//! touched, replaces only its own untouched pre-labels, and saves the result.
//!
//! An object instance (all its frames) is an **untouched pre-label** when every frame entry has
//! `manualAnnotation: false` and was last edited by whoever created it, and no person answered
//! its attributes (no answer in its `object_answers` or `object_actions` entry is other than
//! `manualAnnotation: false`): pre-labels are written with none. It is **the model's own** when its
//! object hash starts with the model's [`owner_prefix`](crate::owner_prefix), as every hash of
//! its pre-labels does: so its earlier pre-labels are replaced whatever run made them (the
//! worker's tracks, an editor call from another frame, a run whose detections changed or found
//! nothing), and another model's or tool's are kept. A person's edit of a pre-label wins: the
//! model's new version of that object is dropped.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::{LabelRow, owner_prefix};

/// The row cannot be merged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergeError {
    /// The stored row has no data unit for the video.
    #[error("label row {label_hash}: no data unit {data_hash}")]
    NoDataUnit {
        /// The row.
        label_hash: String,
        /// The expected data unit.
        data_hash: String,
    },
}

/// What a merge kept, replaced and added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeStats {
    /// Object instances of others (people, other tools) kept as they were.
    pub kept: usize,
    /// The worker's own untouched pre-labels removed to make way for the new ones.
    pub replaced: usize,
    /// New pre-label object instances added.
    pub added: usize,
    /// New pre-labels not added because a person had edited the object with that hash.
    pub edited_by_people: usize,
}

fn object_hash(object: &Value) -> Option<&str> {
    object.get("objectHash").and_then(Value::as_str)
}

/// Merges `ours` (fresh pre-labels of the model named `model` for the same video) into
/// `stored` (the row as the server has it) and returns the row to save.
pub fn merge_prelabels(stored: &Value, ours: &LabelRow, model: &str) -> Result<(Value, MergeStats), MergeError> {
    merge_scoped(stored, ours, model, None)
}

/// Merges `ours` into `stored` on the given frames only (the editor agent's single-frame and
/// from-frame calls): own untouched pre-labels lose their entries on `frames` and nowhere else
/// (an instance left without any entry is removed with its answers); everything else, and every
/// frame outside `frames`, is kept byte for byte; only `ours`' objects on `frames` are added.
/// Ownership and "a person's edit wins" follow [`merge_prelabels`]. Returns the row to save.
pub fn merge_prelabels_on_frames(
    stored: &Value,
    ours: &LabelRow,
    model: &str,
    frames: &BTreeSet<u64>,
) -> Result<(Value, MergeStats), MergeError> {
    merge_scoped(stored, ours, model, Some(frames))
}

/// The object hashes of the model named `model`'s instances in `stored` (the row of the video
/// `data_hash`) that have an entry on a frame outside `frames`: a merge on `frames` keeps those
/// entries, so a new pre-label must not take such a hash ([`LabelSource::taken_hashes`](crate::LabelSource)).
pub fn own_hashes_outside(stored: &Value, data_hash: &str, model: &str, frames: &BTreeSet<u64>) -> Vec<String> {
    let prefix = owner_prefix(model);
    let labels = stored.get("data_units").and_then(|u| u.get(data_hash)).and_then(|u| u.get("labels")).and_then(Value::as_object);
    let outside = labels.into_iter().flatten().filter(|(frame, _)| frame.parse::<u64>().map_or(true, |f| !frames.contains(&f)));
    let hashes: BTreeSet<&str> = outside
        .flat_map(|(_, frame)| frame.get("objects").and_then(Value::as_array).into_iter().flatten())
        .filter_map(object_hash)
        .filter(|h| h.as_bytes().starts_with(&prefix))
        .collect();
    hashes.into_iter().map(str::to_owned).collect()
}

/// The merge; `scope` limits the frames that change (`None`: all).
fn merge_scoped(stored: &Value, ours: &LabelRow, model: &str, scope: Option<&BTreeSet<u64>>) -> Result<(Value, MergeStats), MergeError> {
    let in_scope = |frame: &str| scope.is_none_or(|frames| frame.parse::<u64>().is_ok_and(|f| frames.contains(&f)));
    let mut merged = stored.clone();
    let no_unit = || MergeError::NoDataUnit {
        label_hash: stored["label_hash"].as_str().unwrap_or_default().to_owned(),
        data_hash: ours.data_hash.clone(),
    };
    let our_unit = ours.data_units.get(&ours.data_hash).ok_or_else(no_unit)?;
    let labels = merged
        .get_mut("data_units")
        .and_then(|u| u.get_mut(&ours.data_hash))
        .ok_or_else(no_unit)?
        .as_object_mut()
        .ok_or_else(no_unit)?
        .entry("labels")
        .or_insert_with(|| Value::Object(Map::new()));
    if !labels.is_object() {
        *labels = Value::Object(Map::new());
    }

    // Every stored instance, with whether it is an untouched pre-label.
    let mut untouched: BTreeMap<String, bool> = BTreeMap::new();
    for frame in labels.as_object().into_iter().flat_map(Map::values) {
        for object in frame.get("objects").and_then(Value::as_array).into_iter().flatten() {
            let Some(hash) = object_hash(object) else { continue };
            let created_by = object.get("createdBy").and_then(Value::as_str);
            let last_edited_by = object.get("lastEditedBy").and_then(Value::as_str);
            let entry_untouched = object.get("manualAnnotation").and_then(Value::as_bool) == Some(false)
                && (last_edited_by.is_none() || last_edited_by == created_by);
            *untouched.entry(hash.to_owned()).or_insert(true) &= entry_untouched;
        }
    }
    // A person's attribute answer (static or dynamic) makes an instance touched: it would go
    // with the pre-label it belongs to.
    for (key, list) in [("object_answers", "classifications"), ("object_actions", "actions")] {
        for (hash, entry) in stored.get(key).and_then(Value::as_object).into_iter().flatten() {
            let answers = entry.get(list).and_then(Value::as_array).into_iter().flatten();
            if answers.into_iter().any(|a| a.get("manualAnnotation").and_then(Value::as_bool) != Some(false)) {
                untouched.entry(hash.clone()).and_modify(|u| *u = false);
            }
        }
    }
    let prefix = owner_prefix(model);
    let own: BTreeSet<String> =
        untouched.iter().filter(|(hash, untouched)| **untouched && hash.as_bytes().starts_with(&prefix)).map(|(h, _)| h.clone()).collect();
    let our_hashes: BTreeSet<&str> = ours.object_answers.keys().map(String::as_str).collect();
    let edited: BTreeSet<&str> = our_hashes.iter().copied().filter(|h| untouched.contains_key(*h) && !own.contains(*h)).collect();
    // The new instances: with a scope, only those with a box on its frames.
    let added: BTreeSet<&str> = match scope {
        None => our_hashes.iter().copied().filter(|h| !edited.contains(h)).collect(),
        Some(frames) => (our_unit.labels.iter().filter(|(f, _)| frames.contains(f)))
            .flat_map(|(_, l)| l.objects.iter().map(|o| o.object_hash.as_str()))
            .filter(|h| !edited.contains(h))
            .collect(),
    };

    // Frames in scope: drop own instances' entries.
    let frames = labels.as_object_mut().ok_or_else(no_unit)?;
    let mut replaced: BTreeSet<String> = BTreeSet::new();
    for (_, frame) in frames.iter_mut().filter(|(key, _)| in_scope(key)) {
        if let Some(objects) = frame.get_mut("objects").and_then(Value::as_array_mut) {
            objects.retain(|o| match object_hash(o) {
                Some(h) if own.contains(h) => {
                    replaced.insert(h.to_owned());
                    false
                }
                _ => true,
            });
        }
    }
    // Own instances with no entry left anywhere are gone, answers and actions included.
    let mut gone = replaced.clone();
    for frame in frames.values() {
        for object in frame.get("objects").and_then(Value::as_array).into_iter().flatten() {
            object_hash(object).map(|h| gone.remove(h));
        }
    }
    let stats =
        MergeStats { kept: untouched.len() - replaced.len(), replaced: replaced.len(), added: added.len(), edited_by_people: edited.len() };

    // Add ours; frames in scope left empty disappear.
    for (frame_index, our_frame) in our_unit.labels.iter().filter(|(f, _)| scope.is_none_or(|s| s.contains(f))) {
        let frame = frames.entry(frame_index.to_string()).or_insert_with(|| serde_json::json!({"objects": [], "classifications": []}));
        let objects = frame.as_object_mut().ok_or_else(no_unit)?.entry("objects").or_insert_with(|| Value::Array(Vec::new()));
        if let Some(objects) = objects.as_array_mut() {
            for object in our_frame.objects.iter().filter(|o| added.contains(o.object_hash.as_str())) {
                objects.push(serde_json::to_value(object).unwrap_or(Value::Null));
            }
        }
    }
    frames.retain(|key, frame| {
        let empty = |key: &str| frame.get(key).and_then(Value::as_array).is_none_or(Vec::is_empty);
        !(in_scope(key) && empty("objects") && empty("classifications"))
    });

    // Answers follow the instances.
    if let Some(answers) = merged.get_mut("object_answers").and_then(Value::as_object_mut) {
        answers.retain(|hash, _| !gone.contains(hash));
        for (hash, answer) in ours.object_answers.iter().filter(|(h, _)| added.contains(h.as_str())) {
            answers.insert(hash.clone(), serde_json::to_value(answer).unwrap_or(Value::Null));
        }
    }
    if let Some(actions) = merged.get_mut("object_actions").and_then(Value::as_object_mut) {
        actions.retain(|hash, _| !gone.contains(hash));
    }
    Ok((merged, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BoundingBox, DataUnit, FrameLabels, FrameObject, ObjectAnswer};
    use serde_json::json;

    /// The test's name for an object hash, as the row has it: the placeholders of the model's
    /// own pre-labels (`own…`, `staleOwn`, `frame1ab`, `outside1`) start with its owner prefix.
    fn h(name: &str) -> String {
        let own = ["ownOld01", "ownEdit1", "staleOwn", "ownNew01", "ownNew02", "frame1ab", "outside1"];
        if own.contains(&name) { format!("{}{}", String::from_utf8_lossy(&owner_prefix("model")), &name[4..]) } else { name.to_owned() }
    }

    /// [`h`] of each, in order.
    fn hs(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| h(n)).collect()
    }

    /// The keys of `row`'s `object_answers`.
    fn answer_keys(row: &Value) -> BTreeSet<String> {
        row["object_answers"].as_object().unwrap().keys().cloned().collect()
    }

    fn object(hash: &str, manual: bool, created_by: Option<&str>, last_edited_by: Option<&str>, x: f64) -> Value {
        json!({"name": "Car", "color": "#D33115", "shape": "bounding_box", "value": "car",
            "createdAt": "Thu, 02 Jan 2025 03:04:05 UTC", "createdBy": created_by, "confidence": 0.9,
            "objectHash": h(hash), "featureHash": "carFeat1", "manualAnnotation": manual,
            "lastEditedAt": "Thu, 02 Jan 2025 03:04:05 UTC", "lastEditedBy": last_edited_by,
            "boundingBox": {"h": 0.1, "w": 0.1, "x": x, "y": 0.1}})
    }

    fn stored() -> Value {
        let answers: Map<String, Value> =
            [("human001", json!([{"name": "Colour"}])), ("ownOld01", json!([])), ("ownEdit1", json!([])), ("staleOwn", json!([]))]
                .into_iter()
                .map(|(name, classifications)| (h(name), json!({"classifications": classifications, "objectHash": h(name)})))
                .collect();
        json!({"label_hash": "L", "data_hash": "D", "data_units": {"D": {"labels": {
            "0": {"objects": [
                object("human001", true, Some("ann@x.com"), Some("ann@x.com"), 0.5),
                object("ownOld01", false, Some("bot@x.com"), Some("bot@x.com"), 0.1),
                object("ownEdit1", false, Some("bot@x.com"), Some("ann@x.com"), 0.7),
            ], "classifications": []},
            "1": {"objects": [object("staleOwn", false, Some("bot@x.com"), None, 0.2)], "classifications": []},
        }}},
        "object_answers": answers,
        "object_actions": {}, "classification_answers": {"cls1": {"classificationHash": "cls1"}}})
    }

    fn ours(hashes: &[(u64, &str)]) -> LabelRow {
        let mut base: LabelRow = serde_json::from_slice(
            &std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/video_label_row_example.json")).unwrap(),
        )
        .unwrap();
        base.data_hash = "D".into();
        let template: FrameObject = serde_json::from_value(object("x", false, None, None, 0.3)).unwrap();
        let mut labels = BTreeMap::new();
        base.object_answers.clear();
        for (frame, hash) in hashes {
            let o = FrameObject { object_hash: h(hash), bounding_box: BoundingBox { x: 0.3, y: 0.3, w: 0.1, h: 0.1 }, ..template.clone() };
            labels.entry(*frame).or_insert(FrameLabels { objects: vec![], classifications: vec![] }).objects.push(o);
            base.object_answers.insert(h(hash), ObjectAnswer { classifications: vec![], object_hash: h(hash) });
        }
        let unit = base.data_units.values().next().unwrap().clone();
        base.data_units = BTreeMap::from([("D".to_owned(), DataUnit { data_hash: "D".into(), labels, ..unit })]);
        base
    }

    fn hashes_on(row: &Value, frame: &str) -> Vec<String> {
        row["data_units"]["D"]["labels"][frame]["objects"]
            .as_array()
            .map(|a| a.iter().map(|o| o["objectHash"].as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn people_keep_their_work_and_own_prelabels_are_replaced() {
        let (merged, stats) = merge_prelabels(&stored(), &ours(&[(0, "ownOld01"), (0, "ownEdit1"), (2, "ownNew01")]), "model").unwrap();
        // The person's box is untouched, byte for byte.
        assert_eq!(merged["data_units"]["D"]["labels"]["0"]["objects"][0], stored()["data_units"]["D"]["labels"]["0"]["objects"][0]);
        assert_eq!(hashes_on(&merged, "0"), hs(&["human001", "ownEdit1", "ownOld01"]));
        assert_eq!(merged["data_units"]["D"]["labels"]["0"]["objects"][1]["boundingBox"]["x"], 0.7, "the person's edit wins");
        assert_eq!(merged["data_units"]["D"]["labels"]["0"]["objects"][2]["boundingBox"]["x"], 0.3, "the new pre-label");
        assert!(merged["data_units"]["D"]["labels"].get("1").is_none(), "a stale own pre-label goes");
        assert_eq!(hashes_on(&merged, "2"), hs(&["ownNew01"]));
        assert_eq!(stats, MergeStats { kept: 2, replaced: 2, added: 2, edited_by_people: 1 });
        assert_eq!(answer_keys(&merged), hs(&["human001", "ownEdit1", "ownNew01", "ownOld01"]).into_iter().collect());
        assert_eq!(merged["object_answers"]["human001"], stored()["object_answers"]["human001"]);
        assert_eq!(merged["classification_answers"], stored()["classification_answers"]);
    }

    #[test]
    fn the_model_s_hashes_outside_the_frames_are_those_a_scoped_merge_keeps() {
        let outside = |frames: &[u64]| own_hashes_outside(&stored(), "D", "model", &frames.iter().copied().collect());
        assert_eq!(outside(&[0]), hs(&["staleOwn"]));
        let mut on_frame_0 = hs(&["ownEdit1", "ownOld01"]);
        on_frame_0.sort();
        assert_eq!(outside(&[1]), on_frame_0, "the model's own, touched or not; not the person's");
        assert!(outside(&[0, 1]).is_empty());
        assert!(own_hashes_outside(&stored(), "D", "another model", &BTreeSet::new()).is_empty());
    }

    #[test]
    fn a_prelabel_whose_attributes_a_person_answered_is_theirs() {
        // The box is as the model made it, but a person answered its attributes (statically, or
        // dynamically on a frame): it stays with the answers, and our new version is not added.
        let answer = |manual: bool| json!({"name": "Colour", "value": "colour", "answers": [{"name": "red"}], "manualAnnotation": manual});
        for (key, value) in [
            ("object_answers", json!({"classifications": [answer(true)], "objectHash": "ownOld01"})),
            (
                "object_actions",
                json!({"objectHash": "ownOld01", "actions": [json!({"dynamic": true, "range": [[0, 0]], "manualAnnotation": true})]}),
            ),
        ] {
            let mut row = stored();
            row[key][h("ownOld01").as_str()] = value;
            let (merged, stats) = merge_prelabels(&row, &ours(&[(0, "ownOld01")]), "model").unwrap();
            assert_eq!(
                merged["data_units"]["D"]["labels"]["0"]["objects"][1], row["data_units"]["D"]["labels"]["0"]["objects"][1],
                "{key}"
            );
            assert_eq!(merged[key][h("ownOld01").as_str()], row[key][h("ownOld01").as_str()], "{key}");
            assert_eq!(stats.edited_by_people, 1, "{key}");
        }
        // A machine's answer (manualAnnotation false) leaves it the model's to replace.
        let mut row = stored();
        row["object_answers"][h("ownOld01").as_str()]["classifications"] = json!([answer(false)]);
        let (merged, stats) = merge_prelabels(&row, &ours(&[(0, "ownOld01")]), "model").unwrap();
        assert_eq!(merged["data_units"]["D"]["labels"]["0"]["objects"][2]["boundingBox"]["x"], 0.3, "the new pre-label");
        assert_eq!(stats.edited_by_people, 0);
    }

    #[test]
    fn the_models_prelabels_go_whatever_run_made_them_and_others_stay() {
        // Untouched pre-labels of another model and of another tool, beside the model's own.
        let other_model = format!("{}Oth1", String::from_utf8_lossy(&owner_prefix("other-model")));
        let mut row = stored();
        let frame0 = row["data_units"]["D"]["labels"]["0"]["objects"].as_array_mut().unwrap();
        frame0.push(object(&other_model, false, Some("bot@x.com"), Some("bot@x.com"), 0.2));
        frame0.push(object("tool0001", false, Some("bot@x.com"), Some("bot@x.com"), 0.3));
        // A rerun that finds nothing: the model's untouched pre-labels go (none of its hashes is
        // in this run), the edited one, the person's and the others' stay.
        let (merged, stats) = merge_prelabels(&row, &ours(&[]), "model").unwrap();
        assert_eq!(hashes_on(&merged, "0"), [h("human001"), h("ownEdit1"), other_model, "tool0001".to_owned()]);
        assert!(merged["data_units"]["D"]["labels"].get("1").is_none());
        assert_eq!((stats.replaced, stats.added, stats.kept), (2, 0, 4));
    }

    #[test]
    fn merging_twice_gives_the_same_row() {
        let fresh = ours(&[(0, "ownOld01"), (3, "ownNew02")]);
        let (once, _) = merge_prelabels(&stored(), &fresh, "model").unwrap();
        let (twice, stats) = merge_prelabels(&once, &fresh, "model").unwrap();
        assert_eq!(once, twice);
        assert_eq!((stats.replaced, stats.added), (2, 2));
    }

    #[test]
    fn a_row_without_the_data_unit_is_an_error() {
        let err = merge_prelabels(&json!({"label_hash": "L", "data_units": {}}), &ours(&[]), "model").unwrap_err();
        assert_eq!(err, MergeError::NoDataUnit { label_hash: "L".into(), data_hash: "D".into() });
    }

    #[test]
    fn a_frame_scoped_merge_changes_only_those_frames() {
        // A track-like own pre-label spanning frames 0 and 1, a person's box on 0 and 1.
        let mut row = stored();
        let frame1 = row["data_units"]["D"]["labels"]["1"]["objects"].as_array_mut().unwrap();
        frame1.push(object("ownOld01", false, Some("bot@x.com"), Some("bot@x.com"), 0.4));
        frame1.push(object("human001", true, Some("ann@x.com"), Some("ann@x.com"), 0.6));
        let fresh = ours(&[(1, "frame1ab"), (1, "ownEdit1"), (1, "staleOwn"), (0, "outside1")]);
        let (merged, stats) = merge_prelabels_on_frames(&row, &fresh, "model", &BTreeSet::from([1])).unwrap();
        // Frame 0 is byte for byte the stored one (own pre-labels there stay).
        assert_eq!(merged["data_units"]["D"]["labels"]["0"], row["data_units"]["D"]["labels"]["0"]);
        // Frame 1: own untouched entries went, the person's box stayed, ours came; the person's
        // edit of ownEdit1 wins, and the frame-0 object of ours is not added.
        assert_eq!(hashes_on(&merged, "1"), hs(&["human001", "frame1ab", "staleOwn"]));
        assert_eq!(merged["data_units"]["D"]["labels"]["1"]["objects"][0], row["data_units"]["D"]["labels"]["1"]["objects"][2]);
        assert_eq!(merged["data_units"]["D"]["labels"]["1"]["objects"][2]["boundingBox"]["x"], 0.3, "the new staleOwn");
        // ownOld01 (not in this run, but the model's by its prefix) lost its frame-1 entry only
        // and keeps its answer; the frame-0 object of ours has no answer either.
        assert_eq!(answer_keys(&merged), hs(&["frame1ab", "human001", "ownEdit1", "ownOld01", "staleOwn"]).into_iter().collect());
        assert_eq!(stats, MergeStats { kept: 2, replaced: 2, added: 2, edited_by_people: 1 });
        // Again: the same row.
        let (again, _) = merge_prelabels_on_frames(&merged, &fresh, "model", &BTreeSet::from([1])).unwrap();
        assert_eq!(again, merged);
    }
}
