//! Grading: from how a run ended ([`Outcome`]) and what the test expects, to a [`TestReport`] with its verdict.
//! Shared by every engine, so the same program gets the same verdict whether WebAssembly or native code ran it.

use super::{TestCase, TestIo, limits::ECHO_MAX_BYTES};
use crate::compare::{Mismatch, compare, floats_close};
use crate::function::render_value;
use crate::model::{Compare, TestReport, Verdict};
use serde_json::Value;

/// How a program run ended, as the engine saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum Termination {
    /// A program (WASI command or native process) exited with this status.
    Exited(i32),
    /// A function export returned these values (see [`crate::model::TestReport::result`]).
    Returned(Vec<Value>),
    /// A function returned something that is no value of the contract (a set, a lone surrogate): a wrong answer, and
    /// the message says what it was.
    WrongReturn(String),
    /// A trap, an uncaught exception, a signal: the message names it.
    Crashed(String),
    /// Past its time limit (the message says which clock).
    TimeLimit(String),
    /// Past its memory limit.
    MemoryLimit(String),
    /// Past its output limit.
    OutputLimit(String),
    /// The judge itself failed; never the program's fault.
    Internal(String),
}

/// One test's run: how it ended plus what it printed and used.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// How it ended.
    pub termination: Termination,
    /// What it wrote to stdout (capped).
    pub stdout: Vec<u8>,
    /// What it wrote to stderr (capped).
    pub stderr: Vec<u8>,
    /// The time it took, by the engine's clock.
    pub time_ms: f64,
    /// Its peak memory.
    pub memory_kb: u64,
    /// The fuel it burned (WebAssembly only).
    pub fuel: Option<u64>,
}

impl Outcome {
    /// A test that never started (budget spent, say): it used nothing and printed nothing.
    pub fn not_run(termination: Termination) -> Outcome {
        Outcome { termination, stdout: Vec::new(), stderr: Vec::new(), time_ms: 0.0, memory_kb: 0, fuel: None }
    }
}

/// The verdict and report of one test.
pub fn grade(test: &TestCase, mode: &Compare, outcome: Outcome) -> TestReport {
    let (verdict, message, exit_code, result) = match (&outcome.termination, &test.io) {
        (Termination::Exited(0), TestIo::Stdio { expected_stdout, .. }) => {
            let actual = String::from_utf8_lossy(&outcome.stdout);
            match compare(mode, expected_stdout, &actual) {
                Ok(()) => (Verdict::Accepted, None, Some(0), None),
                Err(mismatch) => (Verdict::WrongAnswer, Some(explain(test, &mismatch)), Some(0), None),
            }
        }
        (Termination::Exited(code), _) => {
            (Verdict::RuntimeError, Some(format!("the program exited with status {code}")), Some(*code), None)
        }
        (Termination::Returned(values), TestIo::Call { expected_result, .. }) => {
            match compare_results(mode, expected_result, values) {
                Ok(()) => (Verdict::Accepted, None, None, Some(values.clone())),
                Err(mismatch) => (Verdict::WrongAnswer, Some(explain(test, &mismatch)), None, Some(values.clone())),
            }
        }
        (Termination::Returned(values), TestIo::Function { expected, call, returns, .. }) => {
            let returned = values.first().cloned().unwrap_or(Value::Null);
            let verdict = match returns.check(&returned) {
                Err(_) => Err(Mismatch::new(format!(
                    "{call} returned {}, which is not {}",
                    render_value(&returned, RETURN_TEXT_CHARS),
                    returns.with_article()
                ))),
                Ok(()) => compare_returned(mode, expected, &returned).map_err(|()| {
                    Mismatch::new(format!(
                        "{call} returned {}; expected {}",
                        render_value(&returned, RETURN_TEXT_CHARS),
                        render_value(expected, RETURN_TEXT_CHARS)
                    ))
                }),
            };
            match verdict {
                Ok(()) => (Verdict::Accepted, None, None, Some(vec![returned])),
                Err(mismatch) => (Verdict::WrongAnswer, Some(explain(test, &mismatch)), None, Some(vec![returned])),
            }
        }
        (Termination::WrongReturn(what), _) => {
            (Verdict::WrongAnswer, Some(explain(test, &Mismatch::new(what.clone()))), None, None)
        }
        (Termination::Returned(_), TestIo::Stdio { .. }) => {
            (Verdict::InternalError, Some("the engine returned values for a stdin test".into()), None, None)
        }
        (Termination::Crashed(message), _) => (Verdict::RuntimeError, Some(message.clone()), None, None),
        (Termination::TimeLimit(message), _) => (Verdict::TimeLimitExceeded, Some(message.clone()), None, None),
        (Termination::MemoryLimit(message), _) => (Verdict::MemoryLimitExceeded, Some(message.clone()), None, None),
        (Termination::OutputLimit(message), _) => (Verdict::OutputLimitExceeded, Some(message.clone()), None, None),
        (Termination::Internal(message), _) => (Verdict::InternalError, Some(message.clone()), None, None),
    };
    let (stdout, stdout_cut) = echo(&outcome.stdout);
    let (stderr, stderr_cut) = echo(&outcome.stderr);
    let hidden = test.hidden;
    TestReport {
        id: test.id.clone(),
        verdict,
        time_ms: outcome.time_ms,
        memory_kb: outcome.memory_kb,
        stdout: if hidden { String::new() } else { stdout },
        stderr: if hidden { String::new() } else { stderr },
        exit_code,
        message,
        hidden,
        output_truncated: !hidden && (stdout_cut || stderr_cut),
        result: if hidden { None } else { result },
        fuel: outcome.fuel,
    }
}

