//! POST /api/judge, the same for every function that judges: parse, check, pick the judge for the language, judge on
//! a blocking thread, answer the report or a problem.

use super::guard::guarded;
use super::{BodyLimit, Json, Problem};
use axum::routing::post;
use axum::{Extension, Router};
use codecapsule_core::access::{Feature, Guard};
use codecapsule_core::judge::{Judges, limits};
use codecapsule_core::model::{JudgeReport, JudgeRequest};

pub fn routes(judges: Judges, guard: &Guard) -> Router {
    let routes = Router::new().route("/api/judge", post(judge));
    guarded(routes, guard, Feature::Judging)
        .layer(Extension(BodyLimit(limits::JUDGE_BODY_BYTES)))
        .layer(Extension(judges))
}

async fn judge(
    Extension(judges): Extension<Judges>,
    Json(request): Json<JudgeRequest>,
) -> Result<axum::Json<JudgeReport>, Problem> {
    let (submission, judge) = judges.prepare(request)?;
    let report = blocking(move || judge.judge(&submission)).await??;
    Ok(axum::Json(report))
}

/// Runs CPU-bound, blocking work (judging) off the async workers so that other requests keep being served.
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, Problem> {
    tokio::task::spawn_blocking(work).await.map_err(|err| {
        tracing::error!(error = %err, "a judging thread failed");
        Problem::internal("the judge failed while running this submission; it has been logged")
    })
}
