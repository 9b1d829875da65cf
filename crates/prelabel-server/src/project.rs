//! Reading and checking `project.json` (format: the crate documentation).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use prelabel_decode::VideoSource;
use prelabel_encord::auth::PublicKey;
use prelabel_encord::{LabelRow, Ontology, uuid_from_seed};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ProjectError;
use crate::labels;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectFile {
    project: ProjectSection,
    ontology: OntologySection,
    dataset: DatasetSection,
    stages: Vec<Stage>,
    videos: Vec<VideoSection>,
    #[serde(default)]
    users: Vec<UserSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectSection {
    hash: String,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    creator_email: String,
    #[serde(default = "default_created_at")]
    created_at: String,
}

fn default_created_at() -> String {
    "2025-01-01T00:00:00.000000+00:00".to_owned()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OntologySection {
    hash: String,
    title: String,
    structure: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DatasetSection {
    hash: String,
    title: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VideoSection {
    file: PathBuf,
    data_hash: String,
    task_uuid: String,
    storage_item_uuid: String,
    stage: String,
    title: Option<String>,
    mime_type: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    fps: Option<f64>,
    frame_count: Option<u64>,
    initial_label_row: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserSection {
    email: String,
    public_key: String,
}

/// A workflow stage type the SDK can open (router stages are left out on purpose).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum StageKind {
    Agent,
    Annotation,
    Review,
    ConsensusAnnotation,
    ConsensusReview,
    Done,
}

/// One workflow stage.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Stage {
    pub(crate) uuid: String,
    pub(crate) title: String,
    #[serde(rename = "type")]
    pub(crate) kind: StageKind,
    /// Ways out of an agent stage; none for other stages.
    #[serde(default)]
    pub(crate) pathways: Vec<Pathway>,
}

/// A way out of an agent stage.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Pathway {
    pub(crate) uuid: String,
    pub(crate) title: String,
    /// The stage a task taking this pathway moves to.
    pub(crate) destination: String,
}

/// One video of the dataset, with its workflow task and storage item.
#[derive(Debug)]
pub(crate) struct Video {
    pub(crate) path: PathBuf,
    pub(crate) data_hash: String,
    pub(crate) title: String,
    pub(crate) task_uuid: String,
    pub(crate) storage_item_uuid: String,
    pub(crate) initial_stage: String,
    pub(crate) mime_type: String,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) fps: f64,
    pub(crate) frame_count: u64,
    /// Size in bytes when the server started.
    pub(crate) file_size: u64,
    /// The label row the video has before any client saves one.
    pub(crate) initial_row: Option<LabelRow>,
}

impl Video {
    /// Length in seconds.
    pub(crate) fn duration_secs(&self) -> f64 {
        if self.fps > 0.0 { self.frame_count as f64 / self.fps } else { 0.0 }
    }

    /// The unsigned storage link (`file://…`), reported where the SDK expects a bucket link.
    pub(crate) fn storage_link(&self) -> String {
        format!("file://{}", self.path.display())
    }
}

/// A user who may call the API.
#[derive(Debug)]
pub(crate) struct User {
    pub(crate) email: String,
    pub(crate) key: PublicKey,
}

/// The project: fixed for the server's lifetime.
#[derive(Debug)]
pub(crate) struct Project {
    pub(crate) hash: String,
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) creator_email: String,
    pub(crate) created_at: String,
    pub(crate) ontology_hash: String,
    pub(crate) ontology_title: String,
    pub(crate) ontology: Ontology,
    pub(crate) dataset_hash: String,
    pub(crate) dataset_title: String,
    pub(crate) stages: Vec<Stage>,
    /// Videos by task uuid (the order of task listings and of the paging cursor).
    pub(crate) videos: BTreeMap<String, Video>,
    pub(crate) users: Vec<User>,
    by_data_hash: HashMap<String, String>,
    by_storage_item: HashMap<String, String>,
}

/// Whether `text` is a lower-case hyphenated UUID, as the SDK parses and prints them.
fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}

