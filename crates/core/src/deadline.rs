//! A request's one time budget. The HTTP edge starts it when a request arrives ([`Deadline::for_request`]); everything
//! the request does draws from it: the parse check, compilation, every test, validate's runs and healing's calls. A
//! program still running when it is spent is stopped, later tests are not started, and the answer is written with the
//! time left, so that it leaves before API Gateway's 30 s whatever the request asked for.

use crate::judge::{Termination, limits};
use std::time::{Duration, Instant};

/// The request header in which a function forwarding work to another (validate to a native judge) passes on the
/// milliseconds left of its own request's budget.
pub const BUDGET_HEADER: &str = "x-codecapsule-budget-ms";

/// When the work of one request (or one generation job) must be over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at: Instant,
    budget: Duration,
}

impl Deadline {
    /// A deadline `budget` from now.
    pub fn after(budget: Duration) -> Deadline {
        Deadline { at: Instant::now() + budget, budget }
    }

    /// The deadline of a request arriving now: [`limits::REQUEST_BUDGET_MS`], or less when the caller has less
    /// left (`asked_ms`: a function forwarding part of its own request passes on what remains of it). A caller can
    /// only shorten a request's budget, never lengthen it.
    pub fn for_request(asked_ms: Option<u64>) -> Deadline {
        let budget = asked_ms.unwrap_or(limits::REQUEST_BUDGET_MS).min(limits::REQUEST_BUDGET_MS);
        Deadline::after(Duration::from_millis(budget))
    }

    /// The time left (zero once passed).
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Whether the deadline has passed.
    pub fn has_passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// The instant it passes.
    pub fn at(&self) -> Instant {
        self.at
    }

    /// `limit`, or the time left when that is shorter, and whether the deadline is what bounds it.
    pub fn cap(&self, limit: Duration) -> (Duration, bool) {
        let remaining = self.remaining();
        if remaining < limit { (remaining, true) } else { (limit, false) }
    }

    /// How a test ends that the deadline stopped (`running`) or kept from starting.
    pub fn spent(&self, running: bool) -> Termination {
        let seconds = self.budget.as_secs_f64();
        Termination::TimeLimit(if running {
            format!("stopped: the request's time budget of {seconds} s ran out while this test ran")
        } else {
            format!("not run: the request's time budget of {seconds} s was spent on earlier work")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_can_shorten_a_request_budget_but_not_lengthen_it() {
        let shorter = Deadline::for_request(Some(1_000));
        assert!(shorter.remaining() <= Duration::from_millis(1_000));
        let longer = Deadline::for_request(Some(limits::REQUEST_BUDGET_MS * 10));
        assert!(longer.remaining() <= Duration::from_millis(limits::REQUEST_BUDGET_MS));
        assert!(longer.remaining() > Duration::from_millis(limits::REQUEST_BUDGET_MS / 2));
    }

    #[test]
    fn a_limit_beyond_the_deadline_is_cut_to_the_time_left() {
        let deadline = Deadline::after(Duration::from_secs(60));
        assert_eq!(deadline.cap(Duration::from_secs(1)), (Duration::from_secs(1), false));
        let (capped, by_deadline) = deadline.cap(Duration::from_secs(120));
        assert!(by_deadline && capped <= Duration::from_secs(60));
        let passed = Deadline::after(Duration::ZERO);
        assert!(passed.has_passed());
        assert_eq!(passed.cap(Duration::from_secs(1)), (Duration::ZERO, true));
    }
}
