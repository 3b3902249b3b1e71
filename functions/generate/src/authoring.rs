//! POST /api/capsules: an organization saves a capsule it wrote, and publishes it for readers once it is proven.
//!
//! The capsule is validated as POST /api/validate validates it (healed when an LLM is configured, billed to the
//! organization), saved (a new version when `capsule.id` names one of the organization's capsules: the database
//! decides, under row-level security for a member's token), and, when valid and `publish` is true, its reader's view
//! is written to the object store (`capsules/<sha256>.json`, what R2 serves to widgets). An invalid capsule is a 422
//! with its problems, saved as a draft only when `publish` is false (so an author can keep working on it).

use crate::Generation;
use axum::Extension;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use codecapsule_ai::generation::slug;
use codecapsule_ai::healing::Healing;
use codecapsule_core::access::Admission;
use codecapsule_core::model::{Capsule, ErrorCode, ValidateReport};
use codecapsule_state::{CapsuleStatus, Visibility};
use codecapsule_web::deadline::RequestDeadline;
use codecapsule_web::{Json, Problem};
use serde::{Deserialize, Serialize};

/// The body of POST /api/capsules.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaveRequest {
    /// The capsule as its authors wrote it, solution and hidden tests included.
    pub capsule: Capsule,
    /// Publish it for readers once valid (default false: saved, validated, not published).
    #[serde(default)]
    pub publish: bool,
    /// Who may read it once published (default public; unlisted: anyone with its id; private: members only).
    #[serde(default)]
    pub visibility: Option<Visibility>,
}

/// The 201 (and the invalid capsule's 422) answer.
#[derive(Debug, Serialize)]
struct Saved {
    /// None for an invalid capsule that was not saved (`publish` was true).
    capsule_id: Option<uuid::Uuid>,
    version: Option<i32>,
    status: Option<CapsuleStatus>,
    /// The published object's key, when published.
    object_key: Option<String>,
    validation: ValidateReport,
}

/// POST /api/capsules.
pub async fn save(
    State(generation): State<Generation>,
    admission: Option<Extension<Admission>>,
    RequestDeadline(deadline): RequestDeadline,
    Json(request): Json<SaveRequest>,
) -> Result<Response, Problem> {
    let (Some(store), Some(Extension(admission))) = (generation.store.clone(), admission) else {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::StateUnavailable,
            "capsules are kept in state: set DATABASE_URL or SUPABASE_URL",
        ));
    };
    let organization = admission.organization.ok_or_else(|| {
        Problem::new(
            StatusCode::FORBIDDEN,
            ErrorCode::OrganizationRequired,
            "a capsule belongs to an organization: send its API key, or a member's token with X-Organization-Id",
        )
    })?;
    let mut capsule = request.capsule;
    // A capsule is identified by its id, else by its slug within the organization: one derived from the title when
    // the author gave none (saving the same title again makes a new version of that capsule).
    if capsule.id.is_none() && capsule.slug.is_none() {
        capsule.slug = Some(slug(&capsule.title));
    }
    let healing = Healing { llm: generation.llm.clone(), store: Some(store.clone()) };
    let validation = healing.validate(capsule, &generation.judges, Some(organization), deadline).await?;
    let mut capsule = validation.capsule.clone();
    let status = match (validation.valid, request.publish) {
        (true, true) => CapsuleStatus::Published,
        (true, false) => CapsuleStatus::Validated,
        (false, false) => CapsuleStatus::Draft,
        (false, true) => {
            let refused = Saved { capsule_id: None, version: None, status: None, object_key: None, validation };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, axum::Json(refused)).into_response());
        }
    };
    let visibility =
        request.visibility.unwrap_or(if request.publish { Visibility::Public } else { Visibility::Private });
    let saved = store.save_capsule(&admission.actor, organization, &capsule, visibility, status, None).await?;
    capsule.id = Some(saved.id.to_string());
    capsule.version = u32::try_from(saved.version).unwrap_or(1);
    let object_key = match status {
        CapsuleStatus::Published => Some(generation.objects.put_capsule(&capsule).await.map_err(|err| {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::StateUnavailable, err.to_string())
        })?),
        _ => None,
    };
    let answer_status = if validation.valid { StatusCode::CREATED } else { StatusCode::UNPROCESSABLE_ENTITY };
    let body = Saved {
        capsule_id: Some(saved.id),
        version: Some(saved.version),
        status: Some(status),
        object_key,
        validation,
    };
    let location = format!("/api/capsules/{}", saved.id);
    Ok((answer_status, [(header::LOCATION, location)], axum::Json(body)).into_response())
}
