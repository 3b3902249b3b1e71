//! RFC 9457 problem details: the one shape every error of every function takes on the wire.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// `{type, title, status, detail, code}` plus optional members. `code` is the stable machine string clients branch on;
/// `type` is a URI made from it; `detail` says what happened and what to do about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    /// The request field at fault, as a path like `tests[2].stdin`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("https://codecapsule.dev/problems/{}", code.replace('_', "-")),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_string(),
            field: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Problem {
        self.field = Some(field.into());
        self
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn not_found(path: &str) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not_found", format!("no route for {path}; see GET /api/health"))
    }

    pub fn internal(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{\"code\":\"internal_error\"}".to_vec());
        let mut response = (status, body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

impl From<crate::judge::JudgeError> for Problem {
    fn from(err: crate::judge::JudgeError) -> Problem {
        let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        let problem = Problem::new(status, err.code(), err.to_string());
        match &err {
            crate::judge::JudgeError::InvalidField { field, .. } => problem.with_field(field.clone()),
            crate::judge::JudgeError::NoTests | crate::judge::JudgeError::TooManyTests { .. } => {
                problem.with_field("tests")
            }
            crate::judge::JudgeError::SourceTooLarge { .. } => problem.with_field("source"),
            crate::judge::JudgeError::InvalidBase64 { .. } => problem.with_field("module_base64"),
            crate::judge::JudgeError::UnknownLanguage { .. } | crate::judge::JudgeError::LanguageUnavailable { .. } => {
                problem.with_field("language")
            }
            _ => problem,
        }
    }
}
