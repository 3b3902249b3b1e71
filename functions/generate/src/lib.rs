//! The generate function: POST /api/generate turns a prompt into a capsule proven by running it
//! (`codecapsule_ai::generation`), streaming progress as NDJSON; GET /api/generate/{job_id} returns a job's state, so a
//! client whose connection dropped can still learn how it ended.
//!
//! A job runs on its own task: it goes on when the client goes away, and every progress event is written to
//! `generation_jobs` before it is streamed. Every LLM call is written to the usage ledger as it is made. Before a job
//! starts, the organization's LLM spend today is checked against its tier's daily allowance (runtime_config); the job's
//! own budget is the smaller of the per-capsule budget and what is left of the day's. A job that fails (a budget, the
//! deadline, the model) saves nothing: the capsule row and its object are written only at the end, in that order.
//! Generation needs an organization (an API key, or a member's JWT with X-Organization-Id), state and an LLM.
//!
//! POST /api/capsules ([`authoring`]) saves and publishes a capsule its organization wrote: it shares generation's
//! judges, model (for healing) and object store.

pub mod authoring;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use bytes::Bytes;
use codecapsule_ai::billing::{Billing, BillingError};
use codecapsule_ai::generation::{
    Budget, Call, GenerateRequest, GenerationError, GenerationStatus, Generator, Observer,
};
use codecapsule_ai::llm::LlmClient;
use codecapsule_ai::objects::ObjectStore;
use codecapsule_core::access::{Admission, Audience, Deployment, Feature, Guard};
use codecapsule_core::config::ConfigError;
use codecapsule_core::judge::Judges;
use codecapsule_core::model::ErrorCode;
use codecapsule_state::guard::Stateful;
use codecapsule_state::{Actor, CapsuleStatus, Store, Visibility};
use codecapsule_web::guard::guarded;
use codecapsule_web::host;
use codecapsule_web::{BodyLimit, Json, Problem};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use uuid::Uuid;

/// The function as its binary and the local dev host see it.
pub const FUNCTION: host::Function<Stateful> = host::Function {
    name: "generate",
    routes: &["POST /api/generate", "GET /api/generate/{job_id}", "POST /api/capsules"],
    judges: codecapsule_remote::wasm_and_remote_judges,
    router,
    scheduled: None,
    response_streaming: true,
};

/// What a job needs, built once at start-up.
#[derive(Clone)]
pub struct Generation {
    pub judges: Judges,
    /// None: AI is off (no provider configured); POST /api/generate answers 503 and says what to set.
    pub llm: Option<Arc<LlmClient>>,
    pub objects: ObjectStore,
    pub budget: Budget,
    pub store: Option<Store>,
}

fn router(judges: Judges, deployment: &Stateful) -> Result<Router, ConfigError> {
    let llm = codecapsule_ai::llm::client_from_env()?.map(Arc::new);
    let mut budget = Budget::default();
    if let Some(value) = codecapsule_core::config::read("GENERATION_DEADLINE_SECONDS") {
        let seconds: u64 =
            value.trim().parse().ok().filter(|s| (10..=900).contains(s)).ok_or_else(|| ConfigError::Invalid {
                var: "GENERATION_DEADLINE_SECONDS",
                value: value.clone(),
                expected: "seconds from 10 to 900".into(),
            })?;
        budget.deadline = std::time::Duration::from_secs(seconds);
    }
    let generation =
        Generation { judges, llm, objects: ObjectStore::from_env()?, budget, store: deployment.store.clone() };
    Ok(routes(generation, deployment.guard()))
}

/// The routes over a given setup (the tests build theirs).
pub fn routes(generation: Generation, guard: &Guard) -> Router {
    let authoring = Router::new().route("/api/capsules", post(authoring::save)).with_state(generation.clone());
    let routes = Router::new()
        .route("/api/generate", post(start))
        .route("/api/generate/{job_id}", get(status))
        .with_state(generation);
    // Saving a capsule runs it (judging's bucket and kill switch); generating one spends on models (generation's).
    guarded(routes, guard, Feature::Generation, Audience::Identified).merge(
        guarded(authoring, guard, Feature::Judging, Audience::Identified)
            .layer(Extension(BodyLimit(codecapsule_core::judge::limits::JUDGE_BODY_BYTES))),
    )
}

