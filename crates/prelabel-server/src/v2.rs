//! The REST v2 endpoints of the agent flow (PROTOCOL.md §4 E1–E3, E8–E12): camelCase JSON,
//! errors as an HTTP status with `{"message"}`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use prelabel_encord::{Ontology, uuid_from_seed};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::App;
use crate::auth::{self, Signed};
use crate::error::ApiError;
use crate::project::{StageKind, Video};
use crate::query;
use crate::state::{Action, TASK_STATUS, TaskFilter};

/// The signed v2 routes.
pub(crate) fn routes(app: Arc<App>) -> Router<Arc<App>> {
    let stage = "/v2/public/projects/{project}/workflow/stages/{stage}";
    Router::new()
        .route("/v2/public/projects/{project}", get(project))
        .route("/v2/public/ontologies/{ontology}", get(ontology))
        .route(&format!("{stage}/tasks"), get(tasks))
        .route(&format!("{stage}/actions"), post(actions))
        .route(&format!("{stage}/move-tasks"), post(move_tasks))
        .route("/v2/public/projects/{project}/priorities", post(priorities))
        .route("/v2/public/storage/items/get-bulk", post(storage_items))
        .route("/v2/public/storage/items/{item}", get(storage_item))
        .route_layer(axum::middleware::from_fn_with_state(app, auth::v2))
}

/// An [`ApiError`] answered the v2 way.
struct V2Error(ApiError);

impl From<ApiError> for V2Error {
    fn from(error: ApiError) -> Self {
        Self(error)
    }
}

impl IntoResponse for V2Error {
    fn into_response(self) -> Response {
        self.0.into_v2_response()
    }
}

type Reply = Result<Response, V2Error>;

