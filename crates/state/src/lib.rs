//! State in Supabase: one interface, [`Store`], over two transports that call the same SQL,
//! the tables and RPC functions of supabase/migrations.
//!
//! - [`direct`]: PostgreSQL over tokio-postgres and rustls; unnamed statements only, so it works through Supabase's
//!   transaction pooler (port 6543); acting for a user, it sets the role and `request.jwt.claims` per transaction.
//! - [`rest`]: Supabase's REST API (PostgREST) over reqwest, every answer's status checked and PostgREST's
//!   `{code, message, details, hint}` mapped to [`StoreError`].
//!
//! A transport knows two primitives, calling an RPC function and reading a table; every operation (`store.rs`) is
//! written once on top of them, so both transports run exactly the same SQL with the same privileges. This file holds
//! the records the operations read and write, [`StoreError`] and [`StateConfig`].
//! Also here: [`guard`], the guard's decisions over the state. The embedded migrations runner and the local
//! PostgreSQL cluster of `make run` and the tests live in devhost/devdb, outside the production crates.

#![warn(missing_docs)]

pub mod direct;
pub mod guard;
pub mod rest;
mod store;

pub use store::{
    Allowance, Arg, Filter, IngestCounts, Returns, RollupOutcome, RollupStatus, Store, StoredOffset, StreamPosition,
    SwitchStatus,
};

pub use codecapsule_core::access::{Actor, Tier, UserToken};

use codecapsule_core::config::{self, ConfigError, Secret};
use codecapsule_core::model::ErrorCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The emergency switches (`public.runtime_config`), read by every function and cached briefly.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RuntimeConfig {
    /// A factor on every tier's allowance (emergency rate limiting below 1).
    pub rate_limit_multiplier: f64,
    /// The free tier's requests a minute.
    pub free_per_minute: u32,
    /// The pro tier's requests a minute.
    pub pro_per_minute: u32,
    /// The b2b tier's requests a minute.
    pub b2b_per_minute: u32,
    /// The generation kill switch.
    pub generation_enabled: bool,
    /// The judging kill switch.
    pub judging_enabled: bool,
    /// The ingestion kill switch.
    pub ingest_enabled: bool,
    /// Why the operators switched something off.
    pub reason: Option<String>,
}

impl Default for RuntimeConfig {
    /// The migration's defaults: what applies before the first read succeeds.
    fn default() -> RuntimeConfig {
        RuntimeConfig {
            rate_limit_multiplier: 1.0,
            free_per_minute: Tier::Free.default_per_minute(),
            pro_per_minute: Tier::Pro.default_per_minute(),
            b2b_per_minute: Tier::B2b.default_per_minute(),
            generation_enabled: true,
            judging_enabled: true,
            ingest_enabled: true,
            reason: None,
        }
    }
}

impl RuntimeConfig {
    /// A tier's allowance per minute after the global multiplier (rounded down; 0 admits nothing).
    pub fn per_minute(&self, tier: Tier) -> u32 {
        let base = match tier {
            Tier::Free => self.free_per_minute,
            Tier::Pro => self.pro_per_minute,
            Tier::B2b => self.b2b_per_minute,
        };
        (f64::from(base) * self.rate_limit_multiplier.max(0.0)).floor().min(f64::from(u32::MAX)) as u32
    }
}

/// The organization behind a valid API key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiKeyOwner {
    /// The key's id.
    pub key_id: Uuid,
    /// The organization that holds it.
    pub organization_id: Uuid,
    /// That organization's tier.
    pub tier: Tier,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
/// Who may read a capsule.
pub enum Visibility {
    /// Listed and readable by anyone.
    Public,
    /// Readable by anyone with its id, not listed.
    Unlisted,
    /// Readable by its organization's members only.
    Private,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
/// Where a capsule is in its life.
pub enum CapsuleStatus {
    /// Saved, not yet proven.
    Draft,
    /// Proven by validation.
    Validated,
    /// Proven and published for readers.
    Published,
    /// Generation could not prove it; kept for a person to look at.
    Quarantined,
}

/// Where a saved capsule ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct SavedCapsule {
    #[serde(rename = "saved_id")]
    /// The capsule's id.
    pub id: Uuid,
    #[serde(rename = "saved_version")]
    /// The version saved.
    pub version: i32,
}

/// What a submission reads first of a capsule: whether it may be judged, and which version's tests to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct CapsuleHead {
    /// The capsule's id.
    pub capsule_id: Uuid,
    /// Its organization.
    pub organization_id: Uuid,
    /// Its current version.
    pub version: i32,
    /// Where it is in its life.
    pub status: CapsuleStatus,
    /// Who may read it.
    pub visibility: Visibility,
}

