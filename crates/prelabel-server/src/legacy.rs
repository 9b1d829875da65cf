//! The legacy RPC API (PROTOCOL.md §3.1, §4 E4–E7): `POST /public` with
//! `{query_type, query_method, values: {uid, payload}}`, the project named by `ResourceID`,
//! answered with the `{status, response, payload}` envelope.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use prelabel_encord::LabelRow;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::App;
use crate::auth::{self, Signed};
use crate::error::ApiError;
use crate::labels;
use crate::project::Video;
use crate::state::State as ProjectState;

/// The signed legacy routes.
pub(crate) fn routes(app: Arc<App>) -> Router<Arc<App>> {
    Router::new()
        .route("/public", post(handle))
        .route("/public/user", post(handle))
        .route_layer(axum::middleware::from_fn_with_state(app, auth::legacy))
}

#[derive(Deserialize)]
struct Query {
    query_type: String,
    query_method: String,
    values: Values,
}

#[derive(Deserialize)]
struct Values {
    #[serde(default)]
    uid: Value,
    #[serde(default)]
    payload: Value,
}

/// `labelrowmetadata` GET filters. The ones this server cannot apply are refused when set, so
/// that a client never receives rows it did not ask for.
#[derive(Deserialize, Default)]
struct MetadataQuery {
    data_hashes: Option<Vec<String>>,
    label_hashes: Option<Vec<String>>,
    data_title_eq: Option<String>,
    workflow_graph_node_title_eq: Option<String>,
    label_statuses: Option<Vec<String>>,
    include_uninitialised_labels: Option<bool>,
    branch_name: Option<String>,
    edited_before: Option<Value>,
    edited_after: Option<Value>,
    data_title_like: Option<Value>,
    workflow_graph_node_title_like: Option<Value>,
    shadow_data_state: Option<Value>,
}

#[derive(Deserialize, Default)]
struct RowQuery {
    #[serde(default)]
    get_signed_url: bool,
    branch_name: Option<String>,
}

#[derive(Deserialize, Default)]
struct SaveQuery {
    labels: Vec<Value>,
}

/// One video's label-row metadata (PROTOCOL.md §4 E4).
#[derive(Serialize)]
struct Metadata {
    label_hash: Option<String>,
    branch_name: &'static str,
    created_at: Option<String>,
    last_edited_at: Option<String>,
    data_hash: String,
    dataset_hash: String,
    dataset_title: String,
    data_title: String,
    data_type: &'static str,
    data_link: String,
    label_status: &'static str,
    annotation_task_status: &'static str,
    workflow_graph_node: GraphNode,
    is_shadow_data: bool,
    number_of_frames: u64,
    duration: f64,
    frames_per_second: f64,
    width: u32,
    height: u32,
    spaces: Value,
    task_uuid: String,
    priority: f64,
    file_type: String,
    is_valid: bool,
    backing_item_uuid: String,
    assigned_user_email: Option<String>,
    last_actioned_by_user_email: Option<String>,
}

#[derive(Serialize)]
struct GraphNode {
    uuid: String,
    title: String,
}

async fn handle(State(app): State<Arc<App>>, uri: Uri, headers: HeaderMap, Extension(signed): Extension<Signed>) -> Response {
    match dispatch(&app, uri.path() == "/public/user", &headers, signed).await {
        Ok(response) => Json(json!({ "status": 200, "response": response })).into_response(),
        Err(error) => error.into_legacy_response(),
    }
}

