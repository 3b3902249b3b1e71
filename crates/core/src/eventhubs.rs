//! Azure Event Hubs as the stream between the edge and the processor: the connection string both read, the SAS token
//! the edge signs its REST sends with, and the batch it sends (one message per widget event, the capsule id as the
//! partition key, so that one capsule's events stay in order on one partition).
//!
//! REST: `POST {endpoint}/{hub}/messages?timeout=60&api-version=2014-01`, Content-Type [`BATCH_CONTENT_TYPE`], body
//! `[{"Body": "<event JSON>", "BrokerProperties": {"PartitionKey": "<capsule id>"}}, …]`, answered 201.

use crate::analytics::ValidEvent;
use crate::config::Secret;
use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use sha2::Sha256;

/// The media type of a batch send.
pub const BATCH_CONTENT_TYPE: &str = "application/vnd.microsoft.servicebus.json";
/// The REST API's version, as its documentation gives it.
pub const API_VERSION: &str = "2014-01";
/// How long a SAS token the edge signs is valid: one send, with room for clock skew.
pub const TOKEN_LIFETIME_SECONDS: u64 = 300;

/// Why an Event Hubs setting cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventHubsError {
    /// A part the connection string must have is missing.
    #[error(
        "the Event Hubs connection string has no {0}: copy it from the hub's shared access policy \
         (Endpoint=sb://<namespace>.servicebus.windows.net/;SharedAccessKeyName=…;SharedAccessKey=…;EntityPath=<hub>)"
    )]
    Missing(&'static str),
    /// The endpoint is not `sb://<host>/`.
    #[error("the Event Hubs endpoint {0:?} is not sb://<namespace>.servicebus.windows.net/")]
    Endpoint(String),
}

/// A hub's connection string, as the Azure portal gives it for a shared access policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionString {
    /// The namespace's host, `<namespace>.servicebus.windows.net`.
    pub host: String,
    /// The policy's name (`SharedAccessKeyName`).
    pub key_name: String,
    /// The policy's key (`SharedAccessKey`), used as text, not decoded.
    pub key: Secret,
    /// The hub (`EntityPath`).
    pub hub: String,
}

impl ConnectionString {
    /// Parses `Endpoint=sb://…/;SharedAccessKeyName=…;SharedAccessKey=…;EntityPath=…` (any order).
    pub fn parse(text: &str) -> Result<ConnectionString, EventHubsError> {
        let part = |name: &'static str| {
            text.split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
                .map(|(_, value)| value.trim().to_string())
                .filter(|value| !value.is_empty())
                .ok_or(EventHubsError::Missing(name))
        };
        let endpoint = part("Endpoint")?;
        let host = endpoint
            .strip_prefix("sb://")
            .map(|rest| rest.trim_end_matches('/'))
            .filter(|host| !host.is_empty() && !host.contains('/'))
            .ok_or_else(|| EventHubsError::Endpoint(endpoint.clone()))?
            .to_string();
        Ok(ConnectionString {
            host,
            key_name: part("SharedAccessKeyName")?,
            key: Secret::new(part("SharedAccessKey")?),
            hub: part("EntityPath")?,
        })
    }

    /// The hub's REST resource under `base` (`https://<host>` in Azure; a loopback stand-in's address in tests).
    pub fn resource_uri(&self, base: Option<&str>) -> String {
        match base {
            Some(base) => format!("{}/{}", base.trim_end_matches('/'), self.hub),
            None => format!("https://{}/{}", self.host, self.hub),
        }
    }

    /// The `Authorization` value of a send to `resource_uri`, valid until `expiry` (seconds since the epoch).
    pub fn authorization(&self, resource_uri: &str, expiry: u64) -> String {
        sas_token(resource_uri, &self.key_name, self.key.expose(), expiry)
    }
}

/// What a SAS token's percent-encoding leaves as it is: RFC 3986's unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A Shared Access Signature: `SharedAccessSignature sr=<uri>&sig=<signature>&se=<expiry>&skn=<key name>`, the
/// signature being HMAC-SHA256 under the key (its text) of the encoded URI, a newline and the expiry, in base64.
pub fn sas_token(resource_uri: &str, key_name: &str, key: &str, expiry: u64) -> String {
    let encoded_uri = utf8_percent_encode(resource_uri, UNRESERVED).to_string();
    let signature = sas_signature(&encoded_uri, key, expiry);
    format!(
        "SharedAccessSignature sr={encoded_uri}&sig={}&se={expiry}&skn={}",
        utf8_percent_encode(&signature, UNRESERVED),
        utf8_percent_encode(key_name, UNRESERVED)
    )
}

