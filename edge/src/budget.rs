//! One time budget per request, end to end: the bucket's answer and the send to Event Hubs share it, so that a slow
//! hub turns into a 503 the widget retries, never a request held open until the platform kills it.

use futures_util::future::{Either, select};
use std::time::Duration;
use worker::{Date, Delay};

/// A request's whole budget at the edge. Event Hubs answers a send in tens of milliseconds; ten seconds is the
/// point past which a widget's retry is the better bet.
pub const REQUEST_BUDGET: Duration = Duration::from_secs(10);

/// A request's deadline.
#[derive(Clone, Copy)]
pub struct Deadline {
    ends_at_ms: f64,
}

/// The step that ran out of time.
#[derive(Debug)]
pub struct OutOfTime;

impl Deadline {
    /// The deadline of a request that arrived now.
    pub fn start() -> Deadline {
        Deadline { ends_at_ms: now_ms() + REQUEST_BUDGET.as_millis() as f64 }
    }

    /// Runs `step` within what is left of the budget.
    pub async fn within<T>(self, step: impl Future<Output = T>) -> Result<T, OutOfTime> {
        let left = (self.ends_at_ms - now_ms()).max(0.0);
        let step = std::pin::pin!(step);
        match select(step, Delay::from(Duration::from_millis(left as u64))).await {
            Either::Left((value, _)) => Ok(value),
            Either::Right(_) => Err(OutOfTime),
        }
    }
}

/// Milliseconds since the epoch, by the Worker's clock.
pub fn now_ms() -> f64 {
    Date::now().as_millis() as f64
}
