//! The edge Worker as Cloudflare runs it, under workerd (`wrangler dev`), in front of the Event Hubs stand-in: the same
//! ingest contract as analytics-ingest (functions/analytics-ingest/tests/pipeline.rs holds the same cases), the
//! forward that answers 202 only once the hub took the batch, the edge's rate limit under concurrency, and the whole
//! stream path (Worker → hub → tansu broker → processor → hourly stats) exactly once.

use chrono::{DateTime, Duration as Span, DurationRound, Utc};
use codecapsule_core::analytics::{AnalyticsConfig, MAX_BATCH_BYTES, MAX_EVENT_BYTES, MAX_EVENTS};
use codecapsule_core::config::Secret;
use codecapsule_state::{StateConfig, Store};
use codecapsule_stream::StreamConfig;
use codecapsule_test_support::edge::EdgeWorker;
use codecapsule_test_support::eventhubs::{HUB, HubStandIn, connection_string};
use codecapsule_test_support::kafka::TempBroker;
use codecapsule_test_support::postgres::{TempPostgres, assert_stats_equal_recomputation};
use serde_json::{Value, json};
use uuid::Uuid;

const WIDGET_ORIGIN: &str = "https://blog.example.com";

/// The Worker in front of `hub`.
async fn worker(hub: &HubStandIn) -> EdgeWorker {
    let connection = connection_string();
    EdgeWorker::start(&[
        ("EVENTHUBS_CONNECTION_STRING", &connection),
        ("EVENTHUBS_REST_ENDPOINT", &hub.url),
        ("CORS_ALLOWED_ORIGINS", WIDGET_ORIGIN),
    ])
    .await
}

fn event(capsule: Uuid, kind: &str, visitor: &str, ts: DateTime<Utc>, duration_ms: Option<i64>) -> Value {
    let mut event = json!({
        "event_id": Uuid::new_v4(), "type": kind, "capsule_id": capsule, "visitor_id": visitor,
        "session_id": "s1", "ts": ts.to_rfc3339(), "language": "python", "widget_version": "1.2.0",
    });
    if let Some(ms) = duration_ms {
        event["duration_ms"] = json!(ms);
    }
    event
}

async fn post(base: &str, content_type: &str, body: String) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/events"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_worker_forwards_every_valid_event_and_names_every_invalid_one() {
    let hub = HubStandIn::start(None).await;
    let edge = worker(&hub).await;
    let capsule = Uuid::new_v4();
    let now = Utc::now();
    let good = [
        event(capsule, "view", "visitor-1", now, None),
        event(capsule, "run", "visitor-1", now - Span::minutes(3), Some(42)),
    ];
    let batch = format!(
        r#"{{"events": [{}, {}, {}, {}, {}, {{"event_id": "broken", "type": }}, {}, {}]}}"#,
        good[0],
        event(capsule, "click", "v", now, None),
        event(capsule, "view", "v", now + Span::minutes(10), None),
        event(capsule, "view", "v", now - Span::days(40), None),
        json!({"event_id": "not-a-uuid", "type": "view", "capsule_id": capsule, "ts": now.to_rfc3339()}),
        json!({"event_id": Uuid::new_v4(), "type": "view", "capsule_id": capsule, "ts": now.to_rfc3339(), "pad": "x".repeat(MAX_EVENT_BYTES)}),
        good[1],
    );
    let (status, _, report) = post(&edge.url, "text/plain;charset=UTF-8", batch.clone()).await;
    assert_eq!(status, 202, "{report}\n{}", edge.log());
    assert_eq!(report["accepted"], 2);
    assert_eq!(report["duplicates"], 0, "the edge cannot know what the database holds");
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
    // The hub took the two valid events, each as its checked JSON, partitioned by its capsule.
    let messages = hub.hub.messages();
    assert_eq!(messages.len(), 2);
    for (message, sent) in messages.iter().zip(&good) {
        let forwarded: Value = serde_json::from_str(&message.body).unwrap();
        assert_eq!((&forwarded["event_id"], &forwarded["visitor_id"]), (&sent["event_id"], &sent["visitor_id"]));
        assert_eq!(message.partition_key.as_deref(), Some(capsule.to_string().as_str()));
    }
    // A retried batch is forwarded again; the processor drops it by event_id (the stream path test below).
    let (status, _, report) = post(&edge.url, "application/json", batch).await;
    assert_eq!((status, report["accepted"].as_u64()), (202, Some(2)));
    assert_eq!(hub.hub.messages().len(), 4);
}

