//! The analytics-ingest function: POST /api/events.
//!
//! Widgets send batches (navigator.sendBeacon sends text/plain); the answer is 202 at once with what was kept:
//! every event is checked on its own (codes in `codecapsule_core::analytics::codes`), the valid ones are stored in one round
//! trip, a retried batch is a no-op (event ids), and the raw visitor id never reaches the table (hashed in SQL with the
//! day's salt). Behind the guard: ingestion's bucket per client address (anonymous widgets) or per organization, and
//! its kill switch.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Router};
use codecapsule_core::access::{Audience, Deployment, Feature};
use codecapsule_core::analytics::{self, AnalyticsConfig, BatchError, IngestReport};
use codecapsule_core::config::ConfigError;
use codecapsule_core::judge::Judges;
use codecapsule_core::model::ErrorCode;
use codecapsule_state::Store;
use codecapsule_state::guard::Stateful;
use codecapsule_web::guard::guarded;
use codecapsule_web::host;
use codecapsule_web::{AcceptTextPlain, BodyLimit, JsonBody, Problem};

/// The function as its binary and the local dev host see it.
pub const FUNCTION: host::Function<Stateful> = host::Function {
    name: "analytics-ingest",
    routes: &["POST /api/events"],
    judges: || Ok(Vec::new()),
    router,
    scheduled: None,
    response_streaming: false,
};

/// POST /api/events behind ingestion's guard; 512 KiB bodies, JSON or text/plain.
fn router(_judges: Judges, deployment: &Stateful) -> Result<Router, ConfigError> {
    let config = AnalyticsConfig::from_env()?;
    let state = IngestState { store: deployment.store.clone(), config };
    let routes = Router::new().route("/api/events", post(ingest)).with_state(state);
    Ok(guarded(routes, deployment.guard(), Feature::Ingest, Audience::Anyone)
        .layer(Extension(BodyLimit(analytics::MAX_BATCH_BYTES)))
        .layer(Extension(AcceptTextPlain)))
}

/// What POST /api/events's handler is given.
#[derive(Clone)]
struct IngestState {
    /// None: the deployment has no state, and every batch is refused with 503.
    store: Option<Store>,
    config: AnalyticsConfig,
}

async fn ingest(
    State(IngestState { store, config }): State<IngestState>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, axum::Json<IngestReport>), Problem> {
    let store = store.ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::StateUnavailable,
            "events cannot be stored: this deployment has no state (set DATABASE_URL or SUPABASE_URL)",
        )
    })?;
    let checked = analytics::check_batch(&body, chrono::Utc::now(), &config).map_err(batch_problem)?;
    let (valid, rejected) = analytics::partition(checked);
    let counts = if valid.is_empty() {
        codecapsule_state::IngestCounts { accepted: 0, duplicates: 0 }
    } else {
        store.ingest_events(&valid).await.map_err(|err| {
            tracing::error!(error = %err, events = valid.len(), "storing events failed");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::StateUnavailable,
                format!("events could not be stored ({err}); retry the batch: retries are safe"),
            )
        })?
    };
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(IngestReport { accepted: counts.accepted, duplicates: counts.duplicates, rejected }),
    ))
}

fn batch_problem(err: BatchError) -> Problem {
    let (status, code, field) = err.answer();
    let problem = Problem::new(status, code, err.to_string());
    match field {
        Some(field) => problem.with_field(field),
        None => problem,
    }
}
