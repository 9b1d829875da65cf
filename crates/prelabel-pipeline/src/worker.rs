//! The workflow stage worker: takes the tasks waiting in an Encord agent stage, pre-labels each
//! video, merges the pre-labels into the task's label row, saves it, then proceeds the task.
//!
//! Two threads: a fetcher walks the stage's tasks (lazily paged, filtered by shard) and
//! prepares each one (label-row metadata, the row itself, the video streamed to a temporary
//! file), while the caller's thread runs the detector on the task before it: the next download
//! overlaps the current inference. The bounded channel between them holds `prefetch` tasks.
//! A failing task is retried, then left in the stage (or sent down the failure pathway) and
//! the worker goes on; it never takes the worker down.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::Detectors;
use crossbeam_channel::bounded;
use prelabel_detect::Detector;
use prelabel_encord::client::{AgentTask, ApiError, EncordClient};
use prelabel_encord::{ClassMap, ClassMapError, LabelSource, MergeError, MergeStats, Ontology, merge_prelabels};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use prelabel_track::TrackError;

use crate::rows::{RowError, label_row, reread_label_row, video_metadata};
use crate::{PipelineError, PipelineOptions, TrackingOptions, build_label_row, detect_video, video_meta_for_stored_row};

/// Replica `index` of `count`: takes the tasks whose data hash falls in its shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based shard index.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parsed = s.split_once('/').and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((index, count)) if count > 0 && index < count => Ok(Self { index, count }),
            _ => Err(format!("`{s}` is not a shard I/N with 0 <= I < N")),
        }
    }
}

impl Shard {
    /// Whether `data_hash` belongs to this shard (a stable hash: the same on every host).
    pub fn contains(&self, data_hash: &str) -> bool {
        shard_of(data_hash, self.count) == self.index
    }
}

/// The shard (0..count) of a data hash: SHA-256 of the hash, first 8 bytes, modulo `count`.
pub fn shard_of(data_hash: &str, count: u32) -> u32 {
    let digest = Sha256::digest(data_hash.as_bytes());
    let value = u64::from_be_bytes(digest[..8].try_into().unwrap_or([0; 8]));
    (value % u64::from(count.max(1))) as u32
}

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The Encord project.
    pub project_hash: String,
    /// The agent stage, by title or UUID.
    pub stage: String,
    /// The pathway a labelled task takes, by name or UUID.
    pub pathway: String,
    /// The pathway a task that keeps failing takes; `None` leaves it in the stage.
    pub failure_pathway: Option<String>,
    /// Drain the stage once and return (instead of polling).
    pub once: bool,
    /// Stop after this many tasks (done or failed).
    pub max_tasks: Option<u64>,
    /// Wait between passes over the stage.
    pub poll_interval: Duration,
    /// Tasks prepared (downloaded) ahead of the one being labelled.
    pub prefetch: usize,
    /// Take only this shard's tasks.
    pub shard: Option<Shard>,
    /// Attempts per task before it counts as failed.
    pub task_attempts: u32,
    /// Wait before a task's second attempt; doubles after each.
    pub task_backoff: Duration,
    /// Largest video downloaded.
    pub max_video_bytes: u64,
    /// `(model class, ontology object)` name aliases.
    pub aliases: Vec<(String, String)>,
    /// Decode and detection settings.
    pub pipeline: PipelineOptions,
    /// Link detections into tracks (one object instance per tracked object); `None` writes one
    /// instance per detection.
    pub tracking: Option<TrackingOptions>,
}

/// The worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Reading the project or its ontology failed.
    #[error("project {project}: {cause}")]
    Project {
        /// The project hash.
        project: String,
        /// The API failure.
        cause: ApiError,
    },
    /// The project has no workflow.
    #[error("project {0}: not a workflow project")]
    NoWorkflow(String),
    /// No agent stage with that title or UUID.
    #[error("project {project}: no agent stage `{stage}` (agent stages: {available})")]
    NoStage {
        /// The project hash.
        project: String,
        /// The stage asked for.
        stage: String,
        /// The agent stages there are.
        available: String,
    },
    /// The stage has no pathway with that name or UUID.
    #[error("stage `{stage}`: no pathway `{pathway}` (pathways: {available})")]
    NoPathway {
        /// The stage.
        stage: String,
        /// The pathway asked for.
        pathway: String,
        /// The pathways there are.
        available: String,
    },
    /// A class alias names nothing.
    #[error("project ontology: {0}")]
    ClassMap(ClassMapError),
}

