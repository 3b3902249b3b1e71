//! [`Store`]: every operation of the functions on the state, written once over the two primitives a transport knows
//! (call an RPC function, read a table), so both transports run the same SQL with the same privileges.

use crate::{
    Actor, ApiKeyOwner, CapsuleHead, CapsuleListing, CapsuleStatus, HourlyStats, NewSubmission, RecordedSubmission,
    RuntimeConfig, SavedCapsule, StoreError, StoredCapsule, SubmissionRecord, Submitter, Tier, Usage, Visibility,
    direct, rest,
};
use chrono::{DateTime, Utc};
use codecapsule_core::access::Feature;
use codecapsule_core::config::Secret;
use codecapsule_core::model::Capsule;
use codecapsule_core::rate::Decision;
use codecapsule_core::reader::ReaderCapsule;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

/// A typed argument of an RPC call. The direct transport casts the text form to `sql_type`; the REST transport sends
/// `value` in the JSON body.
pub struct Arg {
    /// The parameter's name in the SQL function.
    pub name: &'static str,
    /// Its SQL type.
    pub sql_type: &'static str,
    /// Its value.
    pub value: Value,
}

fn arg(name: &'static str, sql_type: &'static str, value: impl Into<Value>) -> Arg {
    Arg { name, sql_type, value: value.into() }
}

/// What an RPC function returns, which decides how its answer is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returns {
    /// One value (JSON null when SQL NULL).
    Scalar,
    /// A set or a table: a JSON array of row objects.
    Rows,
    /// void.
    Nothing,
}

/// A filter `column = value` on a table read.
pub struct Filter {
    /// The column.
    pub column: &'static str,
    /// Its SQL type.
    pub sql_type: &'static str,
    /// The value, as text.
    pub value: String,
}

/// The state, through whichever transport was configured.
#[derive(Clone)]
pub enum Store {
    /// PostgreSQL directly.
    Direct(direct::DirectStore),
    /// Supabase's REST API.
    Rest(rest::RestStore),
}

