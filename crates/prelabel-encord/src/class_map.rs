//! Which ontology object each model class becomes.

use std::collections::HashMap;

use crate::ontology::{BOUNDING_BOX, Ontology};

/// An alias names something that does not exist.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ClassMapError {
    /// The alias's model class is not one of the model's classes.
    #[error("alias {class}={object}: the model has no class named `{class}`")]
    UnknownClass {
        /// Model class name in the alias.
        class: String,
        /// Ontology object name in the alias.
        object: String,
    },
    /// The alias's target is not a bounding-box object of the ontology.
    #[error("alias {class}={object}: the ontology has no bounding-box object named `{object}`")]
    UnknownObject {
        /// Model class name in the alias.
        class: String,
        /// Ontology object name in the alias.
        object: String,
    },
}

/// For each model class, the ontology object (index into [`Ontology::objects`]) its
/// detections become, or `None` when the class is dropped.
///
/// A class maps to the active bounding-box object whose name equals the class name, or its
/// alias, ignoring case.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassMap {
    object_for_class: Vec<Option<usize>>,
}

impl ClassMap {
    /// Maps `class_names` onto `ontology`; `aliases` are `(model class, ontology object)` pairs.
    pub fn new<S: AsRef<str>>(ontology: &Ontology, class_names: &[S], aliases: &[(String, String)]) -> Result<Self, ClassMapError> {
        let by_name: HashMap<String, usize> = ontology
            .objects
            .iter()
            .enumerate()
            .filter(|(_, o)| o.shape == BOUNDING_BOX && !o.archived)
            .map(|(i, o)| (o.name.to_lowercase(), i))
            .collect();
        let mut alias_for: HashMap<String, &str> = HashMap::new();
        for (class, object) in aliases {
            let error = |unknown_class: bool| {
                let (class, object) = (class.clone(), object.clone());
                if unknown_class { ClassMapError::UnknownClass { class, object } } else { ClassMapError::UnknownObject { class, object } }
            };
            if !class_names.iter().any(|n| n.as_ref().eq_ignore_ascii_case(class)) {
                return Err(error(true));
            }
            if !by_name.contains_key(&object.to_lowercase()) {
                return Err(error(false));
            }
            alias_for.insert(class.to_lowercase(), object);
        }
        let object_for_class = class_names
            .iter()
            .map(|name| {
                let name = name.as_ref().to_lowercase();
                let target = alias_for.get(&name).map_or(name.clone(), |o| o.to_lowercase());
                by_name.get(&target).copied()
            })
            .collect();
        Ok(Self { object_for_class })
    }

    /// The ontology object for a model class, or `None` when the class is dropped.
    pub fn object_for(&self, class_index: usize) -> Option<usize> {
        self.object_for_class.get(class_index).copied().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ontology() -> Ontology {
        let mut o = Ontology::from_class_names(&["Car", "Pedestrian", "Truck", "Bus"]);
        o.objects[2].shape = "polygon".into();
        o.objects[3].archived = true;
        o
    }

    #[test]
    fn classes_map_by_name_ignoring_case_and_through_aliases() {
        let names = ["car", "person", "truck", "bus", "dog"];
        let map = ClassMap::new(&ontology(), &names, &[("Person".into(), "pedestrian".into())]).unwrap();
        assert_eq!(map.object_for(0), Some(0));
        assert_eq!(map.object_for(1), Some(1));
        assert_eq!(map.object_for(2), None, "a polygon object takes no boxes");
        assert_eq!(map.object_for(3), None, "an archived object takes no new labels");
        assert_eq!(map.object_for(4), None, "no such object");
        assert_eq!(map.object_for(99), None);
    }

    #[test]
    fn aliases_must_name_a_model_class_and_a_box_object() {
        let names = ["car", "person"];
        let bad_class = ClassMap::new(&ontology(), &names, &[("persn".into(), "Pedestrian".into())]);
        assert!(matches!(bad_class, Err(ClassMapError::UnknownClass { .. })));
        let bad_object = ClassMap::new(&ontology(), &names, &[("person".into(), "Pedestrain".into())]);
        assert!(matches!(bad_object, Err(ClassMapError::UnknownObject { .. })));
    }
}
