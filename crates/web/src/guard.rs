//! The guard at the HTTP edge: reads the caller from the request, asks [`codecapsule_core::access::Guard`], and answers 401, 403,
//! 429 or 503 as problem+json, or passes the request on with its [`Admission`] and the rate-limit headers.
//!
//! Headers (IETF draft "RateLimit header fields for HTTP", structured fields):
//! `RateLimit-Policy: "free";q=10;w=60` (quota per window of seconds) and `RateLimit: "free";r=3;t=6` (remaining,
//! seconds until the quota is whole again); on 429 also `Retry-After` in seconds.

use super::Problem;
use crate::client::ClientAddress;
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use codecapsule_core::access::{Admission, Audience, Caller, Feature, Guard, GuardError, Limit};
use codecapsule_core::model::ErrorCode;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use std::net::SocketAddr;

/// `RateLimit`: the bucket's remaining requests and seconds until it is whole.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// `RateLimit-Policy`: the tier's quota per window.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `X-Organization-Id`: the organization a user acts for.
pub const ORGANIZATION_ID: HeaderName = HeaderName::from_static("x-organization-id");
/// `routes` behind the guard for `feature`, open to `audience` (unchanged when the guard is off: without state there
/// is no identity to check).
pub fn guarded(routes: Router, guard: &Guard, feature: Feature, audience: Audience) -> Router {
    if !guard.is_on() {
        return routes;
    }
    let guard = guard.clone();
    routes.route_layer(axum::middleware::from_fn(move |mut request: Request, next: Next| {
        let guard = guard.clone();
        async move {
            let caller = match caller_from(request.headers(), request.extensions()) {
                Ok(caller) => caller,
                Err(problem) => return problem.into_response(),
            };
            if audience == Audience::Identified && caller.bearer.is_none() {
                return identity_required().into_response();
            }
            match guard.admit(feature, &caller).await {
                Ok(admission) => {
                    let limit = admission.limit;
                    request.extensions_mut().insert::<Admission>(admission);
                    with_limit_headers(next.run(request).await, limit)
                }
                Err(err) => refusal(err),
            }
        }
    }))
}

/// The 401 of a route that runs whatever its caller sends, called without an identity.
pub fn identity_required() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::AuthenticationRequired,
        "this route runs the code you send, which needs an identity: send `Authorization: Bearer` with your \
         organization's API key or a Supabase user token (readers without one submit to and run published capsules)",
    )
}

/// Admits the caller of `parts` for `feature`, or answers why not: for handlers that must look at the request before
/// anything is taken from a bucket (a published capsule's routes answer 404 for an unknown capsule for free).
pub async fn admit(guard: &Guard, feature: Feature, caller: &Caller) -> Result<Admission, Response> {
    guard.admit(feature, caller).await.map_err(refusal)
}

/// `response` with the RateLimit headers of `limit`, when the request drew from a bucket.
pub fn with_limit_headers(mut response: Response, limit: Option<Limit>) -> Response {
    if let Some(limit) = limit {
        insert_limit_headers(response.headers_mut(), &limit);
    }
    response
}

/// The caller as a request's headers and extensions (what axum's `Parts` holds) show them.
fn caller_from(headers: &HeaderMap, extensions: &http::Extensions) -> Result<Caller, Problem> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string())
        .filter(|token| !token.is_empty());
    if headers.contains_key(header::AUTHORIZATION) && bearer.is_none() {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidToken,
            "Authorization must be `Bearer <token>`: a Supabase user JWT or an organization API key",
        ));
    }
    let ip = match extensions.get::<ClientAddress>() {
        Some(ClientAddress(address)) => address.clone(),
        // Served without the host adapter (a router under test): the peer.
        None => extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip().to_string())
            .unwrap_or_else(|| "unknown".into()),
    };
    Ok(Caller { bearer, organization: uuid_header(headers, &ORGANIZATION_ID)?, ip })
}

fn uuid_header(headers: &HeaderMap, name: &HeaderName) -> Result<Option<uuid::Uuid>, Problem> {
    let Some(value) = headers.get(name) else { return Ok(None) };
    value.to_str().ok().and_then(|value| uuid::Uuid::parse_str(value.trim()).ok()).map(Some).ok_or_else(|| {
        Problem::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidHeader, format!("{name} must be a UUID"))
            .with_field(name.as_str())
    })
}

fn insert_limit_headers(headers: &mut HeaderMap, limit: &Limit) {
    for (name, value) in [(RATELIMIT_POLICY, limit.policy_header()), (RATELIMIT, limit.state_header())] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

fn refusal(err: GuardError) -> Response {
    let detail = err.to_string();
    let mut headers = HeaderMap::new();
    let problem = match &err {
        GuardError::AuthUnavailable(_) => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::AuthUnavailable, detail)
        }
        GuardError::InvalidToken(_) => {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
            Problem::new(StatusCode::UNAUTHORIZED, ErrorCode::InvalidToken, detail)
        }
        GuardError::UnknownApiKey => {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
            Problem::new(StatusCode::UNAUTHORIZED, ErrorCode::InvalidApiKey, detail)
        }
        GuardError::NotAMember(_) => {
            Problem::new(StatusCode::FORBIDDEN, ErrorCode::NotAMember, detail).with_field(ORGANIZATION_ID.as_str())
        }
        GuardError::Disabled { .. } => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::FeatureDisabled, detail)
        }
        GuardError::RateLimited { limit } => {
            insert_limit_headers(&mut headers, limit);
            if let Ok(value) = HeaderValue::from_str(&limit.retry_after_seconds.to_string()) {
                headers.insert(header::RETRY_AFTER, value);
            }
            Problem::new(StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited, detail)
        }
        GuardError::Unavailable(_) => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::StateUnavailable, detail)
        }
    };
    (headers, problem).into_response()
}

/// The caller of a request, for handlers that admit it themselves ([`admit`]).
pub struct CallerOf(pub Caller);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for CallerOf {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut http::request::Parts, _state: &S) -> Result<CallerOf, Problem> {
        caller_from(&parts.headers, &parts.extensions).map(CallerOf)
    }
}