impl Project {
    /// Reads `<dir>/project.json` and everything it names, probing videos whose size, rate or
    /// length is not given.
    pub(crate) fn load(dir: &Path) -> Result<Self, ProjectError> {
        let path = dir.join("project.json");
        let file: ProjectFile = read_json(&path)?;
        let invalid = |reason: String| ProjectError::Invalid { path: path.clone(), reason };

        let ontology = match file.ontology.structure {
            Value::String(name) => Ontology::from_file(&dir.join(name))?,
            inline => serde_json::from_value(inline).map_err(|e| invalid(format!("ontology.structure: {e}")))?,
        };
        let users = file
            .users
            .into_iter()
            .map(|u| {
                PublicKey::parse(&u.public_key)
                    .map(|key| User { email: u.email.clone(), key })
                    .map_err(|e| invalid(format!("user {}: public_key is not an `ssh-ed25519 …` line or 64 hex characters ({e})", u.email)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut project = Self {
            hash: file.project.hash,
            title: file.project.title,
            description: file.project.description,
            creator_email: file.project.creator_email,
            created_at: file.project.created_at,
            ontology_hash: file.ontology.hash,
            ontology_title: file.ontology.title,
            ontology,
            dataset_hash: file.dataset.hash,
            dataset_title: file.dataset.title,
            stages: file.stages,
            videos: BTreeMap::new(),
            users,
            by_data_hash: HashMap::new(),
            by_storage_item: HashMap::new(),
        };
        project.check_workflow().map_err(invalid)?;
        for section in file.videos {
            let video = load_video(dir, &path, section)?;
            project.add_video(video).map_err(invalid)?;
        }
        for video in project.videos.values() {
            if let Some(row) = &video.initial_row {
                labels::check(row, video, &project.ontology).map_err(|e| invalid(format!("initial_label_row of {}: {e}", video.title)))?;
            }
        }
        Ok(project)
    }

    /// Ids are UUIDs, stage uuids and titles are unique, pathways lead to stages, and only agent
    /// stages have pathways.
    fn check_workflow(&self) -> Result<(), String> {
        let ids = [("project.hash", &self.hash), ("ontology.hash", &self.ontology_hash), ("dataset.hash", &self.dataset_hash)];
        let stage_ids = self.stages.iter().map(|s| ("stage uuid", &s.uuid));
        let pathway_ids = self.stages.iter().flat_map(|s| &s.pathways).map(|p| ("pathway uuid", &p.uuid));
        if let Some((what, id)) = ids.into_iter().chain(stage_ids).chain(pathway_ids).find(|(_, id)| !is_uuid(id)) {
            return Err(format!("{what} `{id}` is not a lower-case UUID"));
        }
        unique(self.stages.iter().map(|s| &s.uuid), "stage uuid")?;
        unique(self.stages.iter().map(|s| &s.title), "stage title")?;
        unique(self.users.iter().map(|u| &u.email), "user email")?;
        unique(self.users.iter().map(|u| u.key.hex()), "user public key")?;
        if !self.stages.iter().any(|s| s.kind == StageKind::Agent) {
            return Err("the workflow has no AGENT stage".to_owned());
        }
        for stage in &self.stages {
            match (stage.kind, stage.pathways.is_empty()) {
                (StageKind::Agent, true) => return Err(format!("AGENT stage `{}` has no pathways", stage.title)),
                (StageKind::Agent, false) => {}
                (_, false) => return Err(format!("stage `{}` has pathways but is not an AGENT stage", stage.title)),
                (_, true) => {}
            }
            unique(stage.pathways.iter().map(|p| &p.title), "pathway title within a stage")?;
            if let Some(p) = stage.pathways.iter().find(|p| self.stage(&p.destination).is_none()) {
                return Err(format!("pathway `{}` of `{}` leads to unknown stage {}", p.title, stage.title, p.destination));
            }
        }
        Ok(())
    }

    /// Adds a video after checking its ids against those already added.
    fn add_video(&mut self, video: Video) -> Result<(), String> {
        let ids = [&video.data_hash, &video.task_uuid, &video.storage_item_uuid];
        if let Some(id) = ids.iter().find(|id| !is_uuid(id)) {
            return Err(format!("video {}: `{id}` is not a lower-case UUID", video.title));
        }
        if !video.mime_type.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
            return Err(format!("video {}: mime_type `{}` is not a MIME type", video.title, video.mime_type));
        }
        if self.stage(&video.initial_stage).is_none() {
            return Err(format!("video {}: unknown stage {}", video.title, video.initial_stage));
        }
        if self.videos.contains_key(&video.task_uuid)
            || self.by_data_hash.contains_key(&video.data_hash)
            || self.by_storage_item.contains_key(&video.storage_item_uuid)
        {
            return Err(format!("video {}: its task, data hash or storage item is already used", video.title));
        }
        self.by_data_hash.insert(video.data_hash.clone(), video.task_uuid.clone());
        self.by_storage_item.insert(video.storage_item_uuid.clone(), video.task_uuid.clone());
        self.videos.insert(video.task_uuid.clone(), video);
        Ok(())
    }

    /// The stage with this uuid.
    pub(crate) fn stage(&self, uuid: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.uuid == uuid)
    }

    /// The video with this data hash.
    pub(crate) fn video_by_data_hash(&self, data_hash: &str) -> Option<&Video> {
        self.by_data_hash.get(data_hash).and_then(|task| self.videos.get(task))
    }

    /// The video behind this storage item.
    pub(crate) fn video_by_storage_item(&self, uuid: &str) -> Option<&Video> {
        self.by_storage_item.get(uuid).and_then(|task| self.videos.get(task))
    }

    /// The id of a video's label row when it is created: derived, so the same project always
    /// gives the same ids.
    pub(crate) fn new_label_hash(&self, data_hash: &str) -> String {
        uuid_from_seed(&format!("label:{}:{data_hash}", self.hash))
    }
}

/// Fails on the first value seen twice.
fn unique<S: AsRef<str>>(values: impl IntoIterator<Item = S>, what: &str) -> Result<(), String> {
    let mut seen = HashSet::new();
    match values.into_iter().find(|v| !seen.insert(v.as_ref().to_owned())) {
        Some(v) => Err(format!("{what} `{}` appears twice", v.as_ref())),
        None => Ok(()),
    }
}

/// Reads a JSON file into `T`.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, ProjectError> {
    let bytes = std::fs::read(path).map_err(|cause| ProjectError::Read { path: path.to_path_buf(), cause })?;
    serde_json::from_slice(&bytes).map_err(|e| ProjectError::Invalid { path: path.to_path_buf(), reason: e.to_string() })
}

/// One `videos[]` entry: the file resolved, missing facts probed, the initial row read.
fn load_video(dir: &Path, project_json: &Path, section: VideoSection) -> Result<Video, ProjectError> {
    let path = dir.join(&section.file);
    let file_size = std::fs::metadata(&path).map_err(|cause| ProjectError::Read { path: path.clone(), cause })?.len();
    let title = section
        .title
        .unwrap_or_else(|| path.file_name().map_or_else(|| section.file.display().to_string(), |n| n.to_string_lossy().into_owned()));
    let (width, height, fps, frame_count) = match (section.width, section.height, section.fps, section.frame_count) {
        (Some(w), Some(h), Some(f), Some(n)) => (w, h, f, n),
        (w, h, f, n) => {
            let source = VideoSource::open(&path, 1)?;
            let info = source.info();
            let count = n.or(info.frame_count_hint).ok_or_else(|| ProjectError::Invalid {
                path: project_json.to_path_buf(),
                reason: format!("video {title}: the container does not say how many frames it has; give frame_count"),
            })?;
            (w.unwrap_or(info.width), h.unwrap_or(info.height), f.unwrap_or(info.fps), count)
        }
    };
    let initial_row = match section.initial_label_row {
        None => None,
        Some(Value::String(name)) => Some(read_json::<LabelRow>(&dir.join(name))?),
        Some(inline) => Some(serde_json::from_value(inline).map_err(|e| ProjectError::Invalid {
            path: project_json.to_path_buf(),
            reason: format!("video {title}: initial_label_row: {e}"),
        })?),
    };
    Ok(Video {
        mime_type: section.mime_type.unwrap_or_else(|| prelabel_encord::mime_type_for(&path).to_owned()),
        path,
        data_hash: section.data_hash,
        title,
        task_uuid: section.task_uuid,
        storage_item_uuid: section.storage_item_uuid,
        initial_stage: section.stage,
        width,
        height,
        fps,
        frame_count,
        file_size,
        initial_row,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_must_be_lower_case_and_hyphenated() {
        assert!(is_uuid("00000000-0000-4000-8000-0000000000a1"));
        assert!(!is_uuid("00000000-0000-4000-8000-0000000000A1"));
        assert!(!is_uuid("00000000000040008000-0000000000a1xx"));
        assert!(!is_uuid("clip-1"));
    }
}
