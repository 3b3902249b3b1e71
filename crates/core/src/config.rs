//! Configuration read once at start-up from the environment into typed values. A malformed value is a start-up error
//! that names the variable and says what it should look like; a missing optional value takes its documented default.
//! Every variable is listed in the README's "Configuration" table.

use http::HeaderValue;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

#[derive(Debug, thiserror::Error)]
/// A setting that cannot be used.
pub enum ConfigError {
    #[error("environment variable {var}={value:?} is invalid: {expected}")]
    /// The variable is set to something unusable.
    Invalid {
        /// The environment variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What it should be.
        expected: String,
    },
}

/// A secret value. Debug and Display never show it; [`Secret::expose`] is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Keeps `value` secret.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The value, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Proxies that TRUSTED_PROXY_HOPS may trust at most.
pub const MAX_TRUSTED_PROXY_HOPS: usize = 5;

/// The HTTP edge's settings: which widget origins may call from a browser, and which proxies are trusted.
#[derive(Debug, Clone, Default)]
pub struct HttpConfig {
    /// CORS_ALLOWED_ORIGINS: the origins browsers may call from.
    pub cors_origins: Vec<HeaderValue>,
    /// CORS_ALLOWED_ORIGINS=*: any origin (no credentials).
    pub cors_any_origin: bool,
    /// TRUSTED_PROXY_HOPS: how many proxies in front of the server append to X-Forwarded-For (0 to 5). Unset: the
    /// host's own (1 behind the Azure Functions host, else 0).
    pub trusted_proxy_hops: Option<usize>,
}

impl HttpConfig {
    /// CORS_ALLOWED_ORIGINS: a comma-separated list of origins (`https://blog.example.com,http://localhost:3000`), or
    /// `*` for any. Unset: no cross-origin browser access.
    pub fn from_env() -> Result<HttpConfig, ConfigError> {
        let mut config = match read("CORS_ALLOWED_ORIGINS") {
            Some(value) => HttpConfig::parse_origins(&value)?,
            None => HttpConfig::default(),
        };
        if let Some(value) = read("TRUSTED_PROXY_HOPS") {
            config.trusted_proxy_hops = Some(parse_hops(&value)?);
        }
        Ok(config)
    }
}

/// TRUSTED_PROXY_HOPS: 0 to [`MAX_TRUSTED_PROXY_HOPS`].
fn parse_hops(value: &str) -> Result<usize, ConfigError> {
    value.trim().parse().ok().filter(|hops| *hops <= MAX_TRUSTED_PROXY_HOPS).ok_or_else(|| ConfigError::Invalid {
        var: "TRUSTED_PROXY_HOPS",
        value: value.to_string(),
        expected: format!("a number of proxies from 0 to {MAX_TRUSTED_PROXY_HOPS}"),
    })
}

impl HttpConfig {
    /// CORS_ALLOWED_ORIGINS's value, wherever it was read from (the edge Worker reads its bindings).
    pub fn parse_origins(value: &str) -> Result<HttpConfig, ConfigError> {
        let invalid =
            |expected: String| ConfigError::Invalid { var: "CORS_ALLOWED_ORIGINS", value: value.to_string(), expected };
        if value.trim() == "*" {
            return Ok(HttpConfig { cors_any_origin: true, ..HttpConfig::default() });
        }
        let mut origins = Vec::new();
        for origin in value.split(',').map(str::trim).filter(|origin| !origin.is_empty()) {
            let well_formed = origin.split_once("://").is_some_and(|(scheme, rest)| {
                matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains('/')
            });
            if !well_formed {
                return Err(invalid(format!(
                    "`{origin}` is not an origin like https://example.com (scheme, host, optional port, no path)"
                )));
            }
            origins.push(
                HeaderValue::from_str(origin)
                    .map_err(|_| invalid(format!("`{origin}` has characters a header cannot carry")))?,
            );
        }
        Ok(HttpConfig { cors_origins: origins, ..HttpConfig::default() })
    }

    /// Whether a browser on `origin` may call (the `Origin` header's value).
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.cors_any_origin || self.cors_origins.iter().any(|allowed| allowed.as_bytes() == origin.as_bytes())
    }
}

/// Where a local server listens: BIND_ADDR (default 127.0.0.1) and PORT (default 8080).
pub fn local_address() -> Result<SocketAddr, ConfigError> {
    let ip = match read("BIND_ADDR") {
        None => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(value) => value.parse().map_err(|_| ConfigError::Invalid {
            var: "BIND_ADDR",
            value: value.clone(),
            expected: "an IP address such as 127.0.0.1 or 0.0.0.0".into(),
        })?,
    };
    let port = match read("PORT") {
        None => 8080,
        Some(value) => port("PORT", &value)?,
    };
    Ok(SocketAddr::new(ip, port))
}

/// A TCP port from the variable `var` holding `value`.
pub fn port(var: &'static str, value: &str) -> Result<u16, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Invalid {
        var,
        value: value.to_string(),
        expected: "a TCP port number from 0 to 65535".into(),
    })
}

/// An environment variable, with an empty value treated as unset.
pub fn read(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|value| !value.trim().is_empty())
}

/// AWS credentials from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), as Lambda sets
/// them for the function's role; `None` unless both keys are set. The crates that sign requests (the remote judge, the
/// S3 object store) turn them into the SDK's credentials.
#[derive(Debug, Clone)]
pub struct EnvironmentCredentials {
    /// AWS_ACCESS_KEY_ID.
    pub access_key_id: String,
    /// AWS_SECRET_ACCESS_KEY.
    pub secret_access_key: Secret,
    /// AWS_SESSION_TOKEN, set for a role's temporary credentials.
    pub session_token: Option<Secret>,
}

/// The function role's credentials, when the environment holds them (see [`EnvironmentCredentials`]).
pub fn aws_environment_credentials() -> Option<EnvironmentCredentials> {
    Some(EnvironmentCredentials {
        access_key_id: read("AWS_ACCESS_KEY_ID")?,
        secret_access_key: Secret::new(read("AWS_SECRET_ACCESS_KEY")?),
        session_token: read("AWS_SESSION_TOKEN").map(Secret::new),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxy_hops_take_0_to_5() {
        assert_eq!((parse_hops("0").unwrap(), parse_hops(" 5 ").unwrap()), (0, MAX_TRUSTED_PROXY_HOPS));
        for refused in ["6", "-1", "one", ""] {
            let err = parse_hops(refused).unwrap_err();
            assert!(err.to_string().contains("from 0 to 5"), "{refused}: {err}");
        }
    }

    #[test]
    fn origins_parse_or_name_the_bad_one() {
        let config = HttpConfig::parse_origins("https://a.example, http://localhost:3000").unwrap();
        assert_eq!(config.cors_origins.len(), 2);
        assert!(HttpConfig::parse_origins("*").unwrap().cors_any_origin);
        let err = HttpConfig::parse_origins("https://a.example,a.example/path").unwrap_err();
        assert!(err.to_string().contains("`a.example/path` is not an origin"), "{err}");
        assert!(err.to_string().starts_with("environment variable CORS_ALLOWED_ORIGINS="), "{err}");
    }

    #[test]
    fn ports_must_be_numbers() {
        assert_eq!(port("PORT", "8081").unwrap(), 8081);
        assert!(port("PORT", "80a").unwrap_err().to_string().contains("PORT"));
    }
}
