//! The Event Hubs REST stand-in (devhost/hub) on a free loopback port, for the stream tests, with a client that sends
//! to it as the edge does.

use codecapsule_core::analytics::ValidEvent;
use codecapsule_core::eventhubs::{API_VERSION, BATCH_CONTENT_TYPE, ConnectionString, batch_body};
use codecapsule_hub_standin::{Broker, Hub};
use std::sync::Arc;

/// The hub's name in the tests.
pub const HUB: &str = "widget-events";
/// The test hub's send policy.
pub const SEND_POLICY: &str = "edge-send";
/// The test hub's key (any text: the SAS signature takes the key as it is written).
pub const SEND_KEY: &str = "dGVzdC1vbmx5LWtleS1vZi10aGUtc3RhbmQtaW4=";

/// A running stand-in.
pub struct HubStandIn {
    /// What it took, and the switch that makes it fail.
    pub hub: Arc<Hub>,
    /// Its REST base, `http://127.0.0.1:<port>` (the edge's EVENTHUBS_REST_ENDPOINT).
    pub url: String,
}

/// The connection string of the test hub's send policy.
pub fn connection_string() -> String {
    format!(
        "Endpoint=sb://codecapsule-test.servicebus.windows.net/;SharedAccessKeyName={SEND_POLICY};\
         SharedAccessKey={SEND_KEY};EntityPath={HUB}"
    )
}

impl HubStandIn {
    /// Starts one, producing into `broker` (its topic made with `partitions`) when given.
    pub async fn start(broker: Option<(&str, i32)>) -> HubStandIn {
        let connection = ConnectionString::parse(&connection_string()).expect("the test connection string parses");
        let broker = broker.map(|(bootstrap, partitions)| Broker { bootstrap: bootstrap.into(), partitions });
        let hub = Hub::start(connection, broker).await.expect("the stand-in starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let router = hub.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        HubStandIn { hub, url }
    }

    /// Sends `events` as the edge does (one batch, SAS-signed); the hub's status.
    pub async fn send(&self, events: &[ValidEvent]) -> u16 {
        self.send_body(batch_body(events)).await
    }

    /// Sends a batch body of any content, SAS-signed as the edge signs; the hub's status.
    pub async fn send_body(&self, body: Vec<u8>) -> u16 {
        let connection = ConnectionString::parse(&connection_string()).expect("parses");
        let resource = connection.resource_uri(Some(&self.url));
        let expiry = chrono::Utc::now().timestamp() as u64 + 60;
        reqwest::Client::new()
            .post(format!("{resource}/messages?timeout=60&api-version={API_VERSION}"))
            .header("authorization", connection.authorization(&resource, expiry))
            .header("content-type", BATCH_CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .expect("the stand-in answers")
            .status()
            .as_u16()
    }
}
