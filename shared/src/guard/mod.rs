//! The guard in front of every public route: who is calling ([`auth`]), whether the feature is switched on
//! (runtime_config's kill switches), and whether the caller is within their tier's rate (GCRA in PostgreSQL).
//!
//! Decisions, in order:
//! 1. a bearer token that does not verify → 401 (an API key that is unknown or revoked too);
//! 2. the feature's kill switch is off → 503;
//! 3. the caller's bucket is empty → 429.
//!
//! Buckets: an API key's organization (its tier), a user acting for an organization they belong to (header
//! `X-Organization-Id`, that organization's tier), a user on their own (free), anonymous traffic per client IP and
//! capsule (header `X-Capsule-Id`; free). One bucket per feature, so that judging cannot starve event ingestion.
//! The switches are read from runtime_config and cached per instance for RUNTIME_CONFIG_TTL_SECONDS (at most 30).
//!
//! When the store fails: judging and ingestion stay open (logged), generation (which spends money) closes.
//! Without any state configured the guard is off and says why in /api/health.

#[cfg(feature = "state")]
pub mod auth;

#[cfg(feature = "state")]
use crate::state::{Actor, RateDecision, RuntimeConfig, StateConfig, Store, StoreError, Tier};
use serde_json::{Value, json};
use std::sync::Arc;
#[cfg(feature = "state")]
use std::time::{Duration, Instant};

/// What a route does, for its kill switch and its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    Judging,
    Generation,
    Ingest,
}

impl Feature {
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Judging => "judging",
            Feature::Generation => "generation",
            Feature::Ingest => "ingest",
        }
    }
}

/// The guard of a deployment: on (with a store) or off (with the reason).
#[derive(Clone)]
pub struct Guard {
    #[cfg(feature = "state")]
    inner: Option<Arc<Inner>>,
    off_reason: Arc<str>,
}

#[cfg(feature = "state")]
struct Inner {
    store: Store,
    verifier: auth::Verifier,
    switches: SwitchCache,
}

/// How a request reached us, as the HTTP edge reads it.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The `Authorization: Bearer` value, if any.
    pub bearer: Option<String>,
    /// `X-Organization-Id`, for a user acting for one of their organizations.
    pub organization: Option<uuid::Uuid>,
    /// `X-Capsule-Id`, for anonymous widget traffic.
    pub capsule: Option<uuid::Uuid>,
    /// The client's address (API Gateway's source IP, the proxy's forwarded address, or the peer).
    pub ip: String,
}

/// An admitted request: the caller as the store knows them, and the rate-limit state for the response headers.
#[derive(Debug, Clone)]
pub struct Admission {
    #[cfg(feature = "state")]
    pub actor: Actor,
    /// The organization the request is for (an API key's, or a member's X-Organization-Id).
    pub organization: Option<uuid::Uuid>,
    pub limit: Option<Limit>,
}

/// A bucket's policy and state, for the RateLimit and RateLimit-Policy headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub policy: &'static str,
    pub per_minute: u32,
    pub remaining: u32,
    pub reset_after_seconds: u64,
    pub retry_after_seconds: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[cfg(feature = "state")]
    #[error("{0}")]
    InvalidToken(#[from] auth::AuthError),
    #[error("the API key is unknown or has been revoked: create a new one in the dashboard")]
    UnknownApiKey,
    #[error("you are not a member of organization {0}: drop X-Organization-Id or ask its owner for access")]
    NotAMember(uuid::Uuid),
    #[error("{feature} is switched off by the operators{}; retry later", reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Disabled { feature: &'static str, reason: Option<String> },
    #[error("rate limit of the {} tier ({} requests a minute) reached: retry in {} s", limit.policy, limit.per_minute, limit.retry_after_seconds)]
    RateLimited { limit: Limit },
    #[error("the state store is unavailable ({0}); retry later")]
    Unavailable(String),
}

impl Guard {
    /// A guard that admits everything (no state configured, or a function that is not public).
    pub fn off(reason: impl Into<Arc<str>>) -> Guard {
        Guard {
            #[cfg(feature = "state")]
            inner: None,
            off_reason: reason.into(),
        }
    }

    /// From the environment: DATABASE_URL or SUPABASE_URL (see [`StateConfig`]) and the token settings.
    #[cfg(feature = "state")]
    pub fn from_env() -> Result<Guard, crate::config::ConfigError> {
        Guard::new(&StateConfig::from_env()?, auth::AuthConfig::from_env()?, switches_ttl_from_env()?)
    }

