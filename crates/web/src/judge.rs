//! POST /api/judge, the same for every function that judges: parse, check, pick the judge for the language, await
//! its judging, answer the report or a problem.

use super::deadline::RequestDeadline;
use super::guard::guarded;
use super::{BodyLimit, Json, Problem};
use axum::routing::post;
use axum::{Extension, Router};
use codecapsule_core::access::{Audience, Feature, Guard};
use codecapsule_core::judge::{Judges, limits};
use codecapsule_core::model::{JudgeReport, JudgeRequest};

/// POST /api/judge over `judges`, behind the guard (judging's bucket and kill switch).
pub fn routes(judges: Judges, guard: &Guard) -> Router {
    let routes = Router::new().route("/api/judge", post(judge));
    guarded(routes, guard, Feature::Judging, Audience::Identified)
        .layer(Extension(BodyLimit(limits::JUDGE_BODY_BYTES)))
        .layer(Extension(judges))
}

async fn judge(
    Extension(judges): Extension<Judges>,
    RequestDeadline(deadline): RequestDeadline,
    Json(request): Json<JudgeRequest>,
) -> Result<axum::Json<JudgeReport>, Problem> {
    let report = judges.prepare(request)?.judge(deadline).await?;
    Ok(axum::Json(report))
}
