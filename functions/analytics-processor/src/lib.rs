//! The analytics-processor function: every 5 minutes (EventBridge on Lambda, a timer trigger on Azure), the new
//! events of the event stream when there is one ([`stream`]: the edge's path), one exactly-once rollup of new widget
//! events into analytics.capsule_hourly_stats, then retention.
//!
//! The rollup is one SQL function (`public.rollup_analytics`, supabase/migrations/*_analytics_pipeline.sql): an
//! advisory lock keeps a second processor out, the watermark moves in the rollup's own transaction, and every hour
//! new events touch is recomputed from its raw events. This binary only calls it and then prunes, in bounded
//! batches within a time budget: raw events past ANALYTICS_RETENTION_DAYS, and rate-limit keys whose bucket is full.

use codecapsule_core::analytics::AnalyticsConfig;
use codecapsule_core::config::ConfigError;
use codecapsule_core::judge::Judges;
use codecapsule_state::guard::Stateful;
use codecapsule_state::{RollupOutcome, RollupStatus, Store, StoreError};
use codecapsule_stream::StreamConfig;
use codecapsule_web::host;
use serde::Serialize;
use std::time::{Duration, Instant};
use stream::StreamReport;

pub mod stream;

/// The function as its binary and the local dev host see it.
pub const FUNCTION: host::Function<Stateful> = host::Function {
    name: "analytics-processor",
    routes: &["POST /analytics-processor"],
    judges: || Ok(Vec::new()),
    router,
    scheduled: Some(scheduled_run),
    response_streaming: false,
};

/// Rows deleted per retention statement: small enough that no statement holds many locks or runs long.
pub const PRUNE_BATCH: u32 = 10_000;
/// Time left for pruning after the rollup; what remains is pruned by the next run.
pub const PRUNE_BUDGET: Duration = Duration::from_secs(20);

/// What a run did, as its answer (and its log line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// What was read from the event stream (none configured: None).
    pub stream: Option<StreamReport>,
    pub rollup: RollupOutcome,
    pub pruned_events: u64,
    pub pruned_rate_limit_keys: u64,
    pub elapsed_ms: u64,
}

/// POST /analytics-processor: the Azure timer trigger's route, and a way to run the job by hand locally. The
/// retention and stream settings are checked here, at start-up.
fn router(_judges: Judges, deployment: &Stateful) -> Result<axum::Router, ConfigError> {
    AnalyticsConfig::from_env()?;
    StreamConfig::from_env()?;
    Ok(host::timer_route("analytics-processor", scheduled_run, deployment))
}

/// The job as the host calls it (EventBridge on Lambda, the timer route elsewhere).
fn scheduled_run(
    deployment: Stateful,
) -> std::pin::Pin<Box<dyn Future<Output = Result<serde_json::Value, String>> + Send>> {
    Box::pin(run(deployment))
}

async fn run(deployment: Stateful) -> Result<serde_json::Value, String> {
    let store = deployment.store.as_ref().ok_or("no state configured: set DATABASE_URL or SUPABASE_URL")?;
    let config = AnalyticsConfig::from_env().map_err(|err| err.to_string())?;
    let stream = StreamConfig::from_env().map_err(|err| err.to_string())?;
    let report = process(store, &config, stream.as_ref()).await.map_err(|err| err.to_string())?;
    if let Some(stream) = &report.stream {
        tracing::info!(
            topic = stream.topic,
            partitions = stream.partitions,
            records = stream.records,
            accepted = stream.accepted,
            duplicates = stream.duplicates,
            rejected = stream.rejected,
            expired = stream.expired,
            contended = stream.contended,
            caught_up = stream.caught_up,
            "stream read"
        );
    }
    tracing::info!(
        outcome = %report.rollup.outcome,
        events = report.rollup.events,
        hours = report.rollup.hours,
        pruned_events = report.pruned_events,
        pruned_rate_limit_keys = report.pruned_rate_limit_keys,
        elapsed_ms = report.elapsed_ms,
        "analytics run"
    );
    // What was stored is rolled up even when the stream failed; the run still fails, so that it is alerted on.
    if let Some(error) = report.stream.as_ref().and_then(|stream| stream.error.as_ref()) {
        return Err(error.clone());
    }
    serde_json::to_value(report).map_err(|err| err.to_string())
}

/// One run: the stream's new events (when `stream` is given) within [`stream::STREAM_BUDGET`], the rollup, then
/// retention within [`PRUNE_BUDGET`]. A busy rollup (another processor is running) skips the pruning too: that run
/// does it.
pub async fn process(
    store: &Store,
    config: &AnalyticsConfig,
    stream: Option<&StreamConfig>,
) -> Result<RunReport, StoreError> {
    let started = Instant::now();
    let stream = match stream {
        Some(stream) => Some(stream::consume(store, stream, config, stream::STREAM_BUDGET).await),
        None => None,
    };
    let rollup = store.rollup_analytics().await?;
    let (mut pruned_events, mut pruned_rate_limit_keys) = (0, 0);
    if rollup.outcome == RollupStatus::Done {
        let deadline = Instant::now() + PRUNE_BUDGET;
        loop {
            let deleted = store.prune_analytics_events(config.retention_days, PRUNE_BATCH).await?;
            pruned_events += deleted;
            if deleted < u64::from(PRUNE_BATCH) || Instant::now() > deadline {
                break;
            }
        }
        loop {
            let deleted = store.prune_rate_limits(PRUNE_BATCH).await?;
            pruned_rate_limit_keys += deleted;
            if deleted < u64::from(PRUNE_BATCH) || Instant::now() > deadline {
                break;
            }
        }
    }
    Ok(RunReport {
        stream,
        rollup,
        pruned_events,
        pruned_rate_limit_keys,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}
