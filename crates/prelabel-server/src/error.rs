//! Errors: why the server could not start ([`ServerError`]), and why a request failed
//! (`ApiError`, answered in the v2 or the legacy style).

use std::path::PathBuf;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The server could not start, or stopped on an I/O error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// `project.json` or something it names is unusable.
    #[error(transparent)]
    Project(#[from] ProjectError),
    /// The state directory is unusable.
    #[error(transparent)]
    State(#[from] StateError),
    /// A setting is out of range.
    #[error("{0}")]
    Config(String),
    /// Binding, signal handling or serving failed.
    #[error("{what} ({cause})")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O cause.
        cause: std::io::Error,
    },
}

/// `project.json` or a file it names is unusable. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// A file could not be read.
    #[error("{path}: cannot read ({cause})")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O cause.
        cause: std::io::Error,
    },
    /// A file is not what it should be (bad JSON, a missing field, a dangling reference, …).
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The ontology structure is unusable.
    #[error(transparent)]
    Ontology(#[from] prelabel_encord::OntologyError),
    /// A video had to be probed for its size, rate or length, and could not be.
    #[error(transparent)]
    Probe(#[from] prelabel_decode::DecodeError),
}

/// The state directory could not be read or initialised.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file or directory could not be read or made.
    #[error("{path}: cannot read or create ({cause})")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O cause.
        cause: std::io::Error,
    },
    /// A state file is damaged or does not fit `project.json`.
    #[error("{path}: {reason} (delete the state directory to start from project.json again)")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A state file could not be written.
    #[error(transparent)]
    Write(#[from] prelabel_encord::WriteError),
}

/// Why an API request failed. v2 answers it with an HTTP status and `{"message"}`; the legacy
/// API with an HTTP 200 envelope `{"status","response":["CODE"],"payload"}` (PROTOCOL.md §3).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// No valid signature from an accepted key.
    #[error("not authenticated: {0}")]
    Unauthenticated(String),
    /// The caller may not have this (a bad file-URL signature).
    #[error("{0}")]
    Forbidden(String),
    /// The request is malformed or asks for something impossible.
    #[error("{0}")]
    InvalidArguments(String),
    /// A named resource does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A saved label is on a frame past the end of the video.
    #[error("{0}")]
    CorruptedLabel(String),
    /// A saved label refers to a feature hash the ontology lacks.
    #[error("{0}")]
    UnknownFeature(String),
    /// A saved object has no entry in `object_answers`.
    #[error("{0}")]
    AnswerDictionary(String),
    /// The request body is too large or could not be read.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The server failed (e.g. it could not write its state).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::InvalidArguments(_) | Self::CorruptedLabel(_) | Self::UnknownFeature(_) | Self::AnswerDictionary(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn legacy_code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "AUTHENTICATION_ERROR",
            Self::Forbidden(_) => "AUTHORISATION_ERROR",
            Self::InvalidArguments(_) | Self::PayloadTooLarge(_) => "INVALID_ARGUMENTS_ERROR",
            Self::NotFound(_) => "RESOURCE_NOT_FOUND_ERROR",
            Self::CorruptedLabel(_) => "CORRUPTED_LABEL_ERROR",
            Self::UnknownFeature(_) => "FEATURE_DOES_NOT_EXIST_ERROR",
            Self::AnswerDictionary(_) => "ANSWER_DICTIONARY_ERROR",
            Self::Internal(_) => "UNKNOWN_ERROR",
        }
    }

    /// Logs what the operator should see: server failures as errors, rejections at info level.
    fn log(&self) {
        match self {
            Self::Internal(_) => tracing::error!("{self}"),
            _ => tracing::info!("rejected: {self}"),
        }
    }

    /// The v2 answer: the HTTP status and `{"message": …}`.
    pub(crate) fn into_v2_response(self) -> Response {
        self.log();
        (self.status(), Json(json!({ "message": self.to_string() }))).into_response()
    }

    /// The legacy answer: an HTTP 200 envelope (the SDK reads the envelope, not the status),
    /// except for a too-large body, which the SDK only recognises as a real HTTP 413.
    pub(crate) fn into_legacy_response(self) -> Response {
        if matches!(self, Self::PayloadTooLarge(_)) {
            return self.into_v2_response();
        }
        self.log();
        // The SDK shows the payload of some codes as the message; authentication has none.
        let payload = match &self {
            Self::Unauthenticated(_) => serde_json::Value::Null,
            other => other.to_string().into(),
        };
        let body = json!({ "status": self.status().as_u16(), "response": [self.legacy_code()], "payload": payload });
        (StatusCode::OK, Json(body)).into_response()
    }
}

/// The answer to a path no route serves.
pub(crate) async fn no_such_endpoint(uri: axum::http::Uri) -> Response {
    ApiError::NotFound(format!("no endpoint {}", uri.path())).into_v2_response()
}
