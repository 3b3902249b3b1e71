//! Who is calling: Supabase user JWTs (HS256 with the project's secret, or asymmetric keys from its JWKS, cached),
//! organization API keys (`cck_<prefix>_<secret>`, looked up by a SHA-256 of the whole key), or nobody (anonymous
//! widget traffic).

use crate::UserToken;
use codecapsule_core::access::GuardError;
use codecapsule_core::config::{self, ConfigError, Secret};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a fetched JWKS is trusted before it is fetched again.
const JWKS_TTL: Duration = Duration::from_secs(600);
/// An unknown `kid` refetches the JWKS (keys rotate), but at most this often, so that forged kids cannot make every
/// request a fetch.
const JWKS_MIN_REFRESH: Duration = Duration::from_secs(30);
/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 30;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
/// Why a bearer token was not accepted.
pub enum AuthError {
    #[error(
        "the bearer token is not a JWT (three base64url parts of JSON: header.payload.signature): send a Supabase user \
         token, or an organization API key (cck_…)"
    )]
    /// Not three base64url parts, or not JSON inside. The decoder's own words (base64 lengths, serde errors) are not
    /// the caller's business and stay out of the answer.
    Malformed,
    #[error("the token has expired: sign in again to get a fresh one")]
    /// Past its `exp`.
    Expired,
    #[error("the token's signature does not verify")]
    /// The signature does not verify with the project's keys.
    BadSignature,
    #[error("the token is not meant for this API (audience must be `{0}`)")]
    /// The `aud` claim is not this API's.
    WrongAudience(String),
    #[error("the token was signed with algorithm {0}, which this deployment does not accept")]
    /// Signed with an algorithm this deployment does not accept (`none` among them).
    AlgorithmNotAccepted(String),
    #[error("the token names signing key `{0}`, which the project's JWKS does not have")]
    /// Its `kid` is not in the project's JWKS.
    UnknownKey(String),
    #[error("the token is invalid: {0}")]
    /// Anything else the verifier refused (a missing subject, a non-user role).
    Invalid(String),
    #[error("the project's JWKS could not be fetched ({0}); retry later")]
    /// The JWKS could not be fetched: the caller may retry.
    JwksUnavailable(String),
}

/// How user tokens are verified, from the environment.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// SUPABASE_JWT_SECRET: the project's (legacy) HS256 secret.
    pub jwt_secret: Option<Secret>,
    /// SUPABASE_JWKS_URL, else `<SUPABASE_URL>/auth/v1/.well-known/jwks.json` when SUPABASE_URL is set.
    pub jwks_url: Option<String>,
    /// SUPABASE_JWT_AUDIENCE (default `authenticated`, what Supabase Auth issues).
    pub audience: String,
}

impl AuthConfig {
    /// SUPABASE_JWT_SECRET, SUPABASE_JWKS_URL (else derived from SUPABASE_URL) and SUPABASE_JWT_AUDIENCE.
    pub fn from_env() -> Result<AuthConfig, ConfigError> {
        let jwks_url = config::read("SUPABASE_JWKS_URL").or_else(|| {
            config::read("SUPABASE_URL")
                .map(|url| format!("{}/auth/v1/.well-known/jwks.json", url.trim_end_matches('/')))
        });
        if let Some(url) = &jwks_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(ConfigError::Invalid {
                var: "SUPABASE_JWKS_URL",
                value: url.clone(),
                expected: "an http(s) URL of a JSON Web Key Set".into(),
            });
        }
        Ok(AuthConfig {
            jwt_secret: config::read("SUPABASE_JWT_SECRET").map(Secret::new),
            jwks_url,
            audience: config::read("SUPABASE_JWT_AUDIENCE").unwrap_or_else(|| "authenticated".into()),
        })
    }

    /// What /api/health says about token verification.
    pub fn describe(&self) -> Vec<&'static str> {
        let mut methods = Vec::new();
        if self.jwt_secret.is_some() {
            methods.push("jwt-hs256");
        }
        if self.jwks_url.is_some() {
            methods.push("jwt-jwks");
        }
        methods.push("api-key");
        methods
    }
}

/// Verifies user JWTs; holds the JWKS cache.
pub struct Verifier {
    config: AuthConfig,
    http: reqwest::Client,
    jwks: Mutex<Option<(JwkSet, Instant)>>,
}

impl Verifier {
    /// A verifier with `config`; the JWKS is fetched on first use and cached.
    pub fn new(config: AuthConfig) -> Verifier {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
        Verifier { config, http, jwks: Mutex::new(None) }
    }