/// The base64 signature of a SAS token over its encoded resource URI and expiry.
pub fn sas_signature(encoded_uri: &str, key: &str, expiry: u64) -> String {
    // HMAC takes keys of any length: new_from_slice cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{encoded_uri}\n{expiry}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// One message of a batch send.
#[derive(Debug, Serialize)]
struct Message {
    #[serde(rename = "Body")]
    body: String,
    #[serde(rename = "BrokerProperties")]
    broker_properties: BrokerProperties,
}

#[derive(Debug, Serialize)]
struct BrokerProperties {
    #[serde(rename = "PartitionKey")]
    partition_key: String,
}

/// The body of a batch send of `events`: each event's JSON as one message, partitioned by its capsule.
///
/// A batch of [`crate::analytics::MAX_EVENTS`] events at their largest stays far under the hub's 1 MB per send:
/// a checked event keeps only its known fields, each bounded.
pub fn batch_body(events: &[ValidEvent]) -> Vec<u8> {
    let messages: Vec<Message> = events
        .iter()
        .map(|event| Message {
            // A ValidEvent is plain data: serialising it cannot fail.
            body: serde_json::to_string(event).expect("an event serialises"),
            broker_properties: BrokerProperties { partition_key: event.capsule_id.to_string() },
        })
        .collect();
    serde_json::to_vec(&messages).expect("messages serialise")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::{EventType, MAX_EVENTS, MAX_ID_BYTES, MAX_LABEL_BYTES};

    const CONNECTION: &str = "Endpoint=sb://codecapsule-events.servicebus.windows.net/;SharedAccessKeyName=edge-send;\
                              SharedAccessKey=dGVzdC1rZXktb2YtdGhlLWRvY3M=;EntityPath=widget-events";

    #[test]
    fn a_portal_connection_string_parses_and_a_broken_one_says_what_is_missing() {
        let parsed = ConnectionString::parse(CONNECTION).unwrap();
        assert_eq!(
            (parsed.host.as_str(), parsed.key_name.as_str(), parsed.key.expose(), parsed.hub.as_str()),
            ("codecapsule-events.servicebus.windows.net", "edge-send", "dGVzdC1rZXktb2YtdGhlLWRvY3M=", "widget-events")
        );
        assert_eq!(
            ConnectionString::parse("Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=a;SharedAccessKey=b"),
            Err(EventHubsError::Missing("EntityPath"))
        );
        assert!(matches!(
            ConnectionString::parse(&CONNECTION.replace("sb://", "https://")),
            Err(EventHubsError::Endpoint(_))
        ));
    }

    #[test]
    fn the_sas_token_matches_an_independent_signer() {
        // Computed with Python's hmac, hashlib and urllib.parse.quote(safe="") from the documented algorithm.
        let connection = ConnectionString::parse(CONNECTION).unwrap();
        let uri = connection.resource_uri(None);
        assert_eq!(uri, "https://codecapsule-events.servicebus.windows.net/widget-events");
        assert_eq!(
            connection.authorization(&uri, 1_798_761_600),
            "SharedAccessSignature sr=https%3A%2F%2Fcodecapsule-events.servicebus.windows.net%2Fwidget-events\
             &sig=FqiVS%2FNoh36CugKFAjPmifvVBULDdb1ZmRuvC4qIsuU%3D&se=1798761600&skn=edge-send"
        );
    }

    #[test]
    fn a_full_batch_of_the_largest_events_fits_one_send() {
        let event = ValidEvent {
            event_id: uuid::Uuid::new_v4(),
            capsule_id: uuid::Uuid::new_v4(),
            kind: EventType::Submit,
            // Quotes are escaped twice (the event's JSON inside the message's JSON): the worst case.
            visitor_id: Some("\"".repeat(MAX_ID_BYTES)),
            session_id: Some("\"".repeat(MAX_ID_BYTES)),
            ts: chrono::DateTime::parse_from_rfc3339("2026-11-26T12:00:00.123456789+00:00").unwrap().to_utc(),
            duration_ms: Some(86_400_000),
            language: Some("\"".repeat(MAX_LABEL_BYTES)),
            widget_version: Some("\"".repeat(MAX_LABEL_BYTES)),
        };
        let body = batch_body(&vec![event.clone(); MAX_EVENTS]);
        assert!(body.len() < 1_000_000, "{} bytes", body.len());
        let messages: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(messages[0]["BrokerProperties"]["PartitionKey"], event.capsule_id.to_string());
        let inner: ValidEvent = serde_json::from_str(messages[0]["Body"].as_str().unwrap()).unwrap();
        assert_eq!(inner, event);
    }
}
