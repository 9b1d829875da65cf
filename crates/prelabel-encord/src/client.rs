//! A blocking client for Encord's public API (PROTOCOL.md §4): both signing schemes, retries
//! with exponential backoff and jitter (honouring `Retry-After`), a timeout on every request,
//! lazy task paging, bundled saves and proceeds, and streamed downloads of signed URLs.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::RETRY_AFTER;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Ontology;
use crate::auth::SigningKey;

/// Encord's public API.
pub const DEFAULT_DOMAIN: &str = "https://api.encord.com";
/// Most label rows one save request carries (as Encord's SDK bundles them).
pub const SAVE_BUNDLE: usize = 100;

/// What kind of failure an API call ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// The key was not accepted (401, `AUTHENTICATION_ERROR`).
    Auth,
    /// The key may not access the resource (403, `AUTHORISATION_ERROR`).
    Forbidden,
    /// No such resource (404, `RESOURCE_NOT_FOUND_ERROR`).
    NotFound,
    /// Too many requests, still after the retries (429).
    RateLimited,
    /// The server refused the request's content (400, invalid arguments, corrupt labels, …).
    InvalidArgument,
    /// The server failed (5xx, or an unexpected status), still after the retries.
    Server,
    /// No response: connection refused or dropped, or a timeout, still after the retries.
    Transport,
    /// The response did not have the expected shape.
    Decode,
    /// A download was larger than allowed.
    TooLarge,
}

/// A failed API call: what failed, where, why, and the trace id to quote to Encord.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{endpoint}: {kind:?}: {message} (trace {trace_id})")]
pub struct ApiError {
    /// The kind of failure.
    pub kind: ApiErrorKind,
    /// `METHOD path` or the legacy `query_type/query_method`.
    pub endpoint: String,
    /// The server's message or the transport error.
    pub message: String,
    /// The `X-Cloud-Trace-Context` trace id of the call.
    pub trace_id: String,
}

/// How the client retries and times out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Backoff before the first retry; doubles each time.
    pub backoff_base: Duration,
    /// Longest backoff (and longest `Retry-After` honoured).
    pub backoff_cap: Duration,
    /// Timeout of each API request, connect to last byte.
    pub request_timeout: Duration,
    /// Timeout of each label-row read or save instead (a long video's row with a box on every
    /// frame runs to hundreds of megabytes; Encord's SDK gives its reads 180 s between bytes).
    pub label_row_timeout: Duration,
    /// Timeout of each download attempt, connect to last byte.
    pub download_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            label_row_timeout: Duration::from_secs(600),
            download_timeout: Duration::from_secs(600),
        }
    }
}

/// A project and its workflow (E1).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// Project id.
    pub project_hash: String,
    /// Title.
    pub title: String,
    /// The ontology's id.
    pub ontology_hash: String,
    /// The workflow, for workflow projects.
    #[serde(default)]
    pub workflow: Option<Workflow>,
}

/// The stages of a workflow project.
#[derive(Debug, Clone, Deserialize)]
pub struct Workflow {
    /// Stages in the server's order.
    pub stages: Vec<Stage>,
}

/// One workflow stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    /// Stage id.
    pub uuid: String,
    /// Title, e.g. `Pre-Labeling Agent`.
    pub title: String,
    /// `AGENT`, `ANNOTATION`, …
    pub stage_type: String,
    /// An agent stage's ways out.
    #[serde(default)]
    pub pathways: Vec<Pathway>,
}

/// A way out of an agent stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pathway {
    /// Pathway id.
    pub uuid: String,
    /// Name, e.g. `Annotate 1`.
    pub title: String,
    /// The stage it leads to.
    #[serde(default)]
    pub destination_uuid: Option<String>,
}

/// A task waiting in an agent stage (E3).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentTask {
    /// Task id.
    pub uuid: String,
    /// The data unit's id.
    pub data_hash: String,
    /// The data unit's title.
    pub data_title: String,
    /// `NEW`, `ASSIGNED`, …
    pub status: String,
}

/// What the server knows about a data unit's label row (E4).
#[derive(Debug, Clone, Deserialize)]
pub struct LabelRowMetadata {
    /// Label row id; `None` until the row is created.
    pub label_hash: Option<String>,
    /// Data unit id.
    pub data_hash: String,
    /// Title.
    pub data_title: String,
    /// `VIDEO`, `IMAGE`, …
    pub data_type: String,
    /// Frames in the video.
    #[serde(default)]
    pub number_of_frames: Option<u64>,
    /// Frames per second.
    #[serde(default)]
    pub frames_per_second: Option<f64>,
    /// The storage item behind the data unit.
    #[serde(default)]
    pub backing_item_uuid: Option<String>,
}

