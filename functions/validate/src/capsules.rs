//! Stored capsules as readers and their authors reach them: the reader's view (GET /api/capsules/{id}), submissions
//! judged against the stored tests (POST and GET /api/capsules/{id}/submissions, GET /api/submissions/{id}), and runs
//! on the reader's own input (POST /api/capsules/{id}/run).
//!
//! Who may do what:
//! - anyone, anonymous included, reads, submits to and runs a capsule that is published and public or unlisted;
//! - its authors (an API key of its organization, or a member acting for it with X-Organization-Id) also reach it
//!   unpublished, and read it whole (`?view=author`) and its submissions;
//! - a signed-in user reads their own submissions.
//!
//! These routes admit their callers themselves rather than behind `guarded`: an anonymous caller is admitted (and
//! takes from their address's bucket) only once the capsule is known to be open to readers, so that an unknown or
//! unpublished capsule id is a 404 that costs nothing, and made-up ids cannot be used to probe or to drain buckets.
//!
//! The capsule's tests are read once per (id, version) per instance ([`CapsuleCache`]), and its head (version, status,
//! visibility: one index probe) at most once every [`HEAD_TTL`]: a warm submission reads nothing before it judges,
//! then writes the submission.

use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use codecapsule_core::access::{Actor, Admission, Caller, Feature};
use codecapsule_core::deadline::Deadline;
use codecapsule_core::judge::Judges;
use codecapsule_core::model::{Entry, ErrorCode};
use codecapsule_core::reader::{
    CapsuleRunRequest, MAX_VISITOR_ID_BYTES, ReaderCapsule, ReaderReport, RunReport, SubmissionRequest,
};
use codecapsule_state::{CapsuleHead, NewSubmission, Store, StoredCapsule, SubmittedTest, Submitter};
use codecapsule_web::deadline::RequestDeadline;
use codecapsule_web::guard::{CallerOf, admit, identity_required, with_limit_headers};
use codecapsule_web::{Json, Problem};
use serde::Serialize;
use serde_json::json;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How many stored capsules an instance keeps (each at most a few MB of tests; most far less).
pub const CACHED_CAPSULES: usize = 128;

/// A page of submissions holds at most this many (and this many when `limit` is not given: 50).
pub const MAX_PAGE_SIZE: u32 = 100;
const DEFAULT_PAGE_SIZE: u32 = 50;

/// How long an instance trusts the head (version, status, visibility) it last read of a capsule: within it, a warm
/// submission reads nothing before it judges. A new version or an unpublished capsule is seen within this time.
pub const HEAD_TTL: Duration = Duration::from_secs(1);

/// Stored capsules by (id, version), 128 at most, oldest out. A version is never changed once written, so a capsule
/// never goes stale; a new version is a new key (the old one's entry is dropped when its head is seen). Each entry
/// keeps the head last read from the database, trusted for [`HEAD_TTL`].
#[derive(Default)]
pub struct CapsuleCache {
    /// Oldest first.
    entries: Mutex<VecDeque<Cached>>,
}

struct Cached {
    stored: Arc<StoredCapsule>,
    head: CapsuleHead,
    read_at: Instant,
}

impl CapsuleCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Cached>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The head of capsule `id` read less than [`HEAD_TTL`] ago.
    fn fresh_head(&self, id: Uuid) -> Option<CapsuleHead> {
        let entries = self.lock();
        let cached = entries.iter().find(|cached| cached.head.capsule_id == id)?;
        (cached.read_at.elapsed() < HEAD_TTL).then_some(cached.head)
    }

    /// The capsule `head` names, if cached. A `head` just read from the database is kept in its entry, trusted for
    /// [`HEAD_TTL`] from now; one taken from the cache is not, or a capsule read more often than the TTL would keep
    /// its first head for ever (never seen unpublished).
    fn get(&self, head: CapsuleHead, just_read: bool) -> Option<Arc<StoredCapsule>> {
        let mut entries = self.lock();
        let cached = entries
            .iter_mut()
            .find(|cached| (cached.head.capsule_id, cached.stored.head.version) == (head.capsule_id, head.version))?;
        if just_read {
            cached.head = head;
            cached.read_at = Instant::now();
        }
        Some(cached.stored.clone())
    }

    fn put(&self, stored: Arc<StoredCapsule>, head: CapsuleHead) {
        let mut entries = self.lock();
        entries.retain(|cached| cached.head.capsule_id != head.capsule_id);
        entries.push_back(Cached { stored, head, read_at: Instant::now() });
        while entries.len() > CACHED_CAPSULES {
            entries.pop_front();
        }
    }
}