/// The setup a job needs, or the 4xx/503 that says what is missing.
fn prerequisites(
    generation: &Generation,
    admission: Option<Admission>,
) -> Result<(Arc<LlmClient>, Store, Admission, Uuid), Problem> {
    let llm = generation.llm.clone().ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::AiDisabled,
            "no LLM is configured: set AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_KEY and AZURE_OPENAI_DEPLOYMENT, or \
             OPENAI_BASE_URL and OPENAI_MODEL, or LLM_REPLAY_FILE for a recorded transcript",
        )
    })?;
    let (Some(store), Some(admission)) = (generation.store.clone(), admission) else {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::StateUnavailable,
            "generation needs state (jobs, budgets, the capsule store): set DATABASE_URL or SUPABASE_URL",
        ));
    };
    let organization = admission.organization.ok_or_else(|| {
        Problem::new(StatusCode::FORBIDDEN,
            ErrorCode::OrganizationRequired,
            "generation is billed to an organization: send an organization API key, or a user token with X-Organization-Id",
        )
    })?;
    Ok((llm, store, admission, organization))
}

async fn start(
    State(generation): State<Generation>,
    admission: Option<Extension<Admission>>,
    Json(request): Json<GenerateRequest>,
) -> Result<Response, Problem> {
    request.check().map_err(|(field, message)| {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidField, message).with_field(field)
    })?;
    let (llm, store, admission, organization) =
        prerequisites(&generation, admission.map(|Extension(admission)| admission))?;
    let billing = Billing::new(store.clone(), organization);
    let left = match billing.left_today().await {
        Ok(left) => left,
        Err(BillingError::UnknownOrganization(_)) => {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                ErrorCode::OrganizationRequired,
                format!("organization {organization} does not exist"),
            ));
        }
        Err(err @ BillingError::AllowanceSpent { .. }) => {
            let mut refused =
                Problem::new(StatusCode::TOO_MANY_REQUESTS, ErrorCode::DailyBudgetExhausted, err.to_string())
                    .into_response();
            let midnight = (chrono::Utc::now().date_naive() + chrono::Days::new(1))
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc();
            let seconds = (midnight - chrono::Utc::now()).num_seconds().max(1);
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                refused.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return Ok(refused);
        }
        Err(BillingError::Store(err)) => return Err(err.into()),
    };
    let budget = Budget { max_cost_usd: generation.budget.max_cost_usd.min(left), ..generation.budget };
    let requested_by = match &admission.actor {
        Actor::User(user) => Some(user.user_id),
        _ => None,
    };
    let deadline = chrono::Utc::now() + budget.deadline;
    let job_id = store.create_generation_job(organization, requested_by, &json!(request), deadline).await?;
    let (client, lines) = mpsc::unbounded_channel::<Value>();
    let job = Job { generation, llm, store, organization, billing, job_id, budget };
    tokio::spawn(job.run(request, client));
    let body = Body::from_stream(tokio_stream::wrappers::UnboundedReceiverStream::new(lines).map(|event| {
        let mut line = serde_json::to_vec(&event).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, Infallible>(Bytes::from(line))
    }));
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    if let Ok(value) = HeaderValue::from_str(&job_id.to_string()) {
        response.headers_mut().insert("x-job-id", value);
    }
    Ok(response)
}

async fn status(
    State(generation): State<Generation>,
    admission: Option<Extension<Admission>>,
    Path(job_id): Path<String>,
) -> Result<axum::Json<Value>, Problem> {
    let job_id = Uuid::parse_str(&job_id).map_err(|_| {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidField, "the job id must be a UUID")
            .with_field("job_id")
    })?;
    let (Some(store), Some(Extension(admission))) = (generation.store.clone(), admission) else {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::StateUnavailable,
            "jobs are kept in state: set DATABASE_URL or SUPABASE_URL",
        ));
    };
    // A user reads through RLS (members of the job's organization); an API key, within its organization.
    let scope = match admission.actor {
        Actor::Service => Some(admission.organization.unwrap_or_else(Uuid::nil)),
        Actor::User(_) | Actor::Anonymous => None,
    };
    let job = store.generation_job(&admission.actor, job_id, scope).await?;
    job.map(axum::Json).ok_or_else(|| {
        Problem::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, format!("no job {job_id} that you may see"))
    })
}

/// One running job.
struct Job {
    generation: Generation,
    llm: Arc<LlmClient>,
    store: Store,
    organization: Uuid,
    billing: Billing,
    job_id: Uuid,
    budget: Budget,
}

/// What the job's writer does, in order: progress (stored, then streamed) and LLM calls (to the usage ledger).
enum Record {
    Event(Value),
    Call(Call),
}

