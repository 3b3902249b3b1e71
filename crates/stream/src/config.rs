//! The stream's settings, read from the environment once at start-up. Without `EVENTHUBS_KAFKA_BOOTSTRAP` there is no
//! stream, and the processor rolls up what analytics-ingest stored directly.
//!
//! | variable | meaning |
//! |---|---|
//! | `EVENTHUBS_KAFKA_BOOTSTRAP` | `<namespace>.servicebus.windows.net:9093` (comma-separated `host:port`s) |
//! | `EVENTHUBS_CONNECTION_STRING` | a listen policy's connection string: SASL PLAIN's password, user `$ConnectionString` |
//! | `EVENTHUBS_TOPIC` | the hub; default: the connection string's `EntityPath` |
//! | `EVENTHUBS_KAFKA_SECURITY` | `sasl_ssl` (default; what Event Hubs requires) or `plaintext` (loopback brokers only) |

use codecapsule_core::config::{ConfigError, Secret};
use codecapsule_core::eventhubs::{ConnectionString, EventHubsError};
use std::net::IpAddr;
use std::sync::Arc;

/// The Kafka user name Event Hubs expects when the password is a connection string.
pub const CONNECTION_STRING_USER: &str = "$ConnectionString";

/// Why the stream's settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StreamConfigError {
    /// A variable is set to something unusable.
    #[error("{var}={value:?} is invalid: {expected}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Its value (never a secret's).
        value: String,
        /// What it should be.
        expected: &'static str,
    },
    /// Event Hubs needs SASL, and SASL here needs the connection string.
    #[error(
        "EVENTHUBS_KAFKA_BOOTSTRAP is set but EVENTHUBS_CONNECTION_STRING is not: give the hub's listen policy's \
         connection string (or EVENTHUBS_KAFKA_SECURITY=plaintext for a broker on loopback)"
    )]
    NoConnectionString,
    /// The connection string does not parse.
    #[error("EVENTHUBS_CONNECTION_STRING: {0}")]
    ConnectionString(#[from] EventHubsError),
    /// No topic: neither EVENTHUBS_TOPIC nor an EntityPath.
    #[error("no topic to read: set EVENTHUBS_TOPIC (the hub's name)")]
    NoTopic,
    /// rustls refused its own configuration.
    #[error("TLS cannot be configured: {0}")]
    Tls(String),
}

impl From<StreamConfigError> for ConfigError {
    /// As the functions' start-up reports a bad setting: the variable, what it holds (never a secret), what to set.
    fn from(err: StreamConfigError) -> ConfigError {
        let (var, value) = match &err {
            StreamConfigError::Invalid { var, value, .. } => (*var, value.clone()),
            StreamConfigError::NoConnectionString => ("EVENTHUBS_CONNECTION_STRING", String::new()),
            StreamConfigError::ConnectionString(_) => ("EVENTHUBS_CONNECTION_STRING", "[redacted]".into()),
            StreamConfigError::NoTopic => ("EVENTHUBS_TOPIC", String::new()),
            StreamConfigError::Tls(_) => ("EVENTHUBS_KAFKA_SECURITY", "sasl_ssl".into()),
        };
        ConfigError::Invalid { var, value, expected: err.to_string() }
    }
}

/// How the processor authenticates to the broker.
#[derive(Debug, Clone)]
pub enum Security {
    /// Event Hubs: TLS to the namespace, SASL PLAIN with user `$ConnectionString` and the connection string as the
    /// password.
    SaslPlainTls {
        /// The listen policy's connection string.
        connection_string: Secret,
    },
    /// No TLS, no SASL: only to a broker on a loopback address (`make run-edge`, the tests).
    Plaintext,
}

/// Where the events are and how to reach them.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// The bootstrap brokers, `host:port`.
    pub bootstrap: Vec<String>,
    /// The hub (Kafka topic).
    pub topic: String,
    /// TLS and SASL, or neither.
    pub security: Security,
}

