//! The JSON body extractor of every route: content type checked, size bounded, errors naming the field at fault.
//!
//! axum's own `Json` answers with plain-text errors and a fixed body limit; this one answers problem+json:
//! - 415 `unsupported_media_type` when the body is not `application/json` (or `text/plain`, where a route allows it);
//! - 413 `body_too_large` past the route's [`BodyLimit`] (Content-Length checked before reading);
//! - 400 `invalid_json` for malformed JSON, with line and column, and for anything after the JSON value (trailing
//!   text, a second object, stray bytes);
//! - 415 as well for a JSON content type whose charset is not UTF-8 (RFC 8259: JSON between systems is UTF-8);
//! - 422 `invalid_field` for a well-formed body of the wrong shape: missing, unknown or mistyped fields, with the path;
//!   a JSON array is not taken for an object, whatever serde would make of its elements in field order.

use super::objects_only::ObjectsOnly;
use super::problem::Problem;
use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use codecapsule_core::model::ErrorCode;
use http::{StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// The largest body a route accepts, set per route with `axum::Extension(BodyLimit(n))`; without it,
/// [`codecapsule_core::judge::limits::DEFAULT_BODY_BYTES`].
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Which content types a route takes besides `application/json`: `text/plain` is what `navigator.sendBeacon` sends.
#[derive(Debug, Clone, Copy)]
pub struct AcceptTextPlain;

/// A JSON request body, checked as described in the module docs.
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonBody(body) = JsonBody::from_request(request, state).await?;
        parse(&body).map(Json)
    }
}

/// A request body with the content type and size checks of [`Json`], left unparsed for routes that read it piece by
/// piece (POST /api/events keeps the valid events of a batch with one broken event).
pub struct JsonBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = Problem;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let limit = request
            .extensions()
            .get::<BodyLimit>()
            .map_or(codecapsule_core::judge::limits::DEFAULT_BODY_BYTES, |BodyLimit(bytes)| *bytes);
        check_content_type(&request)?;
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(too_large(limit));
        }
        read_limited(request, limit).await.map(JsonBody)
    }
}

fn check_content_type(request: &Request) -> Result<(), Problem> {
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
    let text_allowed = request.extensions().get::<AcceptTextPlain>().is_some();
    codecapsule_core::media::check_json_content_type(content_type, text_allowed).map_err(|err| {
        Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::UnsupportedMediaType, err.to_string())
    })
}

/// How long a request's body may take to arrive in full (the local and Azure servers read it from the client as it
/// comes; a client that announces more than it sends would otherwise hold the request open).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

async fn read_limited(request: Request, limit: usize) -> Result<Bytes, Problem> {
    let read = tokio::time::timeout(BODY_READ_TIMEOUT, Limited::new(request.into_body(), limit).collect());
    let Ok(read) = read.await else {
        return Err(Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::BodyTimeout,
            format!(
                "the body did not arrive within {} s: send all the bytes its Content-Length announces",
                BODY_READ_TIMEOUT.as_secs()
            ),
        ));
    };
    match read {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(limit)),
        Err(err) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BodyUnreadable,
            format!("the body could not be read: {err}"),
        )),
    }
}

fn too_large(limit: usize) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::BodyTooLarge,
        format!("the body is larger than this route's limit of {limit} bytes"),
    )
}

/// Parses JSON, telling syntax errors (400) from shape errors (422, with the path of the field at fault).
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    if body.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'[') {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidField,
            "the body must be a JSON object, not an array",
        ));
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(ObjectsOnly(&mut *deserializer));
    if parsed.is_ok() {
        // Nothing but whitespace may follow the value.
        deserializer.end().map_err(|err| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidJson,
                format!("the body must be one JSON object and nothing after it: {err}"),
            )
        })?;
    }
    parsed.map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let problem = Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorCode::InvalidField,
                    if path == "." {
                        format!("the body: {}", strip_position(&inner))
                    } else {
                        format!("`{path}`: {}", strip_position(&inner))
                    },
                );
                if path == "." { problem } else { problem.with_field(path) }
            }
            serde_json::error::Category::Eof if body.iter().all(u8::is_ascii_whitespace) => {
                Problem::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidJson, "the body is empty; send a JSON object")
            }
            _ => Problem::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidJson,
                format!("the body is not valid JSON: {inner}"),
            ),
        }
    })
}

/// serde_json appends " at line L column C" to data errors; the field path says more, so drop it there.
fn strip_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(position) => text[..position].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use codecapsule_core::model::JudgeRequest;

    #[test]
    fn syntax_errors_are_400_with_position() {
        let problem = parse::<JudgeRequest>(b"{\"language\": ").unwrap_err();
        assert_eq!((problem.status, problem.code), (400, ErrorCode::InvalidJson));
        assert!(problem.detail.contains("line 1"), "{}", problem.detail);
        let problem = parse::<JudgeRequest>(b"  ").unwrap_err();
        assert_eq!(problem.detail, "the body is empty; send a JSON object");
    }

    #[test]
    fn shape_errors_are_422_naming_the_field() {
        let problem = parse::<JudgeRequest>(br#"{"language":"wat","tests":[{"stdin":1}]}"#).unwrap_err();
        assert_eq!((problem.status, problem.code), (422, ErrorCode::InvalidField));
        assert_eq!(problem.field.as_deref(), Some("tests[0].stdin"));

        let problem = parse::<JudgeRequest>(br#"{"language":"wat","tests":[],"tset":1}"#).unwrap_err();
        assert!(problem.detail.contains("unknown field `tset`"), "{}", problem.detail);

        let problem = parse::<JudgeRequest>(br#"{"language":"wat"}"#).unwrap_err();
        assert_eq!(problem.detail, "the body: missing field `tests`");
    }

    #[test]
    fn nothing_may_follow_the_value_and_an_array_is_not_an_object() {
        let valid = r#"{"language":"wat","tests":[{"stdin":"","expected_stdout":""}]}"#;
        assert!(parse::<JudgeRequest>(valid.as_bytes()).is_ok());
        assert!(parse::<JudgeRequest>(format!("{valid}\n  ").as_bytes()).is_ok(), "trailing whitespace is fine");
        for trailing in [
            format!("{valid}xyz").into_bytes(),
            format!("{valid}{valid}").into_bytes(),
            [valid.as_bytes(), &[0xFF]].concat(),
        ] {
            let problem = parse::<JudgeRequest>(&trailing).unwrap_err();
            assert_eq!((problem.status, problem.code), (400, ErrorCode::InvalidJson), "{}", problem.detail);
        }
        let problem = parse::<JudgeRequest>(br#" ["wat", null, [{"stdin":"","expected_stdout":""}]]"#).unwrap_err();
        assert_eq!((problem.status, problem.code), (422, ErrorCode::InvalidField));
        assert!(problem.detail.contains("not an array"), "{}", problem.detail);
    }
}