/// A tiny xorshift generator for jitter and trace ids, seeded from the clock and a counter.
fn random_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let digest = Sha256::digest(format!("{nanos}:{}", COUNTER.fetch_add(1, Ordering::Relaxed)));
    u64::from_le_bytes(digest[..8].try_into().unwrap_or([0; 8]))
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// One attempt's outcome: done, or worth another try.
enum Attempt<T> {
    Done(Result<T, ApiError>),
    /// Worth another try after the given wait (`None`: backoff), for calls that may run twice.
    Retry(ApiError, Option<Duration>),
    /// No connection was made, so the request never reached the server: worth another try even
    /// for a call that must not run twice.
    Unsent(ApiError),
}

/// Plain HTTPS with the client's timeouts and retries, and no Encord signature: for signed URLs
/// and public video URLs.
pub struct Http {
    client: Client,
    policy: RetryPolicy,
}

/// The Encord API client.
pub struct EncordClient {
    http: Http,
    key: SigningKey,
    domain: String,
}

impl EncordClient {
    /// A client for `domain` (e.g. [`DEFAULT_DOMAIN`] or `http://127.0.0.1:8080`) signing with
    /// `key`.
    pub fn new(domain: &str, key: SigningKey, policy: RetryPolicy) -> Result<Self, ApiError> {
        Ok(Self { http: Http::new(policy)?, key, domain: domain.trim_end_matches('/').to_owned() })
    }
    /// A signed v2 call; returns the JSON body (`Value::Null` for an empty 2xx response).
    fn v2(&self, method: Method, path_and_query: &str, body: Option<&Value>) -> Result<Value, ApiError> {
        let endpoint = format!("{method} {}", path_and_query.split('?').next().unwrap_or_default());
        let trace_id = format!("{:016x}{:016x}", random_u64(), random_u64());
        let body_bytes = body.map(|b| serde_json::to_vec(b).unwrap_or_default()).unwrap_or_default();
        let error = |kind, message: String| ApiError { kind, endpoint: endpoint.clone(), message, trace_id: trace_id.clone() };
        self.http.with_retries(|| {
            let signature = self.key.v2_signature(method.as_str(), path_and_query, &body_bytes, unix_now());
            let mut request = self
                .http
                .client
                .request(method.clone(), format!("{}{path_and_query}", self.domain))
                .header("Content-Digest", &signature.content_digest)
                .header("Signature-Input", &signature.signature_input)
                .header("Signature", &signature.signature);
            if body.is_some() {
                request = request.header("Content-Type", "application/json").body(body_bytes.clone());
            }
            match self.http.send(request, &endpoint, &trace_id) {
                Attempt::Retry(e, after) => Attempt::Retry(e, after),
                Attempt::Unsent(e) => Attempt::Unsent(e),
                Attempt::Done(Err(e)) => Attempt::Done(Err(e)),
                Attempt::Done(Ok(response)) => {
                    let status = response.status().as_u16();
                    if !(200..300).contains(&status) {
                        let kind = match status {
                            400 | 409 | 422 => ApiErrorKind::InvalidArgument,
                            401 => ApiErrorKind::Auth,
                            403 => ApiErrorKind::Forbidden,
                            404 => ApiErrorKind::NotFound,
                            _ => ApiErrorKind::Server,
                        };
                        return Attempt::Done(Err(error(kind, format!("HTTP {status}: {}", error_message(response)))));
                    }
                    match response.bytes() {
                        Ok(bytes) if bytes.is_empty() => Attempt::Done(Ok(Value::Null)),
                        Ok(bytes) => Attempt::Done(serde_json::from_slice(&bytes).map_err(|e| error(ApiErrorKind::Decode, e.to_string()))),
                        Err(e) => Attempt::Retry(error(ApiErrorKind::Transport, transport_message(&e)), None),
                    }
                }
            }
        })
    }

