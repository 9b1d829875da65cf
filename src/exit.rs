//! Exit codes: each class of failure has its own, so scripts can tell them apart.

use std::process::ExitCode;

use prelabel_decode::DecodeError;
use prelabel_detect::DetectError;
use prelabel_encord::auth::AuthError;
use prelabel_encord::client::ApiError;
use prelabel_encord::{ClassMapError, OntologyError, WriteError};
use prelabel_pipeline::PipelineError;
use prelabel_pipeline::batch::ManifestError;
use prelabel_pipeline::worker::WorkerError;

/// Everything worked.
pub const SUCCESS: u8 = 0;
/// An unexpected failure.
pub const INTERNAL: u8 = 1;
// 2 is clap's code for bad usage.
/// The video was only partly decodable; what decoded was labelled and written.
pub const PARTIAL: u8 = 3;
/// Some tasks or videos failed; the others were done.
pub const SOME_FAILED: u8 = 4;
/// The video is missing or not a readable video.
pub const BAD_VIDEO: u8 = 10;
/// The model is missing, not ONNX, or of an unknown layout.
pub const BAD_MODEL: u8 = 11;
/// The ontology or a class alias is unusable.
pub const BAD_ONTOLOGY: u8 = 12;
/// An output file cannot be written.
pub const OUTPUT: u8 = 13;
/// ONNX Runtime or the requested device is unavailable.
pub const RUNTIME: u8 = 14;
/// Encord (or the Encord-compatible server) refused or could not be reached, or the project
/// lacks the stage or pathway asked for, or the key is unusable.
pub const ENCORD: u8 = 15;
/// The batch manifest cannot be read.
pub const BAD_MANIFEST: u8 = 16;

/// The exit code for an error that ended a command.
pub fn code_for(error: &anyhow::Error) -> ExitCode {
    let decode = |_: &DecodeError| BAD_VIDEO;
    let detect = |e: &DetectError| match e {
        DetectError::Runtime { .. } | DetectError::DeviceUnavailable { .. } => RUNTIME,
        DetectError::Inference { .. } => INTERNAL,
        _ => BAD_MODEL,
    };
    let code = if let Some(e) = error.downcast_ref::<PipelineError>() {
        match e {
            PipelineError::Decode(e) => decode(e),
            PipelineError::Detect(e) => detect(e),
            PipelineError::Fetch(_) => BAD_VIDEO,
        }
    } else if let Some(e) = error.downcast_ref::<DecodeError>() {
        decode(e)
    } else if let Some(e) = error.downcast_ref::<DetectError>() {
        detect(e)
    } else if error.is::<OntologyError>() || error.is::<ClassMapError>() || matches!(error.downcast_ref(), Some(WorkerError::ClassMap(_))) {
        BAD_ONTOLOGY
    } else if error.is::<WorkerError>() || error.is::<ApiError>() || error.is::<AuthError>() {
        ENCORD
    } else if error.is::<ManifestError>() {
        BAD_MANIFEST
    } else if error.is::<WriteError>() {
        OUTPUT
    } else {
        INTERNAL
    };
    ExitCode::from(code)
}
