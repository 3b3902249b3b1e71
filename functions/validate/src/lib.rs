//! The validate function: judges WebAssembly in-process (POST /api/judge) and validates capsules (POST /api/validate).
//!
//! Handlers are thin: parse with the shared JSON extractor, check the submission, run the blocking judge on a blocking
//! thread, answer JSON or problem+json. The judging itself lives in `codecapsule::judge` and `codecapsule::wasm`.

use axum::routing::post;
use axum::{Extension, Router};
use codecapsule::http::{BodyLimit, Json, Problem};
use codecapsule::judge::{Judge, Submission, limits};
use codecapsule::model::{JudgeReport, JudgeRequest, Language, ValidateReport, ValidateRequest};
use codecapsule::wasm::WasmJudge;
use codecapsule::{host, validation};
use std::sync::Arc;

/// The function as its binary and the local dev host see it.
pub const FUNCTION: host::Function = host::Function {
    name: "validate",
    routes: &["POST /api/judge", "POST /api/validate"],
    router,
    engines: || vec![WasmJudge.engine()],
};

/// POST /api/judge and POST /api/validate, with the body limit of WebAssembly uploads.
pub fn router() -> Router {
    let judge: Arc<dyn Judge> = Arc::new(WasmJudge);
    Router::new()
        .route("/api/judge", post(judge_submission))
        .route("/api/validate", post(validate_capsule))
        .layer(Extension(BodyLimit(limits::JUDGE_BODY_BYTES)))
        .layer(Extension(judge))
}

async fn judge_submission(
    Extension(judge): Extension<Arc<dyn Judge>>,
    Json(request): Json<JudgeRequest>,
) -> Result<axum::Json<JudgeReport>, Problem> {
    let submission = Submission::check(request, |language| judge.judges(language), unavailable_hint)?;
    let report = blocking(move || judge.judge(&submission)).await??;
    Ok(axum::Json(report))
}

async fn validate_capsule(
    Extension(judge): Extension<Arc<dyn Judge>>,
    Json(request): Json<ValidateRequest>,
) -> Result<axum::Json<ValidateReport>, Problem> {
    let report = blocking(move || validation::validate(request.capsule, judge.as_ref())).await??;
    Ok(axum::Json(report))
}

/// Judging is CPU-bound and blocking: it runs off the async workers so that other requests keep being served.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, Problem> {
    tokio::task::spawn_blocking(work).await.map_err(|err| {
        tracing::error!(error = %err, "the judge thread failed");
        Problem::internal("the judge failed while running this submission; it has been logged")
    })
}

fn unavailable_hint(language: Language) -> String {
    format!(
        "{language} is judged by the {language} judge, which is not available here yet; this function judges wasm and wat"
    )
}