fn explain(test: &TestCase, mismatch: &Mismatch) -> String {
    if test.hidden { Mismatch::hidden_message().to_string() } else { mismatch.message().to_string() }
}

/// Function results: integers must be equal; floats equal, or close under compare mode `float`.
fn compare_results(mode: &Compare, expected: &[serde_json::Number], actual: &[Value]) -> Result<(), Mismatch> {
    let expected_text = serde_json::to_string(expected).unwrap_or_default();
    let actual_text = serde_json::to_string(actual).unwrap_or_default();
    if expected.len() != actual.len() {
        return Err(Mismatch::new(format!(
            "expected {} result values {expected_text}, got {} {actual_text}",
            expected.len(),
            actual.len()
        )));
    }
    for (index, (e, a)) in expected.iter().zip(actual).enumerate() {
        let equal = match a {
            Value::Number(a) if e.is_f64() || a.is_f64() => {
                let (ef, af) = (e.as_f64().unwrap_or(f64::NAN), a.as_f64().unwrap_or(f64::NAN));
                match mode {
                    Compare::Float { abs_tol, rel_tol } => {
                        floats_close(&ef.to_string(), &af.to_string(), *abs_tol, *rel_tol)
                    }
                    _ => ef == af,
                }
            }
            Value::Number(a) => e == a,
            _ => false,
        };
        if !equal {
            return Err(Mismatch::new(format!("result {}: expected {e}, got {a}", index + 1)));
        }
    }
    Ok(())
}

/// The longest rendering of a returned or expected value in a message, in characters.
const RETURN_TEXT_CHARS: usize = 200;

/// A named function's value against the expected one: JSON equality, numbers compared as numbers (within the
/// tolerances under compare mode `float`, at any depth), a top-level list in any order under mode `unordered`.
fn compare_returned(mode: &Compare, expected: &Value, actual: &Value) -> Result<(), ()> {
    let equal = match (mode, expected, actual) {
        (Compare::Unordered, Value::Array(expected), Value::Array(actual)) => {
            expected.len() == actual.len() && {
                let (mut expected, mut actual) = (expected.clone(), actual.clone());
                expected.sort_by_cached_key(Value::to_string);
                actual.sort_by_cached_key(Value::to_string);
                expected.iter().zip(&actual).all(|(e, a)| values_equal(mode, e, a))
            }
        }
        _ => values_equal(mode, expected, actual),
    };
    if equal { Ok(()) } else { Err(()) }
}

fn values_equal(mode: &Compare, expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Number(e), Value::Number(a)) if e.is_f64() || a.is_f64() => {
            let (e, a) = (e.as_f64().unwrap_or(f64::NAN), a.as_f64().unwrap_or(f64::NAN));
            match mode {
                Compare::Float { abs_tol, rel_tol } => floats_close(&e.to_string(), &a.to_string(), *abs_tol, *rel_tol),
                _ => e == a,
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(e, a)| values_equal(mode, e, a))
        }
        (Value::Object(e), Value::Object(a)) => {
            e.len() == a.len() && e.iter().all(|(key, e)| a.get(key).is_some_and(|a| values_equal(mode, e, a)))
        }
        _ => expected == actual,
    }
}

/// Text for the report: lossy UTF-8, cut at [`ECHO_MAX_BYTES`] on a character boundary.
fn echo(bytes: &[u8]) -> (String, bool) {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= ECHO_MAX_BYTES {
        return (text.into_owned(), false);
    }
    let mut end = ECHO_MAX_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (text[..end].to_string(), true)
}

/// The first non-accepted test's verdict, or accepted.
pub fn overall_verdict(tests: &[TestReport]) -> Verdict {
    tests.iter().map(|test| test.verdict).find(|verdict| *verdict != Verdict::Accepted).unwrap_or(Verdict::Accepted)
}

/// Accepted weight over total weight, in [0, 1].
pub fn score(tests: &[TestReport], cases: &[TestCase]) -> f64 {
    // Folded from +0.0: an empty f64 sum is -0.0, which would answer `"score": -0.0` when nothing passed.
    let total: f64 = cases.iter().fold(0.0, |sum, case| sum + case.weight);
    let passed: f64 = tests
        .iter()
        .zip(cases)
        .filter(|(report, _)| report.verdict == Verdict::Accepted)
        .fold(0.0, |sum, (_, case)| sum + case.weight);
    if total > 0.0 { passed / total } else { 0.0 }
}
