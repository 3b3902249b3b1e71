//! A request's deadline at the edge: started as the request arrives ([`start`], one of [`crate::service`]'s
//! conventions), taken by the handlers that run programs or models ([`RequestDeadline`]), which pass it to every
//! judging and healing of the request.

use crate::Problem;
use axum::extract::{FromRequestParts, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use codecapsule_core::deadline::{BUDGET_HEADER, Deadline};
use codecapsule_core::model::ErrorCode;
use http::StatusCode;
use http::request::Parts;

/// Starts the request's deadline, shortened to [`BUDGET_HEADER`]'s milliseconds when the caller sends less; a
/// malformed value is a 400 (`invalid_header`).
pub async fn start(mut request: Request, next: Next) -> Response {
    let asked = match request.headers().get(BUDGET_HEADER) {
        None => None,
        Some(value) => match value.to_str().ok().and_then(|text| text.parse::<u64>().ok()) {
            Some(millis) => Some(millis),
            None => {
                let detail = format!("{BUDGET_HEADER} must be a whole number of milliseconds");
                return Problem::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidHeader, detail).into_response();
            }
        },
    };
    request.extensions_mut().insert(Deadline::for_request(asked));
    next.run(request).await
}

/// The deadline [`start`] put on the request; a router served without [`crate::service`] (a test's) starts one here.
#[derive(Debug, Clone, Copy)]
pub struct RequestDeadline(pub Deadline);

impl<S: Send + Sync> FromRequestParts<S> for RequestDeadline {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<RequestDeadline, Self::Rejection> {
        Ok(RequestDeadline(parts.extensions.get::<Deadline>().copied().unwrap_or_else(|| Deadline::for_request(None))))
    }
}