#[tokio::test]
async fn the_workers_limits_hold_at_their_edges() {
    let hub = HubStandIn::start(None).await;
    let edge = worker(&hub).await;
    let capsule = Uuid::new_v4();
    let events = |n: usize| (0..n).map(|_| event(capsule, "view", "v", Utc::now(), None)).collect::<Vec<_>>();

    let (status, _, report) =
        post(&edge.url, "application/json", json!({"events": events(MAX_EVENTS)}).to_string()).await;
    assert_eq!((status, report["accepted"].as_u64()), (202, Some(MAX_EVENTS as u64)), "{report}");
    let (status, _, problem) =
        post(&edge.url, "application/json", json!({"events": events(MAX_EVENTS + 1)}).to_string()).await;
    assert_eq!(
        (status, problem["code"].as_str(), problem["field"].as_str()),
        (413, Some("too_many_events"), Some("events"))
    );

    // A body of exactly 512 KiB is taken; one byte more is not.
    let padded = |size: usize| {
        let body = json!({"events": events(1)}).to_string();
        format!("{body}{}", " ".repeat(size - body.len()))
    };
    let (status, _, report) = post(&edge.url, "application/json", padded(MAX_BATCH_BYTES)).await;
    assert_eq!(status, 202, "{report}");
    let (status, _, problem) = post(&edge.url, "application/json", padded(MAX_BATCH_BYTES + 1)).await;
    assert_eq!((status, problem["code"].as_str()), (413, Some("body_too_large")));

    for (body, status, code) in [
        ("{\"events\": [1, 2", 400, "invalid_json"),
        ("{\"evnts\": []}", 422, "invalid_field"),
        ("[]", 422, "invalid_field"),
    ] {
        let (got, headers, problem) = post(&edge.url, "application/json", body.to_string()).await;
        assert_eq!((got, problem["code"].as_str()), (status, Some(code)), "{body}: {problem}");
        assert_eq!(headers["content-type"], "application/problem+json");
    }
    let (status, _, problem) = post(&edge.url, "application/xml", "{}".into()).await;
    assert_eq!((status, problem["code"].as_str()), (415, Some("unsupported_media_type")));

    // sendBeacon sends text/plain; whatever the URL names, an anonymous widget draws from its address's bucket.
    let beacon = reqwest::Client::new()
        .post(format!("{}/api/events?capsule_id={capsule}", edge.url))
        .header("content-type", "text/plain")
        .body(json!({"events": events(1)}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(beacon.status().as_u16(), 202);
    assert_eq!(beacon.headers()["ratelimit-policy"], "\"free\";q=10;w=60");

    // CORS preflight for the widget's origin, and the origin on the answer.
    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{}/api/events", edge.url))
        .header("origin", WIDGET_ORIGIN)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status().as_u16(), 200);
    assert_eq!(preflight.headers()["access-control-allow-origin"], WIDGET_ORIGIN);
    // Every valid event above reached the hub: MAX_EVENTS, one padded, one beacon.
    assert_eq!(hub.hub.messages().len(), MAX_EVENTS + 2);
}

#[tokio::test]
async fn the_edge_admits_exactly_the_free_allowance_under_16_way_concurrency() {
    let hub = HubStandIn::start(None).await;
    let edge = worker(&hub).await;
    let capsule = Uuid::new_v4();
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..16 {
        let body = json!({"events": [event(capsule, "view", "v", Utc::now(), None)]}).to_string();
        // Values the client chooses name no bucket: each request claims another address and another visitor.
        let request = reqwest::Client::new()
            .post(format!("{}/api/events?visitor_id=v{i}", edge.url))
            .header("content-type", "application/json")
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .header("x-real-ip", format!("203.0.113.{i}"))
            .body(body);
        requests.spawn(async move {
            let response = request.send().await.unwrap();
            let (status, headers) = (response.status().as_u16(), response.headers().clone());
            (status, headers, response.json::<Value>().await.unwrap_or(Value::Null))
        });
    }
    let (mut admitted, mut refused) = (0, 0);
    while let Some(answer) = requests.join_next().await {
        let (status, headers, body) = answer.unwrap();
        match status {
            202 => admitted += 1,
            429 => {
                refused += 1;
                assert_eq!(body["code"], "rate_limited", "{body}");
                let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((1..=60).contains(&retry_after), "{retry_after}");
                assert_eq!(headers["ratelimit-policy"], "\"free\";q=10;w=60");
                assert!(headers["ratelimit"].to_str().unwrap().contains("r=0"), "{:?}", headers["ratelimit"]);
            }
            other => panic!("unexpected {other}: {body}\n{}", edge.log()),
        }
    }
    assert_eq!((admitted, refused), (10, 6), "the free tier's 10 a minute, exactly");
    assert_eq!(hub.hub.messages().len(), 10, "only admitted batches were forwarded");
}

#[tokio::test]
async fn the_stream_path_counts_each_event_once_through_a_failed_forward_and_a_retry() {
    let postgres = TempPostgres::start().await;
    let client = postgres.client().await;
    let store: Store = StateConfig::Direct { url: Secret::new(postgres.url.clone()), ca_cert: None, pool_size: 2 }
        .store()
        .expect("a store")
        .expect("configured");
    let broker = TempBroker::start();
    let hub = HubStandIn::start(Some((&broker.bootstrap, 2))).await;
    let edge = worker(&hub).await;
    let stream = StreamConfig::parse(|name| match name {
        "EVENTHUBS_KAFKA_BOOTSTRAP" => Some(broker.bootstrap.clone()),
        "EVENTHUBS_KAFKA_SECURITY" => Some("plaintext".into()),
        "EVENTHUBS_TOPIC" => Some(HUB.into()),
        _ => None,
    })
    .unwrap()
    .unwrap();
    let hour = Utc::now().duration_trunc(Span::hours(1)).unwrap() - Span::hours(1);
    let (c1, c2) = (Uuid::new_v4(), Uuid::new_v4());
    let batch = json!({"events": [
        event(c1, "view", "ann", hour + Span::minutes(1), None),
        event(c1, "run", "ann", hour + Span::minutes(2), Some(80)),
        event(c2, "view", "bob", hour + Span::minutes(3), None),
    ]})
    .to_string();

    // The hub is busy: the Worker answers 503 and keeps nothing; the widget retries, twice (its answer was lost).
    hub.hub.fail_next(1);
    let (status, headers, problem) = post(&edge.url, "application/json", batch.clone()).await;
    assert_eq!((status, problem["code"].as_str()), (503, Some("state_unavailable")), "{problem}");
    assert!(headers.contains_key("retry-after"));
    assert!(hub.hub.messages().is_empty(), "nothing of a failed forward was taken");
    for _ in 0..2 {
        let (status, _, report) = post(&edge.url, "application/json", batch.clone()).await;
        assert_eq!((status, report["accepted"].as_u64()), (202, Some(3)), "{report}");
    }
    assert_eq!(hub.hub.messages().len(), 6);

    let report = analytics_processor::process(&store, &AnalyticsConfig::default(), Some(&stream)).await.unwrap();
    let read = report.stream.unwrap();
    assert_eq!((read.records, read.accepted, read.duplicates), (6, 3, 3), "{read:?}");
    assert_eq!(report.rollup.events, 3);
    assert_stats_equal_recomputation(&client).await;
    let views: i64 = client
        .query_one(
            "select sum(views)::int8 from analytics.capsule_hourly_stats where hour = $1::text::timestamptz",
            &[&hour.to_rfc3339()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(views, 2, "each view counted once");
}

#[tokio::test]
async fn without_a_stream_the_worker_accepts_nothing_and_says_what_to_set() {
    let edge = EdgeWorker::start(&[]).await;
    let body = json!({"events": [event(Uuid::new_v4(), "view", "v", Utc::now(), None)]}).to_string();
    let (status, _, problem) = post(&edge.url, "application/json", body).await;
    assert_eq!(status, 503, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("EVENTHUBS_CONNECTION_STRING"), "{problem}");
    let health: Value = reqwest::get(format!("{}/api/health", edge.url)).await.unwrap().json().await.unwrap();
    assert!(health.to_string().contains("EVENTHUBS_CONNECTION_STRING"), "{health}");
}
