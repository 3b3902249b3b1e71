//! A stand-in for Azure Event Hubs' REST send endpoint, which cannot run off Azure: `make run-edge` and the edge
//! tests send the Worker's batches to it. It checks what the documented API requires of a send and answers as the
//! hub does:
//!
//! - `POST /{hub}/messages`, the hub being the connection string's `EntityPath` (else 404);
//! - `Content-Type: application/vnd.microsoft.servicebus.json` (else 400: without it the hub would take the body as
//!   one message);
//! - `Authorization: SharedAccessSignature sr=…&sig=…&se=…&skn=…`: the policy's name, an expiry still ahead, a
//!   resource that covers this hub, and the HMAC-SHA256 signature recomputed here with the policy's key (else 401);
//! - a body of at most [`MAX_SEND_BYTES`] (else 413), a JSON array of `{"Body": "…", "BrokerProperties":
//!   {"PartitionKey": "…"}}` (else 400);
//! - 201 when taken; 503 (the hub's "server busy") for as many sends as [`Hub::fail_next`] asks, so that tests can
//!   make a forward fail.
//!
//! What it takes it keeps ([`Hub::messages`]) and, given a broker, produces into the hub's topic there, one record per
//! message with its partition key as the key, on the partition the key hashes to: what the processor then reads
//! through the Kafka protocol, as it reads Event Hubs' Kafka endpoint.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use codecapsule_core::eventhubs::{BATCH_CONTENT_TYPE, ConnectionString, sas_signature};
use percent_encoding::percent_decode_str;
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// The largest send Event Hubs takes (Standard tier: 1 MB per batch).
pub const MAX_SEND_BYTES: usize = 1_048_576;

/// Why the stand-in cannot start.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The broker cannot be reached or refused the topic.
    #[error("the broker at {bootstrap} cannot be used: {reason}")]
    Broker {
        /// Its bootstrap address.
        bootstrap: String,
        /// rskafka's error.
        reason: String,
    },
}

/// A local broker the stand-in produces into.
#[derive(Debug, Clone)]
pub struct Broker {
    /// `host:port`.
    pub bootstrap: String,
    /// The topic's partitions (made when the topic is not there yet).
    pub partitions: i32,
}

/// One message the stand-in took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its body (one widget event's JSON).
    pub body: String,
    /// Its partition key (the capsule id).
    pub partition_key: Option<String>,
}

/// The stand-in's state: its hub, what it took, and the failures it was asked for.
pub struct Hub {
    connection: ConnectionString,
    messages: Mutex<Vec<Message>>,
    failures_to_come: AtomicU32,
    producers: Vec<PartitionClient>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(rename = "Body")]
    body: String,
    #[serde(rename = "BrokerProperties", default)]
    broker_properties: Option<BrokerProperties>,
}

#[derive(Deserialize)]
struct BrokerProperties {
    #[serde(rename = "PartitionKey")]
    partition_key: Option<String>,
}

impl Hub {
    /// The hub of `connection`, producing into `broker` when given (its topic is made when missing).
    pub async fn start(connection: ConnectionString, broker: Option<Broker>) -> Result<Arc<Hub>, HubError> {
        let producers = match broker {
            Some(broker) => producers(&connection.hub, &broker).await?,
            None => Vec::new(),
        };
        Ok(Arc::new(Hub { connection, messages: Mutex::default(), failures_to_come: AtomicU32::new(0), producers }))
    }

    /// Its routes.
    pub fn router(self: &Arc<Hub>) -> Router {
        Router::new().route("/{hub}/messages", post(send)).with_state(Arc::clone(self))
    }

    /// Every message taken so far, in the order taken.
    pub fn messages(&self) -> Vec<Message> {
        self.messages.lock().expect("the message log is never poisoned").clone()
    }

    /// Makes the next `sends` sends fail with 503, taking nothing.
    pub fn fail_next(&self, sends: u32) {
        self.failures_to_come.store(sends, Ordering::SeqCst);
    }
}

async fn producers(topic: &str, broker: &Broker) -> Result<Vec<PartitionClient>, HubError> {
    let failed = |err: rskafka::client::error::Error| HubError::Broker {
        bootstrap: broker.bootstrap.clone(),
        reason: err.to_string(),
    };
    let client: Client = ClientBuilder::new(vec![broker.bootstrap.clone()])
        .client_id("codecapsule-eventhubs-standin")
        .build()
        .await
        .map_err(failed)?;
    let topics = client.list_topics().await.map_err(failed)?;
    let partitions = match topics.iter().find(|known| known.name == topic) {
        Some(known) => known.partitions.len() as i32,
        None => {
            let controller = client.controller_client().map_err(failed)?;
            controller.create_topic(topic, broker.partitions, 1, 5_000).await.map_err(failed)?;
            broker.partitions
        }
    };
    let mut producers = Vec::new();
    for partition in 0..partitions {
        producers.push(client.partition_client(topic, partition, UnknownTopicHandling::Retry).await.map_err(failed)?);
    }
    Ok(producers)
}

type Answer = (StatusCode, String);

fn refuse(status: StatusCode, why: &str) -> Answer {
    (status, format!("{why}\n"))
}

