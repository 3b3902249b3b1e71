//! The event stream, when one is configured (Azure Event Hubs through its Kafka endpoint: the edge Worker's path):
//! every partition is read from its stored offset, in reads of at most [`READ_BYTES`], and each read is stored with
//! its offsets in one transaction (`public.ingest_stream_events`), until every partition is caught up or
//! [`STREAM_BUDGET`] is spent. The rollup that follows counts what was stored.
//!
//! Exactly once: a crash before a read's transaction commits leaves its offset where it was, and the next run reads
//! the same records again; a crash after it re-reads nothing. An event sent twice (the widget retried a batch the
//! edge had forwarded) is two records with one event_id, stored once.
//!
//! Each record is checked again with the edge's own rules, as of the moment the hub took it: a record that fails
//! (nothing the edge sends, but the hub's send policy is a credential that can leak) is skipped and counted, never
//! stored, so that it cannot stop its partition.

use codecapsule_core::analytics::{AnalyticsConfig, ValidEvent, check_event};
use codecapsule_state::{Store, StoreError, StreamPosition};
use codecapsule_stream::{PartitionRead, StreamConfig, StreamError, StreamReader};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// The time a run spends reading the stream; what is left is read by the next run.
pub const STREAM_BUDGET: Duration = Duration::from_secs(25);
/// The most one read of a partition fetches (whole record batches: a batch larger than this still comes whole).
pub const READ_BYTES: i32 = 1 << 20;

/// Why the stream was not read.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// The broker.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The database.
    #[error("the stream's events cannot be stored: {0}")]
    Store(#[from] StoreError),
}

/// What a run read from the stream, in its report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StreamReport {
    /// The topic read (the hub).
    pub topic: String,
    /// Its partitions.
    pub partitions: u32,
    /// Records read.
    pub records: u64,
    /// Events stored for the first time.
    pub accepted: u64,
    /// Events already stored (a retried send).
    pub duplicates: u64,
    /// Records that are not an event the edge accepts: skipped.
    pub rejected: u64,
    /// Records the hub's retention removed before they were read.
    pub expired: u64,
    /// Partitions that another processor read at the same time (it stored those records).
    pub contended: u32,
    /// Whether every partition was read to its end.
    pub caught_up: bool,
    /// Why reading stopped early, when it failed.
    pub error: Option<String>,
}

/// Reads what is new on every partition of the stream into analytics.events, within `budget`.
pub async fn consume(
    store: &Store,
    config: &StreamConfig,
    analytics: &AnalyticsConfig,
    budget: Duration,
) -> StreamReport {
    let mut report = StreamReport { topic: config.topic.clone(), caught_up: true, ..StreamReport::default() };
    if let Err(err) = read_partitions(store, config, analytics, Instant::now() + budget, &mut report).await {
        report.caught_up = false;
        if !matches!(err, ConsumeError::Stream(StreamError::OutOfTime)) {
            report.error = Some(err.to_string());
        }
    }
    report
}

async fn read_partitions(
    store: &Store,
    config: &StreamConfig,
    analytics: &AnalyticsConfig,
    deadline: Instant,
    report: &mut StreamReport,
) -> Result<(), ConsumeError> {
    let reader = StreamReader::connect(config, deadline).await?;
    let partitions = reader.partitions(deadline).await?;
    report.partitions = partitions.len() as u32;
    let stored: HashMap<i32, i64> = store
        .stream_offsets(&config.topic)
        .await?
        .into_iter()
        .map(|offset| (offset.partition, offset.next_offset))
        .collect();
    for partition in partitions {
        let client = reader.partition(partition, deadline).await?;
        let mut from = stored.get(&partition).copied();
        loop {
            let read = client.read(from, READ_BYTES, deadline).await?;
            report.expired += read.expired as u64;
            if Some(read.next_offset) == from {
                // Nothing new (or, past records the broker skips, nothing readable yet): the next run looks again.
                report.caught_up &= read.next_offset >= read.end;
                break;
            }
            match store_read(store, &config.topic, from, &read, analytics, report).await {
                Err(StoreError::Conflict { .. }) => {
                    report.contended += 1;
                    break;
                }
                result => result?,
            }
            from = Some(read.next_offset);
            if read.next_offset >= read.end {
                break;
            }
        }
    }
    Ok(())
}

/// One read's events and its new offset, in one transaction.
async fn store_read(
    store: &Store,
    topic: &str,
    from: Option<i64>,
    read: &PartitionRead,
    analytics: &AnalyticsConfig,
    report: &mut StreamReport,
) -> Result<(), StoreError> {
    let events: Vec<ValidEvent> =
        read.records.iter().filter_map(|record| check_event(&record.value, record.timestamp, analytics).ok()).collect();
    let rejected = (read.records.len() - events.len()) as u64;
    if rejected > 0 {
        // Counts only: a rejected record's content is nobody's to log.
        tracing::warn!(topic, partition = read.partition, rejected, "stream records that are not valid events skipped");
    }
    let position = StreamPosition { topic, partition: read.partition, from_offset: from, to_offset: read.next_offset };
    let counts = store.ingest_stream_events(&position, &events).await?;
    report.records += read.records.len() as u64;
    report.accepted += counts.accepted;
    report.duplicates += counts.duplicates;
    report.rejected += rejected;
    Ok(())
}
