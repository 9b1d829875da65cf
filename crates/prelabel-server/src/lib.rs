//! An Encord-compatible HTTP server over a local project directory, so that Encord's own Python
//! SDK, encord-agents and prelabel's stage worker can run against it unchanged (the wire protocol
//! is `shared/encord/PROTOCOL.md`; §9 there is the checklist this server follows).
//!
//! It serves one workflow project: the legacy RPC endpoints (`POST /public`, `POST /public/user`),
//! the REST v2 endpoints the agent flow uses (`/v2/public/...`: project, ontology, stage tasks with
//! keyset paging, pathway actions, task moves, priorities, storage items) and signed video URLs
//! (`GET /files/<storage item uuid>?sig=…`, no auth headers, byte ranges). Every API request must
//! be signed (legacy or v2 scheme) by a registered Ed25519 key; label rows and task positions are
//! written to the state directory on every change and survive a restart.
//!
//! # `project.json`
//!
//! The project directory holds `project.json` (paths in it are relative to that directory):
//!
//! ```json
//! {
//!   "project": {"hash": "00000000-0000-4000-8000-0000000000a1", "title": "Street footage",
//!               "description": "", "creator_email": "owner@example.com",
//!               "created_at": "2025-01-02T03:04:05.000000+00:00"},
//!   "ontology": {"hash": "00000000-0000-4000-8000-0000000000b1", "title": "People and cars",
//!                "structure": "ontology.json"},
//!   "dataset": {"hash": "00000000-0000-4000-8000-0000000000e1", "title": "Street videos"},
//!   "stages": [
//!     {"uuid": "00000000-0000-4000-8000-0000000000c1", "title": "Pre-Labeling Agent", "type": "AGENT",
//!      "pathways": [
//!        {"uuid": "00000000-0000-4000-8000-0000000000d1", "title": "Annotate 1",
//!         "destination": "00000000-0000-4000-8000-0000000000c2"},
//!        {"uuid": "00000000-0000-4000-8000-0000000000d2", "title": "Failed",
//!         "destination": "00000000-0000-4000-8000-0000000000c3"}]},
//!     {"uuid": "00000000-0000-4000-8000-0000000000c2", "title": "Annotate 1", "type": "ANNOTATION"},
//!     {"uuid": "00000000-0000-4000-8000-0000000000c3", "title": "Review 1", "type": "REVIEW"},
//!     {"uuid": "00000000-0000-4000-8000-0000000000c4", "title": "Complete", "type": "DONE"}
//!   ],
//!   "videos": [
//!     {"file": "videos/bikes.mp4", "data_hash": "00000000-0000-4000-8000-00000000f001",
//!      "task_uuid": "00000000-0000-4000-8000-0000000002a1",
//!      "storage_item_uuid": "00000000-0000-4000-8000-0000000003a1",
//!      "stage": "00000000-0000-4000-8000-0000000000c1",
//!      "title": "bikes.mp4", "mime_type": "video/mp4",
//!      "width": 640, "height": 272, "fps": 25.0, "frame_count": 250,
//!      "initial_label_row": "rows/bikes.label_row.json"}
//!   ],
//!   "users": [{"email": "agent@example.com", "public_key": "ssh-ed25519 AAAAC3Nz… agent"}]
//! }
//! ```
//!
//! - `project`: `hash` and `title` are required; `description` (default empty), `creator_email`
//!   (default empty) and `created_at` (default `2025-01-01T00:00:00.000000+00:00`, used for every
//!   creation and edit time the v2 API reports) are optional.
//! - `ontology.structure`: the ontology structure (PROTOCOL.md §6) inline, or the path of a JSON
//!   file holding it (bare, or under `editor`/`editorOntology` as the API returns it).
//! - `stages`: `type` is one of `AGENT`, `ANNOTATION`, `REVIEW`, `CONSENSUS_ANNOTATION`,
//!   `CONSENSUS_REVIEW`, `DONE`. Router stages are not accepted: SDK 0.1.211 cannot open a
//!   project that lists them (PROTOCOL.md §4 E1). `AGENT` stages need `pathways`, whose
//!   `destination` is a stage uuid; other stages may not have any. Titles are unique.
//! - `videos`: `file`, `data_hash`, `task_uuid`, `storage_item_uuid` and `stage` (the stage the
//!   task starts in) are required. `title` defaults to the file name, `mime_type` to one derived
//!   from the extension. When any of `width`, `height`, `fps`, `frame_count` is missing the file
//!   is probed with FFmpeg (`prelabel-decode`); given values win. `initial_label_row` is a label
//!   row (PROTOCOL.md §5) inline or a path to one, for labels that exist before any client runs
//!   (e.g. a box a person drew); its `data_hash` must be the video's, and its `label_hash` (a new
//!   one is derived when null) becomes the row's id.
//! - `users`: who may call the API, by e-mail and Ed25519 public key (an OpenSSH
//!   `ssh-ed25519 AAAA…` line or 64 hex characters). The e-mail fills null `createdBy` and
//!   `lastEditedBy` values of the labels that user saves.
//!
//! Every id is a lower-case hyphenated UUID, as the SDK parses them.
//!
//! # State directory
//!
//! `--state-dir` (default `<project dir>/.state`) holds what clients change, each file replaced
//! atomically on every change: `tasks.json` (each task's stage and priority), `label_rows/<data
//! hash>.json` (one label row per video) and `url-secret.json` (the random secret that signs file
//! URLs, made on first start so that URLs stay valid across restarts but cannot be forged from
//! anything a client sees). On start, what the state directory holds wins over `project.json`'s
//! initial stages and rows.