impl CapsuleHead {
    /// Whether readers outside its organization may see it, submit to it and run it: published, and public or
    /// unlisted.
    pub fn is_open_to_readers(&self) -> bool {
        self.status == CapsuleStatus::Published && self.visibility != Visibility::Private
    }
}

/// Who submitted a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitter {
    /// A signed-in user.
    User(Uuid),
    /// An organization, through its API key.
    ApiKey(Uuid),
    /// An anonymous visitor: the widget's visitor id (or the client address), stored only as the analytics
    /// pipeline's daily-salted hash.
    Visitor(String),
}

/// A judged submission, to be stored.
#[derive(Debug, Clone)]
pub struct NewSubmission {
    /// The capsule.
    pub capsule_id: Uuid,
    /// The version whose tests judged it.
    pub capsule_version: i32,
    /// The language.
    pub language: codecapsule_core::model::Language,
    /// The overall verdict.
    pub verdict: codecapsule_core::model::Verdict,
    /// The weighted score, 0 to 1.
    pub score: f64,
    /// Each test's id, verdict and weight.
    pub tests: Vec<SubmittedTest>,
    /// Who submitted it.
    pub submitter: Submitter,
}

/// One test of a stored submission: what its submitter was shown of a hidden test, and no more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmittedTest {
    /// The test's id.
    pub id: String,
    /// Its verdict.
    pub verdict: codecapsule_core::model::Verdict,
    /// Its weight.
    pub weight: f64,
}

/// Where a stored submission ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct RecordedSubmission {
    /// Its id.
    pub submission_id: Uuid,
    /// When it was stored.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A stored submission, as its submitter and the capsule's members read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmissionRecord {
    /// Its id.
    pub id: Uuid,
    /// The capsule.
    pub capsule_id: Uuid,
    /// The version whose tests judged it.
    pub capsule_version: i32,
    /// The language.
    pub language: String,
    /// The overall verdict.
    pub verdict: codecapsule_core::model::Verdict,
    /// The weighted score.
    pub score: f64,
    /// Each test's id, verdict and weight.
    pub tests: Vec<SubmittedTest>,
    /// The submitting user, if a user submitted it.
    pub user_id: Option<Uuid>,
    /// The organization whose API key submitted it.
    pub api_key_organization_id: Option<Uuid>,
    /// An anonymous visitor's daily-salted hash.
    pub visitor_hash: Option<String>,
    /// When it was stored.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The capsule's organization.
    pub organization_id: Uuid,
}

/// One of an organization's capsules as the dashboard lists it: where it stands, not its content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapsuleListing {
    /// Its id.
    pub id: Uuid,
    /// Its slug, unique in the organization.
    pub slug: String,
    /// Its title.
    pub title: String,
    /// Its language.
    pub language: String,
    /// Where it is in its life.
    pub status: CapsuleStatus,
    /// Who may read it once published.
    pub visibility: Visibility,
    /// Its current version.
    pub version: i32,
    /// When it was first saved.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When its current version was saved.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// One hour of a capsule's analytics (`analytics.capsule_hourly_stats`): the widget-reported counts and the
/// server-verified ones beside them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HourlyStats {
    /// The hour's start (UTC).
    pub hour: chrono::DateTime<chrono::Utc>,
    /// Widget views.
    pub views: i64,
    /// Widget runs.
    pub runs: i64,
    /// Widget submissions.
    pub submissions: i64,
    /// Widget-reported passes.
    pub passes: i64,
    /// Widget-reported fails.
    pub fails: i64,
    /// Widget-reported errors.
    pub errors: i64,
    /// Distinct visitor hashes in the hour.
    pub unique_visitors: i64,
    /// The mean run duration, when there were runs with a duration.
    pub avg_run_ms: Option<f64>,
    /// The 95th percentile run duration, when there were runs with a duration.
    pub p95_run_ms: Option<f64>,
    /// Server-verified: submissions judged against the stored capsule.
    pub verified_attempts: i64,
    /// Server-verified: accepted submissions.
    pub verified_accepted: i64,
    /// Server-verified: distinct submitters with an accepted submission.
    pub verified_solvers: i64,
}