impl Store {
    /// Which transport, for /api/health.
    pub fn transport(&self) -> &'static str {
        match self {
            Store::Direct(_) => "postgres",
            Store::Rest(_) => "supabase-rest",
        }
    }

    async fn rpc(
        &self,
        actor: &Actor,
        function: &'static str,
        args: &[Arg],
        returns: Returns,
    ) -> Result<Value, StoreError> {
        match self {
            Store::Direct(store) => store.rpc(actor, function, args, returns).await,
            Store::Rest(store) => store.rpc(actor, function, args, returns).await,
        }
    }

    async fn select(
        &self,
        actor: &Actor,
        schema: &'static str,
        table: &'static str,
        columns: &'static [&'static str],
        filters: &[Filter],
    ) -> Result<Vec<Value>, StoreError> {
        match self {
            Store::Direct(store) => store.select(actor, schema, table, columns, filters).await,
            Store::Rest(store) => store.select(actor, schema, table, columns, filters).await,
        }
    }

    /// One GCRA decision for `key` at `per_minute` with a burst of `burst` (as service_role).
    pub async fn rate_limit_take(&self, key: &str, per_minute: u32, burst: u32) -> Result<Decision, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            allowed: bool,
            remaining: i64,
            retry_after_ms: i64,
            reset_after_ms: i64,
        }
        let args = [
            arg("key", "text", key),
            arg("per_minute", "integer", per_minute),
            arg("burst", "integer", burst),
            arg("cost", "integer", 1),
        ];
        let row: Row = one_row(self.rpc(&Actor::Service, "rate_limit_take", &args, Returns::Rows).await?)?;
        let millis = |ms: i64| ms.max(0) as u64;
        Ok(Decision {
            allowed: row.allowed,
            remaining: row.remaining.clamp(0, i64::from(u32::MAX)) as u32,
            retry_after_ms: millis(row.retry_after_ms),
            reset_after_ms: millis(row.reset_after_ms),
        })
    }

    /// The emergency switches (as service_role).
    pub async fn runtime_config(&self) -> Result<RuntimeConfig, StoreError> {
        const COLUMNS: &[&str] = &[
            "rate_limit_multiplier",
            "free_per_minute",
            "pro_per_minute",
            "b2b_per_minute",
            "generation_enabled",
            "judging_enabled",
            "ingest_enabled",
            "reason",
        ];
        let rows = self.select(&Actor::Service, "public", "runtime_config", COLUMNS, &[]).await?;
        match rows.into_iter().next() {
            Some(row) => decode(row),
            // The migration inserts the row; without it, the defaults apply (and say so in the logs).
            None => {
                tracing::warn!("public.runtime_config has no row: using the defaults");
                Ok(RuntimeConfig::default())
            }
        }
    }

    /// Switches `feature` on or off for every function (they see it within their cache time), with the reason, and
    /// logs the change (as service_role: the emergency commands).
    pub async fn set_feature_enabled(&self, feature: Feature, enabled: bool, reason: &str) -> Result<(), StoreError> {
        let args = [
            arg("feature", "text", feature.as_str()),
            arg("enabled", "boolean", enabled),
            arg("reason", "text", reason),
        ];
        self.rpc(&Actor::Service, "set_feature_enabled", &args, Returns::Nothing).await.map(drop)
    }

    /// Multiplies every tier's allowance by `factor` (1 is normal), with the reason, and logs the change (as
    /// service_role: the emergency commands).
    pub async fn set_rate_limit_multiplier(&self, factor: f64, reason: &str) -> Result<(), StoreError> {
        let args = [arg("factor", "numeric", factor), arg("reason", "text", reason)];
        self.rpc(&Actor::Service, "set_rate_limit_multiplier", &args, Returns::Nothing).await.map(drop)
    }

    /// Each emergency switch as it is now, with its latest change (as service_role).
    pub async fn runtime_status(&self) -> Result<Vec<SwitchStatus>, StoreError> {
        decode(self.rpc(&Actor::Service, "runtime_status", &[], Returns::Rows).await?)
    }

    /// The organization behind an API key, unless the key is unknown or revoked (as service_role).
    pub async fn authenticate_api_key(&self, prefix: &str, key_hash: &str) -> Result<Option<ApiKeyOwner>, StoreError> {
        let args = [arg("key_prefix", "text", prefix), arg("key_hash", "text", key_hash)];
        let rows = self.rpc(&Actor::Service, "authenticate_api_key", &args, Returns::Rows).await?;
        let mut owners: Vec<ApiKeyOwner> = decode(rows)?;
        Ok(owners.pop())
    }

    /// The tier of an organization as `actor` may see it: None when the organization does not exist or the actor is
    /// not one of its members (RLS).
    pub async fn organization_tier(&self, actor: &Actor, organization_id: Uuid) -> Result<Option<Tier>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            tier: Tier,
        }
        let filter = Filter { column: "id", sql_type: "uuid", value: organization_id.to_string() };
        let rows = self.select(actor, "public", "organizations", &["tier"], &[filter]).await?;
        let mut rows: Vec<Row> = decode(Value::Array(rows))?;
        Ok(rows.pop().map(|row| row.tier))
    }

    /// A signed-in user creates an organization and becomes its owner.
    pub async fn create_organization(&self, actor: &Actor, name: &str) -> Result<Uuid, StoreError> {
        decode(self.rpc(actor, "create_organization", &[arg("name", "text", name)], Returns::Scalar).await?)
    }

    /// Creates or updates a capsule as `actor`: the authored capsule (solution included) goes to the private table,
    /// its reader's view ([`ReaderCapsule::of`]) to the public row, so the public catalogue never holds a hidden test.
    pub async fn save_capsule(
        &self,
        actor: &Actor,
        organization_id: Uuid,
        capsule: &Capsule,
        visibility: Visibility,
        status: CapsuleStatus,
        expected_version: Option<i32>,
    ) -> Result<SavedCapsule, StoreError> {
        let as_json = |value: Result<Value, serde_json::Error>| {
            value.map_err(|err| StoreError::Protocol { message: format!("cannot write the capsule as JSON: {err}") })
        };
        let args = [
            arg("organization_id", "uuid", organization_id.to_string()),
            arg("capsule", "jsonb", as_json(serde_json::to_value(capsule))?),
            arg("reader_view", "jsonb", as_json(serde_json::to_value(ReaderCapsule::of(capsule)))?),
            arg("visibility", "public.capsule_visibility", json!(visibility)),
            arg("status", "public.capsule_status", json!(status)),
            arg("expected_version", "integer", json!(expected_version)),
        ];
        one_row(self.rpc(actor, "save_capsule", &args, Returns::Rows).await?)
    }

    /// A capsule's version, status and visibility, if `actor` may see it: one index probe, so that a warm submission
    /// finds the capsule's tests in its instance's cache by (id, version).
    pub async fn capsule_head(&self, actor: &Actor, id: Uuid) -> Result<Option<CapsuleHead>, StoreError> {
        let rows = self.rpc(actor, "capsule_head", &[arg("id", "uuid", id.to_string())], Returns::Rows).await?;
        let mut heads: Vec<CapsuleHead> = decode(rows)?;
        Ok(heads.pop())
    }

    /// A capsule as its authors wrote it, if `actor` may read it so (its organization's members; service_role, for
    /// which the caller decides who may see what: [`CapsuleHead::is_open_to_readers`], the reader's view). None when
    /// there is no such capsule or `actor` may see only its reader's view.
    pub async fn authored_capsule(&self, actor: &Actor, id: Uuid) -> Result<Option<StoredCapsule>, StoreError> {
        let Some(found) = self.capsule(actor, id).await?.filter(|found| found.get("solution").is_some()) else {
            return Ok(None);
        };
        #[derive(Deserialize)]
        struct Storage {
            organization_id: Uuid,
            version: i32,
            status: CapsuleStatus,
            visibility: Visibility,
        }
        // Read in place: the capsule's tests may be megabytes, not worth a copy for four fields.
        let storage = Storage::deserialize(&found)
            .map_err(|err| StoreError::Protocol { message: format!("cannot read the stored capsule {id}: {err}") })?;
        let mut contract = found;
        if let Some(fields) = contract.as_object_mut() {
            // The storage fields are not part of the contract's Capsule.
            for storage in ["organization_id", "status", "visibility"] {
                fields.remove(storage);
            }
            fields.insert("id".into(), json!(id.to_string()));
        }
        let capsule = serde_json::from_value(contract).map_err(|err| StoreError::Protocol {
            message: format!("the stored capsule {id} is not a valid capsule: {err}"),
        })?;
        let head = CapsuleHead {
            capsule_id: id,
            organization_id: storage.organization_id,
            version: storage.version,
            status: storage.status,
            visibility: storage.visibility,
        };
        Ok(Some(StoredCapsule { head, capsule }))
    }

    /// Stores a judged submission (as service_role) and returns its id and time.
    pub async fn record_submission(&self, submission: &NewSubmission) -> Result<RecordedSubmission, StoreError> {
        let (user, key_organization, visitor) = match &submission.submitter {
            Submitter::User(user) => (Some(user.to_string()), None, None),
            Submitter::ApiKey(organization) => (None, Some(organization.to_string()), None),
            Submitter::Visitor(visitor) => (None, None, Some(visitor.clone())),
        };
        let args = [
            arg("capsule_id", "uuid", submission.capsule_id.to_string()),
            arg("capsule_version", "integer", submission.capsule_version),
            arg("language", "text", submission.language.as_str()),
            arg("verdict", "text", submission.verdict.as_str()),
            arg("score", "double precision", submission.score),
            arg("tests", "jsonb", json!(submission.tests)),
            arg("user_id", "uuid", json!(user)),
            arg("api_key_organization_id", "uuid", json!(key_organization)),
            arg("visitor_id", "text", json!(visitor)),
        ];
        one_row(self.rpc(&Actor::Service, "record_submission", &args, Returns::Rows).await?)
    }

    /// A capsule's submissions as `actor` may see them (RLS), newest first; `before` continues below a submission.
    pub async fn capsule_submissions(
        &self,
        actor: &Actor,
        capsule_id: Uuid,
        before: Option<Uuid>,
        page_size: u32,
    ) -> Result<Vec<SubmissionRecord>, StoreError> {
        let args = [
            arg("capsule_id", "uuid", capsule_id.to_string()),
            arg("before", "uuid", json!(before.map(|id| id.to_string()))),
            arg("page_size", "integer", page_size),
        ];
        decode(self.rpc(actor, "capsule_submissions", &args, Returns::Rows).await?)
    }

    /// One submission as `actor` may see it (RLS), or None.
    pub async fn submission(&self, actor: &Actor, id: Uuid) -> Result<Option<SubmissionRecord>, StoreError> {
        let rows = self.rpc(actor, "submission_by_id", &[arg("id", "uuid", id.to_string())], Returns::Rows).await?;
        let mut found: Vec<SubmissionRecord> = decode(rows)?;
        Ok(found.pop())
    }

    /// A capsule as `actor` may see it (with its solution only for its organization and service_role), or None.
    pub async fn capsule(&self, actor: &Actor, id: Uuid) -> Result<Option<Value>, StoreError> {
        let found = self.rpc(actor, "capsule_by_id", &[arg("id", "uuid", id.to_string())], Returns::Scalar).await?;
        Ok(Some(found).filter(|found| !found.is_null()))
    }

    /// An organization's capsules as `actor` may see them (RLS), most recently changed first.
    pub async fn organization_capsules(
        &self,
        actor: &Actor,
        organization_id: Uuid,
    ) -> Result<Vec<CapsuleListing>, StoreError> {
        let args = [arg("organization_id", "uuid", organization_id.to_string())];
        decode(self.rpc(actor, "organization_capsules", &args, Returns::Rows).await?)
    }

    /// A capsule's hourly stats with `since <= hour < until`, oldest first, as `actor` may see them (RLS); the
    /// database refuses a range over 93 days.
    pub async fn capsule_stats(
        &self,
        actor: &Actor,
        capsule_id: Uuid,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<HourlyStats>, StoreError> {
        let args = [
            arg("capsule_id", "uuid", capsule_id.to_string()),
            arg("since", "timestamptz", since.to_rfc3339()),
            arg("until", "timestamptz", until.to_rfc3339()),
        ];
        decode(self.rpc(actor, "capsule_stats", &args, Returns::Rows).await?)
    }

    /// Creates an API key for an organization (owners and admins); the only time the key is returned.
    pub async fn create_api_key(&self, actor: &Actor, organization_id: Uuid, name: &str) -> Result<Secret, StoreError> {
        let args = [arg("organization_id", "uuid", organization_id.to_string()), arg("name", "text", name)];
        let key: String = decode(self.rpc(actor, "create_api_key", &args, Returns::Scalar).await?)?;
        Ok(Secret::new(key))
    }

    /// Revokes an API key; false when there was nothing the actor could revoke.
    pub async fn revoke_api_key(&self, actor: &Actor, key_id: Uuid) -> Result<bool, StoreError> {
        decode(self.rpc(actor, "revoke_api_key", &[arg("key_id", "uuid", key_id.to_string())], Returns::Scalar).await?)
    }

    /// Adds to an organization's usage today (as service_role).
    pub async fn record_usage(&self, organization_id: Uuid, usage: &Usage) -> Result<(), StoreError> {
        let args = [
            arg("organization_id", "uuid", organization_id.to_string()),
            arg("llm_calls", "integer", usage.llm_calls),
            arg("llm_prompt_tokens", "bigint", usage.llm_prompt_tokens),
            arg("llm_completion_tokens", "bigint", usage.llm_completion_tokens),
            arg("llm_cost_usd", "numeric", usage.llm_cost_usd),
            arg("judge_runs", "bigint", usage.judge_runs),
            arg("judge_cpu_ms", "bigint", usage.judge_cpu_ms),
        ];
        self.rpc(&Actor::Service, "record_usage", &args, Returns::Nothing).await.map(drop)
    }
}