/// Why one task failed.
#[derive(Debug, thiserror::Error)]
enum TaskError {
    #[error("{0}")]
    Api(#[from] ApiError),
    #[error("{0}")]
    Pipeline(#[from] PipelineError),
    #[error("{0}")]
    Merge(#[from] MergeError),
    #[error("tracking: {0}")]
    Track(#[from] TrackError),
    #[error("{0}")]
    Row(#[from] RowError),
    #[error("no signed URL for data unit {0}")]
    NoSignedUrl(String),
    #[error("{0}")]
    Io(String),
}

/// Counters for the metrics endpoint and the final report.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Tasks labelled, saved and proceeded.
    pub tasks_done: AtomicU64,
    /// Tasks that failed every attempt.
    pub tasks_failed: AtomicU64,
    /// Frames decoded.
    pub frames: AtomicU64,
    /// Detections kept.
    pub detections: AtomicU64,
    /// Tasks prepared and waiting for the detector.
    pub prefetch_depth: AtomicU64,
    /// Microseconds per stage: fetch (metadata, row, download), decode, infer, save (merge, save, proceed).
    pub fetch_micros: AtomicU64,
    /// See `fetch_micros`.
    pub decode_micros: AtomicU64,
    /// See `fetch_micros`.
    pub infer_micros: AtomicU64,
    /// See `fetch_micros`.
    pub save_micros: AtomicU64,
}

impl Metrics {
    /// The counters in Prometheus' text exposition format.
    pub fn render_prometheus(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let secs = |c: &AtomicU64| get(c) as f64 / 1e6;
        let mut out = String::new();
        for (name, help, value) in [
            ("prelabel_tasks_done_total", "Tasks labelled, saved and proceeded.", get(&self.tasks_done) as f64),
            ("prelabel_tasks_failed_total", "Tasks that failed every attempt.", get(&self.tasks_failed) as f64),
            ("prelabel_frames_total", "Frames decoded.", get(&self.frames) as f64),
            ("prelabel_detections_total", "Detections kept.", get(&self.detections) as f64),
        ] {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"));
        }
        out.push_str("# HELP prelabel_stage_seconds_total Wall time per stage.\n# TYPE prelabel_stage_seconds_total counter\n");
        for (stage, counter) in
            [("fetch", &self.fetch_micros), ("decode", &self.decode_micros), ("infer", &self.infer_micros), ("save", &self.save_micros)]
        {
            out.push_str(&format!("prelabel_stage_seconds_total{{stage=\"{stage}\"}} {}\n", secs(counter)));
        }
        out.push_str(&format!(
            "# HELP prelabel_prefetch_depth Tasks downloaded and waiting for the detector.\n# TYPE prelabel_prefetch_depth gauge\nprelabel_prefetch_depth {}\n",
            get(&self.prefetch_depth)
        ));
        out
    }
}

fn add_time(counter: &AtomicU64, since: Instant) {
    counter.fetch_add(since.elapsed().as_micros() as u64, Ordering::Relaxed);
}

/// A task that failed every attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedTask {
    /// Task id.
    pub task_uuid: String,
    /// Title of its video.
    pub data_title: String,
    /// The last attempt's error.
    pub reason: String,
}

/// A task labelled, saved and proceeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoneTask {
    /// Task id.
    pub task_uuid: String,
    /// Title of its video.
    pub data_title: String,
    /// What the merge did to its label row.
    pub merge: MergeStats,
}

/// What a worker run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WorkerReport {
    /// Tasks done.
    pub done_count: u64,
    /// Tasks that failed every attempt.
    pub failed_count: u64,
    /// With `once` or `max_tasks`, the tasks done, in order; a polling worker that runs for days
    /// keeps none (it logs each task as it goes).
    pub done: Vec<DoneTask>,
    /// With `once` or `max_tasks`, the tasks that failed, in order; see `done`.
    pub failed: Vec<FailedTask>,
    /// Passes over the stage cut short because listing its tasks failed (after the client's
    /// retries): with `once`, the stage may not be drained.
    pub listing_failures: u64,
}

/// How a task's attempts ended.
enum Outcome {
    /// Labelled, saved and proceeded.
    Done(MergeStats),
    /// Every attempt failed, for this reason (the last attempt's).
    Failed(TaskError),
    /// The worker was stopped between attempts.
    Abandoned,
}

/// A task's label row, saved: what the merge did, and the frames decoded.
#[derive(Debug, Clone, Copy)]
struct Saved {
    stats: MergeStats,
    frames: u64,
}

/// Sleeps for `duration` in steps of at most 100 ms; false as soon as `halted` says so.
fn wait_unless(halted: &dyn Fn() -> bool, duration: Duration) -> bool {
    let until = Instant::now() + duration;
    while !halted() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
    false
}

/// A task ready for the detector: its stored label row and its video on disk.
struct Prepared {
    task: AgentTask,
    stored_row: Value,
    video: NamedTempFile,
    /// The video's frame count as Encord has it, when it says.
    encord_frames: Option<u64>,
}

/// What the fetcher hands the detector thread.
enum Fetched {
    Ready(Prepared),
    Failed(AgentTask, TaskError),
    /// A pass over the stage ended; the fetcher waits for the acknowledgement.
    PassEnd,
}

/// The project's resolved stage and pathways.
struct Route {
    stage_uuid: String,
    pathway_uuid: String,
    failure_pathway_uuid: Option<String>,
}

/// The worker: an Encord client, a loaded detector and the project's ontology.
pub struct Worker<'a> {
    client: &'a EncordClient,
    config: WorkerConfig,
    route: Route,
    ontology: Ontology,
    class_map: ClassMap,
    model_name: String,
}

