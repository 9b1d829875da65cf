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
    /// Loads `sessions` (at least one) sessions of `model_path` with `options`, sharing
    /// `options.intra_threads` out among them as evenly as whole threads allow.
    pub fn load(runtime: &Runtime, model_path: &Path, options: DetectorOptions, sessions: usize) -> Result<Self, DetectError> {
        let sessions = thread_shares(options.intra_threads, sessions)
            .into_iter()
            .map(|intra_threads| Detector::load(runtime, model_path, DetectorOptions { intra_threads, ..options }))
            .collect::<Result<_, _>>()?;
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

/// Intra-op threads for each of `sessions` sessions (at least one) from `threads` in all: as even
/// as whole threads allow, the first sessions taking one more where they do not divide (7 over 4:
/// 2, 2, 2, 1, so no core sits idle), and at least one each; 0 lets ONNX Runtime choose for each.
fn thread_shares(threads: usize, sessions: usize) -> Vec<usize> {
    let sessions = sessions.max(1);
    (0..sessions)
        .map(|i| match threads {
            0 => 0,
            _ => (threads / sessions + usize::from(i < threads % sessions)).max(1),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::thread_shares;

    #[test]
    fn threads_are_shared_out_whole_and_every_one_is_used() {
        assert_eq!(thread_shares(7, 4), [2, 2, 2, 1]);
        assert_eq!(thread_shares(16, 2), [8, 8]);
        assert_eq!(thread_shares(5, 2), [3, 2]);
        assert_eq!(thread_shares(2, 4), [1, 1, 1, 1]);
        assert_eq!(thread_shares(3, 0), [3]);
        assert_eq!(thread_shares(0, 2), [0, 0]);
    }
}