    /// The settings it verifies with.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// The user behind a bearer JWT, or why it is refused.
    pub async fn verify(&self, token: &str) -> Result<UserToken, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        let key = match header.alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => match &self.config.jwt_secret {
                Some(secret) => DecodingKey::from_secret(secret.expose().as_bytes()),
                None => {
                    return Err(AuthError::AlgorithmNotAccepted(format!(
                        "{:?} (SUPABASE_JWT_SECRET is not set)",
                        header.alg
                    )));
                }
            },
            _ => {
                let kid =
                    header.kid.clone().ok_or_else(|| AuthError::Invalid("an asymmetric token needs a `kid`".into()))?;
                self.jwks_key(&kid).await?
            }
        };
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        validation.leeway = LEEWAY_SECONDS;
        let claims = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|err| {
            use jsonwebtoken::errors::ErrorKind;
            match err.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::InvalidAudience => AuthError::WrongAudience(self.config.audience.clone()),
                ErrorKind::InvalidAlgorithm => AuthError::AlgorithmNotAccepted(format!("{:?}", header.alg)),
                ErrorKind::MissingRequiredClaim(claim) => AuthError::Invalid(format!("the claim `{claim}` is missing")),
                ErrorKind::ImmatureSignature => AuthError::Invalid("the token is not valid yet (`nbf`)".into()),
                _ => AuthError::Malformed,
            }
        })?;
        let claims = claims.claims;
        let user_id = claims
            .get("sub")
            .and_then(Value::as_str)
            .and_then(|sub| uuid::Uuid::parse_str(sub).ok())
            .ok_or_else(|| AuthError::Invalid("`sub` is not a user id (UUID)".into()))?;
        if claims.get("role").and_then(Value::as_str) != Some("authenticated") {
            return Err(AuthError::Invalid("`role` must be `authenticated` (a signed-in user's token)".into()));
        }
        Ok(UserToken { user_id, claims, token: Secret::new(token.to_string()) })
    }

    /// The key `kid` of the JWKS: from the cache when fresh and known, else fetched again (at most every 30 s).
    async fn jwks_key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        let url = self.config.jwks_url.as_deref().ok_or_else(|| {
            AuthError::AlgorithmNotAccepted("asymmetric (set SUPABASE_URL or SUPABASE_JWKS_URL to accept them)".into())
        })?;
        let (cached, may_refetch) = {
            let guard = self.jwks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match guard.as_ref() {
                Some((set, fetched)) => {
                    let fresh = fetched.elapsed() < JWKS_TTL;
                    (fresh.then(|| set.find(kid).cloned()).flatten(), !fresh || fetched.elapsed() >= JWKS_MIN_REFRESH)
                }
                None => (None, true),
            }
        };
        let jwk = match cached {
            Some(jwk) => jwk,
            None if may_refetch => {
                let set = self.fetch_jwks(url).await?;
                let jwk = set.find(kid).cloned();
                *self.jwks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((set, Instant::now()));
                jwk.ok_or_else(|| AuthError::UnknownKey(kid.to_string()))?
            }
            None => return Err(AuthError::UnknownKey(kid.to_string())),
        };
        DecodingKey::from_jwk(&jwk).map_err(|err| AuthError::Invalid(format!("key `{kid}` is unusable: {err}")))
    }

    async fn fetch_jwks(&self, url: &str) -> Result<JwkSet, AuthError> {
        let response = self.http.get(url).send().await.map_err(|err| AuthError::JwksUnavailable(err.to_string()))?;
        if !response.status().is_success() {
            return Err(AuthError::JwksUnavailable(format!("HTTP {}", response.status())));
        }
        response.json().await.map_err(|err| AuthError::JwksUnavailable(format!("not a JWKS: {err}")))
    }
}

/// An organization API key as presented: its public prefix and the SHA-256 (hex) of the whole key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The key's public prefix, by which it is looked up.
    pub prefix: String,
    /// The SHA-256 (hex) of the whole key, which is what the database keeps.
    pub hash: String,
}

impl ApiKey {
    /// `cck_<12 hex>_<64 hex>`, else None (then the bearer token is taken for a JWT).
    pub fn parse(presented: &str) -> Option<ApiKey> {
        let rest = presented.strip_prefix("cck_")?;
        let (prefix, secret) = rest.split_once('_')?;
        let hex = |text: &str, length: usize| {
            text.len() == length && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        if !hex(prefix, 12) || !hex(secret, 64) {
            return None;
        }
        let hash = format!("{:x}", Sha256::digest(presented.as_bytes()));
        Some(ApiKey { prefix: prefix.to_string(), hash })
    }
}

impl From<AuthError> for GuardError {
    /// A key set that cannot be fetched is the guard's outage (503, retry); anything else is the token's fault (401).
    fn from(err: AuthError) -> GuardError {
        match err {
            AuthError::JwksUnavailable(_) => GuardError::AuthUnavailable(err.to_string()),
            _ => GuardError::InvalidToken(err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_parse_only_in_their_exact_form() {
        let key = format!("cck_{}_{}", "0123456789ab", "f".repeat(64));
        let parsed = ApiKey::parse(&key).expect("a well-formed key");
        assert_eq!(parsed.prefix, "0123456789ab");
        assert_eq!(parsed.hash.len(), 64);
        // The hash is of the whole key, as the SQL computes it: sha256 of its UTF-8 bytes.
        assert_eq!(parsed.hash, format!("{:x}", Sha256::digest(key.as_bytes())));
        for bad in [
            "cck_0123456789ab".to_string(),
            format!("cck_0123456789AB_{}", "f".repeat(64)),
            format!("cck_0123456789a_{}", "f".repeat(64)),
            format!("cck_0123456789ab_{}", "f".repeat(63)),
            format!("ck_0123456789ab_{}", "f".repeat(64)),
            "eyJhbGciOiJIUzI1NiJ9.e30.x".to_string(),
        ] {
            assert_eq!(ApiKey::parse(&bad), None, "{bad}");
        }
    }
}
