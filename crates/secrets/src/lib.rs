//! Secrets (the Supabase service key, API keys) for the functions that need them.
//!
//! - Fetched lazily, on first use, never in `main`: a failed fetch at INIT kills the Lambda environment, and INIT time
//!   is billed and adds to every cold start.
//! - Cached per instance for a TTL, and refreshed on demand ([`SecretSource::refresh`]) when a credential was refused,
//!   which is how a rotated secret is picked up without waiting for the TTL.
//! - On AWS from Secrets Manager (the SDK client is built on first use; `AWS_ENDPOINT_URL` points it elsewhere, e.g.
//!   at moto in tests); on Azure and locally from an environment variable (an app setting, possibly a Key Vault
//!   reference).
//! - Never logged: a [`Secret`] prints as `[redacted]`.

#![warn(missing_docs)]

pub use codecapsule_core::config::Secret;
use codecapsule_core::config::{self, ConfigError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a fetched secret is used before it is fetched again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
/// Why a secret could not be had.
pub enum SecretError {
    #[error("secret `{id}` does not exist in Secrets Manager: create it, or fix the secret id")]
    /// Secrets Manager has no such secret.
    NotFound {
        /// The secret's id or ARN.
        id: String,
    },
    #[error("secret `{id}` has no string value: store it as a SecretString")]
    /// The secret is binary.
    NotAString {
        /// The secret's id or ARN.
        id: String,
    },
    #[error("secret `{id}` could not be fetched ({reason}); check the function's role (secretsmanager:GetSecretValue)")]
    /// Secrets Manager could not be asked.
    Unavailable {
        /// The secret's id or ARN.
        id: String,
        /// What the service answered.
        reason: String,
    },
    #[error("environment variable {var} is not set: set it to the secret's value")]
    /// The environment lacks the variable.
    MissingVariable {
        /// The environment variable.
        var: String,
    },
}

/// Where a secret comes from.
pub enum SecretSource {
    /// An environment variable (Azure app setting, local runs).
    Environment {
        /// The environment variable that holds it.
        var: String,
    },
    /// AWS Secrets Manager, cached for `ttl`.
    SecretsManager(SecretsManagerSecret),
}

impl SecretSource {
    /// `id_var` names a Secrets Manager secret id (AWS); else `value_var` holds the value itself (Azure, local).
    pub fn from_env(id_var: &'static str, value_var: &'static str) -> Result<SecretSource, ConfigError> {
        match config::read(id_var) {
            Some(id) if id.chars().any(char::is_whitespace) => Err(ConfigError::Invalid {
                var: id_var,
                value: id,
                expected: "a Secrets Manager secret name or ARN, without spaces".into(),
            }),
            Some(id) => Ok(SecretSource::SecretsManager(SecretsManagerSecret::new(id, DEFAULT_TTL))),
            None => Ok(SecretSource::Environment { var: value_var.to_string() }),
        }
    }

    /// The secret, from the cache while it is fresh.
    pub async fn get(&self) -> Result<Secret, SecretError> {
        match self {
            SecretSource::Environment { var } => environment(var),
            SecretSource::SecretsManager(secret) => secret.get().await,
        }
    }

    /// The secret fetched again, whatever the cache holds: call it when the cached value was refused.
    pub async fn refresh(&self) -> Result<Secret, SecretError> {
        match self {
            SecretSource::Environment { var } => environment(var),
            SecretSource::SecretsManager(secret) => secret.refresh().await,
        }
    }
}

fn environment(var: &str) -> Result<Secret, SecretError> {
    config::read(var).map(Secret::new).ok_or_else(|| SecretError::MissingVariable { var: var.to_string() })
}

/// One Secrets Manager secret with its cache.
pub struct SecretsManagerSecret {
    id: String,
    ttl: Duration,
    client: tokio::sync::OnceCell<aws_sdk_secretsmanager::Client>,
    cached: Mutex<Option<(Secret, Instant)>>,
}

impl SecretsManagerSecret {
    /// The secret `id`, cached for `ttl` once fetched.
    pub fn new(id: String, ttl: Duration) -> SecretsManagerSecret {
        SecretsManagerSecret { id, ttl, client: tokio::sync::OnceCell::new(), cached: Mutex::new(None) }
    }

    /// The secret: cached while fresh, else fetched.
    pub async fn get(&self) -> Result<Secret, SecretError> {
        let fresh = self
            .cached
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .filter(|(_, fetched)| fetched.elapsed() < self.ttl)
            .map(|(secret, _)| secret.clone());
        match fresh {
            Some(secret) => Ok(secret),
            None => self.refresh().await,
        }
    }

    /// The secret fetched again (after a credential was refused), and cached.
    pub async fn refresh(&self) -> Result<Secret, SecretError> {
        let client = self
            .client
            .get_or_init(|| async {
                // Region, credentials and endpoint from the environment, resolved once, on first use.
                let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                aws_sdk_secretsmanager::Client::new(&config)
            })
            .await;
        let answer = client.get_secret_value().secret_id(&self.id).send().await.map_err(|err| {
            let service = err.into_service_error();
            if service.is_resource_not_found_exception() {
                SecretError::NotFound { id: self.id.clone() }
            } else {
                SecretError::Unavailable { id: self.id.clone(), reason: service.to_string() }
            }
        })?;
        let secret = Secret::new(
            answer.secret_string().ok_or_else(|| SecretError::NotAString { id: self.id.clone() })?.to_string(),
        );
        tracing::info!(secret_id = %self.id, "secret fetched");
        *self.cached.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((secret.clone(), Instant::now()));
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_its_value() {
        let secret = Secret::new("s3cr3t".into());
        assert_eq!(format!("{secret} {secret:?}"), "[redacted] Secret([redacted])");
        assert_eq!(secret.expose(), "s3cr3t");
    }
}
