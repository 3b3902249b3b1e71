//! The validate function: judges WebAssembly in-process (POST /api/judge) and validates capsules (POST /api/validate).
//!
//! Handlers are thin: parse with the shared JSON extractor, await the judges (each engine runs its programs where it
//! must), answer JSON or problem+json. Judging lives in `codecapsule_core::judge` and `codecapsule_wasm`, validation
//! in `codecapsule_core::validation`.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Router};
use codecapsule_ai::billing::Billing;
use codecapsule_ai::generation::{Budget, Call, Generated, GenerationError, Generator, Observer};
use codecapsule_ai::llm::LlmClient;
use codecapsule_core::access::{Admission, Deployment, Feature, Guard};
use codecapsule_core::config::ConfigError;
use codecapsule_core::judge::{Judges, limits};
use codecapsule_core::model::Capsule;
use codecapsule_core::model::ErrorCode;
use codecapsule_core::model::{ValidateReport, ValidateRequest};
use codecapsule_core::validation;
use codecapsule_state::Store;
use codecapsule_state::guard::Stateful;
use codecapsule_web::guard::guarded;
use codecapsule_web::host;
use codecapsule_web::{BodyLimit, Json, Problem};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// The function as its binary and the local dev host see it.
pub const FUNCTION: host::Function<Stateful> = host::Function {
    name: "validate",
    routes: &["POST /api/judge", "POST /api/validate"],
    judges: codecapsule_remote::wasm_and_remote_judges,
    router,
    scheduled: None,
    response_streaming: false,
};

/// POST /api/validate, validating with every judge of the deployment, with the body limit of WebAssembly uploads;
/// behind the guard (judging's bucket and kill switch). With an LLM configured, invalid capsules are healed.
pub fn router(judges: Judges, deployment: &Stateful) -> Result<Router, ConfigError> {
    let llm = codecapsule_ai::llm::client_from_env()?.map(Arc::new);
    Ok(routes(judges, deployment.guard(), deployment.store.clone(), llm))
}

/// The routes with a given store and LLM (the tests bring theirs).
pub fn routes(judges: Judges, guard: &Guard, store: Option<Store>, llm: Option<Arc<LlmClient>>) -> Router {
    let state = ValidateState { judges, healing: Healing { llm, store } };
    let routes = Router::new().route("/api/validate", post(validate_capsule)).with_state(state);
    guarded(routes, guard, Feature::Judging).layer(Extension(BodyLimit(limits::JUDGE_BODY_BYTES)))
}

/// What POST /api/validate's handler is given.
#[derive(Clone)]
struct ValidateState {
    judges: Judges,
    healing: Healing,
}

impl FromRef<ValidateState> for Judges {
    fn from_ref(state: &ValidateState) -> Judges {
        state.judges.clone()
    }
}

impl FromRef<ValidateState> for Healing {
    fn from_ref(state: &ValidateState) -> Healing {
        state.healing.clone()
    }
}

/// What healing needs: a model, and the state that bills it.
#[derive(Clone)]
struct Healing {
    llm: Option<Arc<LlmClient>>,
    store: Option<Store>,
}

/// Healing within API Gateway's 30 s: the job's own deadline.
const HEALING_DEADLINE: Duration = Duration::from_secs(25);

async fn validate_capsule(
    State(judges): State<Judges>,
    State(healing): State<Healing>,
    admission: Option<Extension<Admission>>,
    Json(request): Json<ValidateRequest>,
) -> Result<axum::Json<ValidateReport>, Problem> {
    let admission = admission.map(|Extension(admission)| admission);
    let capsule = match (request.capsule, request.capsule_id) {
        (Some(capsule), None) => capsule,
        (None, Some(id)) => stored_capsule(&healing, admission.as_ref(), id).await?,
        _ => {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidField,
                "send either `capsule` (the capsule itself) or `capsule_id` (a stored capsule), not both",
            )
            .with_field("capsule"));
        }
    };
    let mut report = validation::validate(capsule.clone(), &judges).await?;
    let Some(llm) = healing.llm.clone() else {
        return Ok(axum::Json(report));
    };
    if report.valid {
        return Ok(axum::Json(report));
    }
    let outcome = heal(&healing, &llm, &judges, &capsule, admission).await;
    match outcome {
        Err(reason) => report.healing = Some(json!({"status": "skipped", "reason": reason})),
        Ok(Err(err)) => report.healing = Some(json!({"status": "failed", "error": err.to_string()})),
        Ok(Ok(generated)) => {
            let before = report.problems.clone();
            report = validation::validate(generated.capsule.clone(), &judges).await?;
            report.healing = Some(json!({
                "status": generated.status, "rounds": generated.rounds, "repairs": generated.repairs,
                "problems_before": before, "problems_left": generated.problems, "calls": generated.calls,
            }));
        }
    }
    Ok(axum::Json(report))
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
    let found = store.capsule(&admission.actor, id).await?.ok_or_else(not_found)?;
    let in_scope = match admission.actor {
        codecapsule_state::Actor::Service => {
            found["organization_id"].as_str() == admission.organization.map(|org| org.to_string()).as_deref()
        }
        _ => true,
    };
    if !in_scope || found.get("solution").is_none() {
        return Err(not_found());
    }
    // The storage fields are not part of the contract's Capsule.
    let mut contract = found;
    if let Some(fields) = contract.as_object_mut() {
        for storage in ["organization_id", "status", "visibility"] {
            fields.remove(storage);
        }
        fields.insert("id".into(), json!(id.to_string()));
        let version = fields.get("version").cloned().unwrap_or(json!(1));
        fields.insert("version".into(), version);
    }
    serde_json::from_value(contract).map_err(|err| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidField,
            format!("the stored capsule is not a valid capsule: {err}"),
        )
        .with_field("capsule_id")
    })
}

/// Heals `capsule` for the caller's organization, or says why it was not tried.
async fn heal(
    healing: &Healing,
    llm: &LlmClient,
    judges: &Judges,
    capsule: &Capsule,
    admission: Option<Admission>,
) -> Result<Result<Generated, GenerationError>, String> {
    let (Some(store), Some(organization)) = (&healing.store, admission.and_then(|admission| admission.organization))
    else {
        return Err("healing is billed to an organization: send an organization API key, or a user token with X-Organization-Id".into());
    };
    if capsule.solution.source.is_none() {
        return Err("only capsules with text sources are healed (a WebAssembly module is not rewritten)".into());
    }
    let billing = Billing::new(store.clone(), organization);
    let left = billing.left_today().await.map_err(|err| err.to_string())?;
    let budget = Budget {
        deadline: HEALING_DEADLINE,
        max_cost_usd: Budget::default().max_cost_usd.min(left),
        ..Budget::default()
    };
    let mut calls = Calls(Vec::new());
    let healed = Generator::new(llm, judges, budget).heal(capsule, &mut calls).await;
    for call in &calls.0 {
        billing.record(call).await;
    }
    Ok(healed)
}

/// Collects the calls a healing makes, for the usage ledger.
struct Calls(Vec<Call>);

impl Observer for Calls {
    fn call(&mut self, call: &Call) {
        self.0.push(call.clone());
    }

    fn progress(&mut self, _event: codecapsule_ai::generation::Progress) {}
}
