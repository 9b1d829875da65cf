//! The ontology structure (PROTOCOL.md §6): the objects and classifications a project labels.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The ontology could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OntologyError {
    /// The file could not be read.
    #[error("{path}: cannot read the ontology ({cause})")]
    Read {
        /// The ontology file.
        path: PathBuf,
        /// The I/O cause.
        cause: std::io::Error,
    },
    /// The file is not an ontology structure.
    #[error("{path}: not an Encord ontology ({reason})")]
    Parse {
        /// The ontology file.
        path: PathBuf,
        /// What did not parse.
        reason: String,
    },
}

/// An Encord ontology structure (`editor` / `editorOntology` in the API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ontology {
    /// Object classes (bounding boxes, polygons, …).
    pub objects: Vec<OntologyObject>,
    /// Frame-level classifications, kept as they are.
    #[serde(default)]
    pub classifications: Vec<Value>,
    /// Skeleton templates, kept as they are.
    #[serde(default)]
    pub skeleton_templates: Vec<Value>,
}

/// One object class of the ontology.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OntologyObject {
    /// Position in the ontology, an integer as a string.
    pub id: String,
    /// Display name, e.g. `Car`.
    pub name: String,
    /// Display colour, `#RRGGBB`.
    pub color: String,
    /// `bounding_box`, `polygon`, …
    pub shape: String,
    /// The feature hash label objects refer to.
    #[serde(rename = "featureNodeHash")]
    pub feature_node_hash: String,
    /// Whether annotators must use it.
    #[serde(default)]
    pub required: bool,
    /// Archived objects are not offered for new labels.
    #[serde(default)]
    pub archived: bool,
    /// Attributes, kept as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<Value>>,
}

/// Shape name of a bounding-box object.
pub(crate) const BOUNDING_BOX: &str = "bounding_box";

/// Colours for generated ontologies (Encord's editor palette).
const PALETTE: [&str; 12] =
    ["#D33115", "#E27300", "#FCC400", "#B0BC00", "#68BC00", "#16A5A5", "#009CE0", "#7B64FF", "#FA28FF", "#AB149E", "#0C797D", "#653294"];

impl Ontology {
    /// Reads an ontology structure from a JSON file: the bare structure, or an API response
    /// that holds it under `editor` or `editorOntology`.
    pub fn from_file(path: &Path) -> Result<Self, OntologyError> {
        let text = std::fs::read(path).map_err(|cause| OntologyError::Read { path: path.to_path_buf(), cause })?;
        let parse_error = |reason: String| OntologyError::Parse { path: path.to_path_buf(), reason };
        let mut value: Value = serde_json::from_slice(&text).map_err(|e| parse_error(e.to_string()))?;
        for wrapper in ["editor", "editorOntology"] {
            if let Some(inner) = value.get_mut(wrapper).map(Value::take) {
                value = inner;
                break;
            }
        }
        serde_json::from_value(value).map_err(|e| parse_error(e.to_string()))
    }

    /// A bounding-box ontology with one object per class name, with feature hashes derived from
    /// the names (so regenerating it gives the same hashes).
    pub fn from_class_names<S: AsRef<str>>(names: &[S]) -> Self {
        let objects = names
            .iter()
            .enumerate()
            .map(|(i, name)| OntologyObject {
                id: (i + 1).to_string(),
                name: name.as_ref().to_owned(),
                color: PALETTE[i % PALETTE.len()].to_owned(),
                shape: BOUNDING_BOX.to_owned(),
                feature_node_hash: crate::object_hash(&["prelabel-feature", name.as_ref()]),
                required: false,
                archived: false,
                attributes: None,
            })
            .collect();
        Self { objects, classifications: Vec::new(), skeleton_templates: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ontology_example.json"))
    }

    #[test]
    fn reads_the_sdk_example_and_writes_it_back_unchanged() {
        let ontology = Ontology::from_file(fixture()).unwrap();
        assert_eq!(ontology.objects.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["Car", "Person"]);
        let original: Value = serde_json::from_slice(&std::fs::read(fixture()).unwrap()).unwrap();
        assert_eq!(serde_json::to_value(&ontology).unwrap(), original);
    }

    #[test]
    fn generated_ontology_has_one_bounding_box_per_class() {
        let ontology = Ontology::from_class_names(&["person", "car"]);
        assert_eq!(ontology.objects.len(), 2);
        assert!(ontology.objects.iter().all(|o| o.shape == BOUNDING_BOX));
        assert_ne!(ontology.objects[0].feature_node_hash, ontology.objects[1].feature_node_hash);
        assert_eq!(ontology, Ontology::from_class_names(&["person", "car"]));
    }
}
