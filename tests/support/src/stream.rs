//! The stream path's parts, started together for a test or bench: a migrated PostgreSQL, a tansu broker, the Event
//! Hubs stand-in producing into it (its topic made with the partitions asked for), and the processor's settings for
//! reading it.

use crate::eventhubs::{HUB, HubStandIn};
use crate::kafka::TempBroker;
use crate::postgres::TempPostgres;
use codecapsule_state::Store;
use codecapsule_stream::StreamConfig;

/// Everything between a send to the hub and the hourly stats.
pub struct StreamPath {
    /// The database (its cluster lives as long as this).
    pub postgres: TempPostgres,
    /// A superuser connection to it.
    pub client: tokio_postgres::Client,
    /// The functions' store over it (direct, two connections).
    pub store: Store,
    /// The broker.
    pub broker: TempBroker,
    /// The hub, producing into the broker.
    pub hub: HubStandIn,
    /// The processor's settings for the hub's topic.
    pub stream: StreamConfig,
}

impl StreamPath {
    /// Starts every part; the hub's topic gets `partitions` partitions.
    pub async fn start(partitions: i32) -> StreamPath {
        let postgres = TempPostgres::start().await;
        let client = postgres.client().await;
        let store = postgres.deployment(2).store.expect("a store");
        let broker = TempBroker::start();
        let hub = HubStandIn::start(Some((&broker.bootstrap, partitions))).await;
        let stream = broker.stream_config(HUB);
        StreamPath { postgres, client, store, broker, hub, stream }
    }
}