mod auth;
mod config;
mod error;
mod faults;
mod files;
mod labels;
mod legacy;
mod project;
mod query;
mod state;
mod v2;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

pub use config::{FaultConfig, ServerConfig};
pub use error::{ProjectError, ServerError, StateError};

use crate::auth::Verifier;
use crate::faults::FaultInjector;
use crate::files::UrlSigner;
use crate::project::Project;
use crate::state::State;

/// Everything a request handler needs, shared by all connections.
pub(crate) struct App {
    /// The project as `project.json` describes it (never changes while serving).
    pub(crate) project: Project,
    /// What clients change, behind one lock so that each request's checks and changes are atomic.
    pub(crate) state: std::sync::Mutex<State>,
    /// Who may call the API.
    pub(crate) verifier: Verifier,
    /// Makes and checks signed file URLs.
    pub(crate) urls: UrlSigner,
    /// Tasks per page of the stage-task listing.
    pub(crate) page_size: usize,
}

impl App {
    /// Runs `f` on the state under its lock, on a blocking thread (it may write files), so that
    /// a request's checks and changes are atomic with respect to every other request.
    pub(crate) async fn with_state<T, F>(self: &Arc<Self>, f: F) -> Result<T, error::ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&App, &mut State) -> Result<T, error::ApiError> + Send + 'static,
    {
        let app = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut state = app.state.lock().map_err(|_| error::ApiError::Internal("the state lock is poisoned".into()))?;
            f(&app, &mut state)
        })
        .await
        .map_err(|e| error::ApiError::Internal(format!("the state task failed ({e})")))?
    }
}

/// Sends `tracing` logs (level from `RUST_LOG`, default `info`) to stderr, coloured only on a
/// terminal. A subscriber installed before is kept.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // The only failure is an already installed subscriber, which then goes on logging.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(colour).with_writer(std::io::stderr).try_init();
}

/// Loads the project and its state, binds `config.bind`, calls `on_listening` with the bound
/// address, and serves until SIGINT or SIGTERM (then returns `Ok`).
pub fn run(config: ServerConfig, on_listening: impl FnOnce(SocketAddr)) -> Result<(), ServerError> {
    let injector = FaultInjector::new(&config.faults)?;
    let project = Project::load(&config.project_dir)?;
    let state_dir = config.state_dir.clone().unwrap_or_else(|| config.project_dir.join(".state"));
    let (state, secret) = State::load(&state_dir, &project)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|cause| ServerError::Io { what: "cannot start the async runtime".into(), cause })?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|cause| ServerError::Io { what: format!("cannot listen on {}", config.bind), cause })?;
        let addr = listener.local_addr().map_err(|cause| ServerError::Io { what: "cannot read the bound address".into(), cause })?;
        let public_url = config.public_url.clone().unwrap_or_else(|| default_public_url(addr));
        let app = Arc::new(App {
            project,
            state: std::sync::Mutex::new(state),
            verifier: Verifier::new(&config),
            urls: UrlSigner::new(public_url, secret),
            page_size: config.page_size,
        });
        let shutdown = shutdown_signal()?;
        on_listening(addr);
        axum::serve(listener, router(app, Arc::new(injector)))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|cause| ServerError::Io { what: "the server stopped".into(), cause })
    })
}

/// All routes: the signed API (with fault injection) and the unsigned file downloads.
fn router(app: Arc<App>, injector: Arc<FaultInjector>) -> Router {
    let api =
        legacy::routes(app.clone()).merge(v2::routes(app.clone())).layer(axum::middleware::from_fn_with_state(injector, faults::inject));
    api.merge(files::routes()).fallback(error::no_such_endpoint).with_state(app)
}

/// `http://<bound address>`, with an unspecified IP (`0.0.0.0`, `::`) replaced by loopback.
fn default_public_url(addr: SocketAddr) -> String {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    format!("http://{addr}")
}

/// Resolves on the first SIGINT or SIGTERM. The handlers are installed before the server
/// announces itself, so a signal sent right after the announcement is never missed.
fn shutdown_signal() -> Result<impl Future<Output = ()>, ServerError> {
    use tokio::signal::unix::{SignalKind, signal};
    let install =
        |kind: SignalKind, name: &str| signal(kind).map_err(|cause| ServerError::Io { what: format!("cannot handle {name}"), cause });
    let mut interrupt = install(SignalKind::interrupt(), "SIGINT")?;
    let mut terminate = install(SignalKind::terminate(), "SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
            _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
        }
    })
}