async fn dispatch(app: &Arc<App>, user_scope: bool, headers: &HeaderMap, signed: Signed) -> Result<Value, ApiError> {
    let query: Query = serde_json::from_slice(&signed.body).map_err(|e| ApiError::InvalidArguments(format!("not a legacy query: {e}")))?;
    let name = format!("{}/{}", query.query_type, query.query_method);
    tracing::debug!("legacy query {name} by {}", signed.email);
    if user_scope {
        return Err(ApiError::InvalidArguments(format!("user-scope query {name} is not supported by this server")));
    }
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if header("resourcetype") != "project" || header("resourceid") != app.project.hash {
        return Err(ApiError::NotFound(format!("no project {:?} (ResourceType {:?})", header("resourceid"), header("resourcetype"))));
    }
    let Values { uid, payload } = query.values;
    match name.as_str() {
        "labelrowmetadata/GET" => {
            let filter: MetadataQuery = parse_payload(payload)?;
            app.with_state(move |app, state| metadata(app, state, &filter)).await
        }
        "labelrow/GET" => {
            let label_hashes = uid_list(uid)?;
            let signed_urls = parse_payload::<RowQuery>(payload)?.get_signed_url;
            app.with_state(move |app, state| {
                let rows = label_hashes
                    .iter()
                    .map(|h| state.row_by_label_hash(h).cloned().ok_or_else(|| ApiError::NotFound(format!("no label row {h}"))))
                    .collect::<Result<Vec<_>, _>>()?;
                rows_for_client(app, state, rows, signed_urls)
            })
            .await
        }
        "labelrow/PUT" => {
            let data_hashes = uid_list(uid)?;
            let query: RowQuery = parse_payload(payload)?;
            if query.branch_name.as_ref().is_some_and(|b| b != "main") {
                return Err(ApiError::InvalidArguments("only the main label branch is supported".into()));
            }
            app.with_state(move |app, state| {
                let rows = state.create_rows(&app.project, &data_hashes)?;
                rows_for_client(app, state, rows, query.get_signed_url)
            })
            .await
        }
        "labelrow/POST" => {
            let label_hashes = uid_list(uid)?;
            let labels = parse_payload::<SaveQuery>(payload)?
                .labels
                .into_iter()
                .enumerate()
                .map(|(i, row)| {
                    serde_json::from_value::<LabelRow>(row).map_err(|e| ApiError::InvalidArguments(format!("labels[{i}]: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            app.with_state(move |app, state| state.save_rows(&app.project, &label_hashes, labels, &signed.email)).await?;
            Ok(Value::Bool(true))
        }
        _ => Err(ApiError::InvalidArguments(format!("unknown query {name}"))),
    }
}

/// The payload as `T`; null means all defaults.
fn parse_payload<T: DeserializeOwned + Default>(payload: Value) -> Result<T, ApiError> {
    if payload.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(payload).map_err(|e| ApiError::InvalidArguments(format!("payload: {e}")))
}

/// `uid` as a list: one string or a list of strings.
fn uid_list(uid: Value) -> Result<Vec<String>, ApiError> {
    match uid {
        Value::String(one) => Ok(vec![one]),
        list => serde_json::from_value(list).map_err(|_| ApiError::InvalidArguments("uid is not a string or a list of strings".into())),
    }
}

/// Rows as sent: with the task status, and the signed URL or the storage link as data link.
fn rows_for_client(app: &App, state: &ProjectState, rows: Vec<LabelRow>, signed_urls: bool) -> Result<Value, ApiError> {
    let rows = rows
        .iter()
        .map(|row| {
            let video = app
                .project
                .video_by_data_hash(&row.data_hash)
                .ok_or_else(|| ApiError::Internal(format!("row of unknown data {}", row.data_hash)))?;
            let (stage, _) = state.position(&app.project, video)?;
            Ok(labels::row_for_client(row, stage.kind, data_link(app, video, signed_urls)))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    serde_json::to_value(rows).map_err(|e| ApiError::Internal(e.to_string()))
}

fn data_link(app: &App, video: &Video, signed: bool) -> String {
    if signed { app.urls.signed_url(&video.storage_item_uuid) } else { video.storage_link() }
}

/// `labelrowmetadata` GET: one entry per matching video, rows not yet created included (with a
/// null label hash) unless `include_uninitialised_labels` is false.
fn metadata(app: &App, state: &ProjectState, filter: &MetadataQuery) -> Result<Value, ApiError> {
    let unsupported = [
        ("edited_before", &filter.edited_before),
        ("edited_after", &filter.edited_after),
        ("data_title_like", &filter.data_title_like),
        ("workflow_graph_node_title_like", &filter.workflow_graph_node_title_like),
        ("shadow_data_state", &filter.shadow_data_state),
    ];
    if let Some((name, _)) = unsupported.iter().find(|(_, v)| v.as_ref().is_some_and(|v| !v.is_null())) {
        return Err(ApiError::InvalidArguments(format!("the {name} filter is not supported by this server")));
    }
    if filter.branch_name.as_ref().is_some_and(|b| b != "main") {
        return Err(ApiError::InvalidArguments("only the main label branch is supported".into()));
    }
    let project = &app.project;
    let mut entries = Vec::new();
    for video in project.videos.values() {
        let row = state.row(&video.data_hash);
        let (stage, priority) = state.position(project, video)?;
        let label_hash = row.and_then(|r| r.label_hash.clone());
        let label_status = if row.is_some() { "LABEL_IN_PROGRESS" } else { "NOT_LABELLED" };
        let wanted = filter.data_hashes.as_ref().is_none_or(|d| d.contains(&video.data_hash))
            && filter.label_hashes.as_ref().is_none_or(|l| label_hash.as_ref().is_some_and(|h| l.contains(h)))
            && filter.data_title_eq.as_ref().is_none_or(|t| *t == video.title)
            && filter.workflow_graph_node_title_eq.as_ref().is_none_or(|t| *t == stage.title)
            && filter.label_statuses.as_ref().is_none_or(|s| s.iter().any(|s| s == label_status))
            && (row.is_some() || filter.include_uninitialised_labels.unwrap_or(true));
        if !wanted {
            continue;
        }
        entries.push(Metadata {
            label_hash,
            branch_name: "main",
            created_at: row.and_then(|r| r.created_at.clone()),
            last_edited_at: row.and_then(|r| r.last_edited_at.clone()),
            data_hash: video.data_hash.clone(),
            dataset_hash: project.dataset_hash.clone(),
            dataset_title: project.dataset_title.clone(),
            data_title: video.title.clone(),
            data_type: "VIDEO",
            data_link: video.storage_link(),
            label_status,
            annotation_task_status: labels::annotation_task_status(stage.kind),
            workflow_graph_node: GraphNode { uuid: stage.uuid.clone(), title: stage.title.clone() },
            is_shadow_data: false,
            number_of_frames: video.frame_count,
            duration: video.duration_secs(),
            frames_per_second: video.fps,
            width: video.width,
            height: video.height,
            spaces: json!({}),
            task_uuid: video.task_uuid.clone(),
            priority,
            file_type: video.mime_type.clone(),
            is_valid: true,
            backing_item_uuid: video.storage_item_uuid.clone(),
            assigned_user_email: None,
            last_actioned_by_user_email: None,
        });
    }
    serde_json::to_value(entries).map_err(|e| ApiError::Internal(e.to_string()))
}
