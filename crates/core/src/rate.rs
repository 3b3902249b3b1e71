//! GCRA (the generic cell rate algorithm), for buckets kept outside PostgreSQL: the edge Worker's Durable Object.
//!
//! The functions' buckets are the same algorithm in one SQL statement (`public.rate_limit_take`,
//! supabase/migrations/*_rate_limits.sql); this is its twin for a store that is not SQL, with the same answers for
//! the same sequence of requests (crates/state's tests check both side by side).
//!
//! A bucket is one timestamp, its theoretical arrival time (TAT). With an emission interval T = 1 minute / rate and a
//! tolerance of burst × T, a request costing n is admitted when max(TAT, now) + n·T − burst·T <= now, and then the TAT
//! moves to max(TAT, now) + n·T.

use serde::{Deserialize, Serialize};

/// A bucket's policy: so many requests a minute, at most `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gcra {
    /// Requests a minute (0 admits nothing).
    pub per_minute: u32,
    /// Requests at once after a quiet spell (at least 1).
    pub burst: u32,
}

/// One decision about one request, wherever the bucket is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Whether the request is admitted.
    pub allowed: bool,
    /// How many more requests would be admitted now.
    pub remaining: u32,
    /// Milliseconds until a refused request would be admitted (0 when admitted).
    pub retry_after_ms: u64,
    /// Milliseconds until the bucket holds its whole burst again.
    pub reset_after_ms: u64,
}

/// A decision of [`Gcra::take`] and the bucket's TAT after it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Taken {
    /// The decision.
    pub decision: Decision,
    /// The TAT to store (unchanged when refused), in milliseconds since the epoch; None when nothing is stored.
    pub tat_ms: Option<f64>,
}

const MINUTE_MS: f64 = 60_000.0;

impl Gcra {
    /// Takes `cost` requests at `now_ms` from a bucket whose stored TAT is `tat_ms` (None: a bucket never used or
    /// forgotten, which is full).
    pub fn take(self, tat_ms: Option<f64>, now_ms: f64, cost: u32) -> Taken {
        let burst = self.burst.max(1);
        let emission = MINUTE_MS / f64::from(self.per_minute.max(1));
        let tolerance = emission * f64::from(burst);
        if self.per_minute == 0 || cost == 0 || cost > burst {
            // A request that can never be admitted: as the SQL says, wait a minute (the policy may change).
            let reset_after_ms = tat_ms.map_or(0.0, |tat| (tat - now_ms).max(0.0)).ceil() as u64;
            let decision = Decision { allowed: false, remaining: 0, retry_after_ms: 60_000, reset_after_ms };
            return Taken { decision, tat_ms };
        }
        let start = tat_ms.map_or(now_ms, |tat| tat.max(now_ms));
        let new_tat = start + emission * f64::from(cost);
        let allowed = new_tat - tolerance <= now_ms;
        let tat_after = if allowed { Some(new_tat) } else { tat_ms };
        let backlog = tat_after.map_or(0.0, |tat| tat.max(now_ms) - now_ms);
        let decision = Decision {
            allowed,
            remaining: ((tolerance - backlog) / emission).floor().max(0.0) as u32,
            retry_after_ms: if allowed { 0 } else { (new_tat - tolerance - now_ms).ceil().max(0.0) as u64 },
            reset_after_ms: backlog.ceil() as u64,
        };
        Taken { decision, tat_ms: tat_after }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FREE: Gcra = Gcra { per_minute: 10, burst: 10 };

    /// Runs `count` requests at `now_ms` through one bucket, from `tat`.
    fn run(policy: Gcra, mut tat: Option<f64>, now_ms: f64, count: usize) -> (Vec<Decision>, Option<f64>) {
        let decisions = (0..count)
            .map(|_| {
                let taken = policy.take(tat, now_ms, 1);
                tat = taken.tat_ms;
                taken.decision
            })
            .collect();
        (decisions, tat)
    }

    #[test]
    fn a_full_bucket_admits_exactly_its_burst_then_refuses_with_the_wait() {
        let (decisions, tat) = run(FREE, None, 1_000_000.0, 11);
        assert!(decisions[..10].iter().all(|decision| decision.allowed));
        assert_eq!(
            decisions.iter().map(|decision| decision.remaining).collect::<Vec<_>>(),
            [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0]
        );
        let refused = decisions[10];
        assert!(!refused.allowed);
        // One emission interval (6 s) until one more request fits; a whole minute until the bucket is full again.
        assert_eq!((refused.retry_after_ms, refused.reset_after_ms), (6_000, 60_000));
        assert_eq!(FREE.take(tat, 1_000_000.0, 1).tat_ms, tat, "a refusal leaves the bucket as it was");
    }

    #[test]
    fn the_bucket_refills_at_the_rate() {
        let (_, tat) = run(FREE, None, 0.0, 10);
        assert!(!FREE.take(tat, 5_999.0, 1).decision.allowed, "a millisecond before one interval passed");
        let after = FREE.take(tat, 6_000.0, 1).decision;
        assert!(after.allowed);
        assert_eq!(after.remaining, 0);
        let (decisions, _) = run(FREE, tat, 60_000.0, 11);
        assert_eq!(decisions.iter().filter(|decision| decision.allowed).count(), 10, "full again after a minute");
    }

    #[test]
    fn requests_that_can_never_fit_are_refused_without_spending() {
        let closed = Gcra { per_minute: 0, burst: 0 };
        assert_eq!(
            closed.take(None, 0.0, 1),
            Taken {
                decision: Decision { allowed: false, remaining: 0, retry_after_ms: 60_000, reset_after_ms: 0 },
                tat_ms: None
            }
        );
        let too_costly = FREE.take(None, 0.0, 11);
        assert!(!too_costly.decision.allowed);
        assert_eq!(too_costly.tat_ms, None);
    }
}