async fn send(State(hub): State<Arc<Hub>>, Path(name): Path<String>, headers: HeaderMap, body: Bytes) -> Answer {
    if name != hub.connection.hub {
        return refuse(StatusCode::NOT_FOUND, "no such event hub in this namespace");
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
    if content_type.split(';').next().map(str::trim) != Some(BATCH_CONTENT_TYPE) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "a batch send needs Content-Type application/vnd.microsoft.servicebus.json",
        );
    }
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok()).unwrap_or("");
    let authorization = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()).unwrap_or("");
    if let Err(why) = check_token(&hub.connection, authorization, &format!("http://{host}/{name}")) {
        return refuse(StatusCode::UNAUTHORIZED, why);
    }
    if body.len() > MAX_SEND_BYTES {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, "a send is at most 1 MB");
    }
    let Ok(wire) = serde_json::from_slice::<Vec<WireMessage>>(&body) else {
        return refuse(StatusCode::BAD_REQUEST, "the body is not a JSON array of {\"Body\": …} messages");
    };
    let failing = hub.failures_to_come.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1));
    if failing.is_ok() {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "server busy (asked for by the test)");
    }
    let messages: Vec<Message> = wire
        .into_iter()
        .map(|message| Message {
            body: message.body,
            partition_key: message.broker_properties.and_then(|properties| properties.partition_key),
        })
        .collect();
    if let Err(why) = produce(&hub.producers, &messages).await {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, &why);
    }
    hub.messages.lock().expect("the message log is never poisoned").extend(messages);
    (StatusCode::CREATED, String::new())
}

/// Checks a SAS token as the hub does; the reason, when refused.
fn check_token(connection: &ConnectionString, authorization: &str, resource: &str) -> Result<(), &'static str> {
    let fields = authorization.strip_prefix("SharedAccessSignature ").ok_or("no SharedAccessSignature token")?;
    let field = |name: &str| {
        fields.split('&').filter_map(|pair| pair.split_once('=')).find(|(key, _)| *key == name).map(|(_, value)| value)
    };
    let (Some(encoded_uri), Some(signature), Some(expiry), Some(key_name)) =
        (field("sr"), field("sig"), field("se"), field("skn"))
    else {
        return Err("the token needs sr, sig, se and skn");
    };
    let decode = |text: &str| percent_decode_str(text).decode_utf8().map(|text| text.into_owned());
    if decode(key_name).ok().as_deref() != Some(connection.key_name.as_str()) {
        return Err("the token names another policy");
    }
    let expiry: u64 = expiry.parse().map_err(|_| "se is not a number of seconds")?;
    if expiry <= chrono::Utc::now().timestamp() as u64 {
        return Err("the token has expired");
    }
    let uri = decode(encoded_uri).map_err(|_| "sr is not percent-encoded UTF-8")?;
    let uri = uri.trim_end_matches('/');
    if resource != uri && !resource.starts_with(&format!("{uri}/")) {
        return Err("the token is for another resource");
    }
    let given = decode(signature).map_err(|_| "sig is not percent-encoded")?;
    if given != sas_signature(encoded_uri, connection.key.expose(), expiry) {
        return Err("the token's signature does not match the policy's key");
    }
    Ok(())
}

/// Produces each message on the partition its key hashes to (no key: the first), one produce per partition.
async fn produce(producers: &[PartitionClient], messages: &[Message]) -> Result<(), String> {
    if producers.is_empty() {
        return Ok(());
    }
    let mut by_partition: BTreeMap<usize, Vec<Record>> = BTreeMap::new();
    let now = chrono::Utc::now();
    for message in messages {
        let partition = message.partition_key.as_deref().map_or(0, |key| fnv1a(key) as usize % producers.len());
        by_partition.entry(partition).or_default().push(Record {
            key: message.partition_key.clone().map(String::into_bytes),
            value: Some(message.body.clone().into_bytes()),
            headers: BTreeMap::new(),
            timestamp: now,
        });
    }
    for (partition, records) in by_partition {
        producers[partition]
            .produce(records, Compression::NoCompression)
            .await
            .map_err(|err| format!("the broker refused the records: {err}"))?;
    }
    Ok(())
}

/// A stable hash of a partition key (FNV-1a, 64 bits): one key, one partition, in every run.
fn fnv1a(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use codecapsule_core::eventhubs::sas_token;

    fn connection() -> ConnectionString {
        ConnectionString::parse(
            "Endpoint=sb://local.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=k3y;EntityPath=events",
        )
        .unwrap()
    }

    #[test]
    fn a_token_is_checked_as_the_hub_checks_it() {
        let resource = "http://127.0.0.1:9/events";
        let later = chrono::Utc::now().timestamp() as u64 + 60;
        let token = |uri: &str, name: &str, key: &str, expiry: u64| sas_token(uri, name, key, expiry);
        assert_eq!(check_token(&connection(), &token(resource, "send", "k3y", later), resource), Ok(()));
        assert_eq!(
            check_token(&connection(), &token("http://127.0.0.1:9", "send", "k3y", later), resource),
            Ok(()),
            "a namespace-wide token covers the hub"
        );
        let refusals = [
            (token(resource, "send", "wrong", later), "the token's signature does not match the policy's key"),
            (token(resource, "listen", "k3y", later), "the token names another policy"),
            (token(resource, "send", "k3y", later - 120), "the token has expired"),
            (token("http://127.0.0.1:9/other", "send", "k3y", later), "the token is for another resource"),
            (token("http://127.0.0.1:9/ev", "send", "k3y", later), "the token is for another resource"),
            ("Bearer x".to_string(), "no SharedAccessSignature token"),
            ("SharedAccessSignature sr=a&se=1".to_string(), "the token needs sr, sig, se and skn"),
        ];
        for (authorization, why) in refusals {
            assert_eq!(check_token(&connection(), &authorization, resource), Err(why), "{authorization}");
        }
    }

    #[test]
    fn one_key_hashes_to_one_partition() {
        assert_eq!(fnv1a("capsule-a"), fnv1a("capsule-a"));
        assert_ne!(fnv1a("capsule-a"), fnv1a("capsule-b"));
        // FNV-1a's published test vector.
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
