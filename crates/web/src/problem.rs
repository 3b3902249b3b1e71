//! RFC 9457 problem details: the one shape every error of every function takes on the wire.

use axum::response::{IntoResponse, Response};
use codecapsule_core::model::ErrorCode;
use http::{HeaderValue, StatusCode, header};

pub use codecapsule_core::model::PROBLEM_JSON;

/// `{type, title, status, detail, code}` plus `field` where one field is at fault. `code` is the stable machine string
/// clients branch on; `type` is a URI made from it and `title` the status's reason phrase (both derived when sent);
/// `detail` says what happened and what to do about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The HTTP status.
    pub status: u16,
    /// The stable machine code.
    pub code: ErrorCode,
    /// What happened and what to do about it.
    pub detail: String,
    /// The request field at fault, as a path like `tests[2].stdin`.
    pub field: Option<String>,
}

impl Problem {
    /// A problem with `status`, `code` and `detail`.
    pub fn new(status: StatusCode, code: ErrorCode, detail: impl Into<String>) -> Problem {
        Problem { status: status.as_u16(), code, detail: detail.into(), field: None }
    }

    /// Names the request field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Problem {
        self.field = Some(field.into());
        self
    }

    /// The status as http's type.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// 404 for a path no route serves.
    pub fn not_found(path: &str) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, format!("no route for {path}; see GET /api/health"))
    }

    /// 500: a bug of ours, never bad input.
    pub fn internal(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalError, detail)
    }
}

impl Problem {
    /// The JSON body.
    pub(crate) fn body(&self) -> Vec<u8> {
        codecapsule_core::model::problem_body(self.status_code(), self.code, &self.detail, self.field.as_deref())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = (self.status_code(), self.body()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

impl From<codecapsule_core::judge::JudgeError> for Problem {
    fn from(err: codecapsule_core::judge::JudgeError) -> Problem {
        let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        if let codecapsule_core::judge::JudgeError::Remote { code, detail, .. } = &err {
            // A remote judge's stable code passes through unchanged when it is one of ours.
            let known = ErrorCode::parse(code).unwrap_or(ErrorCode::RemoteProblem);
            return Problem::new(status, known, detail.clone());
        }
        let problem = Problem::new(status, err.code(), err.to_string());
        match &err {
            codecapsule_core::judge::JudgeError::InvalidField { field, .. } => problem.with_field(field.clone()),
            codecapsule_core::judge::JudgeError::NoTests | codecapsule_core::judge::JudgeError::TooManyTests { .. } => {
                problem.with_field("tests")
            }
            codecapsule_core::judge::JudgeError::SourceTooLarge { .. } => problem.with_field("source"),
            codecapsule_core::judge::JudgeError::InvalidBase64 { .. } => problem.with_field("module_base64"),
            codecapsule_core::judge::JudgeError::UnknownLanguage { .. }
            | codecapsule_core::judge::JudgeError::LanguageUnavailable { .. } => problem.with_field("language"),
            _ => problem,
        }
    }
}
