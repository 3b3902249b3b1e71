//! The guard at the HTTP edge: reads the caller from the request, asks [`codecapsule_core::access::Guard`], and answers 401, 403,
//! 429 or 503 as problem+json, or passes the request on with its [`Admission`] and the rate-limit headers.
//!
//! Headers (IETF draft "RateLimit header fields for HTTP", structured fields):
//! `RateLimit-Policy: "free";q=10;w=60` (quota per window of seconds) and `RateLimit: "free";r=3;t=6` (remaining,
//! seconds until the quota is whole again); on 429 also `Retry-After` in seconds.

use super::Problem;
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use codecapsule_core::access::{Admission, Caller, Feature, Guard, GuardError, Limit};
use codecapsule_core::model::ErrorCode;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use std::net::SocketAddr;

/// `RateLimit`: the bucket's remaining requests and seconds until it is whole.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// `RateLimit-Policy`: the tier's quota per window.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `X-Organization-Id`: the organization a user acts for.
pub const ORGANIZATION_ID: HeaderName = HeaderName::from_static("x-organization-id");
/// `X-Capsule-Id`: the capsule anonymous widget traffic is for.
pub const CAPSULE_ID: HeaderName = HeaderName::from_static("x-capsule-id");

/// `routes` behind the guard for `feature` (unchanged when the guard is off).
pub fn guarded(routes: Router, guard: &Guard, feature: Feature) -> Router {
    if !guard.is_on() {
        return routes;
    }
    let guard = guard.clone();
    routes.route_layer(axum::middleware::from_fn(move |request: Request, next: Next| {
        let guard = guard.clone();
        async move { admit(&guard, feature, request, next).await }
    }))
}

async fn admit(guard: &Guard, feature: Feature, mut request: Request, next: Next) -> Response {
    let caller = match caller_of(&request) {
        Ok(caller) => caller,
        Err(problem) => return problem.into_response(),
    };
    match guard.admit(feature, &caller).await {
        Ok(admission) => {
            let limit = admission.limit;
            request.extensions_mut().insert::<Admission>(admission);
            let mut response = next.run(request).await;
            if let Some(limit) = limit {
                insert_limit_headers(response.headers_mut(), &limit);
            }
            response
        }
        Err(err) => refusal(err),
    }
}

/// The caller as the request shows them.
fn caller_of(request: &Request) -> Result<Caller, Problem> {
    let headers = request.headers();
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
    Ok(Caller {
        bearer,
        organization: uuid_header(headers, &ORGANIZATION_ID)?,
        capsule: match uuid_header(headers, &CAPSULE_ID)? {
            Some(capsule) => Some(capsule),
            None => capsule_in_query(request)?,
        },
        ip: client_ip(request),
    })
}

fn uuid_header(headers: &HeaderMap, name: &HeaderName) -> Result<Option<uuid::Uuid>, Problem> {
    let Some(value) = headers.get(name) else { return Ok(None) };
    value.to_str().ok().and_then(|value| uuid::Uuid::parse_str(value.trim()).ok()).map(Some).ok_or_else(|| {
        Problem::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidHeader, format!("{name} must be a UUID"))
            .with_field(name.as_str())
    })
}

/// `?capsule_id=`: navigator.sendBeacon cannot set headers, but it can name the capsule in the URL.
fn capsule_in_query(request: &Request) -> Result<Option<uuid::Uuid>, Problem> {
    let Some(value) =
        request.uri().query().and_then(|query| query.split('&').find_map(|pair| pair.strip_prefix("capsule_id=")))
    else {
        return Ok(None);
    };
    uuid::Uuid::parse_str(value).map(Some).map_err(|_| {
        Problem::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidHeader, "the capsule_id query parameter must be a UUID")
            .with_field("capsule_id")
    })
}

/// API Gateway's source IP on Lambda; behind a proxy on this machine (the Azure Functions host), the first
/// X-Forwarded-For address; else the TCP peer.
fn client_ip(request: &Request) -> String {
    if let Some(context) = request.extensions().get::<lambda_http::request::RequestContext>()
        && let lambda_http::request::RequestContext::ApiGatewayV2(context) = context
        && let Some(ip) = &context.http.source_ip
    {
        return ip.clone();
    }
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(address)| address.ip());
    if peer.is_none_or(|peer| peer.is_loopback())
        && let Some(forwarded) = request.headers().get("x-forwarded-for").and_then(|value| value.to_str().ok())
        && let Some(first) = forwarded.split(',').next().map(str::trim).filter(|first| !first.is_empty())
    {
        // Azure sends `address:port`; IPv6 in brackets. Only the address names the client.
        let address =
            first.parse::<SocketAddr>().map(|address| address.ip().to_string()).unwrap_or_else(|_| first.to_string());
        return address.chars().take(64).collect();
    }
    peer.map(|peer| peer.to_string()).unwrap_or_else(|| "unknown".into())
}

fn insert_limit_headers(headers: &mut HeaderMap, limit: &Limit) {
    let policy = format!("\"{}\";q={};w=60", limit.policy, limit.per_minute);
    let state = format!("\"{}\";r={};t={}", limit.policy, limit.remaining, limit.reset_after_seconds);
    for (name, value) in [(RATELIMIT_POLICY, policy), (RATELIMIT, state)] {
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