/// A task this worker labelled and proceeded that is listed in its stage again within this time
/// was not moved on (its proceed was answered as already moved), and is not labelled again.
const RECENTLY_DONE: Duration = Duration::from_secs(3600);

impl<'a> Worker<'a> {
    /// Reads the project, resolves the stage and pathways, fetches the ontology and maps the
    /// detector's classes onto it.
    pub fn new(client: &'a EncordClient, detector: &Detector, config: WorkerConfig) -> Result<Self, WorkerError> {
        let project_error = |cause| WorkerError::Project { project: config.project_hash.clone(), cause };
        let project = client.project(&config.project_hash).map_err(project_error)?;
        let workflow = project.workflow.ok_or_else(|| WorkerError::NoWorkflow(config.project_hash.clone()))?;
        let agents: Vec<_> = workflow.stages.into_iter().filter(|s| s.stage_type == "AGENT").collect();
        let stage = agents.iter().find(|s| s.title == config.stage || s.uuid == config.stage).ok_or_else(|| WorkerError::NoStage {
            project: config.project_hash.clone(),
            stage: config.stage.clone(),
            available: agents.iter().map(|s| format!("`{}`", s.title)).collect::<Vec<_>>().join(", "),
        })?;
        let pathway = |name: &str| {
            stage.pathways.iter().find(|p| p.title == name || p.uuid == name).map(|p| p.uuid.clone()).ok_or_else(|| {
                WorkerError::NoPathway {
                    stage: stage.title.clone(),
                    pathway: name.to_owned(),
                    available: stage.pathways.iter().map(|p| format!("`{}`", p.title)).collect::<Vec<_>>().join(", "),
                }
            })
        };
        let route = Route {
            stage_uuid: stage.uuid.clone(),
            pathway_uuid: pathway(&config.pathway)?,
            failure_pathway_uuid: config.failure_pathway.as_deref().map(pathway).transpose()?,
        };
        let ontology = client.ontology(&project.ontology_hash).map_err(project_error)?;
        let class_map = ClassMap::new(&ontology, detector.class_names(), &config.aliases).map_err(WorkerError::ClassMap)?;
        let model_name = detector.path().file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        Ok(Self { client, config, route, ontology, class_map, model_name })
    }

