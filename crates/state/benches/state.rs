//! `make bench` for the state layer (issue: Supabase state). Prints a Markdown report (copied into BENCHMARKS.md):
//! 1. rate-limit decisions (`public.rate_limit_take`, GCRA in one statement) per second and their latency, with 16
//!    concurrent callers on 1,000 keys, through each transport;
//! 2. a capsule read by id (`public.capsule_by_id`) as anon, one caller at a time, through each transport.
//!
//! A throwaway PostgreSQL 15 from the machine's binaries (fsync off, as the tests run it). The REST figures go through
//! the PostgREST-protocol test server of tests/support (axum + tokio-postgres), not PostgREST itself: they measure
//! our transport plus an HTTP hop on loopback, and say nothing of PostgREST's own speed.

use codecapsule_core::config::Secret;
use codecapsule_state::rest::RestStore;
use codecapsule_state::{Actor, StateConfig, Store};
use codecapsule_test_support::postgres::{Fixture, JWT_SECRET, TempPostgres, anon_key, service_key};
use codecapsule_test_support::postgrest::PostgrestServer;
use std::time::{Duration, Instant};

const CALLERS: usize = 16;
const KEYS: usize = 1000;
const DECISION_WINDOW: Duration = Duration::from_secs(5);
const READS: usize = 2000;

#[tokio::main]
async fn main() {
    let postgres = TempPostgres::start().await;
    let client = postgres.client().await;
    let fixture = Fixture::create(&client).await;
    let direct = StateConfig::Direct { url: Secret::new(postgres.url.clone()), ca_cert: None, pool_size: 8 }
        .store()
        .unwrap()
        .unwrap();
    let server = PostgrestServer::start(&postgres.authenticator_url, JWT_SECRET).await;
    let rest = Store::Rest(RestStore::new(&server.url, Secret::new(anon_key()), Secret::new(service_key())));

    println!("## State: rate limits and capsule reads (Supabase state issue)\n");
    println!(
        "### Rate-limit decisions: {CALLERS} concurrent callers, {KEYS} keys, {DECISION_WINDOW:?} per transport\n"
    );
    println!("| transport | decisions/s | p50 | p99 | admitted share |");
    println!("|---|---|---|---|---|");
    for (name, store) in [("direct (pool of 8)", &direct), ("REST (test server, pool of 16)", &rest)] {
        decisions(name, store).await;
    }
    println!("\n### A capsule read by id as anon, {READS} sequential reads per transport\n");
    println!("| transport | p50 | p99 | max |");
    println!("|---|---|---|---|");
    for (name, store) in [("direct", &direct), ("REST (test server)", &rest)] {
        let mut latencies = Vec::with_capacity(READS);
        for _ in 0..READS {
            let started = Instant::now();
            let capsule = store.capsule(&Actor::Anonymous, fixture.public_a).await.unwrap();
            latencies.push(started.elapsed());
            assert!(capsule.is_some());
        }
        latencies.sort();
        println!(
            "| {name} | {} | {} | {} |",
            ms(percentile(&latencies, 50.0)),
            ms(percentile(&latencies, 99.0)),
            ms(latencies[READS - 1])
        );
    }
}

async fn decisions(name: &str, store: &Store) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for caller in 0..CALLERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut admitted = 0usize;
            let mut n = caller;
            while started.elapsed() < DECISION_WINDOW {
                let key = format!("bench:{}", n % KEYS);
                n += CALLERS;
                let asked = Instant::now();
                let decision = store.rate_limit_take(&key, 100, 100).await.expect("a decision");
                latencies.push(asked.elapsed());
                admitted += usize::from(decision.allowed);
            }
            (latencies, admitted)
        }));
    }
    let mut latencies = Vec::new();
    let mut admitted = 0;
    for task in tasks {
        let (more, yes) = task.await.unwrap();
        latencies.extend(more);
        admitted += yes;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    println!(
        "| {name} | {:.0} | {} | {} | {:.0}% |",
        latencies.len() as f64 / elapsed,
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        100.0 * admitted as f64 / latencies.len() as f64
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize]
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}