/// One emergency switch of runtime_config as it is now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchStatus {
    /// The setting: `generation_enabled`, `judging_enabled`, `ingest_enabled` or `rate_limit_multiplier`.
    pub setting: String,
    /// Its value, as text.
    pub value: String,
    /// When it was last changed; none when never changed since the migration.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Why, as the last change said.
    pub reason: Option<String>,
    /// The database role that changed it.
    pub changed_by: Option<String>,
}

/// What one batch of events did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct IngestCounts {
    /// Events stored for the first time.
    pub accepted: u64,
    /// Events already stored (a retried batch).
    pub duplicates: u64,
}

/// Where a read of the event stream's partition started and ended, as [`Store::ingest_stream_events`] records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPosition<'a> {
    /// The topic (the hub's name).
    pub topic: &'a str,
    /// The partition.
    pub partition: i32,
    /// The stored offset the read started from (None: the partition had none).
    pub from_offset: Option<i64>,
    /// One past the last record read: the partition's next offset.
    pub to_offset: i64,
}

/// One partition's stored offset (`public.stream_offsets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct StoredOffset {
    /// The partition.
    pub partition: i32,
    /// The offset of its next record to read.
    pub next_offset: i64,
}

/// Whether a rollup ran, as `public.rollup_analytics` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RollupStatus {
    /// The new events are rolled up.
    Done,
    /// Another processor holds the rollup's lock: this run did nothing.
    Busy,
}