    #[cfg(not(feature = "state"))]
    pub fn from_env() -> Result<Guard, crate::config::ConfigError> {
        Ok(Guard::off("this binary is built without the `state` feature"))
    }

    #[cfg(feature = "state")]
    /// A guard over `state`; `switches_ttl` is how long runtime_config is cached (at most 30 s).
    pub fn new(
        state: &StateConfig,
        auth: auth::AuthConfig,
        switches_ttl: Duration,
    ) -> Result<Guard, crate::config::ConfigError> {
        let Some(store) = state.store()? else {
            let StateConfig::None { missing } = state else { unreachable!("only StateConfig::None has no store") };
            tracing::warn!("no rate limits, API keys or kill switches: {missing}");
            return Ok(Guard::off(format!("no state configured: {missing}")));
        };
        Ok(Guard {
            inner: Some(Arc::new(Inner {
                store,
                verifier: auth::Verifier::new(auth),
                switches: SwitchCache::new(switches_ttl),
            })),
            off_reason: Arc::from(""),
        })
    }

    pub fn is_on(&self) -> bool {
        #[cfg(feature = "state")]
        return self.inner.is_some();
        #[cfg(not(feature = "state"))]
        false
    }

    /// The store behind the guard, for handlers that need it too.
    #[cfg(feature = "state")]
    pub fn store(&self) -> Option<&Store> {
        self.inner.as_ref().map(|inner| &inner.store)
    }

    /// What /api/health says about the guard.
    pub fn describe(&self) -> Value {
        #[cfg(feature = "state")]
        if let Some(inner) = &self.inner {
            return json!({
                "rate_limits": "on",
                "state": inner.store.transport(),
                "auth": inner.verifier.config().describe(),
                "switches_cached_seconds": inner.switches.ttl.as_secs(),
            });
        }
        json!({ "rate_limits": "off", "reason": &*self.off_reason })
    }

    /// Admits the request or says why not.
    pub async fn admit(&self, feature: Feature, caller: &Caller) -> Result<Admission, GuardError> {
        #[cfg(feature = "state")]
        if let Some(inner) = &self.inner {
            return inner.admit(feature, caller).await;
        }
        let _ = (feature, caller);
        Ok(Admission {
            #[cfg(feature = "state")]
            actor: Actor::Anonymous,
            organization: None,
            limit: None,
        })
    }
}

#[cfg(feature = "state")]
impl Inner {
    async fn admit(&self, feature: Feature, caller: &Caller) -> Result<Admission, GuardError> {
        let fail_closed = feature == Feature::Generation;
        let unavailable = |err: StoreError| GuardError::Unavailable(err.to_string());
        let Identity { actor, organization, bucket, tier } = self.identify(caller).await.or_else(|err| match err {
            GuardError::Unavailable(reason) if !fail_closed => {
                tracing::error!(%reason, feature = feature.as_str(), "cannot identify the caller: admitting anonymously");
                Ok(Identity::anonymous(caller))
            }
            other => Err(other),
        })?;
        let switches = self.switches.get(&self.store).await;
        let enabled = match feature {
            Feature::Judging => switches.judging_enabled,
            Feature::Generation => switches.generation_enabled,
            Feature::Ingest => switches.ingest_enabled,
        };
        if !enabled {
            return Err(GuardError::Disabled { feature: feature.as_str(), reason: switches.reason.clone() });
        }
        let per_minute = switches.per_minute(tier);
        let key = format!("{}:{bucket}", feature.as_str());
        let decision = match self.store.rate_limit_take(&key, per_minute, per_minute).await {
            Ok(decision) => decision,
            Err(err) if fail_closed => return Err(unavailable(err)),
            Err(err) => {
                tracing::error!(error = %err, feature = feature.as_str(), "rate limiting failed: admitting the request");
                return Ok(Admission { actor, organization, limit: None });
            }
        };
        let limit = limit_of(tier, per_minute, &decision);
        if decision.allowed {
            Ok(Admission { actor, organization, limit: Some(limit) })
        } else {
            Err(GuardError::RateLimited { limit })
        }
    }

