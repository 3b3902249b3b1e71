//! Widget analytics (POST /api/events): the events' contract, their validation one event at a time
//! (a batch is partially accepted: every valid event is kept, every invalid one is named by index and code), and the
//! configuration shared by the ingest and the processor.
//!
//! Storage and the rollup are SQL (supabase/migrations/*_analytics_pipeline.sql), reached through the `codecapsule-state` crate.

use chrono::{DateTime, Duration as Span, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use uuid::Uuid;

/// The largest request body of POST /api/events.
pub const MAX_BATCH_BYTES: usize = 512 * 1024;
/// Events per batch.
pub const MAX_EVENTS: usize = 500;
/// One event's JSON, in bytes.
pub const MAX_EVENT_BYTES: usize = 32 * 1024;
/// How far ahead of the server's clock an event may be stamped (a visitor's clock runs fast).
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;
/// visitor_id and session_id, in bytes.
pub const MAX_ID_BYTES: usize = 128;
/// language and widget_version, in bytes.
pub const MAX_LABEL_BYTES: usize = 32;
/// duration_ms: one day.
pub const MAX_DURATION_MS: i64 = 86_400_000;

/// Per-event rejection codes, as the 202 answer names them.
pub mod codes {
    /// The event is not valid JSON (the rest of the batch was).
    pub const MALFORMED_JSON: &str = "malformed_json";
    /// The event's JSON is over 32 KiB.
    pub const EVENT_TOO_LARGE: &str = "event_too_large";
    /// The event is not a JSON object.
    pub const NOT_AN_OBJECT: &str = "not_an_object";
    /// `event_id` is not a UUID.
    pub const INVALID_EVENT_ID: &str = "invalid_event_id";
    /// `capsule_id` is not a UUID.
    pub const INVALID_CAPSULE_ID: &str = "invalid_capsule_id";
    /// `type` is missing or not one of view, run, submit, pass, fail, error.
    pub const UNKNOWN_TYPE: &str = "unknown_type";
    /// `ts` is missing or not an RFC 3339 timestamp with an offset.
    pub const INVALID_TIMESTAMP: &str = "invalid_timestamp";
    /// `ts` is more than 5 minutes ahead of the server's clock.
    pub const TIMESTAMP_IN_FUTURE: &str = "timestamp_in_future";
    /// `ts` is older than the rollup still merges (retention minus one day).
    pub const TIMESTAMP_TOO_OLD: &str = "timestamp_too_old";
    /// `duration_ms` is not an integer from 0 to 86,400,000.
    pub const INVALID_DURATION: &str = "invalid_duration";
    /// visitor_id, session_id, language or widget_version is not a string of the allowed size.
    pub const INVALID_FIELD: &str = "invalid_field";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
/// What a reader did in a widget.
pub enum EventType {
    /// The capsule was shown.
    View,
    /// Run was pressed.
    Run,
    /// Submit was pressed.
    Submit,
    /// A submission was accepted.
    Pass,
    /// A submission was not.
    Fail,
    /// The widget failed.
    Error,
}

/// A validated event, as `public.ingest_events` takes it (the raw visitor id is hashed there with the day's salt and
/// never stored). It travels as this JSON through Event Hubs, from the edge to the processor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidEvent {
    /// The widget's id for the event, which makes a retried batch idempotent.
    pub event_id: Uuid,
    /// The capsule it is about.
    pub capsule_id: Uuid,
    #[serde(rename = "type")]
    /// What happened.
    pub kind: EventType,
    /// The widget's visitor id (hashed with the day's salt before it is stored).
    pub visitor_id: Option<String>,
    /// The widget's session id.
    pub session_id: Option<String>,
    /// When it happened, by the visitor's clock.
    pub ts: DateTime<Utc>,
    /// How long a run took, in milliseconds.
    pub duration_ms: Option<i64>,
    /// The capsule's language.
    pub language: Option<String>,
    /// The widget's version.
    pub widget_version: Option<String>,
}

/// The 202 answer of POST /api/events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReport {
    /// Events stored.
    pub accepted: u64,
    /// Events already stored (a retried batch).
    pub duplicates: u64,
    /// Events refused, each with its index and code.
    pub rejected: Vec<RejectedWire>,
}

