//! The analytics pipeline against real PostgreSQL: POST /api/events over HTTP (per-event codes, partial acceptance,
//! duplicates, sendBeacon's text/plain, limits at their edges, CORS), and the processor's exactly-once rollup under
//! duplicates, concurrent ingest, a processor killed mid-transaction, two processors at once, late events and a
//! transaction that commits late; after all of it the hourly stats equal a from-scratch recomputation.

use chrono::{DateTime, Duration as Span, DurationRound, Utc};
use codecapsule_core::analytics::AnalyticsConfig;
use codecapsule_core::config::{HttpConfig, Secret};
use codecapsule_state::guard::Stateful;
use codecapsule_state::guard::auth::AuthConfig;
use codecapsule_state::{RollupStatus, StateConfig, Store};
use codecapsule_test_support::ingest::{self, event};
use codecapsule_test_support::postgres::{TempPostgres, assert_stats_equal_recomputation};
use codecapsule_web::host::{self, Host};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

fn direct(postgres: &TempPostgres, pool_size: usize) -> StateConfig {
    StateConfig::Direct { url: Secret::new(postgres.url.clone()), ca_cert: None, pool_size }
}

/// analytics-ingest behind its guard, on a free port, with a widget origin allowed.
async fn serve(state: &StateConfig) -> String {
    let deployment = Stateful::new(state, AuthConfig::default(), Duration::from_secs(1)).unwrap();
    let http = HttpConfig {
        cors_origins: vec![http::HeaderValue::from_static(ingest::WIDGET_ORIGIN)],
        ..HttpConfig::default()
    };
    let local = Host::Local { address: ([127, 0, 0, 1], 0).into() };
    let app = host::app(&[analytics_ingest::FUNCTION], local, &http, &deployment).unwrap();
    let (ready, bound) = tokio::sync::oneshot::channel();
    tokio::spawn(host::serve(app, ([127, 0, 0, 1], 0).into(), local, Some(ready)));
    format!("http://{}", bound.await.unwrap())
}

#[tokio::test]
async fn ingest_keeps_every_valid_event_and_names_every_invalid_one() {
    let postgres = TempPostgres::start().await;
    let base = serve(&direct(&postgres, 2)).await;
    let client = postgres.client().await;
    let batch = ingest::per_event_codes(&base).await;
    // Stored: both valid events, with the server's receive time, and no raw visitor id.
    let rows = client
        .query("select visitor_hash, received_at >= now() - interval '1 minute' from analytics.events", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        let hash: String = row.get(0);
        assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) && !hash.contains("visitor"), "{hash}");
        assert!(row.get::<_, bool>(1), "received_at is the server's time");
    }
    let (hash_a, hash_b): (String, String) = (rows[0].get(0), rows[1].get(0));
    assert_eq!(hash_a, hash_b, "one visitor, one hash within a day");

    // A retried batch is a no-op.
    let (status, _, report) = ingest::post(&base, "application/json", batch.body).await;
    assert_eq!((status, report["accepted"].as_u64(), report["duplicates"].as_u64()), (202, Some(0), Some(2)));
    let count: i64 = client.query_one("select count(*) from analytics.events", &[]).await.unwrap().get(0);
    assert_eq!(count, 2);
}

#[tokio::test]
async fn ingest_limits_hold_at_their_edges() {
    let postgres = TempPostgres::start().await;
    let base = serve(&direct(&postgres, 2)).await;
    let accepted = ingest::limits_at_their_edges(&base).await;
    let client = postgres.client().await;
    let count: i64 = client.query_one("select count(*) from analytics.events", &[]).await.unwrap().get(0);
    assert_eq!(count, accepted as i64, "every accepted event is stored");
}

async fn stats_row(client: &tokio_postgres::Client, capsule: Uuid, hour: DateTime<Utc>) -> Option<(i64, i64, i64)> {
    client
        .query_opt(
            "select views, runs, unique_visitors from analytics.capsule_hourly_stats \
             where capsule_id = $1 and hour = $2::text::timestamptz",
            &[&capsule, &hour.to_rfc3339()],
        )
        .await
        .unwrap()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
}