impl StreamConfig {
    /// From the process environment; `Ok(None)` when `EVENTHUBS_KAFKA_BOOTSTRAP` is unset or empty.
    pub fn from_env() -> Result<Option<StreamConfig>, StreamConfigError> {
        StreamConfig::parse(|name| std::env::var(name).ok())
    }

    /// From any lookup of variables (the environment, or a test's table).
    pub fn parse(var: impl Fn(&str) -> Option<String>) -> Result<Option<StreamConfig>, StreamConfigError> {
        let var = |name: &str| var(name).map(|value| value.trim().to_string()).filter(|value| !value.is_empty());
        let Some(bootstrap_text) = var("EVENTHUBS_KAFKA_BOOTSTRAP") else {
            return Ok(None);
        };
        let bootstrap: Vec<String> = bootstrap_text.split(',').map(|host| host.trim().to_string()).collect();
        let invalid_bootstrap = || StreamConfigError::Invalid {
            var: "EVENTHUBS_KAFKA_BOOTSTRAP",
            value: bootstrap_text.clone(),
            expected: "host:port[,host:port…], e.g. <namespace>.servicebus.windows.net:9093",
        };
        if bootstrap.iter().any(|address| host_of(address).is_none()) {
            return Err(invalid_bootstrap());
        }
        let connection = var("EVENTHUBS_CONNECTION_STRING");
        let security = match var("EVENTHUBS_KAFKA_SECURITY").as_deref() {
            None | Some("sasl_ssl") => Security::SaslPlainTls {
                connection_string: Secret::new(connection.clone().ok_or(StreamConfigError::NoConnectionString)?),
            },
            Some("plaintext") if bootstrap.iter().all(|address| is_loopback(address)) => Security::Plaintext,
            Some("plaintext") => {
                return Err(StreamConfigError::Invalid {
                    var: "EVENTHUBS_KAFKA_SECURITY",
                    value: "plaintext".into(),
                    expected: "sasl_ssl for any broker off this machine: plaintext is for loopback brokers only",
                });
            }
            Some(other) => {
                return Err(StreamConfigError::Invalid {
                    var: "EVENTHUBS_KAFKA_SECURITY",
                    value: other.into(),
                    expected: "sasl_ssl or plaintext",
                });
            }
        };
        let entity_path = match &connection {
            Some(text) => Some(ConnectionString::parse(text)?.hub),
            None => None,
        };
        let topic = var("EVENTHUBS_TOPIC").or(entity_path).ok_or(StreamConfigError::NoTopic)?;
        Ok(Some(StreamConfig { bootstrap, topic, security }))
    }

    /// rustls for Event Hubs (the web's roots; ring, as everywhere else), or None for plaintext.
    pub fn tls(&self) -> Result<Option<Arc<rustls::ClientConfig>>, StreamConfigError> {
        if matches!(self.security, Security::Plaintext) {
            return Ok(None);
        }
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| StreamConfigError::Tls(err.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Some(Arc::new(config)))
    }

    /// SASL PLAIN's credentials, or None for plaintext.
    pub fn sasl(&self) -> Option<rskafka::client::SaslConfig> {
        match &self.security {
            Security::SaslPlainTls { connection_string } => {
                Some(rskafka::client::SaslConfig::Plain(rskafka::client::Credentials::new(
                    CONNECTION_STRING_USER.to_string(),
                    connection_string.expose().to_string(),
                )))
            }
            Security::Plaintext => None,
        }
    }
}

/// The host of `host:port` (`[v6]:port` too), when the port is a number.
fn host_of(address: &str) -> Option<&str> {
    let (host, port) = address.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    let host = host.strip_prefix('[').and_then(|host| host.strip_suffix(']')).unwrap_or(host);
    (!host.is_empty()).then_some(host)
}