/// An event refused, by its index in the batch, as the 202 answer reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedWire {
    /// Its index in the batch.
    pub index: usize,
    /// Why (a code of [`codes`]).
    pub code: String,
}

/// Why a whole batch is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("the body is not JSON ({0}), and no `events` array could be recovered from it")]
    /// The body is not JSON.
    NotJson(String),
    #[error("the body must be a JSON object with an `events` array")]
    /// The body has no `events` array.
    NoEventsArray,
    #[error("{count} events in one batch; send at most {MAX_EVENTS}")]
    /// More events than a batch may hold.
    TooManyEvents {
        /// How many events the batch had.
        count: usize,
    },
}

impl BatchError {
    /// The answer's status, stable code and the field at fault, wherever the batch arrived (a function or the edge).
    pub fn answer(&self) -> (http::StatusCode, crate::model::ErrorCode, Option<&'static str>) {
        use crate::model::ErrorCode;
        match self {
            BatchError::NotJson(_) => (http::StatusCode::BAD_REQUEST, ErrorCode::InvalidJson, None),
            BatchError::NoEventsArray => {
                (http::StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidField, Some("events"))
            }
            BatchError::TooManyEvents { .. } => {
                (http::StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooManyEvents, Some("events"))
            }
        }
    }
}

/// Retention and the age limit it implies, from ANALYTICS_RETENTION_DAYS (2 to 3650, default 30).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalyticsConfig {
    /// ANALYTICS_RETENTION_DAYS: how long raw events are kept (the hourly stats are kept).
    pub retention_days: u32,
}

impl AnalyticsConfig {
    /// ANALYTICS_RETENTION_DAYS, from 2 to 3650 days (default 30).
    pub fn from_env() -> Result<AnalyticsConfig, crate::config::ConfigError> {
        AnalyticsConfig::parse(crate::config::read("ANALYTICS_RETENTION_DAYS").as_deref())
    }

    /// ANALYTICS_RETENTION_DAYS's value, wherever it was read from (the edge Worker reads its bindings).
    pub fn parse(value: Option<&str>) -> Result<AnalyticsConfig, crate::config::ConfigError> {
        let Some(value) = value else {
            return Ok(AnalyticsConfig::default());
        };
        let days = value.trim().parse().ok().filter(|days| (2..=3650).contains(days)).ok_or_else(|| {
            crate::config::ConfigError::Invalid {
                var: "ANALYTICS_RETENTION_DAYS",
                value: value.to_string(),
                expected: "a number of days from 2 to 3650".into(),
            }
        })?;
        Ok(AnalyticsConfig { retention_days: days })
    }

    /// The oldest event still accepted: one day inside retention, so that the hour it lands in still has all its raw
    /// events when the rollup recomputes it.
    pub fn max_event_age(&self) -> Span {
        Span::days(i64::from(self.retention_days) - 1)
    }
}

impl Default for AnalyticsConfig {
    fn default() -> AnalyticsConfig {
        AnalyticsConfig { retention_days: 30 }
    }
}

/// Splits a batch into its events, each validated on its own. `now` is the server's receive time.
pub fn check_batch(
    body: &[u8],
    now: DateTime<Utc>,
    config: &AnalyticsConfig,
) -> Result<Vec<Result<ValidEvent, &'static str>>, BatchError> {
    let raw = split_events(body)?;
    if raw.len() > MAX_EVENTS {
        return Err(BatchError::TooManyEvents { count: raw.len() });
    }
    Ok(raw.into_iter().map(|event| check_event(event, now, config)).collect())
}

