//! The Worker's settings, from its bindings (wrangler.toml's [vars] and its secrets), each parsed by the core
//! crate's own parser so that the edge and the functions read one value one way.
//!
//! - `EVENTHUBS_CONNECTION_STRING` (secret): the hub's send policy, `Endpoint=sb://…;SharedAccessKeyName=…;
//!   SharedAccessKey=…;EntityPath=<hub>`. Without it POST /api/events answers 503 (nothing is accepted that could
//!   not be forwarded) and GET /api/health says why.
//! - `EVENTHUBS_REST_ENDPOINT` (var, optional): the REST base to send to instead of `https://<namespace host>`: a
//!   local stand-in (`make run-edge`, the tests). Unset in Azure.
//! - `CORS_ALLOWED_ORIGINS`, `ANALYTICS_RETENTION_DAYS`: as for the functions (README, Configuration).

use codecapsule_core::analytics::AnalyticsConfig;
use codecapsule_core::config::{ConfigError, HttpConfig};
use codecapsule_core::eventhubs::{ConnectionString, EventHubsError};
use worker::Env;

/// Why the Worker's settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EdgeConfigError {
    /// A value the core crate's parser refuses.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    /// No event stream is configured.
    #[error("the edge has no event stream: set the EVENTHUBS_CONNECTION_STRING secret (wrangler secret put)")]
    NoStream,
    /// The connection string is malformed.
    #[error("EVENTHUBS_CONNECTION_STRING: {0}")]
    Stream(#[from] EventHubsError),
    /// EVENTHUBS_REST_ENDPOINT is not an http(s) URL.
    #[error("EVENTHUBS_REST_ENDPOINT={0:?} is not an http:// or https:// URL")]
    RestEndpoint(String),
}

/// Where accepted batches go.
pub struct Stream {
    /// The hub and its send key.
    pub connection: ConnectionString,
    /// The hub's REST resource (`<base>/<hub>`), which the SAS token signs.
    pub resource_uri: String,
}

/// The Worker's settings for one request (bindings are read per request: a Worker has no start-up).
pub struct EdgeConfig {
    /// The event stream, or why there is none (health reports it; ingest refuses with it).
    pub stream: Result<Stream, EdgeConfigError>,
    /// The widget origins browsers may call from.
    pub http: HttpConfig,
    /// Retention, which sets the oldest event still taken.
    pub analytics: AnalyticsConfig,
}

impl EdgeConfig {
    /// Reads the bindings; a malformed CORS or retention value fails every route, as it stops a function's start-up.
    pub fn from_env(env: &Env) -> Result<EdgeConfig, EdgeConfigError> {
        let text = |name: &str| {
            env.secret(name)
                .map(|secret| secret.to_string())
                .or_else(|_| env.var(name).map(|var| var.to_string()))
                .ok()
                .filter(|value| !value.trim().is_empty())
        };
        let http = match text("CORS_ALLOWED_ORIGINS") {
            Some(value) => HttpConfig::parse_origins(&value)?,
            None => HttpConfig::default(),
        };
        let analytics = AnalyticsConfig::parse(text("ANALYTICS_RETENTION_DAYS").as_deref())?;
        let stream = stream(text("EVENTHUBS_CONNECTION_STRING"), text("EVENTHUBS_REST_ENDPOINT"));
        Ok(EdgeConfig { stream, http, analytics })
    }
}

fn stream(connection: Option<String>, rest_endpoint: Option<String>) -> Result<Stream, EdgeConfigError> {
    let connection = ConnectionString::parse(&connection.ok_or(EdgeConfigError::NoStream)?)?;
    if let Some(base) = &rest_endpoint
        && !(base.starts_with("http://") || base.starts_with("https://"))
    {
        return Err(EdgeConfigError::RestEndpoint(base.clone()));
    }
    let resource_uri = connection.resource_uri(rest_endpoint.as_deref());
    Ok(Stream { connection, resource_uri })
}
