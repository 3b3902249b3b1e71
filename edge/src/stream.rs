//! The send of an accepted batch to Event Hubs (REST "send batch events"), signed with a SAS token computed here
//! from the hub's send key. The Worker answers 202 only after the hub answered 201.

use crate::budget::{Deadline, now_ms};
use crate::config::Stream;
use codecapsule_core::analytics::ValidEvent;
use codecapsule_core::eventhubs::{API_VERSION, BATCH_CONTENT_TYPE, TOKEN_LIFETIME_SECONDS, batch_body};
use worker::js_sys::Uint8Array;
use worker::{Fetch, Headers, Method, Request, RequestInit};

/// Why a batch was not taken by the hub. None of it is shown to widgets (it may name the hub); it is logged.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The hub refused the edge's credentials (401/403): the send key or its policy is wrong.
    #[error("Event Hubs refused the edge's SAS token ({status}): check EVENTHUBS_CONNECTION_STRING's send policy")]
    Unauthorized {
        /// The hub's status.
        status: u16,
    },
    /// The hub answered something else than 201.
    #[error("Event Hubs answered {status}: {body}")]
    Refused {
        /// The hub's status.
        status: u16,
        /// The start of its body.
        body: String,
    },
    /// The hub could not be reached.
    #[error("Event Hubs could not be reached: {0}")]
    Unreachable(String),
    /// The hub did not answer within the request's budget.
    #[error("Event Hubs did not answer in time")]
    OutOfTime,
}

/// Sends `events` as one batch, each event a message partitioned by its capsule.
pub async fn send(stream: &Stream, events: &[ValidEvent], deadline: Deadline) -> Result<(), StreamError> {
    let unreachable = |err: worker::Error| StreamError::Unreachable(err.to_string());
    let expiry = (now_ms() / 1000.0) as u64 + TOKEN_LIFETIME_SECONDS;
    let headers = Headers::new();
    headers
        .set("authorization", &stream.connection.authorization(&stream.resource_uri, expiry))
        .map_err(unreachable)?;
    headers.set("content-type", BATCH_CONTENT_TYPE).map_err(unreachable)?;
    let body = Uint8Array::from(batch_body(events).as_slice());
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(body.into()));
    let url = format!("{}/messages?timeout=60&api-version={API_VERSION}", stream.resource_uri);
    let request = Request::new_with_init(&url, &init).map_err(unreachable)?;
    let exchange = async {
        let mut response = Fetch::Request(request).send().await?;
        let status = response.status_code();
        let body = if status == 201 { String::new() } else { response.text().await.unwrap_or_default() };
        Ok::<_, worker::Error>((status, body))
    };
    let (status, body) = deadline.within(exchange).await.map_err(|_| StreamError::OutOfTime)?.map_err(unreachable)?;
    match status {
        201 => Ok(()),
        401 | 403 => Err(StreamError::Unauthorized { status }),
        _ => Err(StreamError::Refused { status, body: body.chars().take(200).collect() }),
    }
}
