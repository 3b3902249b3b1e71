//! The guard in front of every public route: who is calling ([`auth`]), whether the feature is switched on
//! (runtime_config's kill switches), and whether the caller is within their tier's rate (GCRA in PostgreSQL).
//!
//! Decisions, in order:
//! 1. a bearer token that does not verify → 401 (an API key that is unknown or revoked too);
//! 2. the feature's kill switch is off → 503;
//! 3. the caller's bucket is empty → 429.
//!
//! Buckets: an API key's organization (its tier), a user acting for an organization they belong to (header
//! `X-Organization-Id`, that organization's tier), a user on their own (free), anonymous traffic per client address
//! (free; the address as the platform vouches for it: see codecapsule_web::client). One bucket per feature, so that judging cannot starve event ingestion.
//! The switches are read from runtime_config and cached per instance for RUNTIME_CONFIG_TTL_SECONDS (at most 30).
//!
//! When the store fails: judging and ingestion stay open (logged), generation (which spends money) closes.
//! Without any state configured the guard is off and says why in /api/health.

pub mod auth;

use crate::{RuntimeConfig, StateConfig, Store, StoreError};
use codecapsule_core::access::{
    Actor, Admission, BoxFuture, Caller, Deployment, Feature, Gatekeeper, Guard, GuardError, Limit, Tier,
};
use codecapsule_core::config::ConfigError;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The guard's decisions over the state: tokens and API keys, runtime_config's kill switches, GCRA buckets.
pub struct StateGuard {
    store: Store,
    verifier: auth::Verifier,
    switches: SwitchCache,
}

impl StateGuard {
    /// A guard over `store`; `switches_ttl` is how long runtime_config is cached (at most 30 s).
    pub fn new(store: Store, auth: auth::AuthConfig, switches_ttl: Duration) -> StateGuard {
        StateGuard { store, verifier: auth::Verifier::new(auth), switches: SwitchCache::new(switches_ttl) }
    }
}

/// The deployment of a function that keeps state: the guard and the store side by side, over one connection pool.
#[derive(Clone)]
pub struct Stateful {
    /// The store, unless no state is configured (then the guard is off and says why).
    pub store: Option<Store>,
    /// The guard in front of the public routes.
    pub guard: Guard,
}

impl Stateful {
    /// The store of `state` and a guard over it; `switches_ttl` is how long runtime_config is cached.
    pub fn new(state: &StateConfig, auth: auth::AuthConfig, switches_ttl: Duration) -> Result<Stateful, ConfigError> {
        let Some(store) = state.store()? else {
            let StateConfig::None { missing } = state else { unreachable!("only StateConfig::None has no store") };
            tracing::warn!("no rate limits, API keys or kill switches: {missing}");
            return Ok(Stateful { store: None, guard: Guard::off(format!("no state configured: {missing}")) });
        };
        let keeper = StateGuard::new(store.clone(), auth, switches_ttl);
        Ok(Stateful { store: Some(store), guard: Guard::on(Arc::new(keeper)) })
    }
}

impl Stateful {
    /// Serving without state: no store, and the guard off with `reason` (tests of what the guard does not decide).
    pub fn without_state(reason: impl Into<Arc<str>>) -> Stateful {
        Stateful { store: None, guard: Guard::off(reason) }
    }
}

impl Deployment for Stateful {
    /// DATABASE_URL or SUPABASE_URL (see [`StateConfig`]), the token settings and RUNTIME_CONFIG_TTL_SECONDS.
    fn from_env() -> Result<Stateful, ConfigError> {
        Stateful::new(&StateConfig::from_env()?, auth::AuthConfig::from_env()?, switches_ttl_from_env()?)
    }

    fn guard(&self) -> &Guard {
        &self.guard
    }
}

impl Gatekeeper for StateGuard {
    fn admit<'a>(&'a self, feature: Feature, caller: &'a Caller) -> BoxFuture<'a, Result<Admission, GuardError>> {
        Box::pin(self.decide(feature, caller))
    }

    fn describe(&self) -> Value {
        json!({
            "rate_limits": "on",
            "state": self.store.transport(),
            "auth": self.verifier.config().describe(),
            "switches_cached_seconds": self.switches.ttl.as_secs(),
        })
    }

    /// One read of the emergency switches, uncached: the cheapest call that proves the state answers as the guard
    /// needs it. The store's error is logged, not shown (it may name tables or hosts).
    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.store.runtime_config().await.map(|_| ()).map_err(|err| {
                tracing::warn!(error = %err, "health: the state did not answer");
                format!(
                    "the state ({}) does not answer: rate limits, API keys and stored capsules are unavailable",
                    self.store.transport()
                )
            })
        })
    }
}

impl StateGuard {
    async fn decide(&self, feature: Feature, caller: &Caller) -> Result<Admission, GuardError> {
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
        let limit = Limit::of_decision(tier, per_minute, &decision);
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
pub fn switches_ttl_from_env() -> Result<Duration, codecapsule_core::config::ConfigError> {
    let Some(value) = codecapsule_core::config::read("RUNTIME_CONFIG_TTL_SECONDS") else {
        return Ok(SwitchCache::MAX_TTL);
    };
    value.trim().parse().ok().filter(|seconds| (1..=30).contains(seconds)).map(Duration::from_secs).ok_or_else(|| {
        ConfigError::Invalid {
            var: "RUNTIME_CONFIG_TTL_SECONDS",
            value: value.clone(),
            expected: "seconds from 1 to 30".into(),
        }
    })
}

/// Who the caller is to the store, and which bucket and tier they draw from.
struct Identity {
    actor: Actor,
    organization: Option<uuid::Uuid>,
    bucket: String,
    tier: Tier,
}

impl Identity {
    /// Anonymous traffic: one free bucket per client address, whatever capsule or header it names (a made-up capsule
    /// id must not mint a fresh bucket).
    fn anonymous(caller: &Caller) -> Identity {
        Identity {
            actor: Actor::Anonymous,
            organization: None,
            bucket: format!("anon:{}", caller.ip),
            tier: Tier::Free,
        }
    }
}

/// runtime_config, cached per instance. On a failed read the last known switches stay in force (the defaults before
/// the first read), and the read is retried on the next request after the TTL.
struct SwitchCache {
    ttl: Duration,
    cached: std::sync::Mutex<Option<(RuntimeConfig, Instant)>>,
}

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
