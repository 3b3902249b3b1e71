//! Every limit of the judge, in one place. The README's "Limits" table is written from this file: change both together.

use crate::model::{Limits, LimitsRequest};

/// Test time limit when the request gives none, and the largest a request may ask for (milliseconds).
pub const DEFAULT_TIME_MS: u64 = 2_000;
/// The longest time limit a test may ask for.
pub const MAX_TIME_MS: u64 = 10_000;
/// Memory limit when the request gives none, and the largest a request may ask for (MiB).
pub const DEFAULT_MEMORY_MB: u64 = 256;
/// The most memory a test may ask for.
pub const MAX_MEMORY_MB: u64 = 1_024;
/// Output limit per stream (stdout, stderr) when the request gives none, and the largest a request may ask for (KiB).
pub const DEFAULT_OUTPUT_KB: u64 = 64;
/// The most output a test may ask for.
pub const MAX_OUTPUT_KB: u64 = 1_024;

/// Tests per request: at least one, at most this many.
pub const MAX_TESTS: usize = 100;
/// A test id's length, in bytes.
pub const MAX_TEST_ID_BYTES: usize = 128;
/// One test's stdin, and its expected stdout, each at most this many bytes.
pub const MAX_TEST_TEXT_BYTES: usize = 1 << 20;
/// A function-entry test's `args` and `expected_result`, each at most this many values.
pub const MAX_FUNCTION_VALUES: usize = 32;
/// Text source (wat, python, java, csharp) at most this many bytes.
pub const MAX_SOURCE_BYTES: usize = 256 << 10;
/// A binary WebAssembly module (decoded) at most this many bytes; larger is a compilation_error.
pub const MAX_MODULE_BYTES: usize = 8 << 20;
/// How much of each test's stdout and stderr is echoed back in the report (the comparison always sees all of it).
pub const ECHO_MAX_BYTES: usize = 4 << 10;
/// A request's time budget from its arrival ([`crate::deadline::Deadline`]): the parse check, compilation, every test,
/// validate's runs and healing all end by then, and the answer follows. Under API Gateway's 30 s integration timeout
/// with a second to spare for writing the answer.
pub const REQUEST_BUDGET_MS: u64 = 24_000;

/// Request bodies: 1 MiB for every route, except the judge routes that accept WebAssembly uploads: an 8 MiB module is
/// 10.7 MiB in base64, so 12 MiB leaves room for the tests around it.
pub const DEFAULT_BODY_BYTES: usize = 1 << 20;
/// The largest body of POST /api/judge and /api/validate (a base64 module fits).
pub const JUDGE_BODY_BYTES: usize = 12 << 20;

/// Limits as applied: each asked value clamped into [1, maximum], each missing one the default.
pub fn clamp(requested: &LimitsRequest) -> Limits {
    Limits {
        time_ms: requested.time_ms.unwrap_or(DEFAULT_TIME_MS).clamp(1, MAX_TIME_MS),
        memory_mb: requested.memory_mb.unwrap_or(DEFAULT_MEMORY_MB).clamp(1, MAX_MEMORY_MB),
        output_kb: requested.output_kb.unwrap_or(DEFAULT_OUTPUT_KB).clamp(1, MAX_OUTPUT_KB),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_limits_take_the_defaults() {
        let applied = clamp(&LimitsRequest::default());
        assert_eq!(applied, Limits { time_ms: 2_000, memory_mb: 256, output_kb: 64 });
    }

    #[test]
    fn limits_are_clamped_at_both_edges() {
        let asked =
            LimitsRequest { time_ms: Some(MAX_TIME_MS + 1), memory_mb: Some(0), output_kb: Some(MAX_OUTPUT_KB) };
        let applied = clamp(&asked);
        assert_eq!(applied, Limits { time_ms: MAX_TIME_MS, memory_mb: 1, output_kb: MAX_OUTPUT_KB });
        let asked = LimitsRequest { time_ms: Some(0), memory_mb: Some(MAX_MEMORY_MB + 1), output_kb: Some(u64::MAX) };
        let applied = clamp(&asked);
        assert_eq!(applied, Limits { time_ms: 1, memory_mb: MAX_MEMORY_MB, output_kb: MAX_OUTPUT_KB });
    }
}
