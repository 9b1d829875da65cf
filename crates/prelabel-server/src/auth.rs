//! Request authentication (PROTOCOL.md §2): a legacy (`Authorization: <key hex>:<sig hex>`) or
//! a v2 (`Content-Digest` / `Signature-Input` / `Signature`) signature over the raw body as
//! received, by a registered key, is required on every API request, on either API family.

use std::sync::Arc;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use prelabel_encord::auth::{PublicKey, V2Signature, verify_legacy, verify_v2};

use crate::App;
use crate::config::ServerConfig;
use crate::error::ApiError;

/// Largest request body read (a bundled save of 100 long videos' rows can be large).
const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// How signatures are checked.
pub(crate) struct Verifier {
    accept_any_key: bool,
    max_skew_secs: i64,
}

/// A verified request's caller and raw body, left in the request's extensions for the handler.
#[derive(Clone)]
pub(crate) struct Signed {
    /// The caller's e-mail (for an unregistered key under `--accept-any-key`, one made from the
    /// key).
    pub(crate) email: String,
    /// The body exactly as received.
    pub(crate) body: Bytes,
}

impl Verifier {
    /// The policy `config` asks for.
    pub(crate) fn new(config: &ServerConfig) -> Self {
        Self { accept_any_key: config.accept_any_key, max_skew_secs: config.max_skew_secs }
    }
}

/// Authenticates a `/public` request; failures get the legacy envelope.
pub(crate) async fn legacy(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    match authenticate(&app, request).await {
        Ok(request) => next.run(request).await,
        Err(error) => error.into_legacy_response(),
    }
}

/// Authenticates a `/v2/public` request; failures get `401 {"message"}`.
pub(crate) async fn v2(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    match authenticate(&app, request).await {
        Ok(request) => next.run(request).await,
        Err(error) => error.into_v2_response(),
    }
}

/// Reads the body, verifies the signature over it and the request target as received, and
/// returns the request with the caller and body in its extensions.
async fn authenticate(app: &App, request: Request) -> Result<Request, ApiError> {
    let (mut parts, body) = request.into_parts();
    let body = to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| ApiError::PayloadTooLarge(format!("cannot read a body of at most {MAX_BODY_BYTES} bytes ({e})")))?;
    let users = &app.project.users;
    let lookup = |keyid: &str| {
        users
            .iter()
            .find(|u| u.key.hex() == keyid)
            .map(|u| u.key.clone())
            .or_else(|| if app.verifier.accept_any_key { PublicKey::parse(keyid).ok() } else { None })
    };
    let target = parts.uri.path_and_query().map_or_else(|| parts.uri.path(), |pq| pq.as_str());
    let keyid = match v2_headers(&parts.headers)? {
        Some(signature) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
            verify_v2(parts.method.as_str(), target, &body, &signature, now, app.verifier.max_skew_secs, lookup)
        }
        None => {
            let authorization = header(&parts.headers, "authorization")?
                .ok_or_else(|| ApiError::Unauthenticated("no Authorization or Signature header".into()))?;
            if authorization.starts_with("Bearer ") {
                return Err(ApiError::Unauthenticated("bearer tokens are not supported; sign the request".into()));
            }
            verify_legacy(authorization, &body, lookup)
        }
    }
    .map_err(|e| ApiError::Unauthenticated(e.to_string()))?;
    let email = users.iter().find(|u| u.key.hex() == keyid).map_or_else(|| format!("{keyid}@accept-any-key.invalid"), |u| u.email.clone());
    tracing::debug!("{} {target} signed by {email}", parts.method);
    parts.extensions.insert(Signed { email, body: body.clone() });
    Ok(Request::from_parts(parts, Body::from(body)))
}

/// A header's value as text; `None` when absent.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    headers.get(name).map(|v| v.to_str().map_err(|_| ApiError::Unauthenticated(format!("{name} is not ASCII")))).transpose()
}

/// The v2 signature headers, when the request carries `Signature-Input`.
fn v2_headers(headers: &HeaderMap) -> Result<Option<V2Signature>, ApiError> {
    let Some(signature_input) = header(headers, "signature-input")? else {
        return Ok(None);
    };
    let required = |name: &str| {
        header(headers, name)?.map(str::to_owned).ok_or_else(|| ApiError::Unauthenticated(format!("Signature-Input without {name}")))
    };
    Ok(Some(V2Signature {
        content_digest: required("content-digest")?,
        signature_input: signature_input.to_owned(),
        signature: required("signature")?,
    }))
}