impl RollupStatus {
    /// The status as the SQL function and the run's report spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            RollupStatus::Done => "done",
            RollupStatus::Busy => "busy",
        }
    }
}

impl std::fmt::Display for RollupStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one rollup run did: `done` (with how many new events and touched hours), or `busy` (another run holds the
/// lock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollupOutcome {
    /// Whether the rollup ran.
    pub outcome: RollupStatus,
    /// New events rolled up.
    pub events: u64,
    /// Hours recomputed.
    pub hours: u64,
}

impl Store {
    /// Stores validated widget events in one round trip; duplicates (by event_id) are skipped.
    pub async fn ingest_events(
        &self,
        events: &[codecapsule_core::analytics::ValidEvent],
    ) -> Result<IngestCounts, StoreError> {
        let events = serde_json::to_value(events)
            .map_err(|err| StoreError::Invalid { message: format!("events cannot be encoded: {err}") })?;
        one_row(self.rpc(&Actor::Service, "ingest_events", &[arg("events", "jsonb", events)], Returns::Rows).await?)
    }

    /// Stores the validated events read from one partition of the event stream, records `[from_offset, to_offset)`
    /// as read, and moves the partition's offset to `to_offset`, in one transaction. `from_offset` is the offset the
    /// read started from, as [`Store::stream_offsets`] gave it (None: none was stored); another processor having moved
    /// it since is a [`StoreError::Conflict`], and nothing is stored.
    pub async fn ingest_stream_events(
        &self,
        position: &StreamPosition<'_>,
        events: &[codecapsule_core::analytics::ValidEvent],
    ) -> Result<IngestCounts, StoreError> {
        let events = serde_json::to_value(events)
            .map_err(|err| StoreError::Invalid { message: format!("events cannot be encoded: {err}") })?;
        let args = [
            arg("topic", "text", position.topic),
            arg("partition", "integer", position.partition),
            arg("from_offset", "bigint", position.from_offset),
            arg("to_offset", "bigint", position.to_offset),
            arg("events", "jsonb", events),
        ];
        one_row(self.rpc(&Actor::Service, "ingest_stream_events", &args, Returns::Rows).await?)
    }

