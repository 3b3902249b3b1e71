//! Azure Event Hubs as the analytics processor reads it: through the hub's Kafka endpoint, every partition from the
//! offset the processor stored last, in bounded reads.
//!
//! The processor keeps its offsets in PostgreSQL, committed in the transaction that stores the events they cover
//! (`public.ingest_stream_events`), not in a Kafka consumer group: a crash before that commit re-reads the same
//! records, one after it re-reads nothing, and the events' ids dedupe whatever a sender sent twice. That is also why
//! this crate is a plain partition reader (rskafka) and has no group membership.
//!
//! - [`config`]: the settings (`EVENTHUBS_KAFKA_BOOTSTRAP`, `EVENTHUBS_CONNECTION_STRING`, …) and the TLS/SASL they
//!   build;
//! - [`reader`]: the connection and the reads.

#![warn(missing_docs)]

pub mod config;
pub mod reader;

pub use config::{Security, StreamConfig, StreamConfigError};
pub use reader::{PartitionRead, PartitionReader, StreamError, StreamReader, StreamRecord};