fn no_content() -> Reply {
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The request body as `T`.
fn body<T: DeserializeOwned>(signed: &Signed) -> Result<T, ApiError> {
    serde_json::from_slice(&signed.body).map_err(|e| ApiError::InvalidArguments(format!("request body: {e}")))
}

fn check_project(app: &App, project: &str) -> Result<(), ApiError> {
    if project == app.project.hash { Ok(()) } else { Err(ApiError::NotFound(format!("no project {project}"))) }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProjectDto<'a> {
    project_hash: &'a str,
    project_type: &'static str,
    status: &'static str,
    title: &'a str,
    description: &'a str,
    created_at: &'a str,
    creator_email: &'a str,
    last_edited_at: &'a str,
    ontology_hash: &'a str,
    editor_ontology: &'a Ontology,
    user_role: u8,
    workflow_manager_uuid: String,
    workflow: WorkflowDto<'a>,
}

#[derive(Serialize)]
struct WorkflowDto<'a> {
    stages: Vec<StageDto<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StageDto<'a> {
    stage_type: StageKind,
    uuid: &'a str,
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pathways: Option<Vec<PathwayDto<'a>>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PathwayDto<'a> {
    uuid: &'a str,
    title: &'a str,
    destination_uuid: &'a str,
}

/// E1: the project with its ontology and workflow stages.
async fn project(State(app): State<Arc<App>>, Path(project): Path<String>) -> Reply {
    check_project(&app, &project)?;
    let p = &app.project;
    let stages = p
        .stages
        .iter()
        .map(|s| StageDto {
            stage_type: s.kind,
            uuid: &s.uuid,
            title: &s.title,
            pathways: (s.kind == StageKind::Agent).then(|| {
                s.pathways.iter().map(|w| PathwayDto { uuid: &w.uuid, title: &w.title, destination_uuid: &w.destination }).collect()
            }),
        })
        .collect();
    Ok(Json(ProjectDto {
        project_hash: &p.hash,
        project_type: "workflow",
        status: "inProgress",
        title: &p.title,
        description: &p.description,
        created_at: &p.created_at,
        creator_email: &p.creator_email,
        last_edited_at: &p.created_at,
        ontology_hash: &p.ontology_hash,
        editor_ontology: &p.ontology,
        user_role: 0,
        workflow_manager_uuid: uuid_from_seed(&format!("workflow:{}", p.hash)),
        workflow: WorkflowDto { stages },
    })
    .into_response())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OntologyDto<'a> {
    ontology_uuid: &'a str,
    title: &'a str,
    description: &'a str,
    editor: &'a Ontology,
    created_at: &'a str,
    last_edited_at: &'a str,
    user_role: u8,
}

/// E2: the project's ontology.
async fn ontology(State(app): State<Arc<App>>, Path(ontology): Path<String>) -> Reply {
    let p = &app.project;
    if ontology != p.ontology_hash {
        return Err(ApiError::NotFound(format!("no ontology {ontology}")).into());
    }
    Ok(Json(OntologyDto {
        ontology_uuid: &p.ontology_hash,
        title: &p.ontology_title,
        description: "",
        editor: &p.ontology,
        created_at: &p.created_at,
        last_edited_at: &p.created_at,
        user_role: 0,
    })
    .into_response())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TaskDto {
    uuid: String,
    created_at: String,
    updated_at: String,
    status: &'static str,
    data_hash: String,
    data_title: String,
    label_branch_name: &'static str,
    assignee: Option<String>,
    last_actioned_by: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TaskPage {
    results: Vec<TaskDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

/// E3: one page of a stage's tasks; `nextPageToken` is the last task uuid returned.
async fn tasks(State(app): State<Arc<App>>, Path((project, stage)): Path<(String, String)>, RawQuery(raw): RawQuery) -> Reply {
    check_project(&app, &project)?;
    if app.project.stage(&stage).is_none() {
        return Err(ApiError::NotFound(format!("no stage {stage}")).into());
    }
    let params = query::params(raw.as_deref());
    let filter = TaskFilter {
        data_hashes: query::all(&params, "dataHashes"),
        dataset_hashes: query::all(&params, "datasetHashes"),
        user_emails: query::all(&params, "userEmails"),
        statuses: query::all(&params, "statuses"),
        title_contains: query::first(&params, "dataTitleContains").map(str::to_owned),
    };
    let after = query::first(&params, "pageToken").map(str::to_owned);
    let page = app
        .with_state(move |app, state| {
            let (videos, next_page_token) = state.task_page(&app.project, &stage, &filter, after.as_deref(), app.page_size);
            let results = videos
                .into_iter()
                .map(|v| TaskDto {
                    uuid: v.task_uuid.clone(),
                    created_at: app.project.created_at.clone(),
                    updated_at: app.project.created_at.clone(),
                    status: TASK_STATUS,
                    data_hash: v.data_hash.clone(),
                    data_title: v.title.clone(),
                    label_branch_name: "main",
                    assignee: None,
                    last_actioned_by: None,
                })
                .collect();
            Ok(TaskPage { results, next_page_token })
        })
        .await?;
    Ok(Json(page).into_response())
}

/// E8: pathway actions; all tasks move or none (`400` when any task is not in the stage).
async fn actions(
    State(app): State<Arc<App>>,
    Path((project, stage)): Path<(String, String)>,
    Extension(signed): Extension<Signed>,
) -> Reply {
    check_project(&app, &project)?;
    let actions: Vec<Action> = body(&signed)?;
    app.with_state(move |app, state| state.proceed(&app.project, &stage, &actions)).await?;
    no_content()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MoveRequest {
    task_uuids: Vec<String>,
    destination_stage_uuid: String,
}

/// E12: moves tasks of the stage to another stage; all or none.
async fn move_tasks(
    State(app): State<Arc<App>>,
    Path((project, stage)): Path<(String, String)>,
    Extension(signed): Extension<Signed>,
) -> Reply {
    check_project(&app, &project)?;
    let request: MoveRequest = body(&signed)?;
    app.with_state(move |app, state| state.move_tasks(&app.project, &stage, &request.task_uuids, &request.destination_stage_uuid)).await?;
    no_content()
}

#[derive(Deserialize)]
struct PrioritiesRequest {
    priorities: Vec<(String, f64)>,
}

/// E11: task priorities by data hash.
async fn priorities(State(app): State<Arc<App>>, Path(project): Path<String>, Extension(signed): Extension<Signed>) -> Reply {
    check_project(&app, &project)?;
    let request: PrioritiesRequest = body(&signed)?;
    app.with_state(move |app, state| state.set_priorities(&app.project, &request.priorities)).await?;
    no_content()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StorageItemDto<'a> {
    uuid: &'a str,
    parent: String,
    item_type: &'static str,
    name: &'a str,
    description: &'static str,
    client_metadata: &'static str,
    owner: &'a str,
    created_at: &'a str,
    last_edited_at: &'a str,
    is_tombstone: bool,
    is_placeholder: bool,
    backed_data_units_count: u32,
    storage_location: &'static str,
    integration_hash: Option<String>,
    url: String,
    signed_url: Option<String>,
    file_size: u64,
    mime_type: &'a str,
    duration: f64,
    fps: f64,
    height: u32,
    width: u32,
    dicom_instance_uid: Option<String>,
    dicom_study_uid: Option<String>,
    dicom_series_uid: Option<String>,
    frame_count: u64,
    audio_sample_rate: Option<u32>,
    audio_bit_depth: Option<u32>,
    audio_codec: Option<String>,
    audio_num_channels: Option<u32>,
}

fn storage_item_dto<'a>(app: &'a App, video: &'a Video, sign: bool) -> StorageItemDto<'a> {
    let p = &app.project;
    StorageItemDto {
        uuid: &video.storage_item_uuid,
        parent: uuid_from_seed(&format!("folder:{}", p.dataset_hash)),
        item_type: "video",
        name: &video.title,
        description: "",
        client_metadata: "{}",
        owner: &p.creator_email,
        created_at: &p.created_at,
        last_edited_at: &p.created_at,
        is_tombstone: false,
        is_placeholder: false,
        backed_data_units_count: 1,
        storage_location: "directAccess",
        integration_hash: None,
        url: video.storage_link(),
        signed_url: sign.then(|| app.urls.signed_url(&video.storage_item_uuid)),
        file_size: video.file_size,
        mime_type: &video.mime_type,
        duration: video.duration_secs(),
        fps: video.fps,
        height: video.height,
        width: video.width,
        dicom_instance_uid: None,
        dicom_study_uid: None,
        dicom_series_uid: None,
        frame_count: video.frame_count,
        audio_sample_rate: None,
        audio_bit_depth: None,
        audio_codec: None,
        audio_num_channels: None,
    }
}

fn video_of_item<'a>(app: &'a App, uuid: &str) -> Result<&'a Video, ApiError> {
    app.project.video_by_storage_item(uuid).ok_or_else(|| ApiError::NotFound(format!("no storage item {uuid}")))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkRequest {
    item_uuids: Vec<String>,
    #[serde(default)]
    sign_urls: bool,
}

/// E9: storage items in request order.
async fn storage_items(State(app): State<Arc<App>>, Extension(signed): Extension<Signed>) -> Reply {
    let request: BulkRequest = body(&signed)?;
    let results = request
        .item_uuids
        .iter()
        .map(|uuid| video_of_item(&app, uuid).map(|video| storage_item_dto(&app, video, request.sign_urls)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(serde_json::json!({ "results": results })).into_response())
}

/// E10: one storage item, `?signUrl=True` for a signed URL.
async fn storage_item(State(app): State<Arc<App>>, Path(item): Path<String>, RawQuery(raw): RawQuery) -> Reply {
    let params = query::params(raw.as_deref());
    let sign = match query::first(&params, "signUrl") {
        None => false,
        Some(text) => query::boolean(text).ok_or_else(|| ApiError::InvalidArguments(format!("signUrl={text} is not True or False")))?,
    };
    let video = video_of_item(&app, &item)?;
    Ok(Json(storage_item_dto(&app, video, sign)).into_response())
}