/// A capsule opened for a caller who may reach it.
struct Opened {
    stored: Arc<StoredCapsule>,
    admission: Admission,
    /// The caller acts for the capsule's organization.
    author: bool,
}

pub(crate) fn no_capsule(id: &str) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, format!("no capsule {id} that you may reach"))
}

pub(crate) fn store_of(state: &AppState) -> Result<&Store, Problem> {
    state.store.as_ref().ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::StateUnavailable,
            "stored capsules need state: set DATABASE_URL or SUPABASE_URL",
        )
    })
}

/// Whether `admission` acts for `organization`: an API key of it, or a member with X-Organization-Id naming it (the
/// guard checked the membership).
pub(crate) fn acts_for(admission: &Admission, organization: Uuid) -> bool {
    admission.organization == Some(organization)
}

/// Finds capsule `id` and admits `caller` to it, or answers why not (see the module's rules).
async fn open(state: &AppState, caller: &Caller, id: &str) -> Result<Opened, Response> {
    let store = store_of(state).map_err(IntoResponse::into_response)?;
    let not_found = || no_capsule(id).into_response();
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    let fresh = state.capsules.fresh_head(id);
    let read_head = || async move {
        match fresh {
            Some(head) => Ok(Some(head)),
            None => store.capsule_head(&Actor::Service, id).await,
        }
    };
    let (head, admission) = if caller.bearer.is_none() {
        // Anonymous: nothing is taken from a bucket for a capsule readers cannot reach.
        let head = read_head().await.map_err(|err| Problem::from(err).into_response())?;
        let head = head.filter(|head| head.is_open_to_readers()).ok_or_else(not_found)?;
        (head, admit(&state.guard, Feature::Judging, caller).await?)
    } else {
        let admission = admit(&state.guard, Feature::Judging, caller).await?;
        let head =
            read_head().await.map_err(|err| with_limit_headers(Problem::from(err).into_response(), admission.limit))?;
        let head = head
            .filter(|head| head.is_open_to_readers() || acts_for(&admission, head.organization_id))
            .ok_or_else(|| with_limit_headers(not_found(), admission.limit))?;
        (head, admission)
    };
    let author = acts_for(&admission, head.organization_id);
    let stored = match state.capsules.get(head, fresh.is_none()) {
        Some(stored) => stored,
        None => {
            let loaded = store.authored_capsule(&Actor::Service, id).await;
            let loaded =
                loaded.map_err(|err| with_limit_headers(Problem::from(err).into_response(), admission.limit))?;
            let stored = Arc::new(loaded.ok_or_else(|| with_limit_headers(not_found(), admission.limit))?);
            state.capsules.put(stored.clone(), stored.head);
            stored
        }
    };
    Ok(Opened { stored, admission, author })
}

/// Admits a caller of a route that only an identity may call (what it reads is its owners'): `anonymous` is the 401
/// of a caller without one, before any bucket is asked.
pub(crate) async fn admit_identified(
    state: &AppState,
    caller: &Caller,
    anonymous: fn() -> Problem,
) -> Result<Admission, Response> {
    if caller.bearer.is_none() {
        return Err(anonymous().into_response());
    }
    admit(&state.guard, Feature::Judging, caller).await
}

/// `result` as the answer, with the RateLimit headers of the bucket the request drew from.
pub(crate) fn answer(result: Result<Response, Problem>, admission: &Admission) -> Response {
    with_limit_headers(result.unwrap_or_else(IntoResponse::into_response), admission.limit)
}

/// The value of `name` in a query string (`a=1&b=2`); values are ids and words, never percent-encoded.
fn query_value<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

