//! The validate function: judges WebAssembly in-process (POST /api/judge) and validates capsules (POST /api/validate).
//!
//! Handlers are thin: parse with the shared JSON extractor, run the blocking work on a blocking thread, answer JSON or
//! problem+json. Judging lives in `codecapsule::judge` and `codecapsule::wasm`, validation in `codecapsule::validation`.

use axum::routing::post;
use axum::{Extension, Router};
use codecapsule::config::ConfigError;
use codecapsule::guard::{Feature, Guard};
use codecapsule::http::guard::guarded;
use codecapsule::http::judge::blocking;
use codecapsule::http::{BodyLimit, Json, Problem};
use codecapsule::judge::{Judge, Judges, limits};
use codecapsule::model::{ValidateReport, ValidateRequest};
use codecapsule::wasm::WasmJudge;
use codecapsule::{host, validation};
use std::sync::Arc;

/// The function as its binary and the local dev host see it.
pub const FUNCTION: host::Function = host::Function {
    name: "validate",
    routes: &["POST /api/judge", "POST /api/validate"],
    judges,
    router,
    scheduled: None,
};

/// WebAssembly in-process; python, java and csharp forwarded to their judge functions where their URLs are set.
fn judges() -> Result<Vec<Arc<dyn Judge>>, ConfigError> {
    let mut judges: Vec<Arc<dyn Judge>> = vec![Arc::new(WasmJudge)];
    for remote in codecapsule::remote::from_env()? {
        judges.push(Arc::new(remote));
    }
    Ok(judges)
}

/// POST /api/validate, validating with every judge of the deployment, with the body limit of WebAssembly uploads;
/// behind the guard (judging's bucket and kill switch).
pub fn router(judges: Judges, guard: &Guard) -> Result<Router, ConfigError> {
    Ok(guarded(Router::new().route("/api/validate", post(validate_capsule)), guard, Feature::Judging)
        .layer(Extension(BodyLimit(limits::JUDGE_BODY_BYTES)))
        .layer(Extension(judges)))
}

async fn validate_capsule(
    Extension(judges): Extension<Judges>,
    Json(request): Json<ValidateRequest>,
) -> Result<axum::Json<ValidateReport>, Problem> {
    let report = blocking(move || validation::validate(request.capsule, &judges)).await??;
    Ok(axum::Json(report))
}
