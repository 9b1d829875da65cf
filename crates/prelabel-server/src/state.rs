//! What clients change (task positions and priorities, label rows), kept in memory and written to
//! the state directory on every change. Each operation checks everything before it changes
//! anything, and writes its files before it changes memory, so a rejected or failed request
//! leaves no trace.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use prelabel_encord::{LabelRow, write_json_atomically};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, StateError};
use crate::labels::{self, Content};
use crate::project::{Project, Stage, Video};

/// Where a task is and how urgent it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TaskState {
    /// The stage the task is in.
    stage: String,
    /// Priority from 0 to 1.
    priority: f64,
}

/// Priority of a task nobody has prioritised.
const DEFAULT_PRIORITY: f64 = 0.5;

#[derive(Serialize, Deserialize)]
struct SecretFile {
    url_signing_secret: String,
}

/// One pathway action of a proceed request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Action {
    task_uuid: String,
    action: String,
    pathway_uuid: Option<String>,
    pathway_name: Option<String>,
}

/// Which of a stage's tasks a listing returns.
#[derive(Debug, Default)]
pub(crate) struct TaskFilter {
    pub(crate) data_hashes: Vec<String>,
    pub(crate) dataset_hashes: Vec<String>,
    pub(crate) user_emails: Vec<String>,
    pub(crate) statuses: Vec<String>,
    pub(crate) title_contains: Option<String>,
}

/// The status of every task: this server has no assignment, so all tasks are `NEW`.
pub(crate) const TASK_STATUS: &str = "NEW";

impl TaskFilter {
    fn matches(&self, project: &Project, video: &Video) -> bool {
        (self.data_hashes.is_empty() || self.data_hashes.contains(&video.data_hash))
            && (self.dataset_hashes.is_empty() || self.dataset_hashes.contains(&project.dataset_hash))
            // Tasks have no assignee, so any assignee filter matches none of them.
            && self.user_emails.is_empty()
            && (self.statuses.is_empty() || self.statuses.iter().any(|s| s == TASK_STATUS))
            && self.title_contains.as_ref().is_none_or(|t| video.title.contains(t.as_str()))
    }
}

/// Task positions and label rows.
#[derive(Debug)]
pub(crate) struct State {
    dir: PathBuf,
    /// Every task of the project, by task uuid.
    tasks: BTreeMap<String, TaskState>,
    /// Label rows by data hash.
    rows: HashMap<String, LabelRow>,
    /// Data hash by label hash.
    label_index: HashMap<String, String>,
}

fn invalid(path: &Path, reason: String) -> StateError {
    StateError::Invalid { path: path.to_path_buf(), reason }
}

fn read_state_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, StateError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| invalid(path, e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(cause) => Err(StateError::Io { path: path.to_path_buf(), cause }),
    }
}

fn persist_error(e: prelabel_encord::WriteError) -> ApiError {
    ApiError::Internal(e.to_string())
}

impl State {
    /// Loads the state directory (made if missing) over `project`'s initial stages and rows, and
    /// returns it with the file-URL signing secret (made on first start).
    pub(crate) fn load(dir: &Path, project: &Project) -> Result<(Self, String), StateError> {
        let rows_dir = dir.join("label_rows");
        std::fs::create_dir_all(&rows_dir).map_err(|cause| StateError::Io { path: rows_dir.clone(), cause })?;
        let secret = load_secret(&dir.join("url-secret.json"))?;

        let mut tasks: BTreeMap<String, TaskState> = project
            .videos
            .values()
            .map(|v| (v.task_uuid.clone(), TaskState { stage: v.initial_stage.clone(), priority: DEFAULT_PRIORITY }))
            .collect();
        let tasks_path = dir.join("tasks.json");
        let saved: BTreeMap<String, TaskState> = read_state_json(&tasks_path)?.unwrap_or_default();
        for (task, saved_task) in saved {
            if !tasks.contains_key(&task) || project.stage(&saved_task.stage).is_none() {
                return Err(invalid(&tasks_path, format!("task {task} or its stage {} is not in project.json", saved_task.stage)));
            }
            tasks.insert(task, saved_task);
        }

        let mut rows = HashMap::new();
        for video in project.videos.values() {
            if let Some(row) = &video.initial_row {
                let label_hash = row.label_hash.clone().unwrap_or_else(|| project.new_label_hash(&video.data_hash));
                let created_at = row.created_at.clone();
                let mut stored = labels::stored_row(project, video, label_hash, created_at, Content::of(row.clone()));
                // The row keeps its own edit time, so that every start reports the same row.
                if row.last_edited_at.is_some() {
                    stored.last_edited_at.clone_from(&row.last_edited_at);
                }
                rows.insert(video.data_hash.clone(), stored);
            }
        }
        let entries = std::fs::read_dir(&rows_dir).map_err(|cause| StateError::Io { path: rows_dir.clone(), cause })?;
        for entry in entries {
            let path = entry.map_err(|cause| StateError::Io { path: rows_dir.clone(), cause })?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let row: LabelRow = read_state_json(&path)?.ok_or_else(|| invalid(&path, "vanished while reading".into()))?;
            if project.video_by_data_hash(&row.data_hash).is_none() || row.label_hash.is_none() {
                return Err(invalid(
                    &path,
                    format!("a row without a label hash, or for data {} that is not in project.json", row.data_hash),
                ));
            }
            rows.insert(row.data_hash.clone(), row);
        }

        let mut label_index = HashMap::new();
        for (data_hash, row) in &rows {
            let label_hash = row.label_hash.clone().unwrap_or_default();
            if let Some(other) = label_index.insert(label_hash.clone(), data_hash.clone()) {
                return Err(invalid(dir, format!("label hash {label_hash} is used by the rows of {other} and {data_hash}")));
            }
        }
        Ok((Self { dir: dir.to_path_buf(), tasks, rows, label_index }, secret))
    }

