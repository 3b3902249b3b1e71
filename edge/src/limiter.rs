//! The edge's rate limits: one Durable Object per bucket (`ingest:anon:<client address>`), running the core crate's
//! GCRA. A Durable Object handles one request at a time and its storage writes are confirmed before its answer
//! leaves, so concurrent requests on one bucket are serialised and admit exactly the tier's allowance.
//!
//! In front of it, a shield: Cloudflare's rate limiting binding (`EDGE_SHIELD`, wrangler.toml), per client address,
//! at twice the allowance (its `simple.limit`). It is approximate (counted per Cloudflare location) and costs no Durable
//! Object request, so a client that floods is refused there; every request it lets through is decided exactly by the
//! Durable Object. Its limit is above the allowance, so it never refuses what the Durable Object would admit.
//!
//! The bucket's TAT lives in memory and in the object's storage (an evicted object reloads it); an alarm at the TAT
//! forgets a bucket that is full again, as `public.prune_rate_limits` does for the functions' buckets.

use crate::budget::{Deadline, now_ms};
use codecapsule_core::access::{Limit, Tier};
use codecapsule_core::rate::{Decision, Gcra};
use std::cell::Cell;
use worker::{DurableObject, Env, Method, Request, RequestInit, Response, State, durable_object};

/// The binding of the Durable Object namespace (wrangler.toml).
pub const BINDING: &str = "EDGE_BUCKETS";
/// The binding of the shield (wrangler.toml's `[[ratelimits]]`); without it every request asks the Durable Object.
pub const SHIELD_BINDING: &str = "EDGE_SHIELD";
/// The shield's period (wrangler.toml's `simple.period`): a client it refused is told to wait that long.
pub const SHIELD_PERIOD_SECONDS: u64 = 60;
const TAT_KEY: &str = "tat";

/// One bucket.
#[durable_object]
pub struct EdgeBucket {
    state: State,
    /// The TAT in milliseconds since the epoch; the outer None: not loaded from storage yet.
    tat_ms: Cell<Option<Option<f64>>>,
}

impl DurableObject for EdgeBucket {
    fn new(state: State, _env: Env) -> EdgeBucket {
        EdgeBucket { state, tat_ms: Cell::new(None) }
    }

    /// Takes one request from the bucket under the policy the body names (a [`Gcra`] as JSON).
    async fn fetch(&self, mut request: Request) -> worker::Result<Response> {
        let policy: Gcra = request.json().await?;
        let storage = self.state.storage();
        if self.tat_ms.get().is_none() {
            let stored = storage.get::<f64>(TAT_KEY).await?;
            // Storage reads close the object's input gate: no other request ran meanwhile.
            self.tat_ms.set(Some(stored));
        }
        let taken = policy.take(self.tat_ms.get().flatten(), now_ms(), 1);
        if taken.decision.allowed
            && let Some(tat) = taken.tat_ms
        {
            self.tat_ms.set(Some(Some(tat)));
            storage.put(TAT_KEY, tat).await?;
            storage.set_alarm(tat as i64).await?;
        }
        Response::from_json(&taken.decision)
    }

    /// The bucket is full again: forget it.
    async fn alarm(&self) -> worker::Result<Response> {
        self.state.storage().delete(TAT_KEY).await?;
        self.tat_ms.set(Some(None));
        Response::empty()
    }
}

/// Why no decision came back.
#[derive(Debug, thiserror::Error)]
pub enum LimiterError {
    /// The Durable Object failed or answered something else than a decision.
    #[error("the rate limiter failed: {0}")]
    Failed(String),
    /// It did not answer within the request's budget.
    #[error("the rate limiter did not answer in time")]
    OutOfTime,
}

/// Takes one request from anonymous `client`'s ingest bucket: the free tier's allowance per minute, all of it at once
/// after a quiet minute (the functions' buckets have the same burst).
pub async fn take_ingest(env: &Env, client: &str, deadline: Deadline) -> Result<(bool, Limit), LimiterError> {
    let tier = Tier::Free;
    let per_minute = tier.default_per_minute();
    let policy = Gcra { per_minute, burst: per_minute };
    let failed = |err: worker::Error| LimiterError::Failed(err.to_string());
    let key = format!("ingest:anon:{client}");
    if shielded(env, &key, deadline).await {
        let refused = Limit {
            policy: tier.as_str(),
            per_minute,
            remaining: 0,
            reset_after_seconds: SHIELD_PERIOD_SECONDS,
            retry_after_seconds: SHIELD_PERIOD_SECONDS,
        };
        return Ok((false, refused));
    }
    let stub =
        env.durable_object(BINDING).and_then(|namespace| namespace.id_from_name(&key)?.get_stub()).map_err(failed)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(serde_json::to_string(&policy).expect("a policy serialises").into()));
    let request = Request::new_with_init("https://bucket/take", &init).map_err(failed)?;
    let answer = async {
        let mut response = stub.fetch_with_request(request).await?;
        response.json::<Decision>().await
    };
    let decision = deadline.within(answer).await.map_err(|_| LimiterError::OutOfTime)?.map_err(failed)?;
    Ok((decision.allowed, Limit::of_decision(tier, per_minute, &decision)))
}

/// Whether the shield refuses `key`. A missing binding, a failure or no answer in time lets the request through to
/// the Durable Object, which decides exactly: the shield only saves requests, it never decides alone to admit one.
async fn shielded(env: &Env, key: &str, deadline: Deadline) -> bool {
    let Ok(shield) = env.rate_limiter(SHIELD_BINDING) else { return false };
    matches!(deadline.within(shield.limit(key.to_string())).await, Ok(Ok(outcome)) if !outcome.success)
}