fn is_loopback(address: &str) -> bool {
    match host_of(address) {
        Some("localhost") => true,
        Some(host) => host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const LISTEN: &str = "Endpoint=sb://codecapsule-events.servicebus.windows.net/;SharedAccessKeyName=processor-listen;\
                          SharedAccessKey=a2V5;EntityPath=widget-events";

    fn parse(vars: &[(&str, &str)]) -> Result<Option<StreamConfig>, StreamConfigError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        StreamConfig::parse(|name| vars.get(name).cloned())
    }

    #[test]
    fn without_a_bootstrap_there_is_no_stream() {
        assert!(parse(&[]).unwrap().is_none());
        assert!(
            parse(&[("EVENTHUBS_KAFKA_BOOTSTRAP", " "), ("EVENTHUBS_CONNECTION_STRING", LISTEN)]).unwrap().is_none()
        );
    }

    #[test]
    fn event_hubs_is_sasl_plain_over_tls_with_the_connection_string_as_password() {
        let config = parse(&[
            ("EVENTHUBS_KAFKA_BOOTSTRAP", "codecapsule-events.servicebus.windows.net:9093"),
            ("EVENTHUBS_CONNECTION_STRING", LISTEN),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(config.topic, "widget-events", "the topic is the connection string's EntityPath");
        assert!(config.tls().unwrap().is_some(), "TLS is on");
        match config.sasl() {
            Some(rskafka::client::SaslConfig::Plain(credentials)) => {
                assert_eq!(
                    (credentials.username.as_str(), credentials.password.as_str()),
                    ("$ConnectionString", LISTEN)
                );
            }
            other => panic!("SASL PLAIN expected, got {other:?}"),
        }
        assert!(!format!("{config:?}").contains("a2V5"), "the key never shows in Debug");
    }

    #[test]
    fn a_named_topic_wins_and_plaintext_is_for_loopback_only() {
        let local = parse(&[
            ("EVENTHUBS_KAFKA_BOOTSTRAP", "127.0.0.1:9092,localhost:9093,[::1]:9094"),
            ("EVENTHUBS_KAFKA_SECURITY", "plaintext"),
            ("EVENTHUBS_TOPIC", "events"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(local.topic, "events");
        assert!(local.tls().unwrap().is_none() && local.sasl().is_none());
        let remote = parse(&[
            ("EVENTHUBS_KAFKA_BOOTSTRAP", "10.0.0.5:9092"),
            ("EVENTHUBS_KAFKA_SECURITY", "plaintext"),
            ("EVENTHUBS_TOPIC", "events"),
        ]);
        assert!(matches!(remote, Err(StreamConfigError::Invalid { var: "EVENTHUBS_KAFKA_SECURITY", .. })));
    }

    #[test]
    fn broken_settings_say_what_to_set() {
        let bootstrap =
            |value: &str| parse(&[("EVENTHUBS_KAFKA_BOOTSTRAP", value), ("EVENTHUBS_CONNECTION_STRING", LISTEN)]);
        for broken in ["codecapsule-events.servicebus.windows.net", "host:port", ":9093", "a:9093,"] {
            assert!(
                matches!(bootstrap(broken), Err(StreamConfigError::Invalid { var: "EVENTHUBS_KAFKA_BOOTSTRAP", .. })),
                "{broken}"
            );
        }
        assert!(matches!(
            parse(&[("EVENTHUBS_KAFKA_BOOTSTRAP", "h:9093")]),
            Err(StreamConfigError::NoConnectionString)
        ));
        assert!(matches!(
            parse(&[("EVENTHUBS_KAFKA_BOOTSTRAP", "127.0.0.1:9092"), ("EVENTHUBS_KAFKA_SECURITY", "plaintext")]),
            Err(StreamConfigError::NoTopic)
        ));
        assert!(matches!(
            parse(&[
                ("EVENTHUBS_KAFKA_BOOTSTRAP", "h:9093"),
                ("EVENTHUBS_KAFKA_SECURITY", "ssl"),
                ("EVENTHUBS_TOPIC", "t")
            ]),
            Err(StreamConfigError::Invalid { var: "EVENTHUBS_KAFKA_SECURITY", .. })
        ));
    }
}
