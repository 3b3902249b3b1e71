//! Reading a hub's partitions through its Kafka endpoint: one connection, then per partition the records from a
//! given offset on, each read bounded in bytes and in time.

use crate::config::{StreamConfig, StreamConfigError};
use chrono::{DateTime, Utc};
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use std::time::Duration;
use tokio::time::Instant;

/// How long rskafka retries one operation before it gives up (its default is forever); each call is also bounded by
/// the caller's deadline.
const RETRY_DEADLINE: Duration = Duration::from_secs(10);
/// How long a fetch waits at the broker for records that are not there yet: hardly at all (the processor reads what
/// is there and leaves; a caught-up partition costs one such wait per run).
const FETCH_MAX_WAIT_MS: i32 = 10;

/// Why the stream could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The settings do not build a client.
    #[error(transparent)]
    Config(#[from] StreamConfigError),
    /// The broker cannot be reached, or refused the client (authentication included).
    #[error(
        "the event stream at {bootstrap} cannot be reached: {reason} (check EVENTHUBS_KAFKA_BOOTSTRAP and the listen policy)"
    )]
    Connect {
        /// The bootstrap brokers.
        bootstrap: String,
        /// rskafka's error.
        reason: String,
    },
    /// The hub is not on the broker.
    #[error("the event stream has no topic {0:?}: check EVENTHUBS_TOPIC (the hub's name)")]
    NoTopic(String),
    /// A partition's read failed.
    #[error("partition {partition} of the event stream could not be read: {reason}")]
    Read {
        /// The partition.
        partition: i32,
        /// rskafka's error.
        reason: String,
    },
    /// The caller's deadline passed first.
    #[error("the event stream did not answer in time")]
    OutOfTime,
}

/// A connection to the broker, for one topic.
pub struct StreamReader {
    client: Client,
    topic: String,
    /// The bootstrap brokers, as errors name them.
    bootstrap: String,
}

/// One partition of the topic.
pub struct PartitionReader {
    client: PartitionClient,
}

/// One record of a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    /// Its offset in the partition.
    pub offset: i64,
    /// When the hub took it (Event Hubs' enqueued time).
    pub timestamp: DateTime<Utc>,
    /// Its value (empty when it has none).
    pub value: Vec<u8>,
}

/// What one read of a partition returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRead {
    /// The partition.
    pub partition: i32,
    /// The offset the read started at: the one asked for, or the earliest the broker still holds (also when the one
    /// asked for is past the partition's end: the hub was made again).
    pub from: i64,
    /// The records, in offset order.
    pub records: Vec<StreamRecord>,
    /// Where the next read starts: one past the last record read (`from` when there was none).
    pub next_offset: i64,
    /// The partition's end when read: `next_offset == end` means caught up.
    pub end: i64,
    /// Offsets asked for that the broker no longer holds (its retention removed them before they were read).
    pub expired: i64,
}

async fn within<T>(
    deadline: Instant,
    operation: impl Future<Output = Result<T, rskafka::client::error::Error>>,
    error: impl FnOnce(String) -> StreamError,
) -> Result<T, StreamError> {
    match tokio::time::timeout_at(deadline, operation).await {
        Err(_) => Err(StreamError::OutOfTime),
        Ok(result) => result.map_err(|err| error(err.to_string())),
    }
}

impl StreamReader {
    /// Connects to the bootstrap brokers (TLS and SASL as configured).
    pub async fn connect(config: &StreamConfig, deadline: Instant) -> Result<StreamReader, StreamError> {
        let backoff = rskafka::BackoffConfig { deadline: Some(RETRY_DEADLINE), ..Default::default() };
        let mut builder = ClientBuilder::new(config.bootstrap.clone())
            .client_id("codecapsule-analytics-processor")
            .backoff_config(backoff);
        if let Some(tls) = config.tls()? {
            builder = builder.tls_config(tls);
        }
        if let Some(sasl) = config.sasl() {
            builder = builder.sasl_config(sasl);
        }
        let bootstrap = config.bootstrap.join(",");
        let client =
            within(deadline, builder.build(), |reason| StreamError::Connect { bootstrap: bootstrap.clone(), reason })
                .await?;
        Ok(StreamReader { client, topic: config.topic.clone(), bootstrap })
    }

    /// The topic's partitions, in order.
    pub async fn partitions(&self, deadline: Instant) -> Result<Vec<i32>, StreamError> {
        let topics = within(deadline, self.client.list_topics(), |reason| StreamError::Connect {
            bootstrap: self.bootstrap.clone(),
            reason,
        })
        .await?;
        let topic = topics.into_iter().find(|topic| topic.name == self.topic);
        Ok(topic.ok_or_else(|| StreamError::NoTopic(self.topic.clone()))?.partitions.into_iter().collect())
    }

    /// One partition's reader.
    pub async fn partition(&self, partition: i32, deadline: Instant) -> Result<PartitionReader, StreamError> {
        let client = within(
            deadline,
            self.client.partition_client(self.topic.clone(), partition, UnknownTopicHandling::Error),
            |reason| StreamError::Read { partition, reason },
        )
        .await?;
        Ok(PartitionReader { client })
    }
}

impl PartitionReader {
    /// The records from `from` on (None: from the earliest the broker holds), at most about `max_bytes` of them.
    ///
    /// Where the partition ends is taken from the fetch's high watermark, never from a separate offset lookup (which
    /// can lag a write, and which some brokers answer loosely): an offset past the end is the broker's
    /// OffsetOutOfRange, and only then is the partition read from its start (the hub was made again).
    pub async fn read(
        &self,
        from: Option<i64>,
        max_bytes: i32,
        deadline: Instant,
    ) -> Result<PartitionRead, StreamError> {
        let partition = self.client.partition();
        let read_error = |reason| StreamError::Read { partition, reason };
        let earliest = within(deadline, self.client.get_offset(OffsetAt::Earliest), read_error).await?;
        let asked = from.unwrap_or(earliest);
        let mut start = asked.max(earliest);
        let fetch = |offset: i64| self.client.fetch_records(offset, 1..max_bytes.max(2), FETCH_MAX_WAIT_MS);
        let fetched = tokio::time::timeout_at(deadline, fetch(start)).await.map_err(|_| StreamError::OutOfTime)?;
        // Past the partition's end: the broker says OffsetOutOfRange, or (some brokers) answers nothing below it.
        let past_end = match &fetched {
            Err(rskafka::client::error::Error::ServerError {
                protocol_error: rskafka::client::error::ProtocolError::OffsetOutOfRange,
                ..
            }) => true,
            Ok((records, high_watermark)) => records.is_empty() && *high_watermark < start,
            Err(_) => false,
        };
        let (records, high_watermark) = if past_end && start > earliest {
            start = earliest;
            within(deadline, fetch(start), read_error).await?
        } else {
            fetched.map_err(|err| read_error(err.to_string()))?
        };
        let expired = (start - asked).max(0);
        // A fetch returns whole record batches: drop the records of the first batch that come before `start`.
        let records: Vec<StreamRecord> = records
            .into_iter()
            .filter(|record| record.offset >= start)
            .map(|record| StreamRecord {
                offset: record.offset,
                timestamp: record.record.timestamp,
                value: record.record.value.unwrap_or_default(),
            })
            .collect();
        let next_offset = records.last().map_or(start, |record| record.offset + 1);
        Ok(PartitionRead {
            partition,
            from: start,
            records,
            next_offset,
            end: high_watermark.max(next_offset),
            expired,
        })
    }
}