    /// Runs until the stage is drained (`once`), `max_tasks` is reached, or `stop` is set; the
    /// attempt in progress is finished before returning (a task stopped between its attempts
    /// stays in the stage).
    pub fn run(&self, detectors: &mut Detectors, stop: &AtomicBool, metrics: &Metrics) -> WorkerReport {
        let failed_ids: Mutex<HashSet<String>> = Mutex::new(HashSet::new());
        // Tasks done here, and when: one listed again soon after was not moved on by its proceed,
        // and is left rather than labelled again on every pass. Later it may have come back
        // through the workflow, and is labelled again.
        let done_at: Mutex<HashMap<String, Instant>> = Mutex::new(HashMap::new());
        let listing_failures = AtomicU64::new(0);
        let enough = AtomicBool::new(false);
        let halted = || stop.load(Ordering::Relaxed) || enough.load(Ordering::Relaxed);
        // A bounded run lists each task in its report; one that polls for days keeps counts.
        let lists_tasks = self.config.once || self.config.max_tasks.is_some();
        let mut report = WorkerReport::default();
        std::thread::scope(|scope| {
            let (fetched_tx, fetched_rx) = bounded::<Fetched>(self.config.prefetch.max(1));
            let (ack_tx, ack_rx) = bounded::<()>(1);
            let (failed_ref, done_ref, listing_failures_ref) = (&failed_ids, &done_at, &listing_failures);
            scope.spawn(move || {
                loop {
                    let tasks = self.client.stage_tasks(&self.config.project_hash, &self.route.stage_uuid);
                    for task in tasks {
                        if halted() {
                            break;
                        }
                        let task = match task {
                            Ok(t) => t,
                            Err(e) => {
                                tracing::error!(error = %e, "listing the stage's tasks failed; retrying next pass");
                                listing_failures_ref.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                        };
                        let skip = self.config.shard.is_some_and(|s| !s.contains(&task.data_hash))
                            || failed_ref.lock().is_ok_and(|f| f.contains(&task.uuid));
                        if skip {
                            continue;
                        }
                        if done_ref.lock().is_ok_and(|d| d.get(&task.uuid).is_some_and(|at| at.elapsed() < RECENTLY_DONE)) {
                            tracing::warn!(task = %task.uuid, title = %task.data_title,
                                "task is still in the stage after it was labelled and proceeded; not labelling it again");
                            continue;
                        }
                        let started = Instant::now();
                        let message = match self.prepare(&task) {
                            Ok(prepared) => Fetched::Ready(prepared),
                            Err(e) => Fetched::Failed(task, e),
                        };
                        add_time(&metrics.fetch_micros, started);
                        metrics.prefetch_depth.fetch_add(1, Ordering::Relaxed);
                        if fetched_tx.send(message).is_err() {
                            return;
                        }
                    }
                    if fetched_tx.send(Fetched::PassEnd).is_err() || ack_rx.recv().is_err() || self.config.once {
                        return;
                    }
                    if !wait_unless(&halted, self.config.poll_interval) {
                        return;
                    }
                }
            });

            for message in &fetched_rx {
                let (task, first_attempt) = match message {
                    Fetched::PassEnd => {
                        if ack_tx.send(()).is_err() {
                            break;
                        }
                        continue;
                    }
                    Fetched::Ready(prepared) => (prepared.task.clone(), Ok(prepared)),
                    Fetched::Failed(task, error) => (task.clone(), Err(error)),
                };
                metrics.prefetch_depth.fetch_sub(1, Ordering::Relaxed);
                if halted() {
                    // Abandoned cleanly: nothing saved, the task stays in the stage.
                    continue;
                }
                match self.process_with_retries(&task, first_attempt, detectors, metrics, &halted) {
                    Outcome::Done(merge) => {
                        if let Ok(mut d) = done_at.lock() {
                            d.retain(|_, at| at.elapsed() < RECENTLY_DONE);
                            d.insert(task.uuid.clone(), Instant::now());
                        }
                        report.done_count += 1;
                        if lists_tasks {
                            report.done.push(DoneTask { task_uuid: task.uuid.clone(), data_title: task.data_title.clone(), merge });
                        }
                        metrics.tasks_done.fetch_add(1, Ordering::Relaxed);
                    }
                    Outcome::Failed(reason) => {
                        metrics.tasks_failed.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut f) = failed_ids.lock() {
                            f.insert(task.uuid.clone());
                        }
                        report.failed_count += 1;
                        let failed = self.give_up(&task, reason);
                        if lists_tasks {
                            report.failed.push(failed);
                        }
                    }
                    Outcome::Abandoned => {
                        tracing::warn!(task = %task.uuid, title = %task.data_title, "stopping between attempts; the task stays in the stage");
                    }
                }
                let handled = report.done_count + report.failed_count;
                if self.config.max_tasks.is_some_and(|max| handled >= max) {
                    enough.store(true, Ordering::Relaxed);
                }
            }
        });
        report.listing_failures = listing_failures.into_inner();
        report
    }

