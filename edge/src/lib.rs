//! CodeCapsule's edge Worker: POST /api/events at Cloudflare's edge, on the plan's path for when widget traffic
//! outgrows one database: widget → this Worker → Azure Event Hubs → the analytics processor → the hourly stats.
//!
//! The Worker answers what analytics-ingest answers (the same contract, limits, per-event codes, CORS and rate-limit
//! headers), checking events with the core crate's code, and answers 202 only after Event Hubs has taken the batch
//! (201), so that nothing it accepted can be lost. Anonymous widgets are limited per client address (CF-Connecting-IP,
//! which Cloudflare sets and a client cannot) by one Durable Object per address running GCRA, so the allowance is exact
//! whatever the concurrency.
//!
//! Files by job: `config` (the Worker's bindings), `answer` (problem+json, CORS), `limiter` (the Durable Object),
//! `stream` (the send to Event Hubs), `ingest` (the route), `budget` (one time budget per request).

mod answer;
mod budget;
mod config;
mod ingest;
mod limiter;
mod stream;

pub use limiter::EdgeBucket;

use answer::{Answer, cors_preflight, problem};
use codecapsule_core::model::ErrorCode;
use worker::{Context, Env, Method, Request, Response, event};

/// Every request to the Worker.
#[event(fetch)]
async fn fetch(request: Request, env: Env, _context: Context) -> worker::Result<Response> {
    let config = match config::EdgeConfig::from_env(&env) {
        Ok(config) => config,
        Err(err) => return problem(503, ErrorCode::StateUnavailable, &err.to_string(), None).into_response(None),
    };
    let origin = request.headers().get("origin").ok().flatten();
    let allowed_origin = origin.filter(|origin| config.http.allows_origin(origin));
    let answer = match (request.method(), request.path().as_str()) {
        (Method::Post, "/api/events") => ingest::ingest(request, &env, &config).await,
        (Method::Options, "/api/events" | "/api/health") => cors_preflight(),
        (Method::Get, "/api/health") => answer::health(&config),
        (method, path @ ("/api/events" | "/api/health")) => {
            problem(405, ErrorCode::MethodNotAllowed, &format!("{method} is not allowed on {path}"), None)
        }
        (_, path) => problem(404, ErrorCode::NotFound, &format!("no route for {path}; see GET /api/health"), None),
    };
    Answer::into_response(answer, allowed_origin.as_deref())
}