    /// The stored offset of each partition of `topic` that has one: where its next read starts.
    pub async fn stream_offsets(&self, topic: &str) -> Result<Vec<StoredOffset>, StoreError> {
        decode(self.rpc(&Actor::Service, "stream_offsets", &[arg("topic", "text", topic)], Returns::Rows).await?)
    }

    /// One exactly-once rollup run (`public.rollup_analytics`).
    pub async fn rollup_analytics(&self) -> Result<RollupOutcome, StoreError> {
        one_row(self.rpc(&Actor::Service, "rollup_analytics", &[], Returns::Rows).await?)
    }

    /// Deletes at most `max_rows` raw events older than the retention (already rolled up); how many went.
    pub async fn prune_analytics_events(&self, retention_days: u32, max_rows: u32) -> Result<u64, StoreError> {
        let args = [arg("retention_days", "integer", retention_days), arg("max_rows", "integer", max_rows)];
        decode(self.rpc(&Actor::Service, "prune_analytics_events", &args, Returns::Scalar).await?)
    }

    /// Forgets at most `max_rows` rate-limit keys whose bucket is full again; how many went.
    pub async fn prune_rate_limits(&self, max_rows: u32) -> Result<u64, StoreError> {
        let args = [arg("max_rows", "integer", max_rows)];
        decode(self.rpc(&Actor::Service, "prune_rate_limits", &args, Returns::Scalar).await?)
    }
}