/// The engine's observer: hands everything to the writer, in order.
struct Forward(mpsc::UnboundedSender<Record>);

impl Observer for Forward {
    fn call(&mut self, call: &Call) {
        let _ = self.0.send(Record::Call(call.clone()));
        let _ = self.0.send(Record::Event(json!({"event": "llm_call", "purpose": call.purpose,
            "prompt_tokens": call.prompt_tokens, "completion_tokens": call.completion_tokens,
            "cost_usd": call.cost_usd, "model": call.model, "replayed": call.replayed})));
    }

    fn progress(&mut self, event: Value) {
        let _ = self.0.send(Record::Event(event));
    }
}

impl Job {
    async fn run(self, request: GenerateRequest, client: mpsc::UnboundedSender<Value>) {
        let (records, mut inbox) = mpsc::unbounded_channel::<Record>();
        let (store, job_id, billing) = (self.store.clone(), self.job_id, self.billing.clone());
        let writer = tokio::spawn(async move {
            while let Some(record) = inbox.recv().await {
                match record {
                    Record::Event(event) => {
                        if let Err(err) = store.append_generation_progress(job_id, &event).await {
                            tracing::error!(error = %err, %job_id, "cannot store a progress event");
                        }
                        // The client may be gone: the job goes on regardless.
                        let _ = client.send(event);
                    }
                    Record::Call(call) => billing.record(&call).await,
                }
            }
        });
        let mut observer = Forward(records.clone());
        let _ = records.send(Record::Event(json!({"event": "job", "job_id": self.job_id})));
        let outcome =
            Generator::new(&self.llm, &self.generation.judges, self.budget).generate(&request, &mut observer).await;
        let finish = match outcome {
            Ok(generated) => self.save(generated).await,
            Err(err) => Err((code_of(&err), err.to_string())),
        };
        let (status, result, error, capsule_id, last) = match finish {
            Ok((status, result, capsule_id)) => {
                let last = json!({"event": "done", "status": status, "capsule_id": capsule_id, "result": result});
                (status, Some(result), None, Some(capsule_id), last)
            }
            Err((code, detail)) => {
                ("failed", None, Some(detail.clone()), None, json!({"event": "failed", "code": code, "detail": detail}))
            }
        };
        let _ = records.send(Record::Event(last));
        drop((observer, records));
        let _ = writer.await;
        if let Err(err) =
            self.store.finish_generation_job(self.job_id, status, result.as_ref(), error.as_deref(), capsule_id).await
        {
            tracing::error!(error = %err, job_id = %self.job_id, "cannot finish the job");
        }
    }

    /// The capsule row, then its public object: only a finished job writes them.
    async fn save(
        &self,
        generated: codecapsule_ai::generation::Generated,
    ) -> Result<(&'static str, Value, Uuid), (&'static str, String)> {
        let mut capsule = generated.capsule.clone();
        let slug = capsule.slug.clone().unwrap_or_else(|| "capsule".into());
        capsule.slug =
            Some(format!("{}-{}", slug.chars().take(50).collect::<String>(), &self.job_id.simple().to_string()[..8]));
        let (row_status, job_status) = match generated.status {
            GenerationStatus::Validated => (CapsuleStatus::Validated, "succeeded"),
            GenerationStatus::Quarantined => (CapsuleStatus::Quarantined, "quarantined"),
        };
        let saving = |err: String| ("save_failed", format!("the capsule could not be saved: {err}"));
        let saved = self
            .store
            .save_capsule(&Actor::Service, self.organization, &capsule, Visibility::Private, row_status, None)
            .await
            .map_err(|err| saving(err.to_string()))?;
        capsule.id = Some(saved.id.to_string());
        let object = self.generation.objects.put_capsule(&capsule).await.map_err(|err| saving(err.to_string()))?;
        let result = json!({
            "status": generated.status,
            "capsule": capsule,
            "object_key": object,
            "report": {"rounds": generated.rounds, "regenerated": generated.regenerated, "repairs": generated.repairs,
                       "problems": generated.problems, "calls": generated.calls},
        });
        Ok((job_status, result, saved.id))
    }
}

/// The stable code of a failed job.
fn code_of(err: &GenerationError) -> &'static str {
    match err {
        GenerationError::BudgetExhausted(_) => "budget_exhausted",
        GenerationError::DeadlinePassed(_) => "deadline_passed",
        GenerationError::Llm { .. } => "llm_failed",
        GenerationError::Unjudgeable(_) => "unjudgeable",
    }
}