/// The events of a checked batch (see [`check_batch`]) split into the valid ones, to store or forward in their order,
/// and the refused ones, by index, for the 202 answer.
pub fn partition(checked: Vec<Result<ValidEvent, &'static str>>) -> (Vec<ValidEvent>, Vec<RejectedWire>) {
    let mut valid = Vec::with_capacity(checked.len());
    let mut rejected = Vec::new();
    for (index, event) in checked.into_iter().enumerate() {
        match event {
            Ok(event) => valid.push(event),
            Err(code) => rejected.push(RejectedWire { index, code: code.to_string() }),
        }
    }
    (valid, rejected)
}

/// The raw events of `{"events": [...]}`. A body that is valid JSON is split by serde; one that is not (one event
/// broken mid-batch) is split by a scanner that follows strings and brackets, so that only the broken event is lost.
fn split_events(body: &[u8]) -> Result<Vec<&[u8]>, BatchError> {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        events: Option<Vec<&'a RawValue>>,
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope { events: Some(events) }) => Ok(events.into_iter().map(|event| event.get().as_bytes()).collect()),
        Ok(Envelope { events: None }) => Err(BatchError::NoEventsArray),
        Err(err) if err.is_data() => Err(BatchError::NoEventsArray),
        Err(err) => scan_events(body).ok_or_else(|| BatchError::NotJson(err.to_string())),
    }
}

/// Finds the `events` array of a top-level object in text that is not valid JSON and cuts it at its top-level commas.
/// None when no complete array can be found.
fn scan_events(body: &[u8]) -> Option<Vec<&[u8]>> {
    let mut depth = 0usize;
    let mut index = 0;
    let mut last_key: Option<&[u8]> = None;
    while index < body.len() {
        match body[index] {
            b'"' => {
                let end = string_end(body, index)?;
                let text = &body[index + 1..end];
                index = end + 1;
                if depth == 1 {
                    let rest = skip_whitespace(body, index);
                    if body.get(rest) == Some(&b':') {
                        last_key = Some(text);
                        index = rest + 1;
                        continue;
                    }
                }
                continue;
            }
            b'{' | b'[' => {
                if depth == 1 && body[index] == b'[' && last_key == Some(b"events".as_slice()) {
                    return split_array(body, index);
                }
                depth += 1;
            }
            b'}' | b']' => depth = depth.checked_sub(1)?,
            _ => {}
        }
        index += 1;
    }
    None
}

/// The elements of the array opening at `open`, cut at its top-level commas (empty elements dropped).
fn split_array(body: &[u8], open: usize) -> Option<Vec<&[u8]>> {
    let mut elements = Vec::new();
    let mut depth = 0usize;
    let mut start = open + 1;
    let mut index = open + 1;
    while index < body.len() {
        match body[index] {
            b'"' => {
                index = string_end(body, index)?;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth > 0 => depth -= 1,
            b']' => {
                elements.push(&body[start..index]);
                return Some(elements.into_iter().map(trim).filter(|element| !element.is_empty()).collect());
            }
            b',' if depth == 0 => {
                elements.push(&body[start..index]);
                start = index + 1;
            }
            _ => {}
        }
        index += 1;
    }
    None
}

/// The index of the quote closing the string that opens at `open`.
fn string_end(body: &[u8], open: usize) -> Option<usize> {
    let mut index = open + 1;
    while index < body.len() {
        match body[index] {
            b'\\' => index += 2,
            b'"' => return Some(index),
            _ => index += 1,
        }
    }
    None
}

fn skip_whitespace(body: &[u8], mut index: usize) -> usize {
    while body.get(index).is_some_and(u8::is_ascii_whitespace) {
        index += 1;
    }
    index
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |end| end + 1);
    &bytes[start..end]
}

