//! What the wasm crate's benches share: the figures they print.

use std::time::Duration;

/// The middle of `samples`.
pub fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

/// Milliseconds, for tables.
pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
