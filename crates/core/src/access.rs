//! Who may call a public route, in words every crate shares: the caller as the HTTP edge reads them ([`Caller`]), who
//! they are to the state ([`Actor`], [`Tier`]), what a route does ([`Feature`]), and the guard's answer ([`Admission`]
//! or [`GuardError`]).
//!
//! The guard's decisions (tokens, API keys, kill switches, rate limits) need the state, which not every function
//! links: the native judges keep none. So the decisions sit behind the [`Gatekeeper`] port (implemented by
//! `codecapsule-state`), and [`Guard`] is the handle the HTTP edge holds: on with a gatekeeper, off with the reason.

use crate::config::{ConfigError, Secret};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use uuid::Uuid;

/// Whose rights a database call uses. Row-level security decides what each may see and change.
#[derive(Debug, Clone)]
pub enum Actor {
    /// The functions themselves: Supabase's service_role (bypasses RLS; EXECUTE on the functions' RPCs).
    Service,
    /// A browser without a session: the anon role.
    Anonymous,
    /// A signed-in user, with the JWT Supabase Auth gave them (already verified by the guard).
    User(UserToken),
}

/// A verified Supabase user JWT: its subject, its claims (as `request.jwt.claims`), and the token itself (which the
/// REST transport forwards so that PostgREST switches to the same role and claims).
#[derive(Debug, Clone)]
pub struct UserToken {
    /// The token's subject.
    pub user_id: Uuid,
    /// Every claim of the token, as PostgreSQL's `request.jwt.claims` holds them.
    pub claims: Value,
    /// The token as the caller sent it.
    pub token: Secret,
}

/// An organization's billing tier, which sets its rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// 10 requests a minute; every anonymous caller and every user on their own.
    Free,
    /// 100 requests a minute.
    Pro,
    /// 1,000 requests a minute.
    B2b,
}

impl Tier {
    /// Requests a minute before the operators change anything (runtime_config's defaults, as the migration sets them).
    pub fn default_per_minute(self) -> u32 {
        match self {
            Tier::Free => 10,
            Tier::Pro => 100,
            Tier::B2b => 1000,
        }
    }

    /// The tier's name, as the database and the RateLimit-Policy header spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Pro => "pro",
            Tier::B2b => "b2b",
        }
    }
}

/// What a route does, for its kill switch and its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// Judging and validating programs.
    Judging,
    /// Generating capsules with an LLM (it spends money: the guard fails closed).
    Generation,
    /// Widget events.
    Ingest,
}

impl Feature {
    /// Every feature, in the order operators switch them off (the one that spends money first).
    pub const ALL: [Feature; 3] = [Feature::Generation, Feature::Judging, Feature::Ingest];

    /// The feature named `name` (`ingestion` is `ingest`, as operators say it).
    pub fn parse(name: &str) -> Option<Feature> {
        match name {
            "ingestion" => Some(Feature::Ingest),
            _ => Feature::ALL.into_iter().find(|feature| feature.as_str() == name),
        }
    }

    /// The feature's name, as bucket keys and logs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Judging => "judging",
            Feature::Generation => "generation",
            Feature::Ingest => "ingest",
        }
    }
}

/// Who may call a route at all, before any bucket is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Callers with an identity (an API key or a user token): routes that run whatever the caller sends
    /// (POST /api/judge, /api/validate, /api/run), so that nobody computes on our bill anonymously.
    Identified,
    /// Anyone, anonymous callers counted by their address (widget events; the routes of published capsules, which
    /// check the capsule before they admit an anonymous caller).
    Anyone,
}

/// How a request reached us, as the HTTP edge reads it.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The `Authorization: Bearer` value, if any.
    pub bearer: Option<String>,
    /// `X-Organization-Id`, for a user acting for one of their organizations.
    pub organization: Option<Uuid>,
    /// The client's address as the platform vouches for it (API Gateway's source IP, the trusted proxy's
    /// X-Forwarded-For entry, or the peer): anonymous callers share one bucket per address.
    pub ip: String,
}

/// An admitted request: the caller as the store knows them, and the rate-limit state for the response headers.
#[derive(Debug, Clone)]
pub struct Admission {
    /// Whose rights the request's database calls use.
    pub actor: Actor,
    /// The organization the request is for (an API key's, or a member's X-Organization-Id).
    pub organization: Option<Uuid>,
    /// The bucket the request drew from (none when the guard is off or rate limiting failed open).
    pub limit: Option<Limit>,
}

/// A bucket's policy and state, for the RateLimit and RateLimit-Policy headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The tier's name.
    pub policy: &'static str,
    /// The quota of the 60 s window.
    pub per_minute: u32,
    /// Requests left in the window.
    pub remaining: u32,
    /// Seconds until the quota is whole again.
    pub reset_after_seconds: u64,
    /// Seconds until the next request would be admitted (0 when admitted).
    pub retry_after_seconds: u64,
}

