//! The browser apps `make run` serves beside the functions, as Cloudflare Pages and R2 serve them in production:
//! the embed widget (`/embed.js`, and `/embed-runner.js`, the Web Worker that runs programs in the reader's browser),
//! the demo page (`/demo/`, embedding the example capsule published at start-up), the dashboard (`/dashboard/`), all
//! built by `make apps` into apps/dist; and the WebAssembly runtime packs (`/objects/runtimes/`, R2's public bucket in
//! production), which the widget fetches on a reader's first Run.
//!
//! These are public files: they are served to any origin (CORS `*`, no credentials), as a page of another site that
//! embeds the widget fetches the runner and the packs from here.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use codecapsule_core::model::ErrorCode;
use codecapsule_web::Problem;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tower_http::cors::CorsLayer;
use tower_http::services::{ServeDir, ServeFile};

/// APPS_DIR: where `make apps` writes the built apps.
pub const DEFAULT_APPS_DIR: &str = "apps/dist";
/// The token of apps/demo/index.html the example capsule's id replaces.
const CAPSULE_ID_TOKEN: &str = "{{CAPSULE_ID}}";

/// The example capsule the demo page embeds, once published (start-up publishes it after the server listens).
pub type DemoCapsule = Arc<OnceLock<String>>;

#[derive(Clone)]
struct Demo {
    page: PathBuf,
    capsule: DemoCapsule,
}

/// Whether the apps were built into `dir` (the dev host still serves the functions without them).
pub fn built(dir: &Path) -> bool {
    dir.join("embed.js").is_file()
}

/// The routes of the apps in `dir` and of the runtime packs in `packs`, when they are in a directory.
pub fn router(dir: &Path, packs: Option<&Path>, capsule: DemoCapsule) -> Router {
    let demo = Demo { page: dir.join("demo").join("index.html"), capsule };
    let apps = Router::new()
        .route_service("/embed.js", ServeFile::new(dir.join("embed.js")))
        .route_service("/embed-runner.js", ServeFile::new(dir.join("embed-runner.js")))
        .route("/demo", get(|| async { axum::response::Redirect::permanent("/demo/") }))
        .route("/demo/", get(demo_page).with_state(demo))
        .nest_service("/dashboard", ServeDir::new(dir.join("dashboard")).append_index_html_on_directories(true));
    let apps = match packs {
        Some(packs) => apps.nest_service("/objects/runtimes", ServeDir::new(packs)),
        None => apps,
    };
    apps.layer(CorsLayer::new().allow_origin(tower_http::cors::Any))
}

/// GET /demo/: the demo page with the published example capsule's id in its embed tag.
async fn demo_page(State(demo): State<Demo>) -> Response {
    let Some(capsule) = demo.capsule.get() else {
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::StateUnavailable,
            "the example capsule is not published yet (it is, a few seconds after start-up, when the dev host has \
             state): reload in a moment",
        )
        .into_response();
    };
    match tokio::fs::read_to_string(&demo.page).await {
        Ok(page) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))],
            page.replace(CAPSULE_ID_TOKEN, capsule),
        )
            .into_response(),
        Err(err) => Problem::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("no demo page at {} ({err}): build the apps with `make apps`", demo.page.display()),
        )
        .into_response(),
    }
}