    /// A signed legacy RPC on project `project_hash`; returns the envelope's `response`.
    fn legacy(&self, project_hash: &str, query_type: &str, query_method: &str, uid: Value, payload: Value) -> Result<Value, ApiError> {
        // The SDK does not retry a create on its status or a lost response (PROTOCOL.md §3.3): a
        // second create may meet the first one's row. A connection never made is retried.
        let may_run_twice = !(query_type == "labelrow" && query_method == "PUT");
        let timeout = if query_type == "labelrow" { self.http.policy.label_row_timeout } else { self.http.policy.request_timeout };
        let endpoint = format!("{query_type}/{query_method}");
        let trace_id = format!("{:016x}{:016x}", random_u64(), random_u64());
        let body = json!({"query_type": query_type, "query_method": query_method, "values": {"uid": uid, "payload": payload}});
        let body_bytes = serde_json::to_vec(&body).unwrap_or_default();
        let error = |kind, message: String| ApiError { kind, endpoint: endpoint.clone(), message, trace_id: trace_id.clone() };
        let attempt = || {
            let request = self
                .http
                .client
                .post(format!("{}/public", self.domain))
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .header("ResourceType", "project")
                .header("ResourceID", project_hash)
                .header("Authorization", self.key.legacy_authorization(&body_bytes))
                .timeout(timeout)
                .body(body_bytes.clone());
            let response = match self.http.send(request, &endpoint, &trace_id) {
                Attempt::Done(Ok(r)) => r,
                Attempt::Done(Err(e)) => return Attempt::Done(Err(e)),
                Attempt::Retry(e, after) => return Attempt::Retry(e, after),
                Attempt::Unsent(e) => return Attempt::Unsent(e),
            };
            let status = response.status().as_u16();
            let envelope: Value = match response.bytes() {
                Ok(bytes) => match serde_json::from_slice(&bytes) {
                    Ok(v) => v,
                    Err(_) => return Attempt::Done(Err(error(ApiErrorKind::Decode, format!("HTTP {status}: not a JSON envelope")))),
                },
                Err(e) => return Attempt::Retry(error(ApiErrorKind::Transport, transport_message(&e)), None),
            };
            if envelope["status"].as_u64() == Some(200) {
                return Attempt::Done(Ok(envelope["response"].clone()));
            }
            let code = envelope["response"][0].as_str().unwrap_or("UNKNOWN_ERROR").to_owned();
            let message = match &envelope["payload"] {
                Value::String(s) => format!("{code}: {s}"),
                Value::Null => code.clone(),
                other => format!("{code}: {other}"),
            };
            let kind = match code.as_str() {
                "AUTHENTICATION_ERROR" | "SSH_KEY_NOT_FOUND_ERROR" => ApiErrorKind::Auth,
                "AUTHORISATION_ERROR" => ApiErrorKind::Forbidden,
                "RESOURCE_NOT_FOUND_ERROR" => ApiErrorKind::NotFound,
                "RATE_LIMIT_ERROR" => return Attempt::Retry(error(ApiErrorKind::RateLimited, message), None),
                "INVALID_ARGUMENTS_ERROR"
                | "CORRUPTED_LABEL_ERROR"
                | "FEATURE_DOES_NOT_EXIST_ERROR"
                | "ANSWER_DICTIONARY_ERROR"
                | "OPERATION_NOT_ALLOWED" => ApiErrorKind::InvalidArgument,
                _ => ApiErrorKind::Server,
            };
            Attempt::Done(Err(error(kind, message)))
        };
        self.http.with_retries(|| match attempt() {
            Attempt::Retry(e, _) if !may_run_twice => Attempt::Done(Err(e)),
            other => other,
        })
    }

    fn decode<T: DeserializeOwned>(value: Value, endpoint: &str) -> Result<T, ApiError> {
        serde_json::from_value(value).map_err(|e| ApiError {
            kind: ApiErrorKind::Decode,
            endpoint: endpoint.to_owned(),
            message: e.to_string(),
            trace_id: String::new(),
        })
    }

    /// The project with its workflow (E1).
    pub fn project(&self, project_hash: &str) -> Result<Project, ApiError> {
        let path = format!("/v2/public/projects/{project_hash}");
        Self::decode(self.v2(Method::GET, &path, None)?, &path)
    }

    /// The ontology structure (E2).
    pub fn ontology(&self, ontology_hash: &str) -> Result<Ontology, ApiError> {
        let path = format!("/v2/public/ontologies/{ontology_hash}");
        let mut value = self.v2(Method::GET, &path, None)?;
        Self::decode(value["editor"].take(), &path)
    }

