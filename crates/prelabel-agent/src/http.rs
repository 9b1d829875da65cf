//! The HTTP side: routing, CORS, the connectivity test, body limits, error answers, TLS.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::Agent;
use crate::label::{AgentError, EditorRequest, is_uuid, redact_urls};

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A certificate or key file is missing or unusable.
    #[error("{path}: {cause}")]
    Tls {
        /// The file.
        path: String,
        /// Why.
        cause: String,
    },
    /// Binding or the runtime failed.
    #[error("{0}")]
    Io(String),
}

/// A rustls server configuration (ring) from PEM files: the certificate chain, leaf first, and
/// its private key (PKCS#8, PKCS#1 or SEC1). Offers HTTP/1.1 (and h2) over ALPN.
pub fn tls_config(cert_pem: &Path, key_pem: &Path) -> Result<rustls::ServerConfig, ServeError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let tls_error = |path: &Path, cause: String| ServeError::Tls { path: path.display().to_string(), cause };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_pem)
        .map_err(|e| tls_error(cert_pem, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error(cert_pem, e.to_string()))?;
    if certs.is_empty() {
        return Err(tls_error(cert_pem, "no certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key_pem).map_err(|e| tls_error(key_pem, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(cert_pem, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls_error(key_pem, e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The agent's routes: `POST /` (and `OPTIONS /` for CORS preflights).
pub fn router(agent: Arc<Agent>) -> Router {
    Router::new().route("/", axum::routing::any(handle)).with_state(agent)
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn message(status: StatusCode, text: &str) -> Response {
    // Encord shows at most 256 characters.
    let text: String = redact_urls(text).chars().take(256).collect();
    json_response(status, json!({"message": text}))
}

const ALLOWED_HEADERS: &str = "Content-Type, X-Encord-Editor-Agent, X-Cloud-Trace-Context";

async fn handle(axum::extract::State(agent): axum::extract::State<Arc<Agent>>, method: Method, headers: HeaderMap, body: Body) -> Response {
    let origin = headers.get(header::ORIGIN).cloned();
    let allowed = origin.as_ref().map(|o| o.to_str().is_ok_and(|o| agent.config.cors_origin.is_match(o)));
    let mut response = answer(&agent, &method, &headers, body, allowed).await;
    let out = response.headers_mut();
    out.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let (Some(origin), Some(true)) = (origin, allowed) {
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
}

async fn answer(agent: &Arc<Agent>, method: &Method, headers: &HeaderMap, body: Body, origin_allowed: Option<bool>) -> Response {
    if method == Method::OPTIONS {
        let wants_post = headers.get(header::ACCESS_CONTROL_REQUEST_METHOD).is_none_or(|m| m.as_bytes().eq_ignore_ascii_case(b"POST"));
        if origin_allowed != Some(true) || !wants_post {
            return message(StatusCode::FORBIDDEN, "CORS: origin or method not allowed");
        }
        return (
            StatusCode::NO_CONTENT,
            [
                (header::ACCESS_CONTROL_ALLOW_METHODS, "POST"),
                (header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS),
                (header::ACCESS_CONTROL_MAX_AGE, "3600"),
            ],
        )
            .into_response();
    }
    if origin_allowed == Some(false) {
        return message(StatusCode::FORBIDDEN, "CORS: origin not allowed");
    }
    if headers.contains_key("x-encord-editor-agent") {
        // Encord's connectivity test: no work.
        return json_response(StatusCode::OK, json!({}));
    }
    if method != Method::POST {
        return message(StatusCode::METHOD_NOT_ALLOWED, "POST only");
    }
    let limit = agent.config.max_body_bytes;
    let bytes = match read_body(body, limit).await {
        Some(b) => b,
        None => return message(StatusCode::PAYLOAD_TOO_LARGE, &format!("request body larger than {limit} bytes")),
    };
    let request: EditorRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => return message(StatusCode::BAD_REQUEST, &format!("malformed request: {e}")),
    };
    for (name, value) in [("projectHash", &request.project_hash), ("dataHash", &request.data_hash)] {
        if !is_uuid(value) {
            return message(StatusCode::BAD_REQUEST, &format!("malformed request: {name} is not a UUID"));
        }
    }
    // Calls on one label row run one at a time; the lock is held until the row is saved.
    let guard = agent.row_lock(&request.data_hash).lock_owned().await;
    let worker = Arc::clone(agent);
    let result = tokio::task::spawn_blocking(move || {
        let _guard = guard;
        worker.label(&request)
    })
    .await;
    match result {
        Ok(Ok(outcome)) => {
            let mut response = json_response(StatusCode::OK, json!({"message": outcome.message}));
            let out = response.headers_mut();
            out.insert("x-prelabel-decoded-frames", HeaderValue::from(outcome.frames_decoded));
            out.insert("x-prelabel-decode-start", HeaderValue::from(outcome.decode_start));
            response
        }
        Ok(Err(AgentError::BadRequest(text))) => message(StatusCode::BAD_REQUEST, &text),
        Ok(Err(AgentError::Forbidden(text))) => {
            tracing::warn!(error = %text, "forbidden");
            message(StatusCode::FORBIDDEN, &format!("the agent's key may not do this: {text}"))
        }
        Ok(Err(AgentError::Internal(text))) => {
            tracing::error!(error = %text, "call failed");
            message(StatusCode::INTERNAL_SERVER_ERROR, &format!("Internal server error: {text}"))
        }
        Err(join) => {
            tracing::error!(error = %join, "call panicked");
            message(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
        }
    }
}

/// The body, or `None` when it is larger than `limit`. An oversized body is still read (and
/// dropped) up to 16 × `limit`, so that the client, still sending, reads the 413 instead of a
/// reset connection; beyond that the connection is cut.
async fn read_body(body: Body, limit: usize) -> Option<axum::body::Bytes> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut kept: Vec<u8> = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return None };
        let Ok(data) = frame.into_data() else { continue };
        total += data.len();
        if total > limit.saturating_mul(16) {
            return None;
        }
        if total <= limit {
            kept.extend_from_slice(&data);
        }
    }
    (total <= limit).then(|| kept.into())
}

/// Serves `agent` on `bind` until SIGINT or SIGTERM, over TLS with `tls` (or plain HTTP
/// without); `on_bound` gets the bound address (port 0 picks one). Blocks.
pub fn run(agent: Agent, bind: SocketAddr, tls: Option<rustls::ServerConfig>, on_bound: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| ServeError::Io(format!("runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(bind).await.map_err(|e| ServeError::Io(format!("{bind}: {e}")))?;
        let addr = listener.local_addr().map_err(|e| ServeError::Io(e.to_string()))?;
        on_bound(addr);
        let app = router(Arc::new(agent));
        let acceptor = tls.map(|c| TlsAcceptor::from(Arc::new(c)));
        let mut stop = std::pin::pin!(shutdown());
        loop {
            let (tcp, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut stop => break,
            };
            let service = TowerToHyperService::new(app.clone());
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let served = match acceptor {
                    None => builder.serve_connection(TokioIo::new(tcp), service).await,
                    Some(acceptor) => match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => builder.serve_connection(TokioIo::new(stream), service).await,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    },
                };
                if let Err(e) = served {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
        tracing::info!("stopping");
        Ok(())
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = terminate => {},
    }
}
