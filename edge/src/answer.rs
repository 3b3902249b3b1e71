//! The Worker's answers: JSON and problem+json bodies (the core crate's one shape), the rate-limit headers, and CORS
//! as the functions' CORS layer answers it (allowed origins from CORS_ALLOWED_ORIGINS; a preflight is always 200, with
//! the allow headers only for an allowed origin).

use crate::config::EdgeConfig;
use codecapsule_core::access::Limit;
use codecapsule_core::model::{ErrorCode, PROBLEM_JSON, problem_body};
use worker::{Headers, Response};

/// An answer before it becomes a Worker response: status, content type, body and extra headers.
pub struct Answer {
    status: u16,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

/// What the functions' CORS layer allows and exposes.
const ALLOW_METHODS: &str = "GET,POST,OPTIONS";
const ALLOW_HEADERS: &str = "content-type,authorization,x-request-id,x-organization-id";
const EXPOSE_HEADERS: &str = "x-request-id,retry-after,ratelimit,ratelimit-policy";

impl Answer {
    /// A JSON answer.
    pub fn json(status: u16, value: &impl serde::Serialize) -> Answer {
        // Our answers are plain data: serialising them cannot fail.
        let body = serde_json::to_vec(value).expect("an answer serialises");
        Answer { status, content_type: Some("application/json"), body, headers: Vec::new() }
    }

    /// The answer with a header added.
    pub fn with_header(mut self, name: &'static str, value: String) -> Answer {
        self.headers.push((name, value));
        self
    }

    /// The answer with the RateLimit and RateLimit-Policy headers of `limit`.
    pub fn with_limit(self, limit: &Limit) -> Answer {
        self.with_header("ratelimit-policy", limit.policy_header()).with_header("ratelimit", limit.state_header())
    }

    /// The Worker's response, with CORS headers for `allowed_origin` (an allowed browser origin of the request).
    pub fn into_response(self, allowed_origin: Option<&str>) -> worker::Result<Response> {
        let headers = Headers::new();
        if let Some(content_type) = self.content_type {
            headers.set("content-type", content_type)?;
        }
        for (name, value) in &self.headers {
            headers.set(name, value)?;
        }
        headers.set("vary", "origin, access-control-request-method, access-control-request-headers")?;
        if let Some(origin) = allowed_origin {
            headers.set("access-control-allow-origin", origin)?;
            if self.headers.iter().any(|(name, _)| *name == "access-control-allow-methods") {
                headers.set("access-control-allow-headers", ALLOW_HEADERS)?;
                headers.set("access-control-max-age", "600")?;
            } else {
                headers.set("access-control-expose-headers", EXPOSE_HEADERS)?;
            }
        }
        Ok(Response::from_bytes(self.body)?.with_status(self.status).with_headers(headers))
    }
}

/// A problem+json answer.
pub fn problem(status: u16, code: ErrorCode, detail: &str, field: Option<&str>) -> Answer {
    let status_code = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    Answer {
        status,
        content_type: Some(PROBLEM_JSON),
        body: problem_body(status_code, code, detail, field),
        headers: Vec::new(),
    }
}

/// The answer to a CORS preflight (the allow headers are added for an allowed origin).
pub fn cors_preflight() -> Answer {
    Answer { status: 200, content_type: None, body: Vec::new(), headers: Vec::new() }
        .with_header("access-control-allow-methods", ALLOW_METHODS.to_string())
}

/// GET /api/health: what the edge is, and whether it has an event stream to forward to.
pub fn health(config: &EdgeConfig) -> Answer {
    let stream = match &config.stream {
        Ok(_) => serde_json::json!({ "eventhubs": "configured" }),
        Err(err) => serde_json::json!({ "eventhubs": "missing", "reason": err.to_string() }),
    };
    let status = if config.stream.is_ok() { "ok" } else { "degraded" };
    Answer::json(
        if config.stream.is_ok() { 200 } else { 503 },
        &serde_json::json!({
            "status": status,
            "host": "cloudflare-workers",
            "functions": ["edge"],
            "routes": ["POST /api/events", "GET /api/health"],
            "stream": stream,
        }),
    )
}
