//! What an organization reads of its own capsules, for the dashboard: the listing (GET /api/capsules) and a capsule's
//! hourly stats over a range (GET /api/capsules/{id}/stats).
//!
//! Both need an identity acting for an organization: its API key, or a member's token with X-Organization-Id (the
//! guard checked the membership). A member reads through row-level security; an API key reads as service_role what
//! its own organization owns, and nothing else (another organization's capsule is a 404, as for anyone).

use crate::AppState;
use crate::capsules::{admit_identified, answer, no_capsule, store_of};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use codecapsule_core::access::{Actor, Admission, Caller};
use codecapsule_core::model::ErrorCode;
use codecapsule_web::Problem;
use codecapsule_web::guard::CallerOf;
use serde_json::json;
use uuid::Uuid;

/// The longest range one stats request covers (the database refuses more, too): 93 days, 2,232 hours.
pub const MAX_STATS_DAYS: i64 = 93;
/// The range when `from` is not given: the last 7 days.
const DEFAULT_STATS_DAYS: i64 = 7;

/// Who reads for the admitted caller: a member as themselves (RLS), an API key as service_role.
fn reader_of(admission: &Admission) -> Actor {
    match &admission.actor {
        Actor::User(_) => admission.actor.clone(),
        _ => Actor::Service,
    }
}

/// The 401 of these routes, called without an identity.
fn identity_required() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::AuthenticationRequired,
        "an organization's capsules and stats are its own: send `Authorization: Bearer` with its API key, or a \
         member's Supabase token with X-Organization-Id",
    )
}

/// Admits a caller acting for an organization, and names it: 401 without an identity, the guard's refusals, and 403
/// `organization_required` for an identity that acts for none (with its bucket's headers).
async fn admit_for_organization(state: &AppState, caller: &Caller) -> Result<(Admission, Uuid), Response> {
    let admission = admit_identified(state, caller, identity_required).await?;
    match admission.organization {
        Some(organization) => Ok((admission, organization)),
        None => {
            let refused = Problem::new(
                StatusCode::FORBIDDEN,
                ErrorCode::OrganizationRequired,
                "the capsules listed are an organization's: send its API key, or a member's token with \
                 X-Organization-Id",
            );
            Err(answer(Err(refused), &admission))
        }
    }
}

/// GET /api/capsules: the caller's organization's capsules (id, slug, title, language, status, visibility, version,
/// created_at, updated_at), most recently changed first.
pub async fn list(State(state): State<AppState>, CallerOf(caller): CallerOf) -> Response {
    let (admission, organization) = match admit_for_organization(&state, &caller).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let result = async {
        let store = store_of(&state)?;
        let capsules = store.organization_capsules(&reader_of(&admission), organization).await?;
        Ok(axum::Json(json!({"organization_id": organization, "capsules": capsules})).into_response())
    };
    answer(result.await, &admission)
}

/// A range bound of the stats query (percent-decoded, as URLSearchParams writes it): RFC 3339 with an offset.
fn instant(query: Option<&str>, name: &'static str) -> Result<Option<DateTime<Utc>>, Problem> {
    let Some((_, text)) =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes()).find(|(key, _)| key.as_ref() == name)
    else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(&text).map(|at| Some(at.with_timezone(&Utc))).map_err(|_| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidField,
            format!(
                "{name} must be an RFC 3339 time with an offset, such as 2026-12-01T00:00:00Z (a + encoded as %2B)"
            ),
        )
        .with_field(name)
    })
}

/// The hours `[from, to)` a stats query asks for: `to` defaults to the end of the current hour, `from` to 7 days
/// before `to`; both are rounded down to the hour; the range is 1 hour to [`MAX_STATS_DAYS`].
pub fn stats_range(query: Option<&str>, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>), Problem> {
    let hour = TimeDelta::hours(1);
    let floor = |at: DateTime<Utc>| at.duration_trunc(hour).unwrap_or(at);
    let to = match instant(query, "to")? {
        Some(to) => floor(to),
        None => floor(now) + hour,
    };
    let from = match instant(query, "from")? {
        Some(from) => floor(from),
        None => to - TimeDelta::days(DEFAULT_STATS_DAYS),
    };
    if from >= to || to - from > TimeDelta::days(MAX_STATS_DAYS) {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidField,
            format!("from must be before to (whole hours), and the range at most {MAX_STATS_DAYS} days"),
        )
        .with_field("from"));
    }
    Ok((from, to))
}

/// GET /api/capsules/{id}/stats?from=&to=: the capsule's hourly stats in the range, oldest first, for its
/// organization. Hours without events have no row.
pub async fn stats(
    State(state): State<AppState>,
    CallerOf(caller): CallerOf,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let (admission, organization) = match admit_for_organization(&state, &caller).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let result = async {
        let store = store_of(&state)?;
        let (from, to) = stats_range(query.as_deref(), Utc::now())?;
        let capsule = Uuid::parse_str(&id).map_err(|_| no_capsule(&id))?;
        let head = store.capsule_head(&Actor::Service, capsule).await?;
        if head.is_none_or(|head| head.organization_id != organization) {
            return Err(no_capsule(&id));
        }
        let hours = store.capsule_stats(&reader_of(&admission), capsule, from, to).await?;
        Ok(axum::Json(json!({"capsule_id": capsule, "from": from, "to": to, "hours": hours})).into_response())
    };
    answer(result.await, &admission)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_default_range_is_the_last_seven_days_to_the_end_of_this_hour() {
        let (from, to) = stats_range(None, at("2026-12-03T15:42:10Z")).unwrap();
        assert_eq!(to, at("2026-12-03T16:00:00Z"));
        assert_eq!(from, at("2026-11-26T16:00:00Z"));
    }

    #[test]
    fn bounds_are_whole_hours_and_the_range_is_bounded_at_its_edges() {
        let now = at("2026-12-03T15:00:00Z");
        let (from, to) = stats_range(Some("from=2026-12-01T10:30:00Z&to=2026-12-01T12:59:59Z"), now).unwrap();
        assert_eq!((from, to), (at("2026-12-01T10:00:00Z"), at("2026-12-01T12:00:00Z")));
        let longest = stats_range(Some("from=2026-09-01T00:00:00Z&to=2026-12-03T00:00:00Z"), now).unwrap();
        assert_eq!(longest.1 - longest.0, TimeDelta::days(MAX_STATS_DAYS));
        let too_long = stats_range(Some("from=2026-09-01T00:00:00Z&to=2026-12-03T01:00:00Z"), now).unwrap_err();
        assert_eq!(too_long.status, 422);
        let within_one_hour = stats_range(Some("from=2026-12-01T10:10:00Z&to=2026-12-01T10:50:00Z"), now);
        assert!(within_one_hour.is_err(), "both bounds round to 10:00: an empty range");
    }

    #[test]
    fn bounds_are_percent_decoded_and_a_bad_one_is_named() {
        let now = at("2026-12-03T15:00:00Z");
        let query = "from=2026-12-01T10%3A00%3A00%2B01%3A00&to=2026-12-02T00:00:00Z";
        let (from, _) = stats_range(Some(query), now).unwrap();
        assert_eq!(from, at("2026-12-01T09:00:00Z"));
        let refused = stats_range(Some("from=yesterday"), now).unwrap_err();
        assert_eq!(refused.status, 422);
    }
}