/// One event, checked field by field; the first fault is its code.
pub fn check_event(raw: &[u8], now: DateTime<Utc>, config: &AnalyticsConfig) -> Result<ValidEvent, &'static str> {
    if raw.len() > MAX_EVENT_BYTES {
        return Err(codes::EVENT_TOO_LARGE);
    }
    let value: Value = serde_json::from_slice(raw).map_err(|_| codes::MALFORMED_JSON)?;
    let Value::Object(fields) = value else { return Err(codes::NOT_AN_OBJECT) };
    let uuid = |name: &str, code: &'static str| {
        fields.get(name).and_then(Value::as_str).and_then(|text| Uuid::parse_str(text).ok()).ok_or(code)
    };
    let event_id = uuid("event_id", codes::INVALID_EVENT_ID)?;
    let kind = fields
        .get("type")
        .cloned()
        .and_then(|kind| serde_json::from_value::<EventType>(kind).ok())
        .ok_or(codes::UNKNOWN_TYPE)?;
    let capsule_id = uuid("capsule_id", codes::INVALID_CAPSULE_ID)?;
    let ts = fields
        .get("ts")
        .and_then(Value::as_str)
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|ts| ts.with_timezone(&Utc))
        .ok_or(codes::INVALID_TIMESTAMP)?;
    if ts > now + Span::seconds(MAX_CLOCK_SKEW_SECONDS) {
        return Err(codes::TIMESTAMP_IN_FUTURE);
    }
    if ts < now - config.max_event_age() {
        return Err(codes::TIMESTAMP_TOO_OLD);
    }
    let duration_ms = match fields.get("duration_ms") {
        None | Some(Value::Null) => None,
        Some(value) => {
            Some(value.as_i64().filter(|ms| (0..=MAX_DURATION_MS).contains(ms)).ok_or(codes::INVALID_DURATION)?)
        }
    };
    Ok(ValidEvent {
        event_id,
        capsule_id,
        kind,
        visitor_id: optional_text(&fields, "visitor_id", MAX_ID_BYTES)?,
        session_id: optional_text(&fields, "session_id", MAX_ID_BYTES)?,
        ts,
        duration_ms,
        language: optional_text(&fields, "language", MAX_LABEL_BYTES)?,
        widget_version: optional_text(&fields, "widget_version", MAX_LABEL_BYTES)?,
    })
}

