//! A Kafka-protocol broker on loopback for the stream tests: tansu (crates.io, pinned in tools/tansu.sh), in-memory
//! storage, plaintext, on a free port; killed when the guard goes. `make test` installs it and passes its path as
//! `TANSU`.

use crate::{LoggedChild, free_port};
use codecapsule_stream::StreamConfig;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// A running broker.
pub struct TempBroker {
    /// `127.0.0.1:<port>`, as EVENTHUBS_KAFKA_BOOTSTRAP takes it.
    pub bootstrap: String,
    _broker: LoggedChild,
}

/// The tansu binary: `TANSU`, as `make test` sets it.
pub fn tansu() -> PathBuf {
    let path = std::env::var_os("TANSU").map(PathBuf::from);
    match path {
        Some(path) if path.exists() => path,
        _ => panic!("no tansu broker: run `make test`, which installs it (tools/tansu.sh) and sets TANSU to its path"),
    }
}

impl TempBroker {
    /// Starts a broker with nothing in it.
    pub fn start() -> TempBroker {
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let mut command = Command::new(tansu());
        command
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .env("RUST_LOG", "error");
        let mut broker = LoggedChild::spawn(&mut command, "tansu");
        broker.wait_until_listening(port, Duration::from_secs(30));
        TempBroker { bootstrap: format!("127.0.0.1:{port}"), _broker: broker }
    }

    /// Deletes `topic` and its records (as deleting a hub does).
    pub async fn delete_topic(&self, topic: &str) {
        let client = rskafka::client::ClientBuilder::new(vec![self.bootstrap.clone()]).build().await.expect("connects");
        let controller = client.controller_client().expect("a controller");
        controller.delete_topic(topic, 5_000).await.expect("the topic is deleted");
    }

    /// The processor's settings for reading `topic` from this broker (plaintext: it is on loopback).
    pub fn stream_config(&self, topic: &str) -> StreamConfig {
        StreamConfig::parse(|name| match name {
            "EVENTHUBS_KAFKA_BOOTSTRAP" => Some(self.bootstrap.clone()),
            "EVENTHUBS_KAFKA_SECURITY" => Some("plaintext".into()),
            "EVENTHUBS_TOPIC" => Some(topic.into()),
            _ => None,
        })
        .expect("the settings parse")
        .expect("a stream is configured")
    }
}