    /// The tasks in an agent stage, fetched page by page as the iterator is consumed.
    pub fn stage_tasks<'a>(&'a self, project_hash: &str, stage_uuid: &str) -> TaskPages<'a> {
        TaskPages {
            client: self,
            path: format!("/v2/public/projects/{project_hash}/workflow/stages/{stage_uuid}/tasks"),
            page: Vec::new().into_iter(),
            next_token: None,
            done: false,
        }
    }

    /// Label-row metadata of the given data units (E4).
    pub fn label_row_metadata(&self, project_hash: &str, data_hashes: &[String]) -> Result<Vec<LabelRowMetadata>, ApiError> {
        let payload = json!({
            "include_uninitialised_labels": true, "data_hashes": data_hashes, "label_hashes": null,
            "include_workflow_graph_node": true, "include_client_metadata": false, "include_images_data": false,
            "include_children": false, "include_all_label_branches": false, "branch_name": null,
        });
        let response = self.legacy(project_hash, "labelrowmetadata", "GET", Value::Null, payload)?;
        Self::decode(response, "labelrowmetadata/GET")
    }

    /// Existing label rows (E5), with a signed URL in each data unit's `data_link`.
    pub fn label_rows(&self, project_hash: &str, label_hashes: &[String]) -> Result<Vec<Value>, ApiError> {
        let payload = json!({"get_signed_url": true, "multi_request": true, "include_object_feature_hashes": null,
            "include_classification_feature_hashes": null, "include_reviews": false, "include_export_history": false,
            "include_archived": false});
        let response = self.legacy(project_hash, "labelrow", "GET", json!(label_hashes), payload)?;
        Self::decode(response, "labelrow/GET")
    }

    /// Creates the label rows of data units that have none (E6); they come back like E5.
    pub fn create_label_rows(&self, project_hash: &str, data_hashes: &[String]) -> Result<Vec<Value>, ApiError> {
        let payload = json!({"multi_request": true, "get_signed_url": true, "branch_name": "main"});
        let response = self.legacy(project_hash, "labelrow", "PUT", json!(data_hashes), payload)?;
        Self::decode(response, "labelrow/PUT")
    }

    /// Saves whole label rows (a full replace on the server), at most [`SAVE_BUNDLE`] a request.
    pub fn save_label_rows(&self, project_hash: &str, rows: &[Value]) -> Result<(), ApiError> {
        for bundle in rows.chunks(SAVE_BUNDLE) {
            let uids: Vec<&Value> = bundle.iter().map(|r| &r["label_hash"]).collect();
            let payload = json!({"multi_request": true, "labels": bundle, "validate_before_saving": false});
            self.legacy(project_hash, "labelrow", "POST", json!(uids), payload)?;
        }
        Ok(())
    }

    /// Moves tasks out of an agent stage along a pathway (E8), in one request; when the server
    /// rejects it (400: some task already left), replays each task alone and counts a 400 for a
    /// single task as "already moved". Returns the tasks that failed otherwise: all of them, with
    /// the request's error, when it failed for another reason (after the retries).
    pub fn proceed(&self, project_hash: &str, stage_uuid: &str, task_uuids: &[String], pathway_uuid: &str) -> Vec<(String, ApiError)> {
        let path = format!("/v2/public/projects/{project_hash}/workflow/stages/{stage_uuid}/actions");
        let action = |t: &String| json!({"taskUuid": t, "action": "PATHWAY_ACTION", "pathwayUuid": pathway_uuid});
        let all: Vec<Value> = task_uuids.iter().map(action).collect();
        if all.is_empty() {
            return Vec::new();
        }
        match self.v2(Method::POST, &path, Some(&Value::Array(all))) {
            Ok(_) => return Vec::new(),
            Err(e) if e.kind == ApiErrorKind::InvalidArgument => {}
            Err(e) => return task_uuids.iter().map(|t| (t.clone(), e.clone())).collect(),
        }
        task_uuids
            .iter()
            .filter_map(|t| match self.v2(Method::POST, &path, Some(&json!([action(t)]))) {
                Ok(_) => None,
                Err(e) if e.kind == ApiErrorKind::InvalidArgument => {
                    tracing::info!(task = %t, trace = %e.trace_id, "task had already left the stage");
                    None
                }
                Err(e) => Some((t.clone(), e)),
            })
            .collect()
    }

    /// Moves tasks to another stage (E12).
    pub fn move_tasks(
        &self,
        project_hash: &str,
        stage_uuid: &str,
        task_uuids: &[String],
        destination_stage_uuid: &str,
    ) -> Result<(), ApiError> {
        let path = format!("/v2/public/projects/{project_hash}/workflow/stages/{stage_uuid}/move-tasks");
        self.v2(Method::POST, &path, Some(&json!({"taskUuids": task_uuids, "destinationStageUuid": destination_stage_uuid}))).map(drop)
    }

    /// A storage item's signed URL (E10).
    pub fn signed_url(&self, storage_item_uuid: &str) -> Result<String, ApiError> {
        let path = format!("/v2/public/storage/items/{storage_item_uuid}?signUrl=True");
        let item = self.v2(Method::GET, &path, None)?;
        item["signedUrl"].as_str().map(str::to_owned).ok_or_else(|| ApiError {
            kind: ApiErrorKind::Decode,
            endpoint: path,
            message: "no signedUrl in the storage item".into(),
            trace_id: String::new(),
        })
    }

    /// Streams a signed URL into `dest`; see [`Http::download`].
    pub fn download(&self, url: &str, dest: &Path, max_bytes: u64) -> Result<u64, ApiError> {
        self.http.download(url, dest, max_bytes)
    }
}

