//! The [`Judge`] of python, javascript and ruby in WebAssembly, over the process's runtime cache.

use super::LANGUAGES;
use super::cache::RuntimePacks;
use super::functions;
use super::launch::LoadedRuntime;
use crate::CallWatch;
use crate::WASMI_VERSION;
use crate::on_blocking_thread;
use codecapsule_core::config::ConfigError;
use codecapsule_core::deadline::Deadline;
use codecapsule_core::function::protocol::{Batch, BatchRun, RECORD_MARK, batch_limits};
use codecapsule_core::judge::{
    Code, FunctionCall, Judge, JudgeError, Judging, Outcome, Submission, Termination, compilation_failed,
    judge_function, millis, python_parse_failure, run_tests,
};
use codecapsule_core::model::{CompileReport, EngineInfo, JudgeReport, Language};
use std::sync::Arc;
use std::time::Instant;

/// The judge of python, javascript and ruby in WebAssembly.
#[derive(Clone)]
pub struct RuntimeJudge {
    packs: Arc<RuntimePacks>,
}

impl RuntimeJudge {
    /// The judge over `packs`.
    pub fn new(packs: Arc<RuntimePacks>) -> RuntimeJudge {
        RuntimeJudge { packs }
    }

    /// The judge when a packs store is configured and has an index, else `None` (the function then judges these
    /// languages natively or not at all). Every judge made here shares one cache: the dev host serves validate and
    /// generate from one process, and a runtime is loaded once for both.
    pub fn from_env() -> Result<Option<RuntimeJudge>, ConfigError> {
        static SHARED: std::sync::OnceLock<Arc<RuntimePacks>> = std::sync::OnceLock::new();
        let packs = match SHARED.get() {
            Some(packs) => packs.clone(),
            None => {
                let packs = Arc::new(RuntimePacks::from_env()?);
                SHARED.get_or_init(|| packs).clone()
            }
        };
        Ok(packs.source().has_index().then(|| RuntimeJudge::new(packs)))
    }
}

impl Judge for RuntimeJudge {
    fn engine(&self) -> EngineInfo {
        EngineInfo { name: "wasmi".to_string(), version: WASMI_VERSION.to_string(), startup_ms: None, runtime: None }
    }

    fn judges(&self, language: Language) -> bool {
        LANGUAGES.contains(&language)
    }

    fn runs_webassembly(&self) -> bool {
        true
    }

    fn describe(&self) -> serde_json::Value {
        let mut description = serde_json::to_value(self.engine()).unwrap_or_default();
        description["languages"] = LANGUAGES.iter().map(|language| language.as_str()).collect();
        description["packs"] = self.packs.source().describe().into();
        description
    }

    /// Loads the language's runtime on first use (the pack read without blocking), then runs the tests on a blocking
    /// thread.
    fn judge(self: Arc<Self>, submission: Arc<Submission>, deadline: Deadline) -> Judging {
        Box::pin(async move {
            let started = Instant::now();
            let runtime = self
                .packs
                .get(submission.language)
                .await
                .map_err(|err| JudgeError::Unavailable { language: submission.language, reason: err.to_string() })?;
            on_blocking_thread(move || judge_on(&runtime, &submission, started, deadline)).await
        })
    }
}

/// Runs every test of `submission` on `runtime`, on the calling thread, before `deadline`; `started` is when the
/// judging began.
fn judge_on(
    runtime: &LoadedRuntime,
    submission: &Submission,
    started: Instant,
    deadline: Deadline,
) -> Result<JudgeReport, JudgeError> {
    let Code::Source(source) = &submission.code else {
        return Err(JudgeError::Internal("a language runtime got a binary module".into()));
    };
    if let Some(function) = &submission.function {
        return Ok(judge_calls(runtime, submission, function, source, started, deadline));
    }
    // With the deadline passed, nothing runs and every test is reported as not run.
    if deadline.has_passed() {
        let compile = CompileReport { ok: true, output: String::new(), time_ms: 0.0 };
        return Ok(run_tests(submission, compile, runtime.engine_info(), deadline, None, |_, test| {
            runtime.run(test, source, None, &submission.limits, deadline)
        }));
    }
    // A runtime that compiles ahead (CPython, Ruby) compiles a program long enough for it to pay once, and that run is
    // the syntax check; every test then starts from the compiled program. If compiling ended otherwise (out of time or memory), each test runs the
    // program from its text and reports what happens to it.
    if let Some((outcome, compiled)) = runtime.compile(source, submission.tests.len(), &submission.limits, deadline) {
        if let Some(output) = parse_failure(submission.language, &outcome) {
            return Ok(compilation_failed(submission, output, started.elapsed(), runtime.engine_info()));
        }
        let time_ms = if compiled.is_some() { outcome.time_ms } else { 0.0 };
        let compile = CompileReport { ok: true, output: String::new(), time_ms };
        return Ok(run_tests(submission, compile, runtime.engine_info(), deadline, None, |_, test| {
            runtime.run(test, source, compiled.as_ref(), &submission.limits, deadline)
        }));
    }
    // Otherwise interpreters parse the whole program before running a line: the first test doubles as the syntax
    // check when it is visible, as in the native Python judge.
    let probe = submission.parse_probe();
    let outcome =
        runtime.run(probe.as_ref().unwrap_or(&submission.tests[0]), source, None, &submission.limits, deadline);
    if let Some(output) = parse_failure(submission.language, &outcome) {
        return Ok(compilation_failed(submission, output, started.elapsed(), runtime.engine_info()));
    }
    let first = probe.is_none().then_some(outcome);
    let compile = CompileReport { ok: true, output: String::new(), time_ms: 0.0 };
    Ok(run_tests(submission, compile, runtime.engine_info(), deadline, first, |_, test| {
        runtime.run(test, source, None, &submission.limits, deadline)
    }))
}