    /// Label-row metadata, the row (created when the data unit has none) and the video.
    fn prepare(&self, task: &AgentTask) -> Result<Prepared, TaskError> {
        let project = &self.config.project_hash;
        let meta = video_metadata(self.client, project, &task.data_hash)?;
        let stored_row = label_row(self.client, project, &meta)?;
        let url = match stored_row["data_units"][&task.data_hash]["data_link"].as_str() {
            Some(link) if link.starts_with("http://") || link.starts_with("https://") => link.to_owned(),
            _ => {
                let item = meta.backing_item_uuid.as_deref().ok_or_else(|| TaskError::NoSignedUrl(task.data_hash.clone()))?;
                self.client.signed_url(item)?
            }
        };
        let video = NamedTempFile::with_prefix("prelabel-video-").map_err(|e| TaskError::Io(format!("temporary file: {e}")))?;
        let bytes = self.client.download(&url, video.path(), self.config.max_video_bytes)?;
        tracing::info!(task = %task.uuid, title = %task.data_title, bytes, "downloaded");
        // A count of 0 says nothing (Encord has not read the video): every frame is kept.
        Ok(Prepared { task: task.clone(), stored_row, video, encord_frames: meta.number_of_frames.filter(|&n| n > 0) })
    }

    /// Runs a task's attempts with backoff: the prepared first attempt, then fresh preparations.
    /// Once an attempt has saved the row, the later ones only proceed the task. A stop between
    /// attempts abandons the task, which stays in the stage.
    fn process_with_retries(
        &self,
        task: &AgentTask,
        first_attempt: Result<Prepared, TaskError>,
        detectors: &mut Detectors,
        metrics: &Metrics,
        halted: &dyn Fn() -> bool,
    ) -> Outcome {
        let attempts = self.config.task_attempts.max(1);
        let mut prepared = Some(first_attempt);
        let mut saved: Option<Saved> = None;
        let mut backoff = self.config.task_backoff;
        for number in 1.. {
            let error = match self.attempt(task, prepared.take(), &mut saved, detectors, metrics) {
                Ok(stats) => return Outcome::Done(stats),
                Err(e) if number >= attempts => return Outcome::Failed(e),
                Err(e) => e,
            };
            tracing::warn!(task = %task.uuid, title = %task.data_title, attempt = number, saved = saved.is_some(), error = %error,
                "task attempt failed");
            if !wait_unless(halted, backoff) {
                return Outcome::Abandoned;
            }
            backoff *= 2;
        }
        unreachable!("the last attempt returns")
    }

    /// One attempt: unless an earlier one saved the row, prepare (when not given), detect, merge
    /// and save, noting the save in `saved`; then proceed the task.
    fn attempt(
        &self,
        task: &AgentTask,
        prepared: Option<Result<Prepared, TaskError>>,
        saved: &mut Option<Saved>,
        detectors: &mut Detectors,
        metrics: &Metrics,
    ) -> Result<MergeStats, TaskError> {
        let done = match *saved {
            Some(done) => done,
            None => {
                let prepared = prepared.unwrap_or_else(|| {
                    let started = Instant::now();
                    let prepared = self.prepare(task);
                    add_time(&metrics.fetch_micros, started);
                    prepared
                })?;
                *saved.insert(self.label_and_save(prepared, detectors, metrics)?)
            }
        };
        let started = Instant::now();
        let failures = self.client.proceed(
            &self.config.project_hash,
            &self.route.stage_uuid,
            std::slice::from_ref(&task.uuid),
            &self.route.pathway_uuid,
        );
        add_time(&metrics.save_micros, started);
        if let Some((_, error)) = failures.into_iter().next() {
            return Err(error.into());
        }
        let stats = done.stats;
        tracing::info!(task = %task.uuid, title = %task.data_title, frames = done.frames, added = stats.added, replaced = stats.replaced,
            kept = stats.kept, edited_by_people = stats.edited_by_people, pathway = %self.config.pathway, "task done");
        Ok(stats)
    }