/// A stored capsule as its authors wrote it, with where it stands.
#[derive(Debug, Clone)]
pub struct StoredCapsule {
    /// Its version, status and visibility.
    pub head: CapsuleHead,
    /// The capsule, hidden tests and solution included (its `id` and `version` filled in).
    pub capsule: codecapsule_core::model::Capsule,
}

/// What one LLM call or one judging adds to an organization's day in the usage ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Usage {
    /// LLM calls made.
    pub llm_calls: i32,
    /// Prompt tokens billed.
    pub llm_prompt_tokens: i64,
    /// Completion tokens billed.
    pub llm_completion_tokens: i64,
    /// Their cost in US dollars.
    pub llm_cost_usd: f64,
    /// Programs judged.
    pub judge_runs: i64,
    /// CPU milliseconds of judging.
    pub judge_cpu_ms: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
/// Why a store call failed, whichever transport made it.
pub enum StoreError {
    #[error("conflict: {message}")]
    /// A unique key or a serialisation conflict.
    Conflict {
        /// The database's message.
        message: String,
    },
    #[error("not allowed: {message}")]
    /// Row-level security or a privilege refused it.
    Forbidden {
        /// The database's message.
        message: String,
    },
    #[error("not found: {message}")]
    /// No such row, function or table.
    NotFound {
        /// The database's message.
        message: String,
    },
    #[error("the database refused the credentials ({message}): check SUPABASE_SERVICE_ROLE_KEY / the user's token")]
    /// The credentials were refused.
    Unauthorized {
        /// The database's message.
        message: String,
    },
    #[error("the database API is rate limiting this function; retry later")]
    /// The database API answered 429.
    RateLimited,
    #[error("invalid value: {message}")]
    /// A value the database does not take.
    Invalid {
        /// The database's message.
        message: String,
    },
    #[error("the database is unreachable or failing ({message}); retry later")]
    /// The database is unreachable or failing.
    Unavailable {
        /// Why it is unreachable.
        message: String,
    },
    #[error("unexpected answer from the database: {message}")]
    /// An answer the transport did not expect.
    Protocol {
        /// What was unexpected.
        message: String,
    },
}

