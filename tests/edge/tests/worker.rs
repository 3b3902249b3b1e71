//! The edge Worker as Cloudflare runs it, under workerd (`wrangler dev`), in front of the Event Hubs stand-in: the same
//! ingest contract as analytics-ingest (functions/analytics-ingest/tests/pipeline.rs holds the same cases), the
//! forward that answers 202 only once the hub took the batch, the edge's rate limit under concurrency, and the whole
//! stream path (Worker → hub → tansu broker → processor → hourly stats) exactly once.

use chrono::{Duration as Span, DurationRound, Utc};
use codecapsule_core::analytics::AnalyticsConfig;
use codecapsule_test_support::edge::EdgeWorker;
use codecapsule_test_support::eventhubs::{HubStandIn, connection_string};
use codecapsule_test_support::ingest::{self, event, post};
use codecapsule_test_support::postgres::assert_stats_equal_recomputation;
use codecapsule_test_support::stream::StreamPath;
use serde_json::{Value, json};
use uuid::Uuid;

/// The Worker in front of `hub`.
async fn worker(hub: &HubStandIn) -> EdgeWorker {
    let connection = connection_string();
    EdgeWorker::start(&[
        ("EVENTHUBS_CONNECTION_STRING", &connection),
        ("EVENTHUBS_REST_ENDPOINT", &hub.url),
        ("CORS_ALLOWED_ORIGINS", ingest::WIDGET_ORIGIN),
    ])
    .await
}

#[tokio::test]
async fn the_worker_forwards_every_valid_event_and_names_every_invalid_one() {
    let hub = HubStandIn::start(None).await;
    let edge = worker(&hub).await;
    let batch = ingest::per_event_codes(&edge.url).await;
    // The hub took the two valid events, each as its checked JSON, partitioned by its capsule.
    let messages = hub.hub.messages();
    assert_eq!(messages.len(), 2, "{}", edge.log());
    for (message, sent) in messages.iter().zip(&batch.valid) {
        let forwarded: Value = serde_json::from_str(&message.body).unwrap();
        assert_eq!((&forwarded["event_id"], &forwarded["visitor_id"]), (&sent["event_id"], &sent["visitor_id"]));
        assert_eq!(message.partition_key.as_deref(), sent["capsule_id"].as_str());
    }
    // A retried batch is forwarded again (the edge cannot know what the database holds: `duplicates` stays 0); the
    // processor drops it by event_id (the stream path test below).
    let (status, _, report) = ingest::post(&edge.url, "application/json", batch.body).await;
    assert_eq!((status, report["accepted"].as_u64(), report["duplicates"].as_u64()), (202, Some(2), Some(0)));
    assert_eq!(hub.hub.messages().len(), 4);
}

#[tokio::test]
async fn the_workers_limits_hold_at_their_edges() {
    let hub = HubStandIn::start(None).await;
    let edge = worker(&hub).await;
    let accepted = ingest::limits_at_their_edges(&edge.url).await;
    assert_eq!(hub.hub.messages().len(), accepted, "every accepted event reached the hub");
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
async fn a_flood_is_refused_by_the_shield_before_the_buckets() {
    let hub = HubStandIn::start(None).await;
    let edge = worker(&hub).await;
    // The shield counts in windows aligned to the clock's minutes: start where 25 quick requests fit in one.
    let into_minute = Utc::now().timestamp() % 60;
    if into_minute > 50 {
        tokio::time::sleep(std::time::Duration::from_secs((61 - into_minute) as u64)).await;
    }
    let body = json!({"events": [event(uuid::Uuid::new_v4(), "view", "v", Utc::now(), None)]}).to_string();
    let mut answers = Vec::new();
    for _ in 0..25 {
        let (status, headers, _) = post(&edge.url, "application/json", body.clone()).await;
        let retry_after = headers.get("retry-after").map(|value| value.to_str().unwrap().parse::<u64>().unwrap());
        answers.push((status, retry_after));
    }
    // 10 admitted by the bucket; the next 10 refused by it, exactly (GCRA at 10 a minute: a token every 6 s); then the
    // shield (20 a minute) refuses the rest for its whole window, without asking the bucket.
    assert!(answers[..10].iter().all(|(status, _)| *status == 202), "{answers:?}");
    assert!(
        answers[10..20].iter().all(|&(status, retry)| status == 429 && retry.is_some_and(|s| s <= 6)),
        "{answers:?}"
    );
    assert!(answers[20..].iter().all(|&(status, retry)| status == 429 && retry == Some(60)), "{answers:?}");
    assert_eq!(hub.hub.messages().len(), 10);
}

#[tokio::test]
async fn the_stream_path_counts_each_event_once_through_a_failed_forward_and_a_retry() {
    let StreamPath { client, store, hub, stream, .. } = &StreamPath::start(2).await;
    let edge = worker(hub).await;
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

    let report = analytics_processor::process(store, &AnalyticsConfig::default(), Some(stream)).await.unwrap();
    let read = report.stream.unwrap();
    assert_eq!((read.records, read.accepted, read.duplicates), (6, 3, 3), "{read:?}");
    assert_eq!(report.rollup.events, 3);
    assert_stats_equal_recomputation(client).await;
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
