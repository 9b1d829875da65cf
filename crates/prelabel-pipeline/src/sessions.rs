//! The detector sessions inference runs on: one per inference thread.

use std::path::Path;

use prelabel_detect::{DetectError, Detector, DetectorOptions, Runtime};

/// One or more sessions of the same model with the same options; the pipeline runs one
/// inference thread per session, each taking whole batches from the shared queue.
///
/// On a small CPU, two single-threaded sessions beat one two-threaded session: a session's
/// intra-op threads meet at a barrier after every operator, so a thread that the decode thread
/// pre-empts holds the other one spinning, while two sessions simply share the cores.
pub struct Detectors {
    sessions: Vec<Detector>,
}

impl Detectors {
    /// Loads `sessions` (at least one) sessions of `model_path`, each with `options`
    /// (`options.intra_threads` is per session).
    pub fn load(runtime: &Runtime, model_path: &Path, options: DetectorOptions, sessions: usize) -> Result<Self, DetectError> {
        let sessions = (0..sessions.max(1)).map(|_| Detector::load(runtime, model_path, options)).collect::<Result<_, _>>()?;
        Ok(Self { sessions })
    }

    /// The first session, for what all sessions share: the model's input layout, class names,
    /// batch size and path.
    pub fn model(&self) -> &Detector {
        &self.sessions[0]
    }

    /// Every session, for the inference threads.
    pub fn sessions_mut(&mut self) -> &mut [Detector] {
        &mut self.sessions
    }

    /// How many sessions there are (at least one).
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Always false: there is at least one session.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The sessions, for a caller that schedules them itself (the editor agent's pool).
    pub fn into_vec(self) -> Vec<Detector> {
        self.sessions
    }
}