/// GET /api/capsules/{id}: the reader's view; `?view=author` the whole capsule, for its authors.
pub async fn read(
    State(state): State<AppState>,
    CallerOf(caller): CallerOf,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let author_view = match query_value(query.as_deref(), "view") {
        None | Some("reader") => false,
        Some("author") => true,
        Some(other) => {
            return Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidField,
                format!("view must be `reader` or `author`, not `{other}`"),
            )
            .with_field("view")
            .into_response();
        }
    };
    if author_view && caller.bearer.is_none() {
        return identity_required().into_response();
    }
    let opened = match open(&state, &caller, &id).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let stored = &opened.stored;
    let body = if author_view {
        if !opened.author {
            return answer(Err(no_capsule(&id)), &opened.admission);
        }
        let mut whole = serde_json::to_value(&stored.capsule).unwrap_or_default();
        whole["status"] = json!(stored.head.status);
        whole["visibility"] = json!(stored.head.visibility);
        whole["organization_id"] = json!(stored.head.organization_id);
        whole
    } else {
        serde_json::to_value(ReaderCapsule::of(&stored.capsule)).unwrap_or_default()
    };
    answer(Ok(axum::Json(body).into_response()), &opened.admission)
}

/// The 201 answer of a submission: the report in the reader's view, and where the submission is stored.
#[derive(Serialize)]
struct SubmissionAnswer {
    submission_id: Uuid,
    capsule_id: Uuid,
    capsule_version: i32,
    #[serde(flatten)]
    report: ReaderReport,
}

/// POST /api/capsules/{id}/submissions: the program judged against the stored version's tests, stored, and answered
/// in the reader's view.
pub async fn submit(
    State(state): State<AppState>,
    CallerOf(caller): CallerOf,
    RequestDeadline(deadline): RequestDeadline,
    Path(id): Path<String>,
    Json(request): Json<SubmissionRequest>,
) -> Response {
    if request.visitor_id.as_ref().is_some_and(|visitor| visitor.is_empty() || visitor.len() > MAX_VISITOR_ID_BYTES) {
        return Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidField,
            format!("visitor_id must be 1 to {MAX_VISITOR_ID_BYTES} bytes"),
        )
        .with_field("visitor_id")
        .into_response();
    }
    let opened = match open(&state, &caller, &id).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let result = judge_submission(&state.judges, store_of(&state), &opened, &caller, request, deadline).await;
    answer(result, &opened.admission)
}

async fn judge_submission(
    judges: &Judges,
    store: Result<&Store, Problem>,
    opened: &Opened,
    caller: &Caller,
    request: SubmissionRequest,
    deadline: Deadline,
) -> Result<Response, Problem> {
    let store = store?;
    let capsule = &opened.stored.capsule;
    let report = judges.prepare(request.judge_request(capsule))?.judge(deadline).await?;
    let tests = report
        .tests
        .iter()
        .zip(&capsule.tests)
        .map(|(run, test)| SubmittedTest { id: run.id.clone(), verdict: run.verdict, weight: test.weight })
        .collect();
    let submitter = match (&opened.admission.actor, opened.admission.organization) {
        (Actor::User(user), _) => Submitter::User(user.user_id),
        (Actor::Service, Some(organization)) => Submitter::ApiKey(organization),
        _ => Submitter::Visitor(request.visitor_id.clone().unwrap_or_else(|| caller.ip.clone())),
    };
    let language = codecapsule_core::model::Language::parse(&capsule.language)
        .ok_or_else(|| Problem::internal(format!("the stored capsule's language {} is unknown", capsule.language)))?;
    let head = &opened.stored.head;
    let recorded = store
        .record_submission(&NewSubmission {
            capsule_id: head.capsule_id,
            capsule_version: head.version,
            language,
            verdict: report.verdict,
            score: report.score,
            tests,
            submitter,
        })
        .await?;
    let answer = SubmissionAnswer {
        submission_id: recorded.submission_id,
        capsule_id: head.capsule_id,
        capsule_version: head.version,
        report: ReaderReport::of(report, &capsule.tests),
    };
    let location = format!("/api/submissions/{}", recorded.submission_id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], axum::Json(answer)).into_response())
}