impl Http {
    /// A transport with `policy`'s timeouts and retries.
    pub fn new(policy: RetryPolicy) -> Result<Self, ApiError> {
        static PROVIDER: Once = Once::new();
        // Installing fails only when a provider is already installed, which is what we want.
        PROVIDER.call_once(|| drop(rustls::crypto::ring::default_provider().install_default()));
        let client = Client::builder()
            .timeout(policy.request_timeout)
            .connect_timeout(policy.request_timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("prelabel/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError {
                kind: ApiErrorKind::Transport,
                endpoint: "client".into(),
                message: e.to_string(),
                trace_id: String::new(),
            })?;
        Ok(Self { client, policy })
    }

    /// Runs `attempt` until it is done or the retries are spent, sleeping with exponential
    /// backoff and full jitter, or as long as the server's `Retry-After` asks.
    fn with_retries<T>(&self, mut attempt: impl FnMut() -> Attempt<T>) -> Result<T, ApiError> {
        let mut backoff = self.policy.backoff_base;
        for retry in 0.. {
            let (error, retry_after) = match attempt() {
                Attempt::Done(result) => return result,
                Attempt::Retry(error, retry_after) => (error, retry_after),
                Attempt::Unsent(error) => (error, None),
            };
            if retry >= self.policy.max_retries {
                return Err(error);
            }
            let jittered = backoff.mul_f64(0.5 + (random_u64() % 1000) as f64 / 2000.0);
            let wait = retry_after.unwrap_or(jittered).min(self.policy.backoff_cap);
            tracing::warn!(endpoint = %error.endpoint, kind = ?error.kind, trace = %error.trace_id,
                wait_ms = wait.as_millis() as u64, "retrying: {}", error.message);
            std::thread::sleep(wait);
            backoff = (backoff * 2).min(self.policy.backoff_cap);
        }
        unreachable!("the loop returns once the retries are spent")
    }

    /// Sends one request and classifies the outcome; transport errors and 413/429/5xx retry.
    fn send(&self, request: RequestBuilder, endpoint: &str, trace_id: &str) -> Attempt<Response> {
        let error = |kind, message: String| ApiError { kind, endpoint: endpoint.to_owned(), message, trace_id: trace_id.to_owned() };
        let response = match request.header("X-Cloud-Trace-Context", format!("{trace_id}/1;o=1")).send() {
            Ok(r) => r,
            Err(e) if e.is_connect() => return Attempt::Unsent(error(ApiErrorKind::Transport, transport_message(&e))),
            Err(e) => return Attempt::Retry(error(ApiErrorKind::Transport, transport_message(&e)), None),
        };
        let status = response.status().as_u16();
        if matches!(status, 413 | 429 | 500 | 502 | 503 | 504) {
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let kind = if status == 429 { ApiErrorKind::RateLimited } else { ApiErrorKind::Server };
            let message = format!("HTTP {status}: {}", error_message(response));
            return Attempt::Retry(error(kind, message), retry_after);
        }
        Attempt::Done(Ok(response))
    }

