//! `make bench` for the edge and stream path (issue: edge and stream). Prints a Markdown report (copied into
//! BENCHMARKS.md):
//! 1. the Worker under workerd (`wrangler dev`, the release build worker-build made): 100-event batches from 8
//!    concurrent clients for 10 s, each forwarded to the Event Hubs stand-in before its 202; events/s and the answer's
//!    p50/p99. Each batch comes from its own client address (CF-Connecting-IP, as Cloudflare sets it), so that the
//!    per-address allowance is not what is measured;
//! 2. the end-to-end delay through the broker: POST to the Worker, the stand-in producing into tansu, one processor
//!    run (stream read, rollup), until the events are in the hourly stats; median and worst of 10 rounds;
//! 3. the Worker's size: its wasm and JavaScript shim, raw and gzip-compressed (what the Workers plans limit).

use chrono::{Duration as Span, DurationRound, Utc};
use codecapsule_core::analytics::AnalyticsConfig;
use codecapsule_test_support::edge::EdgeWorker;
use codecapsule_test_support::eventhubs::{HubStandIn, connection_string};
use codecapsule_test_support::stream::StreamPath;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

const CLIENTS: usize = 8;
const BATCH: usize = 100;
const WINDOW: Duration = Duration::from_secs(10);
const ROUNDS: usize = 10;
const KINDS: [&str; 4] = ["view", "run", "submit", "pass"];

async fn worker(hub: &HubStandIn) -> EdgeWorker {
    EdgeWorker::start(&[("EVENTHUBS_CONNECTION_STRING", &connection_string()), ("EVENTHUBS_REST_ENDPOINT", &hub.url)])
        .await
}

fn batch(capsule: impl Fn(usize) -> Uuid) -> String {
    let events: Vec<_> = (0..BATCH)
        .map(|i| {
            json!({"event_id": Uuid::new_v4(), "type": KINDS[i % 4], "capsule_id": capsule(i),
                   "visitor_id": format!("visitor-{}", i % 50), "ts": Utc::now().to_rfc3339(),
                   "duration_ms": i * 3, "widget_version": "1.2.0"})
        })
        .collect();
    json!({ "events": events }).to_string()
}

/// A client address of its own for request `n` (documentation and benchmarking ranges, then onwards).
fn address(n: u64) -> String {
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    println!("## Edge and stream (edge and stream issue)\n");
    throughput().await;
    end_to_end().await;
    size();
}

async fn throughput() {
    let hub = HubStandIn::start(None).await;
    let edge = worker(&hub).await;
    let url = format!("{}/api/events", edge.url);
    let requests = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (url, requests) = (url.clone(), Arc::clone(&requests));
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let capsules: Vec<Uuid> = (0..20).map(|i| Uuid::from_u128((client * 20 + i) as u128 + 1)).collect();
                let (mut latencies, mut accepted) = (Vec::new(), 0u64);
                while started.elapsed() < WINDOW {
                    let body = batch(|i| capsules[i % capsules.len()]);
                    let sent = Instant::now();
                    let answer = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("cf-connecting-ip", address(requests.fetch_add(1, Ordering::Relaxed)))
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(answer.status().as_u16(), 202, "{}", answer.text().await.unwrap_or_default());
                    let report: serde_json::Value = answer.json().await.unwrap();
                    latencies.push(sent.elapsed());
                    accepted += report["accepted"].as_u64().unwrap();
                }
                (latencies, accepted)
            })
        })
        .collect();
    let (mut latencies, mut accepted) = (Vec::new(), 0);
    for task in tasks {
        let (more, events) = task.await.unwrap();
        latencies.extend(more);
        accepted += events;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    assert_eq!(hub.hub.messages().len() as u64, accepted, "every accepted event reached the hub");
    println!("### The Worker under workerd: {CLIENTS} clients, {BATCH}-event batches, {} s\n", WINDOW.as_secs());
    println!("| events/s | batches/s | answer p50 | answer p99 | events forwarded |");
    println!("|---|---|---|---|---|");
    println!(
        "| {:.0} | {:.0} | {:.1} ms | {:.1} ms | {accepted} |\n",
        accepted as f64 / elapsed,
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
    );
}

async fn end_to_end() {
    let StreamPath { client, store, hub, stream, .. } = &StreamPath::start(4).await;
    let edge = worker(hub).await;
    let config = AnalyticsConfig::default();
    let http = reqwest::Client::new();
    let hour = Utc::now().duration_trunc(Span::hours(1)).unwrap();
    let (mut answered, mut in_stats, mut runs) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let capsule = Uuid::new_v4();
        let sent = Instant::now();
        let answer = http
            .post(format!("{}/api/events", edge.url))
            .header("content-type", "application/json")
            .header("cf-connecting-ip", address(round as u64))
            .body(batch(|_| capsule))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 202);
        answered.push(sent.elapsed());
        let run = Instant::now();
        let report = analytics_processor::process(store, &config, Some(stream)).await.unwrap();
        runs.push(run.elapsed());
        let read = report.stream.as_ref().expect("the stream was read");
        assert_eq!((read.records, read.accepted), (BATCH as u64, BATCH as u64), "only the new batch is read: {read:?}");
        let counted: i64 = client
            .query_one(
                "select coalesce(sum(views + runs + submissions + passes), 0)::int8 from analytics.capsule_hourly_stats \
                 where capsule_id = $1 and hour >= $2::text::timestamptz",
                &[&capsule, &(hour - Span::hours(1)).to_rfc3339()],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(counted, BATCH as i64, "the batch is in the stats");
        in_stats.push(sent.elapsed());
    }
    answered.sort();
    in_stats.sort();
    runs.sort();
    let ms = |duration: Duration| duration.as_secs_f64() * 1e3;
    println!("### End to end: POST → Worker → hub stand-in → tansu → processor run → hourly stats, {ROUNDS} rounds\n");
    println!("| step | median | worst |");
    println!("|---|---|---|");
    println!(
        "| the Worker's 202 (the hub took the batch) | {:.1} ms | {:.1} ms |",
        ms(answered[ROUNDS / 2]),
        ms(answered[ROUNDS - 1])
    );
    println!(
        "| the processor's run alone (connect, read every partition, store, roll up) | {:.1} ms | {:.1} ms |",
        ms(runs[ROUNDS / 2]),
        ms(runs[ROUNDS - 1])
    );
    println!(
        "| the events in the hourly stats (one processor run right after) | {:.1} ms | {:.1} ms |\n",
        ms(in_stats[ROUNDS / 2]),
        ms(in_stats[ROUNDS - 1])
    );
}

fn size() {
    let build = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../edge/build"));
    println!("### The Worker's size (edge/build, worker-build --release: opt-level z, LTO, wasm-opt)\n");
    println!("| file | bytes | gzip -9 |");
    println!("|---|---|---|");
    for file in ["index_bg.wasm", "index.js"] {
        let path = build.join(file);
        let raw = std::fs::metadata(&path).unwrap().len();
        let output = std::process::Command::new("gzip").arg("-9c").arg(&path).output().unwrap();
        println!("| {file} | {raw} | {} |", output.stdout.len());
    }
    println!();
}