/// POST /api/capsules/{id}/run: the program once on the reader's own input, in the capsule's language and limits.
pub async fn run(
    State(state): State<AppState>,
    CallerOf(caller): CallerOf,
    RequestDeadline(deadline): RequestDeadline,
    Path(id): Path<String>,
    Json(request): Json<CapsuleRunRequest>,
) -> Response {
    let opened = match open(&state, &caller, &id).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let capsule = &opened.stored.capsule;
    let result = async {
        if matches!(capsule.entry, Some(Entry::Function { .. })) {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidField,
                "this capsule calls a function with arguments: run mode feeds stdin to a program; submit instead",
            ));
        }
        let report = state.judges.prepare(request.judge_request(capsule))?.judge(deadline).await?;
        let ran = RunReport::of(report).map_err(|err| Problem::internal(err.to_string()))?;
        Ok(axum::Json(ran).into_response())
    };
    answer(result.await, &opened.admission)
}

/// GET /api/capsules/{id}/submissions?before=<submission id>&limit=<1..100>: newest first, for its authors (and a
/// user's own); `next_before` continues the listing.
pub async fn list(
    State(state): State<AppState>,
    CallerOf(caller): CallerOf,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let admission = match admit_identified(&state, &caller, identity_required).await {
        Ok(admission) => admission,
        Err(response) => return response,
    };
    let result = async {
        let store = store_of(&state)?;
        let page_size = match query_value(query.as_deref(), "limit") {
            None => DEFAULT_PAGE_SIZE,
            Some(limit) => limit.parse().ok().filter(|size| (1..=MAX_PAGE_SIZE).contains(size)).ok_or_else(|| {
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorCode::InvalidField,
                    format!("limit must be a number from 1 to {MAX_PAGE_SIZE}"),
                )
                .with_field("limit")
            })?,
        };
        let before = match query_value(query.as_deref(), "before") {
            None => None,
            Some(before) => Some(Uuid::parse_str(before).map_err(|_| {
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorCode::InvalidField,
                    "before must be the id of a submission (the previous page's next_before)",
                )
                .with_field("before")
            })?),
        };
        let capsule = Uuid::parse_str(&id).map_err(|_| no_capsule(&id))?;
        let head = store.capsule_head(&Actor::Service, capsule).await?.ok_or_else(|| no_capsule(&id))?;
        // A user reads through row-level security (their own, or all of their organizations' capsules); an API key
        // reads its organization's capsules only.
        let reader = match &admission.actor {
            Actor::User(_) => admission.actor.clone(),
            _ if acts_for(&admission, head.organization_id) => Actor::Service,
            _ => return Err(no_capsule(&id)),
        };
        let submissions = store.capsule_submissions(&reader, capsule, before, page_size).await?;
        let next_before = (submissions.len() == page_size as usize).then(|| submissions.last().map(|last| last.id));
        Ok(axum::Json(json!({"submissions": submissions, "next_before": next_before.flatten()})).into_response())
    };
    answer(result.await, &admission)
}

/// GET /api/submissions/{id}: one submission, for its submitter and the capsule's authors.
pub async fn one(State(state): State<AppState>, CallerOf(caller): CallerOf, Path(id): Path<String>) -> Response {
    let admission = match admit_identified(&state, &caller, identity_required).await {
        Ok(admission) => admission,
        Err(response) => return response,
    };
    let not_found =
        || Problem::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, format!("no submission {id} that you may read"));
    let result = async {
        let store = store_of(&state)?;
        let submission = Uuid::parse_str(&id).map_err(|_| not_found())?;
        let found = match &admission.actor {
            Actor::User(_) => store.submission(&admission.actor, submission).await?,
            _ => store
                .submission(&Actor::Service, submission)
                .await?
                .filter(|found| acts_for(&admission, found.organization_id)),
        };
        Ok(axum::Json(found.ok_or_else(not_found)?).into_response())
    };
    answer(result.await, &admission)
}
