//! The contract of POST /api/events as one suite that both of its implementations pass: analytics-ingest (which
//! stores events itself) and the edge Worker (which forwards them to Event Hubs). Each suite sends its requests and
//! asserts the answers the contract fixes; the callers then check where the events went (the database, the hub).

use chrono::{DateTime, Duration as Span, Utc};
use codecapsule_core::analytics::{MAX_BATCH_BYTES, MAX_EVENT_BYTES, MAX_EVENTS};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use uuid::Uuid;

/// The widget origin both implementations are configured to allow in the suites.
pub const WIDGET_ORIGIN: &str = "https://blog.example.com";

/// A widget event as the widget sends it.
pub fn event(capsule: Uuid, kind: &str, visitor: &str, ts: DateTime<Utc>, duration_ms: Option<i64>) -> Value {
    let mut event = json!({
        "event_id": Uuid::new_v4(), "type": kind, "capsule_id": capsule, "visitor_id": visitor,
        "session_id": "s1", "ts": ts.to_rfc3339(), "language": "python", "widget_version": "1.2.0",
    });
    if let Some(ms) = duration_ms {
        event["duration_ms"] = json!(ms);
    }
    event
}

/// POST /api/events with `body` as `content_type`: the status, the headers and the JSON answer (null if none).
pub async fn post(base: &str, content_type: &str, body: String) -> (u16, HeaderMap, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/events"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("the ingest route answers");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.json().await.unwrap_or(Value::Null))
}

/// What [`per_event_codes`] sent.
pub struct MixedBatch {
    /// The batch's body, to send again.
    pub body: String,
    /// Its two valid events, in order.
    pub valid: [Value; 2],
}

/// A batch of two valid events among six invalid ones, sent as sendBeacon sends it (text/plain): 202 with the valid
/// ones accepted and each invalid one named by its index and code.
pub async fn per_event_codes(base: &str) -> MixedBatch {
    let capsule = Uuid::new_v4();
    let now = Utc::now();
    let valid = [
        event(capsule, "view", "visitor-1", now, None),
        event(capsule, "run", "visitor-1", now - Span::minutes(3), Some(42)),
    ];
    let body = format!(
        r#"{{"events": [{}, {}, {}, {}, {}, {{"event_id": "broken", "type": }}, {}, {}]}}"#,
        valid[0],
        event(capsule, "click", "v", now, None),
        event(capsule, "view", "v", now + Span::minutes(10), None),
        event(capsule, "view", "v", now - Span::days(40), None),
        json!({"event_id": "not-a-uuid", "type": "view", "capsule_id": capsule, "ts": now.to_rfc3339()}),
        json!({"event_id": Uuid::new_v4(), "type": "view", "capsule_id": capsule, "ts": now.to_rfc3339(), "pad": "x".repeat(MAX_EVENT_BYTES)}),
        valid[1],
    );
    let (status, _, report) = post(base, "text/plain;charset=UTF-8", body.clone()).await;
    assert_eq!(status, 202, "{report}");
    assert_eq!((report["accepted"].as_u64(), report["duplicates"].as_u64()), (Some(2), Some(0)), "{report}");
    assert_eq!(
        report["rejected"],
        json!([
            {"index": 1, "code": "unknown_type"},
            {"index": 2, "code": "timestamp_in_future"},
            {"index": 3, "code": "timestamp_too_old"},
            {"index": 4, "code": "invalid_event_id"},
            {"index": 5, "code": "malformed_json"},
            {"index": 6, "code": "event_too_large"},
        ])
    );
    MixedBatch { body, valid }
}

/// The limits at their edges (events per batch, body bytes), whole-batch errors as problem+json, media types, a
/// sendBeacon with a capsule in its URL, and the CORS preflight for [`WIDGET_ORIGIN`]: nine POSTs, within one
/// anonymous client's allowance of ten. How many valid events were accepted.
pub async fn limits_at_their_edges(base: &str) -> usize {
    let capsule = Uuid::new_v4();
    let events = |n: usize| (0..n).map(|_| event(capsule, "view", "v", Utc::now(), None)).collect::<Vec<_>>();

    let (status, _, report) = post(base, "application/json", json!({"events": events(MAX_EVENTS)}).to_string()).await;
    assert_eq!((status, report["accepted"].as_u64()), (202, Some(MAX_EVENTS as u64)), "{report}");
    let (status, _, problem) =
        post(base, "application/json", json!({"events": events(MAX_EVENTS + 1)}).to_string()).await;
    assert_eq!(
        (status, problem["code"].as_str(), problem["field"].as_str()),
        (413, Some("too_many_events"), Some("events"))
    );

    // A body of exactly 512 KiB is taken; one byte more is not.
    let padded = |size: usize| {
        let body = json!({"events": events(1)}).to_string();
        format!("{body}{}", " ".repeat(size - body.len()))
    };
    let (status, _, report) = post(base, "application/json", padded(MAX_BATCH_BYTES)).await;
    assert_eq!(status, 202, "{report}");
    let (status, _, problem) = post(base, "application/json", padded(MAX_BATCH_BYTES + 1)).await;
    assert_eq!((status, problem["code"].as_str()), (413, Some("body_too_large")));

    for (body, status, code) in [
        ("{\"events\": [1, 2", 400, "invalid_json"),
        ("{\"evnts\": []}", 422, "invalid_field"),
        ("[]", 422, "invalid_field"),
    ] {
        let (got, headers, problem) = post(base, "application/json", body.to_string()).await;
        assert_eq!((got, problem["code"].as_str()), (status, Some(code)), "{body}: {problem}");
        assert_eq!(headers["content-type"], "application/problem+json", "{body}");
    }
    let (status, _, problem) = post(base, "application/xml", "{}".into()).await;
    assert_eq!((status, problem["code"].as_str()), (415, Some("unsupported_media_type")));

    // sendBeacon sends text/plain; whatever the URL names, an anonymous widget draws from its address's bucket.
    let beacon = reqwest::Client::new()
        .post(format!("{base}/api/events?capsule_id={capsule}"))
        .header("content-type", "text/plain")
        .body(json!({"events": events(1)}).to_string())
        .send()
        .await
        .expect("the ingest route answers");
    assert_eq!(beacon.status().as_u16(), 202);
    assert_eq!(beacon.headers()["ratelimit-policy"], "\"free\";q=10;w=60");

    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{base}/api/events"))
        .header("origin", WIDGET_ORIGIN)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .expect("the ingest route answers");
    assert_eq!(preflight.status().as_u16(), 200);
    assert_eq!(preflight.headers()["access-control-allow-origin"], WIDGET_ORIGIN);
    MAX_EVENTS + 2
}