/// An organization's LLM allowance today (`public.llm_allowance`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Allowance {
    /// The organization's tier, which sets its allowance.
    pub tier: Tier,
    /// What it spent on LLM calls today, in US dollars.
    pub spent_usd: f64,
    /// Today's allowance, in US dollars.
    pub allowance_usd: f64,
}

impl Store {
    /// A generation job starts (service_role); its id.
    pub async fn create_generation_job(
        &self,
        organization_id: Uuid,
        requested_by: Option<Uuid>,
        request: &Value,
        deadline: chrono::DateTime<chrono::Utc>,
    ) -> Result<Uuid, StoreError> {
        let args = [
            arg("organization_id", "uuid", organization_id.to_string()),
            arg("requested_by", "uuid", json!(requested_by)),
            arg("request", "jsonb", request.clone()),
            arg("deadline_at", "timestamptz", deadline.to_rfc3339()),
        ];
        decode(self.rpc(&Actor::Service, "create_generation_job", &args, Returns::Scalar).await?)
    }

    /// Appends one progress event to a job.
    pub async fn append_generation_progress(&self, job_id: Uuid, event: &Value) -> Result<(), StoreError> {
        let args = [arg("job_id", "uuid", job_id.to_string()), arg("event", "jsonb", event.clone())];
        self.rpc(&Actor::Service, "append_generation_progress", &args, Returns::Nothing).await.map(drop)
    }

    /// A job ends: `status` succeeded, quarantined or failed.
    pub async fn finish_generation_job(
        &self,
        job_id: Uuid,
        status: &str,
        result: Option<&Value>,
        error: Option<&str>,
        capsule_id: Option<Uuid>,
    ) -> Result<(), StoreError> {
        let args = [
            arg("job_id", "uuid", job_id.to_string()),
            arg("status", "text", status),
            arg("result", "jsonb", result.cloned().unwrap_or(Value::Null)),
            arg("error", "text", json!(error)),
            arg("capsule_id", "uuid", json!(capsule_id)),
        ];
        self.rpc(&Actor::Service, "finish_generation_job", &args, Returns::Nothing).await.map(drop)
    }

    /// An organization's tier, LLM spend today and daily allowance; None for an unknown organization.
    pub async fn llm_allowance(&self, organization_id: Uuid) -> Result<Option<Allowance>, StoreError> {
        let args = [arg("organization_id", "uuid", organization_id.to_string())];
        let mut rows: Vec<Allowance> = decode(self.rpc(&Actor::Service, "llm_allowance", &args, Returns::Rows).await?)?;
        Ok(rows.pop())
    }

    /// A generation job as `actor` may see it (RLS: members of its organization), within `organization` when given
    /// (callers acting as service_role for an API key).
    pub async fn generation_job(
        &self,
        actor: &Actor,
        job_id: Uuid,
        organization: Option<Uuid>,
    ) -> Result<Option<Value>, StoreError> {
        const COLUMNS: &[&str] = &[
            "id",
            "organization_id",
            "status",
            "request",
            "progress",
            "result",
            "error",
            "capsule_id",
            "created_at",
            "updated_at",
        ];
        let mut filters = vec![Filter { column: "id", sql_type: "uuid", value: job_id.to_string() }];
        if let Some(organization) = organization {
            filters.push(Filter { column: "organization_id", sql_type: "uuid", value: organization.to_string() });
        }
        Ok(self.select(actor, "public", "generation_jobs", COLUMNS, &filters).await?.into_iter().next())
    }
}

fn decode<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, StoreError> {
    serde_json::from_value(value)
        .map_err(|err| StoreError::Protocol { message: format!("cannot read the answer: {err}") })
}

fn one_row<T: serde::de::DeserializeOwned>(rows: Value) -> Result<T, StoreError> {
    let mut rows: Vec<T> = decode(rows)?;
    match rows.len() {
        1 => Ok(rows.remove(0)),
        n => Err(StoreError::Protocol { message: format!("expected one row, got {n}") }),
    }
}
