//! The HTTP edge every function shares.
//!
//! - this file: the conventions applied once by [`service`]: request ids and access logs, CORS for the widget
//!   origins, each request's deadline, panics and unknown routes as problem+json, and GET /api/health. Routes themselves come from each
//!   function as a plain axum `Router`;
//! - [`Problem`] (problem.rs) and the strict JSON extractors (json.rs; objects_only.rs: structs are JSON objects);
//! - [`client`]: the client's address as the platform vouches for it;
//! - [`deadline`]: the request's one time budget, started as it arrives;
//! - [`guard`]: the guard's answers at the edge (who is calling, 401/403/429/503, the RateLimit headers);
//! - [`judge`]: POST /api/judge, the same for every function that judges;
//! - [`openapi`]: GET /api/openapi.json, the document of the routes served;
//! - [`host`]: the adapters that run a function's router on AWS Lambda, as an Azure custom handler, or locally;
//! - [`server`]: the HTTP/1.1 server of the local and Azure hosts, with its connection timeouts.

#![warn(missing_docs)]

pub mod client;
pub mod deadline;
pub mod guard;
pub mod host;
mod json;
pub mod judge;
mod objects_only;
pub mod openapi;
mod problem;
pub mod server;
pub mod transport;

pub use json::{AcceptTextPlain, BODY_READ_TIMEOUT, BodyLimit, Json, JsonBody, parse};
pub use problem::{PROBLEM_JSON, Problem};

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use codecapsule_core::access::Guard;
use codecapsule_core::config::HttpConfig;
use codecapsule_core::judge::Judges;
use codecapsule_core::model::ErrorCode;
use host::Host;
use http::{HeaderName, HeaderValue, Method, header};
use serde::Serialize;
use std::time::Instant;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::Instrument;

/// `X-Request-Id`: taken from the request when it has one, else made, and echoed on the answer.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The header the Azure Functions host puts on every request it proxies to a custom handler.
pub const AZURE_INVOCATION_ID: HeaderName = HeaderName::from_static("x-azure-functions-invocationid");

/// What GET /api/health says about the function(s) behind a router.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// `ok`, or `degraded` (answered with 503) while something it needs does not answer: see `problems`.
    pub status: &'static str,
    /// What does not work now, checked on each request (at most once a [`HEALTH_CHECK_EVERY`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// The functions served: one in production, all of them in the local dev host.
    pub functions: Vec<String>,
    /// The functions' version (the workspace's).
    pub version: &'static str,
    /// Which host adapter is running: aws-lambda, azure-functions or local.
    pub host: &'static str,
    /// Each judge's description ([`codecapsule_core::judge::Judge::describe`]): engine, version, sandbox layers…
    pub engines: Vec<serde_json::Value>,
    /// Routes served, so a client can discover what this deployment does.
    pub routes: Vec<String>,
    /// The guard of the public routes: rate limits on or off (and why), the state transport, token methods.
    pub guard: serde_json::Value,
}

/// How often GET /api/health asks the state whether it answers; answers in between reuse the last check.
pub const HEALTH_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Wraps a function's routes with the shared conventions and GET /api/health. The health answer's description is
/// built on its first request (describing a judge may probe a runtime's version: never at start-up); whether the
/// guard's state answers is checked as it is asked ([`Guard::check`]). `host` says which platform's request ids to trust.
pub fn service(
    routes: Router,
    health: impl Fn() -> Health + Send + Sync + 'static,
    guard: Guard,
    host: Host,
    config: &HttpConfig,
) -> Router {
    let on_azure = matches!(host, Host::Azure { .. });
    let described = std::sync::Arc::new((std::sync::OnceLock::new(), health));
    let checked = std::sync::Arc::new(tokio::sync::Mutex::new(None::<(Instant, Result<(), String>)>));
    routes
        .route(
            "/api/health",
            get(move || async move {
                let (cached, build) = &*described;
                let mut answer = cached.get_or_init(build).clone();
                let state = {
                    let mut last = checked.lock().await;
                    match &*last {
                        Some((at, state)) if at.elapsed() < HEALTH_CHECK_EVERY => state.clone(),
                        _ => {
                            let state = guard.check().await;
                            *last = Some((Instant::now(), state.clone()));
                            state
                        }
                    }
                };
                if let Err(problem) = state {
                    answer.status = "degraded";
                    answer.problems.push(problem);
                    return (http::StatusCode::SERVICE_UNAVAILABLE, axum::Json(answer));
                }
                (http::StatusCode::OK, axum::Json(answer))
            }),
        )
        .method_not_allowed_fallback(|request: Request| async move {
            Problem::new(
                http::StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::MethodNotAllowed,
                format!("{} is not allowed on {}", request.method(), request.uri().path()),
            )
        })
        // CORS on the routes only: a preflight of a path that is no route is a 404, like any other method there.
        .route_layer(cors(config))
        .fallback(|request: Request| async move { Problem::not_found(request.uri().path()) })
        .layer(CatchPanicLayer::custom(|_panic| {
            tracing::error!("a handler panicked");
            Problem::internal("the server failed while handling this request; it has been logged").into_response()
        }))
        .layer(axum::middleware::from_fn(deadline::start))
        .layer(axum::middleware::from_fn(move |request: Request, next: Next| request_context(request, next, on_azure)))
}

/// The descriptions of `judges` for the health answer.
pub fn describe(judges: &Judges) -> Vec<serde_json::Value> {
    judges.engines().map(|judge| judge.describe()).collect()
}

fn cors(config: &HttpConfig) -> CorsLayer {
    let origins = if config.cors_any_origin {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(config.cors_origins.iter().cloned())
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, REQUEST_ID, guard::ORGANIZATION_ID])
        .expose_headers([REQUEST_ID, header::RETRY_AFTER, guard::RATELIMIT, guard::RATELIMIT_POLICY])
        .max_age(std::time::Duration::from_secs(600))
}

/// Gives each request an id (Lambda's request id, on Azure the Functions host's invocation id, the client's
/// x-request-id, or a new UUID), runs it inside a span carrying that id so every log line names it, logs one access
/// line, and returns the id in the x-request-id response header.
async fn request_context(request: Request, next: Next, on_azure: bool) -> Response {
    let request_id = request_id_of(&request, on_azure);
    let span = tracing::info_span!("request", request_id = %request_id, method = %request.method(), path = %request.uri().path());
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "request done"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

fn request_id_of(request: &Request, on_azure: bool) -> String {
    if let Some(context) = request.extensions().get::<lambda_runtime::Context>() {
        return context.request_id.clone();
    }
    let header = |name: &HeaderName| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            // A client-chosen id goes into logs and headers: keep it short and printable.
            .filter(|value| !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic()))
            .map(str::to_string)
    };
    // Off Azure the invocation header is only what a client wrote: no more than its own x-request-id.
    let invocation = if on_azure { header(&AZURE_INVOCATION_ID) } else { None };
    invocation.or_else(|| header(&REQUEST_ID)).unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}