fn optional_text(fields: &Map<String, Value>, name: &str, max: usize) -> Result<Option<String>, &'static str> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if !text.is_empty() && text.len() <= max && !text.contains('\0') => {
            Ok(Some(text.clone()))
        }
        Some(_) => Err(codes::INVALID_FIELD),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn event(ts: &str) -> String {
        format!(
            r#"{{"event_id":"{}","type":"run","capsule_id":"{}","visitor_id":"v","ts":"{ts}","duration_ms":12}}"#,
            Uuid::new_v4(),
            Uuid::new_v4()
        )
    }

    fn codes_of(body: &str) -> Vec<Result<(), &'static str>> {
        check_batch(body.as_bytes(), now(), &AnalyticsConfig::default())
            .unwrap()
            .into_iter()
            .map(|checked| checked.map(drop))
            .collect()
    }

    #[test]
    fn each_event_is_judged_on_its_own() {
        let good = event("2026-11-26T11:59:00+01:00");
        let body = format!(
            r#"{{"events":[{good},{},"text",{},{},{},{},{},{}]}}"#,
            r#"{"event_id":"nope","type":"run","capsule_id":"00000000-0000-4000-8000-000000000000","ts":"2026-11-26T12:00:00Z"}"#,
            event("2026-11-26T12:06:00Z"),
            event("2026-10-01T12:00:00Z"),
            event("yesterday"),
            event("2026-11-26T12:00:00Z").replace("\"run\"", "\"click\""),
            event("2026-11-26T12:00:00Z").replace("12}", "-1}"),
            event("2026-11-26T12:00:00Z").replace("\"v\"", "42"),
        );
        assert_eq!(
            codes_of(&body),
            vec![
                Ok(()),
                Err(codes::INVALID_EVENT_ID),
                Err(codes::NOT_AN_OBJECT),
                Err(codes::TIMESTAMP_IN_FUTURE),
                Err(codes::TIMESTAMP_TOO_OLD),
                Err(codes::INVALID_TIMESTAMP),
                Err(codes::UNKNOWN_TYPE),
                Err(codes::INVALID_DURATION),
                Err(codes::INVALID_FIELD),
            ]
        );
    }

    #[test]
    fn a_broken_event_does_not_take_its_batch_with_it() {
        let (first, last) = (event("2026-11-26T12:00:00Z"), event("2026-11-26T12:00:00Z"));
        let body = format!(r#"{{"events": [{first}, {{"event_id": "x", "type": }}, {{"a": "]}}\"{{"}}, {last}]}}"#);
        assert!(serde_json::from_str::<Value>(&body).is_err(), "the body itself is not JSON");
        assert_eq!(codes_of(&body), vec![Ok(()), Err(codes::MALFORMED_JSON), Err(codes::INVALID_EVENT_ID), Ok(())]);
    }

    #[test]
    fn a_partitioned_batch_keeps_the_order_and_the_indexes() {
        let (first, last) = (event("2026-11-26T12:00:00Z"), event("2026-11-26T12:01:00Z"));
        let body = format!(r#"{{"events":[{first},"text",{last},{{}}]}}"#);
        let checked = check_batch(body.as_bytes(), now(), &AnalyticsConfig::default()).unwrap();
        let (valid, rejected) = partition(checked);
        let ids: Vec<String> = valid.iter().map(|event| event.event_id.to_string()).collect();
        assert_eq!(
            ids,
            [&first, &last]
                .map(|event| serde_json::from_str::<Value>(event).unwrap()["event_id"].as_str().unwrap().to_string())
        );
        assert_eq!(
            rejected,
            vec![
                RejectedWire { index: 1, code: codes::NOT_AN_OBJECT.into() },
                RejectedWire { index: 3, code: codes::INVALID_EVENT_ID.into() },
            ]
        );
    }

    #[test]
    fn batches_refused_whole_say_why() {
        let check = |body: &str| check_batch(body.as_bytes(), now(), &AnalyticsConfig::default());
        assert_eq!(check(r#"{"evnts": []}"#), Err(BatchError::NoEventsArray));
        assert_eq!(check(r#"{"events": 3}"#), Err(BatchError::NoEventsArray));
        assert!(matches!(check("{\"events\": [1, 2"), Err(BatchError::NotJson(_))));
        assert!(matches!(check("garbage"), Err(BatchError::NotJson(_))));
        let at_limit = format!(r#"{{"events":[{}]}}"#, vec!["{}"; MAX_EVENTS].join(","));
        assert_eq!(check(&at_limit).unwrap().len(), MAX_EVENTS);
        let past_limit = format!(r#"{{"events":[{}]}}"#, vec!["{}"; MAX_EVENTS + 1].join(","));
        assert_eq!(check(&past_limit), Err(BatchError::TooManyEvents { count: MAX_EVENTS + 1 }));
    }

    #[test]
    fn an_event_is_at_most_32_kib() {
        let padded = |size: usize| {
            let base = event("2026-11-26T12:00:00Z");
            let pad = size - base.len() - r#","pad":"""#.len();
            format!("{},\"pad\":\"{}\"}}", &base[..base.len() - 1], "x".repeat(pad))
        };
        assert_eq!(padded(MAX_EVENT_BYTES).len(), MAX_EVENT_BYTES);
        assert!(check_event(padded(MAX_EVENT_BYTES).as_bytes(), now(), &AnalyticsConfig::default()).is_ok());
        assert_eq!(
            check_event(padded(MAX_EVENT_BYTES + 1).as_bytes(), now(), &AnalyticsConfig::default()),
            Err(codes::EVENT_TOO_LARGE)
        );
    }
}
