//! POST /api/events at the edge: the bucket of the client's address first (as the functions' guard does), then the
//! body's media type and size, each event checked by the core crate, and the valid ones sent to Event Hubs before
//! the 202. A send that fails answers 503 and the widget retries the whole batch: the processor drops the events it
//! already has by event_id, so a retry counts nothing twice.
//!
//! One difference from analytics-ingest, which stores events itself: the edge cannot know which events the database
//! already holds, so its `duplicates` is always 0 and `accepted` counts the events forwarded.

use crate::answer::{Answer, problem};
use crate::budget::Deadline;
use crate::config::EdgeConfig;
use crate::{limiter, stream};
use codecapsule_core::access::GuardError;
use codecapsule_core::analytics::{self, IngestReport, MAX_BATCH_BYTES};
use codecapsule_core::media::check_json_content_type;
use codecapsule_core::model::ErrorCode;
use worker::{Date, Env, Request};

/// The client's address as Cloudflare vouches for it (a client cannot set CF-Connecting-IP through Cloudflare).
const CLIENT_ADDRESS: &str = "cf-connecting-ip";

/// POST /api/events.
pub async fn ingest(mut request: Request, env: &Env, config: &EdgeConfig) -> Answer {
    let deadline = Deadline::start();
    let header = |name: &str| request.headers().get(name).ok().flatten();
    let client = header(CLIENT_ADDRESS).unwrap_or_else(|| "unknown".to_string());
    let limit = match limiter::take_ingest(env, &client, deadline).await {
        Ok((true, limit)) => limit,
        Ok((false, limit)) => {
            let detail = GuardError::RateLimited { limit }.to_string();
            return problem(429, ErrorCode::RateLimited, &detail, None)
                .with_limit(&limit)
                .with_header("retry-after", limit.retry_after_seconds.to_string());
        }
        Err(err) => {
            worker::console_error!("ingest: {err}");
            return problem(
                503,
                ErrorCode::StateUnavailable,
                &format!("{err}; retry the batch: retries are safe"),
                None,
            )
            .with_header("retry-after", "5".to_string());
        }
    };
    let content_type = header("content-type").unwrap_or_default();
    let declared = header("content-length").and_then(|length| length.parse::<u64>().ok());
    let answer = match check_json_content_type(&content_type, true) {
        Err(err) => problem(415, ErrorCode::UnsupportedMediaType, &err.to_string(), None),
        Ok(()) if declared.is_some_and(|length| length > MAX_BATCH_BYTES as u64) => too_large(),
        Ok(()) => match request.bytes().await {
            Err(err) => problem(400, ErrorCode::BodyUnreadable, &format!("the body could not be read: {err}"), None),
            Ok(body) if body.len() > MAX_BATCH_BYTES => too_large(),
            Ok(body) => forward(&body, config, deadline).await,
        },
    };
    answer.with_limit(&limit)
}

async fn forward(body: &[u8], config: &EdgeConfig, deadline: Deadline) -> Answer {
    let stream = match &config.stream {
        Ok(stream) => stream,
        Err(err) => {
            return problem(503, ErrorCode::StateUnavailable, &format!("events cannot be forwarded: {err}"), None);
        }
    };
    let now = chrono::DateTime::from_timestamp_millis(Date::now().as_millis() as i64).unwrap_or_default();
    let checked = match analytics::check_batch(body, now, &config.analytics) {
        Ok(checked) => checked,
        Err(err) => {
            let (status, code, field) = err.answer();
            return problem(status.as_u16(), code, &err.to_string(), field);
        }
    };
    let (valid, rejected) = analytics::partition(checked);
    if !valid.is_empty()
        && let Err(err) = stream::send(stream, &valid, deadline).await
    {
        worker::console_error!("ingest: {} events not forwarded: {err}", valid.len());
        return problem(
            503,
            ErrorCode::StateUnavailable,
            "events could not be forwarded to the event stream; retry the batch: retries are safe",
            None,
        )
        .with_header("retry-after", "5".to_string());
    }
    Answer::json(202, &IngestReport { accepted: valid.len() as u64, duplicates: 0, rejected })
}

fn too_large() -> Answer {
    problem(
        413,
        ErrorCode::BodyTooLarge,
        &format!("the body is larger than this route's limit of {MAX_BATCH_BYTES} bytes"),
        None,
    )
}