    /// The stored row of a video, if it has one.
    pub(crate) fn row(&self, data_hash: &str) -> Option<&LabelRow> {
        self.rows.get(data_hash)
    }

    /// The stored row with this label hash.
    pub(crate) fn row_by_label_hash(&self, label_hash: &str) -> Option<&LabelRow> {
        self.label_index.get(label_hash).and_then(|d| self.rows.get(d))
    }

    /// The stage a video's task is in, and its priority.
    pub(crate) fn position<'p>(&self, project: &'p Project, video: &Video) -> Result<(&'p Stage, f64), ApiError> {
        self.tasks
            .get(&video.task_uuid)
            .and_then(|t| project.stage(&t.stage).map(|stage| (stage, t.priority)))
            .ok_or_else(|| ApiError::Internal(format!("task {} has no stage", video.task_uuid)))
    }

    /// Up to `limit` tasks of `stage` that match `filter`, in task-uuid order after the cursor
    /// `after` (a keyset cursor: tasks that left the stage meanwhile cannot shift the rest), and
    /// the cursor for the next page when there are more.
    pub(crate) fn task_page<'p>(
        &self,
        project: &'p Project,
        stage: &str,
        filter: &TaskFilter,
        after: Option<&str>,
        limit: usize,
    ) -> (Vec<&'p Video>, Option<String>) {
        let start = after.map_or(std::ops::Bound::Unbounded, |a| std::ops::Bound::Excluded(a.to_owned()));
        let mut matching = project
            .videos
            .range((start, std::ops::Bound::Unbounded))
            .map(|(_, video)| video)
            .filter(|v| self.tasks.get(&v.task_uuid).is_some_and(|t| t.stage == stage) && filter.matches(project, v));
        let page: Vec<&Video> = matching.by_ref().take(limit).collect();
        let next = match (matching.next(), page.last()) {
            (Some(_), Some(last)) => Some(last.task_uuid.clone()),
            _ => None,
        };
        (page, next)
    }

    /// Applies pathway actions on tasks of the agent stage `stage_uuid`: all are checked first
    /// (each task is in the stage, once; each pathway exists), then all tasks move, or none.
    pub(crate) fn proceed(&mut self, project: &Project, stage_uuid: &str, actions: &[Action]) -> Result<(), ApiError> {
        let stage = project.stage(stage_uuid).ok_or_else(|| ApiError::NotFound(format!("no stage {stage_uuid}")))?;
        let mut moves = Vec::with_capacity(actions.len());
        for action in actions {
            if action.action != "PATHWAY_ACTION" {
                return Err(ApiError::InvalidArguments(format!("action {} is not supported (only PATHWAY_ACTION)", action.action)));
            }
            if action.pathway_uuid.is_none() && action.pathway_name.is_none() {
                return Err(ApiError::InvalidArguments(format!("the action on task {} names no pathway", action.task_uuid)));
            }
            // Both a uuid and a name may be given; then they must name the same pathway.
            let pathway = stage
                .pathways
                .iter()
                .find(|p| {
                    action.pathway_uuid.as_ref().is_none_or(|u| *u == p.uuid) && action.pathway_name.as_ref().is_none_or(|n| *n == p.title)
                })
                .ok_or_else(|| {
                    ApiError::InvalidArguments(format!(
                        "stage {} has no pathway with uuid {:?} and name {:?}",
                        stage.title, action.pathway_uuid, action.pathway_name
                    ))
                })?;
            moves.push((action.task_uuid.clone(), pathway.destination.clone()));
        }
        self.move_checked(stage_uuid, moves)
    }

    /// Moves tasks of stage `origin` to stage `destination`, all or none.
    pub(crate) fn move_tasks(&mut self, project: &Project, origin: &str, task_uuids: &[String], destination: &str) -> Result<(), ApiError> {
        if project.stage(origin).is_none() {
            return Err(ApiError::NotFound(format!("no stage {origin}")));
        }
        if project.stage(destination).is_none() {
            return Err(ApiError::InvalidArguments(format!("no destination stage {destination}")));
        }
        self.move_checked(origin, task_uuids.iter().map(|t| (t.clone(), destination.to_owned())).collect())
    }

    /// Moves each `(task, destination)` after checking that every task is in `origin`, once.
    fn move_checked(&mut self, origin: &str, moves: Vec<(String, String)>) -> Result<(), ApiError> {
        let mut tasks = self.tasks.clone();
        for (task_uuid, destination) in moves {
            match tasks.get_mut(&task_uuid) {
                Some(task) if task.stage == origin => task.stage = destination,
                _ => {
                    return Err(ApiError::InvalidArguments(format!(
                        "task {task_uuid} is not in stage {origin} (or appears twice in the request); nothing was moved"
                    )));
                }
            }
        }
        self.replace_tasks(tasks)
    }

    /// Sets task priorities from `(data hash, priority)` pairs, all or none.
    pub(crate) fn set_priorities(&mut self, project: &Project, priorities: &[(String, f64)]) -> Result<(), ApiError> {
        let mut tasks = self.tasks.clone();
        for (data_hash, priority) in priorities {
            let video = project.video_by_data_hash(data_hash).ok_or_else(|| ApiError::InvalidArguments(format!("no data {data_hash}")))?;
            if !(0.0..=1.0).contains(priority) {
                return Err(ApiError::InvalidArguments(format!("priority {priority} of {data_hash} is not within 0 to 1")));
            }
            if let Some(task) = tasks.get_mut(&video.task_uuid) {
                task.priority = *priority;
            }
        }
        self.replace_tasks(tasks)
    }

    fn replace_tasks(&mut self, tasks: BTreeMap<String, TaskState>) -> Result<(), ApiError> {
        write_json_atomically(&self.dir.join("tasks.json"), &tasks).map_err(persist_error)?;
        self.tasks = tasks;
        Ok(())
    }

    /// Returns the rows of these videos, creating empty ones for videos without a row (a video
    /// that has one keeps it, so a repeated create is harmless).
    pub(crate) fn create_rows(&mut self, project: &Project, data_hashes: &[String]) -> Result<Vec<LabelRow>, ApiError> {
        let videos = data_hashes
            .iter()
            .map(|d| project.video_by_data_hash(d).ok_or_else(|| ApiError::NotFound(format!("no data {d}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let new_rows = videos
            .iter()
            .filter(|v| !self.rows.contains_key(&v.data_hash))
            .map(|v| labels::stored_row(project, v, project.new_label_hash(&v.data_hash), None, Content::default()))
            .collect();
        self.store(new_rows)?;
        Ok(videos.iter().filter_map(|v| self.rows.get(&v.data_hash).cloned()).collect())
    }

    /// Replaces the content of the rows `label_hashes[i]` with `rows[i]` (all checked first;
    /// null authors become `email`).
    pub(crate) fn save_rows(
        &mut self,
        project: &Project,
        label_hashes: &[String],
        rows: Vec<LabelRow>,
        email: &str,
    ) -> Result<(), ApiError> {
        if label_hashes.len() != rows.len() {
            return Err(ApiError::InvalidArguments(format!("{} label hashes but {} labels", label_hashes.len(), rows.len())));
        }
        let mut updated = Vec::with_capacity(rows.len());
        for (label_hash, row) in label_hashes.iter().zip(rows) {
            let stored = self.row_by_label_hash(label_hash).ok_or_else(|| ApiError::NotFound(format!("no label row {label_hash}")))?;
            if row.label_hash.as_ref().is_some_and(|h| h != label_hash) {
                return Err(ApiError::InvalidArguments(format!("labels for row {label_hash} carry label_hash {:?}", row.label_hash)));
            }
            let video = project
                .video_by_data_hash(&stored.data_hash)
                .ok_or_else(|| ApiError::Internal(format!("row {label_hash} belongs to no video")))?;
            labels::check(&row, video, &project.ontology)?;
            let mut content = Content::of(row);
            labels::fill_authors(&mut content, email);
            updated.push(labels::stored_row(project, video, label_hash.clone(), stored.created_at.clone(), content));
        }
        self.store(updated)
    }

    /// Writes rows to the state directory, then takes them into memory.
    fn store(&mut self, rows: Vec<LabelRow>) -> Result<(), ApiError> {
        for row in &rows {
            let path = self.dir.join("label_rows").join(format!("{}.json", row.data_hash));
            write_json_atomically(&path, row).map_err(persist_error)?;
        }
        for row in rows {
            if let Some(label_hash) = &row.label_hash {
                self.label_index.insert(label_hash.clone(), row.data_hash.clone());
            }
            self.rows.insert(row.data_hash.clone(), row);
        }
        Ok(())
    }
}

/// Reads the URL-signing secret, or makes one from the OS's random source and saves it.
fn load_secret(path: &Path) -> Result<String, StateError> {
    if let Some(file) = read_state_json::<SecretFile>(path)? {
        return Ok(file.url_signing_secret);
    }
    let io = |cause| StateError::Io { path: PathBuf::from("/dev/urandom"), cause };
    let mut random = [0u8; 32];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut random)).map_err(io)?;
    let secret = format!("{:x}", Sha256::digest(random));
    write_json_atomically(path, &SecretFile { url_signing_secret: secret.clone() })?;
    Ok(secret)
}