/// At the HTTP edge: what the caller did wrong as its 4xx (a refused write 403, a stale version 409, a value the
/// database does not take 422), everything else the state's outage, 503 `state_unavailable`, saying what failed.
impl From<StoreError> for codecapsule_web::Problem {
    fn from(err: StoreError) -> codecapsule_web::Problem {
        let (status, code) = match &err {
            StoreError::Forbidden { .. } => (http::StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            StoreError::Conflict { .. } => (http::StatusCode::CONFLICT, ErrorCode::Conflict),
            StoreError::Invalid { .. } => (http::StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidField),
            _ => (http::StatusCode::SERVICE_UNAVAILABLE, ErrorCode::StateUnavailable),
        };
        codecapsule_web::Problem::new(status, code, err.to_string())
    }
}

impl StoreError {
    /// The error for a PostgreSQL SQLSTATE (the direct transport's errors, and the `code` of PostgREST's errors that
    /// come from the database). `PTxyz` is PostgREST's convention for "answer HTTP xyz", which our SQL uses too.
    pub fn from_sqlstate(code: &str, message: String) -> StoreError {
        match code {
            "23505" | "23503" | "40001" | "40P01" | "PT409" => StoreError::Conflict { message },
            "42501" | "PT403" => StoreError::Forbidden { message },
            "PT404" | "42883" | "42P01" => StoreError::NotFound { message },
            "PT429" => StoreError::RateLimited,
            "53300" | "53400" | "57P01" | "57P02" | "57P03" | "57014" | "08000" | "08003" | "08006" | "08001"
            | "08004" => StoreError::Unavailable { message },
            code if code.starts_with("22") || code.starts_with("23") || code == "P0001" || code == "PT400" => {
                StoreError::Invalid { message }
            }
            _ => StoreError::Protocol { message: format!("{code}: {message}") },
        }
    }
}

/// How the functions reach the state, from the environment (README, "Configuration").
#[derive(Debug, Clone)]
pub enum StateConfig {
    /// DATABASE_URL: `postgres://user:password@host:port/db?sslmode=require` (Supabase: the transaction pooler,
    /// port 6543). DATABASE_CA_CERT: a PEM file of extra roots (Supabase's CA certificate). DATABASE_POOL_SIZE:
    /// connections per instance (default 2).
    Direct {
        /// DATABASE_URL.
        url: Secret,
        /// DATABASE_CA_CERT.
        ca_cert: Option<std::path::PathBuf>,
        /// DATABASE_POOL_SIZE.
        pool_size: usize,
    },
    /// SUPABASE_URL with SUPABASE_ANON_KEY and SUPABASE_SERVICE_ROLE_KEY.
    Rest {
        /// SUPABASE_URL.
        url: String,
        /// SUPABASE_ANON_KEY.
        anon_key: Secret,
        /// SUPABASE_SERVICE_ROLE_KEY.
        service_key: Secret,
    },
    /// Neither: the functions run without state (no rate limits, no API keys); `missing` says what to set.
    None {
        /// What to set.
        missing: &'static str,
    },
}

impl StateConfig {
    /// DATABASE_URL wins over SUPABASE_URL when both are set (fewer hops for the same SQL).
    pub fn from_env() -> Result<StateConfig, ConfigError> {
        if let Some(url) = config::read("DATABASE_URL") {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(ConfigError::Invalid {
                    var: "DATABASE_URL",
                    value: "[redacted]".into(),
                    expected: "a URL like postgres://user:password@host:6543/postgres?sslmode=require".into(),
                });
            }
            let pool_size = match config::read("DATABASE_POOL_SIZE") {
                None => 2,
                Some(value) => value.trim().parse().ok().filter(|size| (1..=32).contains(size)).ok_or_else(|| {
                    ConfigError::Invalid {
                        var: "DATABASE_POOL_SIZE",
                        value: value.clone(),
                        expected: "a number of connections from 1 to 32".into(),
                    }
                })?,
            };
            let ca_cert = config::read("DATABASE_CA_CERT").map(std::path::PathBuf::from);
            return Ok(StateConfig::Direct { url: Secret::new(url), ca_cert, pool_size });
        }
        if let Some(url) = config::read("SUPABASE_URL") {
            let required = |var: &'static str| {
                config::read(var).map(Secret::new).ok_or_else(|| ConfigError::Invalid {
                    var,
                    value: String::new(),
                    expected: "the project's API key (Supabase dashboard, Settings > API); SUPABASE_URL is set".into(),
                })
            };
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(ConfigError::Invalid {
                    var: "SUPABASE_URL",
                    value: url,
                    expected: "the project URL, like https://abcd.supabase.co".into(),
                });
            }
            return Ok(StateConfig::Rest {
                url: url.trim_end_matches('/').to_string(),
                anon_key: required("SUPABASE_ANON_KEY")?,
                service_key: required("SUPABASE_SERVICE_ROLE_KEY")?,
            });
        }
        Ok(StateConfig::None { missing: "set DATABASE_URL (PostgreSQL) or SUPABASE_URL and its keys" })
    }

    /// The store for this configuration (connections are made on first use), or None without configuration.
    pub fn store(&self) -> Result<Option<Store>, ConfigError> {
        match self {
            StateConfig::Direct { url, ca_cert, pool_size } => {
                Ok(Some(Store::Direct(direct::DirectStore::new(url, ca_cert.as_deref(), *pool_size)?)))
            }
            StateConfig::Rest { url, anon_key, service_key } => {
                Ok(Some(Store::Rest(rest::RestStore::new(url, anon_key.clone(), service_key.clone()))))
            }
            StateConfig::None { .. } => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplier_scales_and_floors_tier_allowances() {
        let mut config = RuntimeConfig::default();
        assert_eq!(config.per_minute(Tier::Free), 10);
        assert_eq!(config.per_minute(Tier::B2b), 1000);
        config.rate_limit_multiplier = 0.25;
        assert_eq!(config.per_minute(Tier::Free), 2);
        assert_eq!(config.per_minute(Tier::Pro), 25);
        config.rate_limit_multiplier = 0.0;
        assert_eq!(config.per_minute(Tier::B2b), 0);
    }

    #[test]
    fn sqlstates_map_to_typed_errors() {
        let error = |code| StoreError::from_sqlstate(code, "m".into());
        assert_eq!(error("23505"), StoreError::Conflict { message: "m".into() });
        assert_eq!(error("PT409"), StoreError::Conflict { message: "m".into() });
        assert_eq!(error("42501"), StoreError::Forbidden { message: "m".into() });
        assert_eq!(error("22P02"), StoreError::Invalid { message: "m".into() });
        assert_eq!(error("23514"), StoreError::Invalid { message: "m".into() });
        assert_eq!(error("53300"), StoreError::Unavailable { message: "m".into() });
        assert_eq!(error("PT429"), StoreError::RateLimited);
        assert!(matches!(error("XX000"), StoreError::Protocol { .. }));
    }
}
