//! The on-demand Encord editor agent (PROTOCOL.md §8.5): an HTTPS endpoint the Label Editor
//! calls with `{projectHash, dataHash, frame, objectHashes?}` when an annotator presses the
//! agent's button. The agent fetches the label row, downloads the video from its signed URL,
//! seeks to the keyframe before `frame` and decodes forward, runs the detector on that frame
//! (or from it on, with tracking), merges the boxes into the row on those frames only (a
//! person's work untouched, the agent's own earlier boxes replaced) and saves it.
//!
//! - The model stays loaded: a small pool of [`Detector`]s (one by default) is shared by all
//!   calls; a call holds a detector only while it runs inference on a batch (and gives it back
//!   even when it fails), so fetching, downloading and decoding of calls on different videos
//!   overlap, and a long `video`-scope call lets other calls in between its batches. Calls on the same data unit are serialised
//!   by a per-data-hash lock (a save replaces the whole row).
//! - The blocking Encord client, FFmpeg and ONNX Runtime run on tokio's blocking pool, never
//!   on the runtime's threads.
//! - HTTPS with rustls (ring); plain HTTP only when asked.

mod http;
mod label;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender};
use prelabel_decode::HwDecode;
use prelabel_detect::Detector;
use prelabel_encord::client::EncordClient;
use prelabel_encord::{ClassMap, Ontology};
use prelabel_pipeline::TrackingOptions;

pub use http::{ServeError, router, run, tls_config};
pub use label::{AgentError, EditorRequest, Outcome, StageTimes};
/// The regular expression type of [`AgentConfig::cors_origin`].
pub use regex::Regex;

/// The origins of Encord's web apps (PROTOCOL.md §8.5, encord-agents 0.2.10).
pub const DEFAULT_CORS_ORIGIN_REGEX: &str =
    r"^https://(cord-ai-development--[\w\d]+-[\w\d]+\.web\.app|(dev|staging|app)\.(us\.)?encord\.com)$";

/// Which frames one call labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The frame the annotator is on.
    Frame,
    /// That frame and the rest of the video (at most `max_frames`), with tracking.
    FromFrame,
    /// The whole video (at most `max_frames` from frame 0), with tracking.
    Video,
}

/// How the agent works.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Frames labelled per call.
    pub scope: Scope,
    /// Most frames one `from-frame`/`video` call decodes and labels (`None`: to the end).
    pub max_frames: Option<u64>,
    /// Run the detector on every n-th frame in `from-frame`/`video` scope.
    pub frame_stride: u64,
    /// Browser origins allowed to call (CORS).
    pub cors_origin: Regex,
    /// Largest request body accepted (larger: 413).
    pub max_body_bytes: usize,
    /// Largest video downloaded.
    pub max_video_bytes: u64,
    /// `(model class, ontology object)` name aliases.
    pub aliases: Vec<(String, String)>,
    /// FFmpeg frame threads per decode.
    pub decode_threads: usize,
    /// Decode with NVDEC where the codec, FFmpeg and driver allow it (else in software).
    pub hw_decode: HwDecode,
    /// Tracking settings for `from-frame`/`video` scope.
    pub tracking: TrackingOptions,
}

/// A detector pool: calls take one for inference and put it back.
struct Pool {
    give: Sender<Detector>,
    take: Receiver<Detector>,
}

impl Pool {
    /// Waits for a free detector, lent until the returned guard is dropped.
    fn lend(&self) -> Result<Lent<'_>, AgentError> {
        let detector = self.take.recv().map_err(|_| AgentError::Internal("the detector pool is closed".into()))?;
        Ok(Lent { detector: Some(detector), pool: self })
    }
}

/// A detector lent from the [`Pool`]: it goes back when this is dropped, on an error or a panic
/// as well, so no call can keep the others waiting for it forever.
struct Lent<'a> {
    /// `Some` until dropped.
    detector: Option<Detector>,
    pool: &'a Pool,
}

impl Lent<'_> {
    /// The lent detector.
    fn detector(&mut self) -> Result<&mut Detector, AgentError> {
        self.detector.as_mut().ok_or_else(|| AgentError::Internal("the lent detector was given back".into()))
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(detector) = self.detector.take() {
            // The pool has room for every detector it lent.
            let _ = self.pool.give.send(detector);
        }
    }
}

/// The agent: configuration, the Encord client, the loaded detectors and per-video locks.
pub struct Agent {
    config: AgentConfig,
    client: EncordClient,
    pool: Pool,
    class_names: Vec<String>,
    model_name: String,
    layout: prelabel_core::InputLayout,
    max_batch: usize,
    /// Per data hash: held for the whole call, so calls on one label row run one at a time.
    row_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Per project: its ontology and the class map onto it (read once).
    projects: Mutex<HashMap<String, Arc<(Ontology, ClassMap)>>>,
}

impl Agent {
    /// An agent that labels with `detectors` (at least one, all loaded from the same model).
    pub fn new(config: AgentConfig, client: EncordClient, detectors: Vec<Detector>) -> Result<Self, AgentError> {
        let first = detectors.first().ok_or_else(|| AgentError::Internal("no detector".into()))?;
        let class_names = first.class_names().to_vec();
        let model_name = first.path().file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        let layout = *first.input_layout();
        let max_batch = first.max_batch();
        let (give, take) = crossbeam_channel::bounded(detectors.len());
        for detector in detectors {
            // The channel holds exactly as many as there are detectors.
            let _ = give.send(detector);
        }
        Ok(Self {
            config,
            client,
            pool: Pool { give, take },
            class_names,
            model_name,
            layout,
            max_batch,
            row_locks: Mutex::new(HashMap::new()),
            projects: Mutex::new(HashMap::new()),
        })
    }

    /// The lock of one data unit's label row.
    fn row_lock(&self, data_hash: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.row_locks.lock().unwrap_or_else(|e| e.into_inner());
        // Forget locks nobody holds or waits for, so the map does not grow with every video.
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        Arc::clone(locks.entry(data_hash.to_owned()).or_default())
    }
}