    /// Detect, merge and save.
    fn label_and_save(&self, prepared: Prepared, detectors: &mut Detectors, metrics: &Metrics) -> Result<Saved, TaskError> {
        let Prepared { task, stored_row, video, encord_frames } = prepared;
        let pipeline = self.config.pipeline.with_image_cues_for(self.config.tracking.as_ref());
        let mut detections = detect_video(video.path(), detectors, pipeline, |_| {})?;
        drop(video);
        if let Some(encord_frames) = encord_frames {
            let past = detections.cut_at(encord_frames);
            if past > 0 {
                tracing::warn!(task = %task.uuid, title = %task.data_title, encord_frames, past,
                    "the video decodes to more frames than Encord counts; the frames past its count are left unlabelled");
            }
        }
        let t = &detections.timings;
        metrics.decode_micros.fetch_add((t.decode + t.preprocess).as_micros() as u64, Ordering::Relaxed);
        metrics.infer_micros.fetch_add((t.infer + t.postprocess).as_micros() as u64, Ordering::Relaxed);
        metrics.frames.fetch_add(detections.report.frames_decoded, Ordering::Relaxed);
        if detections.report.is_partial() {
            tracing::warn!(task = %task.uuid, title = %task.data_title, decoded = detections.report.frames_decoded,
                lost = detections.report.frames_lost, "video only partly decoded; labelling what decoded");
        }

        let started = Instant::now();
        let meta = video_meta_for_stored_row(&stored_row, &detections.info, detections.report.frames_decoded);
        let class_count = detectors.model().class_names().len();
        let tracking = self.config.tracking.as_ref();
        let labelled = build_label_row(
            &self.ontology,
            &self.class_map,
            class_count,
            meta,
            LabelSource::model(&self.model_name),
            &detections,
            tracking,
        )?;
        metrics.detections.fetch_add(labelled.detections_per_class.iter().sum(), Ordering::Relaxed);
        let project = &self.config.project_hash;
        // Merged into the row as it is now: it was read before the download and the detector.
        let stored_row = reread_label_row(self.client, project, &stored_row)?;
        let (merged, stats) = merge_prelabels(&stored_row, &labelled.row.finish(), &self.model_name)?;
        self.client.save_label_rows(project, std::slice::from_ref(&merged))?;
        add_time(&metrics.save_micros, started);
        tracing::debug!(task = %task.uuid, "label row saved");
        Ok(Saved { stats, frames: detections.report.frames_decoded })
    }

    /// Logs a task that failed every attempt and routes it to the failure pathway, if any.
    fn give_up(&self, task: &AgentTask, reason: TaskError) -> FailedTask {
        tracing::error!(task = %task.uuid, title = %task.data_title, error = %reason, "task failed; leaving it");
        if let Some(pathway) = &self.route.failure_pathway_uuid {
            let failures =
                self.client.proceed(&self.config.project_hash, &self.route.stage_uuid, std::slice::from_ref(&task.uuid), pathway);
            for (_, e) in failures {
                tracing::error!(task = %task.uuid, error = %e, "could not route the task to the failure pathway");
            }
        }
        FailedTask { task_uuid: task.uuid.clone(), data_title: task.data_title.clone(), reason: reason.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_every_hash_exactly_once() {
        let hashes: Vec<String> = (0..1000).map(|i| format!("00000000-0000-4000-8000-{i:012}")).collect();
        let shards: Vec<Shard> = (0..3).map(|i| Shard { index: i, count: 3 }).collect();
        let mut sizes = [0; 3];
        for h in &hashes {
            let owners: Vec<usize> = (0..3).filter(|&i| shards[i].contains(h)).collect();
            assert_eq!(owners.len(), 1, "{h}");
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|&n| n > 250), "balanced: {sizes:?}");
        assert_eq!(shard_of("abc", 7), shard_of("abc", 7), "stable");
    }

    #[test]
    fn shard_syntax() {
        assert_eq!("1/3".parse::<Shard>(), Ok(Shard { index: 1, count: 3 }));
        assert!("3/3".parse::<Shard>().is_err());
        assert!("1/0".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }
}