/// Judges a function capsule: the language's harness around `source`, compiled once when that pays, then run on
/// batches of calls, each call held to its test's fuel.
fn judge_calls(
    runtime: &LoadedRuntime,
    submission: &Submission,
    function: &FunctionCall,
    source: &str,
    started: Instant,
    deadline: Deadline,
) -> JudgeReport {
    let language = submission.language;
    let python_harness = if language == Language::Python { runtime.python_harness() } else { None };
    let Some(harness) = functions::harness_program(language, source, &function.signature, python_harness) else {
        let message =
            format!("function entries are not judged in {language} yet: write the capsule as a program reading stdin");
        return compilation_failed(submission, message, started.elapsed(), runtime.engine_info());
    };
    let limits = &submission.limits;
    // Visible calls and hidden calls run apart: about two runs of the harness per submission.
    let compiled = match runtime.compile(&harness, 2, limits, deadline) {
        Some((outcome, compiled)) if outcome.termination == Termination::Exited(0) => compiled,
        _ => None,
    };
    let compile = CompileReport { ok: true, output: String::new(), time_ms: millis(started.elapsed()) };
    let run_batch = |batch: &Batch| {
        let batch_limits = batch_limits(limits, batch.calls.len());
        let stdin = batch.stdin(limits.time_ms, &submission.tests, "", |args| functions::arguments(language, args));
        let watch = CallWatch {
            mark: format!("{RECORD_MARK}{} ", batch.nonce),
            fuel_per_call: runtime.fuel_per_call(limits.time_ms),
            record_times: Default::default(),
        };
        let ending = runtime.run_calls(&stdin, &harness, compiled.as_ref(), &batch_limits, deadline, &watch);
        let times = watch.record_times.into_inner();
        let record_ms =
            (0..times.len()).map(|at| if at == 0 { 0.0 } else { millis(times[at] - times[at - 1]) }).collect();
        BatchRun {
            stdout: ending.stdout.clone(),
            stderr: ending.stderr.clone(),
            did_not_compile: parse_failure(language, &ending),
            ending,
            record_ms,
        }
    };
    let nonce = || uuid::Uuid::new_v4().simple().to_string();
    judge_function(submission, function, compile, runtime.engine_info(), &deadline, nonce, run_batch)
}

/// The parser's message when a run ended because the program did not parse, per language: CPython as natively;
/// QuickJS throws a SyntaxError before evaluating; Ruby prints `-e: -e:LINE: syntax error found` and exits 1.
fn parse_failure(language: Language, outcome: &Outcome) -> Option<String> {
    let status = match outcome.termination {
        Termination::Exited(status) => Some(status),
        _ => None,
    };
    if language == Language::Python {
        return python_parse_failure(status, &outcome.stdout, &outcome.stderr);
    }
    if status != Some(1) || !outcome.stdout.is_empty() {
        return None;
    }
    let stderr = String::from_utf8_lossy(&outcome.stderr).into_owned();
    let first = stderr.lines().next().unwrap_or_default();
    let unparsed = match language {
        Language::Javascript => first.starts_with("SyntaxError:"),
        Language::Ruby => first.starts_with("-e:") && first.contains("syntax error"),
        _ => false,
    };
    unparsed.then_some(stderr)
}
