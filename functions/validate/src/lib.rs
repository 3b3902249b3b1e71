//! The validate function: judges WebAssembly in-process (POST /api/judge), validates capsules (POST /api/validate),
//! runs programs once on the caller's input (POST /api/run), and serves stored capsules to their readers: the
//! reader's view, submissions judged against the stored tests, runs in a capsule's language ([`capsules`]); and
//! to an organization, its capsules and their hourly stats ([`organization`]).
//!
//! Handlers are thin: parse with the shared JSON extractor, await the judges (each engine runs its programs where it
//! must), answer JSON or problem+json. Judging lives in `codecapsule_core::judge` and `codecapsule_wasm`, validation
//! in `codecapsule_core::validation` (healing in `codecapsule_ai::healing`), what readers see in
//! `codecapsule_core::reader`.

pub mod capsules;
pub mod organization;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Router};
use codecapsule_ai::healing::Healing;
use codecapsule_ai::llm::LlmClient;
use codecapsule_core::access::{Admission, Audience, Deployment, Feature, Guard};
use codecapsule_core::config::ConfigError;
use codecapsule_core::judge::{Judges, limits};
use codecapsule_core::model::{Capsule, ErrorCode, ValidateReport, ValidateRequest};
use codecapsule_core::reader::{RunReport, RunRequest};
use codecapsule_state::Store;
use codecapsule_state::guard::Stateful;
use codecapsule_web::deadline::RequestDeadline;
use codecapsule_web::guard::guarded;
use codecapsule_web::host;
use codecapsule_web::{BodyLimit, Json, Problem};
use std::sync::Arc;

/// The function as its binary and the local dev host see it.
pub const FUNCTION: host::Function<Stateful> = host::Function {
    name: "validate",
    routes: &[
        "POST /api/judge",
        "POST /api/validate",
        "POST /api/run",
        "GET /api/capsules",
        "GET /api/capsules/{id}",
        "GET /api/capsules/{id}/stats",
        "POST /api/capsules/{id}/submissions",
        "GET /api/capsules/{id}/submissions",
        "POST /api/capsules/{id}/run",
        "GET /api/submissions/{id}",
    ],
    judges: codecapsule_remote::wasm_and_remote_judges,
    router,
    scheduled: None,
    response_streaming: false,
};

/// The routes over every judge of the deployment, with the body limit of WebAssembly uploads. POST /api/validate and
/// POST /api/run are behind the guard for callers with an identity (judging's bucket and kill switch); the capsule
/// routes admit their callers themselves ([`capsules`]). With an LLM configured, invalid capsules are healed.
pub fn router(judges: Judges, deployment: &Stateful) -> Result<Router, ConfigError> {
    let llm = codecapsule_ai::llm::client_from_env()?.map(Arc::new);
    Ok(routes(judges, deployment.guard(), deployment.store.clone(), llm))
}

/// The routes with a given store and LLM (the tests bring theirs).
pub fn routes(judges: Judges, guard: &Guard, store: Option<Store>, llm: Option<Arc<LlmClient>>) -> Router {
    let state = AppState {
        judges,
        healing: Healing { llm, store: store.clone() },
        store,
        guard: guard.clone(),
        capsules: Arc::new(capsules::CapsuleCache::default()),
    };
    let identified = Router::new()
        .route("/api/validate", post(validate_capsule))
        .route("/api/run", post(run))
        .with_state(state.clone());
    let readers = Router::new()
        .route("/api/capsules", get(organization::list))
        .route("/api/capsules/{id}", get(capsules::read))
        .route("/api/capsules/{id}/stats", get(organization::stats))
        .route("/api/capsules/{id}/submissions", post(capsules::submit).get(capsules::list))
        .route("/api/capsules/{id}/run", post(capsules::run))
        .route("/api/submissions/{id}", get(capsules::one))
        .with_state(state);
    guarded(identified, guard, Feature::Judging, Audience::Identified)
        .merge(readers)
        .layer(Extension(BodyLimit(limits::JUDGE_BODY_BYTES)))
}

/// What the handlers are given.
#[derive(Clone)]
pub struct AppState {
    judges: Judges,
    healing: Healing,
    store: Option<Store>,
    guard: Guard,
    capsules: Arc<capsules::CapsuleCache>,
}

impl FromRef<AppState> for Judges {
    fn from_ref(state: &AppState) -> Judges {
        state.judges.clone()
    }
}

impl FromRef<AppState> for Healing {
    fn from_ref(state: &AppState) -> Healing {
        state.healing.clone()
    }
}

/// POST /api/run: one run of the caller's program on their own input.
async fn run(
    State(judges): State<Judges>,
    RequestDeadline(deadline): RequestDeadline,
    Json(request): Json<RunRequest>,
) -> Result<axum::Json<RunReport>, Problem> {
    let report = judges.prepare(request.judge_request())?.judge(deadline).await?;
    RunReport::of(report).map(axum::Json).map_err(|err| Problem::internal(err.to_string()))
}

async fn validate_capsule(
    State(judges): State<Judges>,
    State(healing): State<Healing>,
    admission: Option<Extension<Admission>>,
    RequestDeadline(deadline): RequestDeadline,
    Json(request): Json<ValidateRequest>,
) -> Result<axum::Json<ValidateReport>, Problem> {
    let admission = admission.map(|Extension(admission)| admission);
    let capsule = match (request.capsule, request.capsule_id) {
        (Some(capsule), None) => capsule,
        (None, Some(id)) => stored_capsule(&healing, admission.as_ref(), id).await?,
        (both, _) => {
            let detail = match both {
                Some(_) => "send either `capsule` (the capsule itself) or `capsule_id` (a stored capsule), not both",
                None => "send `capsule` (the capsule itself) or `capsule_id` (a stored capsule): the body has neither",
            };
            return Err(
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidField, detail).with_field("capsule")
            );
        }
    };
    let organization = admission.and_then(|admission| admission.organization);
    Ok(axum::Json(healing.validate(capsule, &judges, organization, deadline).await?))
}

/// A stored capsule as the caller may see it, solution included: a member's token reads through RLS, an API key
/// reads within its organization; anonymous callers cannot (the solution is never theirs to read).
async fn stored_capsule(healing: &Healing, admission: Option<&Admission>, id: uuid::Uuid) -> Result<Capsule, Problem> {
    let (Some(store), Some(admission)) = (&healing.store, admission) else {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::StateUnavailable,
            "stored capsules need state: set DATABASE_URL or SUPABASE_URL",
        ));
    };
    let not_found = || {
        Problem::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, format!("no capsule {id} that you may validate"))
            .with_field("capsule_id")
    };
    if matches!(admission.actor, codecapsule_state::Actor::Anonymous) {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidToken,
            "validating a stored capsule needs a member's token or the organization's API key",
        ));
    }
    let found = store.authored_capsule(&admission.actor, id).await?.ok_or_else(not_found)?;
    let in_scope = match admission.actor {
        codecapsule_state::Actor::Service => admission.organization == Some(found.head.organization_id),
        _ => true,
    };
    if !in_scope {
        return Err(not_found());
    }
    Ok(found.capsule)
}