impl Limit {
    /// The headers' view of one bucket decision for `tier` at `per_minute`: milliseconds rounded up to seconds, and
    /// a refusal always asks for at least one second.
    pub fn of_decision(tier: Tier, per_minute: u32, decision: &crate::rate::Decision) -> Limit {
        let seconds = |ms: u64| ms.div_ceil(1000);
        Limit {
            policy: tier.as_str(),
            per_minute,
            remaining: decision.remaining,
            reset_after_seconds: seconds(decision.reset_after_ms),
            retry_after_seconds: seconds(decision.retry_after_ms).max(u64::from(!decision.allowed)),
        }
    }

    /// The `RateLimit-Policy` value (IETF draft "RateLimit header fields for HTTP", structured fields): the tier's
    /// quota per window of seconds, e.g. `"free";q=10;w=60`.
    pub fn policy_header(&self) -> String {
        format!("\"{}\";q={};w=60", self.policy, self.per_minute)
    }

    /// The `RateLimit` value: requests remaining and seconds until the quota is whole again, e.g. `"free";r=3;t=6`.
    pub fn state_header(&self) -> String {
        format!("\"{}\";r={};t={}", self.policy, self.remaining, self.reset_after_seconds)
    }
}

/// Why the guard refused a request. Each becomes a problem+json answer at the HTTP edge.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// The bearer token is not a valid user token (the reason is the verifier's, fit for the caller).
    #[error("{0}")]
    InvalidToken(String),
    /// The keys that verify user tokens could not be fetched: the caller may retry.
    #[error("{0}")]
    AuthUnavailable(String),
    /// An `Authorization: Bearer` API key that no organization holds.
    #[error("the API key is unknown or has been revoked: create a new one in the dashboard")]
    UnknownApiKey,
    /// `X-Organization-Id` names an organization the user does not belong to.
    #[error("you are not a member of organization {0}: drop X-Organization-Id or ask its owner for access")]
    NotAMember(Uuid),
    /// The feature's kill switch is off.
    #[error("{feature} is switched off by the operators{}; retry later", reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Disabled {
        /// The feature's name.
        feature: &'static str,
        /// The operators' reason, if they gave one.
        reason: Option<String>,
    },
    /// The caller's bucket is empty.
    #[error("rate limit of the {} tier ({} requests a minute) reached: retry in {} s", limit.policy, limit.per_minute, limit.retry_after_seconds)]
    RateLimited {
        /// The bucket's state, for the headers of the 429.
        limit: Limit,
    },
    /// The state could not be asked, and the feature fails closed.
    #[error("the state store is unavailable ({0}); retry later")]
    Unavailable(String),
}

/// A boxed future, as the [`Gatekeeper`] port returns (the port is used as a trait object).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The guard's decisions: identify the caller, check the feature's kill switch, take from their bucket.
pub trait Gatekeeper: Send + Sync {
    /// Admits the request or says why not.
    fn admit<'a>(&'a self, feature: Feature, caller: &'a Caller) -> BoxFuture<'a, Result<Admission, GuardError>>;
    /// What /api/health says about the guard.
    fn describe(&self) -> Value;
    /// Whether the guard's state answers now (GET /api/health asks): why not, in words safe to show anyone.
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// The guard of a deployment: on (with a [`Gatekeeper`]) or off (with the reason).
#[derive(Clone)]
pub struct Guard {
    keeper: Option<Arc<dyn Gatekeeper>>,
    off_reason: Arc<str>,
}

impl Guard {
    /// A guard that admits everything (no state configured, or a function that is not public).
    pub fn off(reason: impl Into<Arc<str>>) -> Guard {
        Guard { keeper: None, off_reason: reason.into() }
    }

    /// A guard that asks `keeper`.
    pub fn on(keeper: Arc<dyn Gatekeeper>) -> Guard {
        Guard { keeper: Some(keeper), off_reason: Arc::from("") }
    }

    /// Whether requests are checked at all.
    pub fn is_on(&self) -> bool {
        self.keeper.is_some()
    }

    /// What /api/health says about the guard.
    pub fn describe(&self) -> Value {
        match &self.keeper {
            Some(keeper) => keeper.describe(),
            None => json!({ "rate_limits": "off", "reason": &*self.off_reason }),
        }
    }

    /// Whether the guard's state answers now; a guard that is off has nothing to ask.
    pub async fn check(&self) -> Result<(), String> {
        match &self.keeper {
            Some(keeper) => keeper.check().await,
            None => Ok(()),
        }
    }

    /// Admits the request or says why not; with the guard off, every request is admitted anonymously.
    pub async fn admit(&self, feature: Feature, caller: &Caller) -> Result<Admission, GuardError> {
        match &self.keeper {
            Some(keeper) => keeper.admit(feature, caller).await,
            None => Ok(Admission { actor: Actor::Anonymous, organization: None, limit: None }),
        }
    }
}

/// What a deployment gives its functions at start-up: the guard in front of the public routes and whatever else the
/// functions share (the state's store, for those that keep state). Built once per process from the environment.
pub trait Deployment: Clone + Send + Sync + Sized + 'static {
    /// Reads the deployment's settings; a malformed one stops start-up.
    fn from_env() -> Result<Self, ConfigError>;
    /// The guard in front of the public routes.
    fn guard(&self) -> &Guard;
}
