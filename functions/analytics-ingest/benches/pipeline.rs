//! `make bench` for the analytics pipeline (issue: analytics). Prints a Markdown report (copied into BENCHMARKS.md):
//! 1. ingest throughput over loopback HTTP: 100-event batches from 8 concurrent clients into a local PostgreSQL, through
//!    the real route and its guard (one rate-limit decision per batch; runtime_config's multiplier raised so that the
//!    benchmark's pace is admitted), events/s and p50/p99 per batch;
//! 2. the processor: an empty run, and a rollup of 1,000,000 raw events (2,000 capsules × 24 hours).

use chrono::Utc;
use codecapsule_core::analytics::AnalyticsConfig;
use codecapsule_core::config::{HttpConfig, Secret};
use codecapsule_state::guard::Stateful;
use codecapsule_state::guard::auth::AuthConfig;
use codecapsule_state::{StateConfig, Store};
use codecapsule_test_support::postgres::TempPostgres;
use codecapsule_web::host::{self, Host};
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;

const CLIENTS: usize = 8;
const BATCH: usize = 100;
const WINDOW: Duration = Duration::from_secs(10);
const KINDS: [&str; 4] = ["view", "run", "submit", "pass"];

#[tokio::main]
async fn main() {
    let postgres = TempPostgres::start().await;
    let state = StateConfig::Direct { url: Secret::new(postgres.url.clone()), ca_cert: None, pool_size: 8 };
    let store: Store = state.store().unwrap().unwrap();
    println!("## Analytics pipeline (analytics issue)\n");
    postgres.client().await.execute("update public.runtime_config set rate_limit_multiplier = 999", &[]).await.unwrap();
    let deployment = Stateful::new(&state, AuthConfig::default(), Duration::from_secs(30)).unwrap();
    ingest_throughput(deployment).await;
    processor(&postgres, &store).await;
}

async fn ingest_throughput(deployment: Stateful) {
    let local = Host::Local { address: ([127, 0, 0, 1], 0).into() };
    let router = host::app(&[analytics_ingest::FUNCTION], local, &HttpConfig::default(), &deployment).unwrap();
    let (ready, bound) = tokio::sync::oneshot::channel();
    tokio::spawn(host::serve(router, ([127, 0, 0, 1], 0).into(), local, Some(ready)));
    let url = format!("http://{}/api/events", bound.await.unwrap());
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let url = url.clone();
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut latencies = Vec::new();
                let mut accepted = 0u64;
                while started.elapsed() < WINDOW {
                    let events: Vec<_> = (0..BATCH)
                        .map(|i| {
                            json!({"event_id": Uuid::new_v4(), "type": KINDS[i % 4],
                                   "capsule_id": format!("00000000-0000-4000-8000-{:012}", (client * 31 + i) % 500),
                                   "visitor_id": format!("visitor-{}", i % 50), "ts": Utc::now().to_rfc3339(),
                                   "duration_ms": i * 3, "widget_version": "1.2.0"})
                        })
                        .collect();
                    let body = json!({ "events": events }).to_string();
                    let sent = Instant::now();
                    let response = http
                        .post(&url)
                        .header("content-type", "text/plain")
                        .header("x-capsule-id", format!("00000000-0000-4000-8000-{client:012}"))
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status().as_u16(), 202);
                    let report: serde_json::Value = response.json().await.unwrap();
                    latencies.push(sent.elapsed());
                    accepted += report["accepted"].as_u64().unwrap();
                }
                (latencies, accepted)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut accepted = 0;
    for task in tasks {
        let (more, count) = task.await.unwrap();
        latencies.extend(more);
        accepted += count;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    println!("### Ingest: {CLIENTS} clients, {BATCH}-event batches over loopback HTTP, {WINDOW:?}\n");
    println!("| events/s | batches/s | batch p50 | batch p99 | events stored |");
    println!("|---|---|---|---|---|");
    println!(
        "| {:.0} | {:.0} | {} | {} | {accepted} |\n",
        accepted as f64 / elapsed,
        latencies.len() as f64 / elapsed,
        ms(latencies[latencies.len() / 2]),
        ms(latencies[latencies.len() * 99 / 100]),
    );
}

async fn processor(postgres: &TempPostgres, store: &Store) {
    let client = postgres.client().await;
    let config = AnalyticsConfig::default();
    // Everything ingested so far is rolled up first, so the figures below are for what they say.
    analytics_processor::process(store, &config, None).await.unwrap();
    let mut empty = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let report = analytics_processor::process(store, &config, None).await.unwrap();
        empty.push(started.elapsed());
        assert_eq!(report.rollup.events, 0);
    }
    empty.sort();
    client
        .batch_execute(
            "insert into analytics.events (event_id, capsule_id, type, visitor_hash, occurred_at, duration_ms)
             select gen_random_uuid(),
                    ('00000000-0000-4000-8000-' || lpad((n % 2000)::text, 12, '0'))::uuid,
                    (array['view', 'run', 'submit', 'pass', 'fail', 'error'])[1 + n % 6],
                    md5((n % 5000)::text),
                    date_trunc('hour', now()) - make_interval(hours => (n / 2000) % 24) + make_interval(secs => n % 3600),
                    n % 1000
             from generate_series(1, 1000000) n;
             analyze analytics.events;",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let report = analytics_processor::process(store, &config, None).await.unwrap();
    let rollup = started.elapsed();
    assert_eq!(report.rollup.events, 1_000_000);
    println!("### Processor\n");
    println!("| run | time | events | hours (capsule × hour) |");
    println!("|---|---|---|---|");
    println!("| empty (median of 20) | {} | 0 | 0 |", ms(empty[10]));
    println!("| 1,000,000 new raw events | {} | {} | {} |", ms(rollup), report.rollup.events, report.rollup.hours);
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1e3)
}