    async fn identify(&self, caller: &Caller) -> Result<Identity, GuardError> {
        let unavailable = |err: StoreError| GuardError::Unavailable(err.to_string());
        let Some(bearer) = caller.bearer.as_deref() else {
            return Ok(Identity::anonymous(caller));
        };
        if let Some(key) = auth::ApiKey::parse(bearer) {
            let owner = self.store.authenticate_api_key(&key.prefix, &key.hash).await.map_err(unavailable)?;
            let owner = owner.ok_or(GuardError::UnknownApiKey)?;
            return Ok(Identity {
                actor: Actor::Service,
                organization: Some(owner.organization_id),
                bucket: format!("org:{}", owner.organization_id),
                tier: owner.tier,
            });
        }
        let user = self.verifier.verify(bearer).await?;
        let actor = Actor::User(user.clone());
        match caller.organization {
            None => {
                Ok(Identity { actor, organization: None, bucket: format!("user:{}", user.user_id), tier: Tier::Free })
            }
            Some(organization) => {
                let tier = self.store.organization_tier(&actor, organization).await.map_err(unavailable)?;
                let tier = tier.ok_or(GuardError::NotAMember(organization))?;
                Ok(Identity { actor, organization: Some(organization), bucket: format!("org:{organization}"), tier })
            }
        }
    }
}

/// RUNTIME_CONFIG_TTL_SECONDS: how long each instance caches runtime_config (1 to 30, default 30).
#[cfg(feature = "state")]
pub fn switches_ttl_from_env() -> Result<Duration, crate::config::ConfigError> {
    let Some(value) = crate::config::read("RUNTIME_CONFIG_TTL_SECONDS") else {
        return Ok(SwitchCache::MAX_TTL);
    };
    value.trim().parse().ok().filter(|seconds| (1..=30).contains(seconds)).map(Duration::from_secs).ok_or_else(|| {
        crate::config::ConfigError::Invalid {
            var: "RUNTIME_CONFIG_TTL_SECONDS",
            value: value.clone(),
            expected: "seconds from 1 to 30".into(),
        }
    })
}

/// Who the caller is to the store, and which bucket and tier they draw from.
#[cfg(feature = "state")]
struct Identity {
    actor: Actor,
    organization: Option<uuid::Uuid>,
    bucket: String,
    tier: Tier,
}

#[cfg(feature = "state")]
impl Identity {
    /// Anonymous traffic: one free bucket per client IP and capsule.
    fn anonymous(caller: &Caller) -> Identity {
        let capsule = caller.capsule.map(|id| id.to_string()).unwrap_or_else(|| "-".into());
        Identity {
            actor: Actor::Anonymous,
            organization: None,
            bucket: format!("anon:{}:{capsule}", caller.ip),
            tier: Tier::Free,
        }
    }
}

#[cfg(feature = "state")]
fn limit_of(tier: Tier, per_minute: u32, decision: &RateDecision) -> Limit {
    let seconds = |duration: Duration| duration.as_millis().div_ceil(1000) as u64;
    Limit {
        policy: tier.as_str(),
        per_minute,
        remaining: decision.remaining,
        reset_after_seconds: seconds(decision.reset_after),
        retry_after_seconds: seconds(decision.retry_after).max(u64::from(!decision.allowed)),
    }
}

/// runtime_config, cached per instance. On a failed read the last known switches stay in force (the defaults before
/// the first read), and the read is retried on the next request after the TTL.
#[cfg(feature = "state")]
struct SwitchCache {
    ttl: Duration,
    cached: std::sync::Mutex<Option<(RuntimeConfig, Instant)>>,
}

#[cfg(feature = "state")]
impl SwitchCache {
    const MAX_TTL: Duration = Duration::from_secs(30);

    fn new(ttl: Duration) -> SwitchCache {
        SwitchCache { ttl: ttl.min(SwitchCache::MAX_TTL), cached: std::sync::Mutex::new(None) }
    }

    async fn get(&self, store: &Store) -> RuntimeConfig {
        let last = {
            let cached = self.cached.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match cached.as_ref() {
                Some((config, read)) if read.elapsed() < self.ttl => return config.clone(),
                Some((config, _)) => Some(config.clone()),
                None => None,
            }
        };
        let config = match store.runtime_config().await {
            Ok(config) => config,
            Err(err) => {
                tracing::error!(error = %err, "cannot read runtime_config: keeping the last known switches");
                last.unwrap_or_default()
            }
        };
        *self.cached.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((config.clone(), Instant::now()));
        config
    }
}