    /// Streams `url` (a signed or public URL: no auth headers) into `dest`, at most `max_bytes`, retrying
    /// from the start on transport errors and 5xx. Returns the bytes written.
    pub fn download(&self, url: &str, dest: &Path, max_bytes: u64) -> Result<u64, ApiError> {
        let endpoint = "GET signed URL".to_owned();
        let trace_id = format!("{:016x}{:016x}", random_u64(), random_u64());
        let error = |kind, message: String| ApiError { kind, endpoint: endpoint.clone(), message, trace_id: trace_id.clone() };
        self.with_retries(|| {
            let request = self.client.get(url).timeout(self.policy.download_timeout);
            let mut response = match self.send(request, &endpoint, &trace_id) {
                Attempt::Done(Ok(r)) => r,
                Attempt::Done(Err(e)) => return Attempt::Done(Err(e)),
                Attempt::Retry(e, after) => return Attempt::Retry(e, after),
                Attempt::Unsent(e) => return Attempt::Unsent(e),
            };
            let status = response.status().as_u16();
            if status != 200 {
                let kind = if status == 404 { ApiErrorKind::NotFound } else { ApiErrorKind::Server };
                return Attempt::Done(Err(error(kind, format!("HTTP {status}"))));
            }
            if response.content_length().is_some_and(|n| n > max_bytes) {
                return Attempt::Done(Err(error(ApiErrorKind::TooLarge, format!("larger than {max_bytes} bytes"))));
            }
            let file = match std::fs::File::create(dest) {
                Ok(f) => f,
                Err(e) => return Attempt::Done(Err(error(ApiErrorKind::Transport, format!("{}: {e}", dest.display())))),
            };
            let mut writer = BufWriter::new(file);
            let mut limited = std::io::Read::take(&mut response, max_bytes.saturating_add(1));
            match std::io::copy(&mut limited, &mut writer).and_then(|n| writer.flush().map(|()| n)) {
                Ok(n) if n > max_bytes => Attempt::Done(Err(error(ApiErrorKind::TooLarge, format!("larger than {max_bytes} bytes")))),
                Ok(n) => Attempt::Done(Ok(n)),
                Err(e) => Attempt::Retry(error(ApiErrorKind::Transport, format!("download interrupted: {e}")), None),
            }
        })
    }
}

/// The message of an error response: `message` or `detail` of a JSON body, else the body text.
fn error_message(response: Response) -> String {
    let text = response.text().unwrap_or_default();
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("message").or_else(|| v.get("detail")).and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| text.chars().take(200).collect())
}

/// A transport error's message with its causes (reqwest's top-level text is vague), and the
/// query of its URL left out: a signed URL's query is a credential, and retries are logged.
fn transport_message(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    match error.url().filter(|url| url.query().is_some()) {
        Some(url) => {
            let mut shown = url.clone();
            shown.set_query(None);
            message.replace(url.as_str(), &format!("{shown}?(query not shown)"))
        }
        None => message,
    }
}

/// Lazily paged stage tasks; see [`EncordClient::stage_tasks`].
pub struct TaskPages<'a> {
    client: &'a EncordClient,
    path: String,
    page: std::vec::IntoIter<AgentTask>,
    next_token: Option<String>,
    done: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskPage {
    results: Vec<AgentTask>,
    #[serde(default)]
    next_page_token: Option<String>,
}

impl Iterator for TaskPages<'_> {
    type Item = Result<AgentTask, ApiError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(task) = self.page.next() {
                return Some(Ok(task));
            }
            if self.done {
                return None;
            }
            let target = match &self.next_token {
                Some(token) => format!("{}?pageToken={}", self.path, percent_encode(token)),
                None => self.path.clone(),
            };
            let page: TaskPage = match self.client.v2(Method::GET, &target, None).and_then(|v| EncordClient::decode(v, &self.path)) {
                Ok(p) => p,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            self.next_token = page.next_page_token;
            self.done = self.next_token.is_none();
            self.page = page.results.into_iter();
        }
    }
}

/// Percent-encodes a query value (unreserved characters kept).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_download_does_not_show_the_signed_url_s_query() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let http = Http::new(RetryPolicy { max_retries: 0, ..RetryPolicy::default() }).unwrap();
        let dest = std::env::temp_dir().join("prelabel-never-written.mp4");
        let error = http.download(&format!("http://{closed}/videos/a.mp4?sig=SECRET&exp=1"), &dest, 1).unwrap_err();
        assert_eq!(error.kind, ApiErrorKind::Transport);
        assert!(!error.message.contains("SECRET"), "{error}");
        assert!(error.message.contains("/videos/a.mp4?(query not shown)"), "{error}");
    }
}