#[tokio::test]
async fn the_rollup_is_exactly_once_whatever_happens() {
    let postgres = TempPostgres::start().await;
    let store: Store = direct(&postgres, 4).store().unwrap().unwrap();
    let client = postgres.client().await;
    let config = AnalyticsConfig::default();
    let config = &config;
    let checked = |events: Vec<Value>| {
        let body = json!({"events": events}).to_string();
        codecapsule_core::analytics::check_batch(body.as_bytes(), Utc::now(), config)
            .unwrap()
            .into_iter()
            .map(|event| event.expect("valid"))
            .collect::<Vec<_>>()
    };
    let (c1, c2) = (Uuid::new_v4(), Uuid::new_v4());
    // Two whole hours in the past, so that every minute of them is a valid (not future) timestamp.
    let this_hour = Utc::now().duration_trunc(Span::hours(1)).unwrap() - Span::hours(1);
    let last_hour = this_hour - Span::hours(1);
    let at = |hour: DateTime<Utc>, minute: i64| hour + Span::minutes(minute);

    // A first batch over two capsules and two hours, then the same batch again (a retry).
    let first = checked(vec![
        event(c1, "view", "ann", at(last_hour, 5), None),
        event(c1, "run", "ann", at(last_hour, 6), Some(100)),
        event(c1, "run", "bob", at(last_hour, 7), Some(300)),
        event(c1, "pass", "bob", at(last_hour, 8), None),
        event(c2, "view", "cid", at(this_hour, 0), None),
        event(c2, "error", "cid", at(this_hour, 0), None),
    ]);
    assert_eq!(store.ingest_events(&first).await.unwrap().accepted, 6);
    assert_eq!(store.ingest_events(&first).await.unwrap().duplicates, 6);

    // Freshness: one run and the events are in the stats.
    let report = analytics_processor::process(&store, config, None).await.unwrap();
    assert_eq!((report.rollup.outcome.as_str(), report.rollup.events, report.rollup.hours), ("done", 6, 2));
    assert_eq!(stats_row(&client, c1, last_hour).await, Some((1, 2, 2)));
    assert_stats_equal_recomputation(&client).await;
    // An empty run finds nothing to do.
    assert_eq!(analytics_processor::process(&store, config, None).await.unwrap().rollup.events, 0);

    // A processor killed mid-transaction: it took the lock and wrote, but never commits.
    let (killed, connection) = tokio_postgres::connect(&postgres.url, tokio_postgres::NoTls).await.unwrap();
    let killed_connection = tokio::spawn(connection);
    store.ingest_events(&checked(vec![event(c1, "view", "dan", at(last_hour, 30), None)])).await.unwrap();
    killed.batch_execute("begin; select * from public.rollup_analytics();").await.unwrap();
    let killed_pid: i32 = killed.query_one("select pg_backend_pid()", &[]).await.unwrap().get(0);
    // Two processors at once: the second sees the lock and leaves at once.
    let busy = analytics_processor::process(&store, config, None).await.unwrap();
    assert_eq!(busy.rollup.outcome, RollupStatus::Busy);
    // With a timeout, pg_terminate_backend waits until the backend has exited (and so released its lock): without
    // one it only signals it, and the next run could still find the lock held.
    let terminated: bool =
        client.query_one("select pg_terminate_backend($1, 10000)", &[&killed_pid]).await.unwrap().get(0);
    assert!(terminated, "the killed processor's backend exited within 10 s");
    let _ = killed_connection.await;
    // Nothing of the killed run remains; the next run does its work once.
    assert_eq!(stats_row(&client, c1, last_hour).await, Some((1, 2, 2)), "the killed run's writes rolled back");
    let rerun = analytics_processor::process(&store, config, None).await.unwrap();
    assert_eq!((rerun.rollup.outcome.as_str(), rerun.rollup.events), ("done", 1));
    assert_eq!(stats_row(&client, c1, last_hour).await, Some((2, 2, 3)));

    // A transaction that inserts before a run and commits after it: its event is not skipped.
    let (late_writer, connection) = tokio_postgres::connect(&postgres.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let slow = json!([{"event_id": Uuid::new_v4(), "capsule_id": c2, "type": "run", "visitor_id": "eve",
                       "ts": at(this_hour, 1).to_rfc3339(), "duration_ms": 7}]);
    late_writer.batch_execute(&format!("begin; select * from public.ingest_events('{slow}');")).await.unwrap();
    analytics_processor::process(&store, config, None).await.unwrap();
    late_writer.batch_execute("commit").await.unwrap();
    let caught_up = analytics_processor::process(&store, config, None).await.unwrap();
    assert_eq!(caught_up.rollup.events, 1, "the late-committing event is rolled up by the next run");
    assert_eq!(stats_row(&client, c2, this_hour).await.map(|(_, runs, _)| runs), Some(1));

    // Late events for an hour already rolled up merge into it.
    store
        .ingest_events(&checked(vec![
            event(c1, "run", "ann", at(last_hour, 59), Some(200)),
            event(c1, "view", "fay", at(last_hour, 1), None),
        ]))
        .await
        .unwrap();
    // Concurrent ingest while processors run.
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let store = store.clone();
            let batches: Vec<_> = (0..10)
                .map(|batch| {
                    checked(
                        (0..20)
                            .map(|i| {
                                let capsule = if i % 2 == 0 { c1 } else { c2 };
                                let visitor = format!("w{writer}-{}", (batch + i) % 7);
                                let hour = if i % 3 == 0 { last_hour } else { this_hour };
                                event(
                                    capsule,
                                    ["view", "run", "submit", "fail"][i % 4],
                                    &visitor,
                                    at(hour, i as i64),
                                    Some(i as i64 * 10),
                                )
                            })
                            .collect(),
                    )
                })
                .collect();
            tokio::spawn(async move {
                for batch in batches {
                    store.ingest_events(&batch).await.unwrap();
                }
            })
        })
        .collect();
    let processors: Vec<_> = (0..3)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..5 {
                    analytics_processor::process(&store, &AnalyticsConfig::default(), None).await.unwrap();
                }
            })
        })
        .collect();
    for task in writers.into_iter().chain(processors) {
        task.await.unwrap();
    }
    let last = analytics_processor::process(&store, config, None).await.unwrap();
    assert_eq!(last.rollup.outcome, RollupStatus::Done);
    let total: i64 = client.query_one("select count(*) from analytics.events", &[]).await.unwrap().get(0);
    assert_eq!(total, 6 + 1 + 1 + 2 + 4 * 10 * 20);
    assert_stats_equal_recomputation(&client).await;
}

#[tokio::test]
async fn retention_removes_old_raw_events_once_they_are_rolled_up() {
    let postgres = TempPostgres::start().await;
    let store: Store = direct(&postgres, 2).store().unwrap().unwrap();
    let client = postgres.client().await;
    client
        .batch_execute(
            "insert into analytics.events (event_id, capsule_id, type, occurred_at)
             select gen_random_uuid(), gen_random_uuid(), 'view', now() - interval '31 days' from generate_series(1, 25000);
             insert into analytics.events (event_id, capsule_id, type, occurred_at)
             select gen_random_uuid(), gen_random_uuid(), 'view', now() - interval '29 days' from generate_series(1, 10);",
        )
        .await
        .unwrap();
    let report = analytics_processor::process(&store, &AnalyticsConfig { retention_days: 30 }, None).await.unwrap();
    assert_eq!(report.rollup.events, 25010, "rolled up first");
    assert_eq!(report.pruned_events, 25000, "then pruned, in batches of {}", analytics_processor::PRUNE_BATCH);
    let left: i64 = client.query_one("select count(*) from analytics.events", &[]).await.unwrap().get(0);
    assert_eq!(left, 10);
}
