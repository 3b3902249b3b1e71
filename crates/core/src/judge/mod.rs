//! The judging domain: a checked [`Submission`], the [`Judge`] port every engine implements, and grading, which turns
//! how a program ended into a verdict. Nothing here knows about HTTP, Lambda or Azure, nor about a particular engine.

mod grade;
pub mod limits;
mod submission;

pub use grade::{Outcome, Termination, grade, overall_verdict, score};
pub use submission::{Code, FunctionCall, Submission, TestCase, TestIo};

use crate::access::BoxFuture;
use crate::deadline::Deadline;
use crate::function::protocol::{Batch, BatchRun, CallsOutcome, run_calls};
use crate::model::{
    CompileReport, EngineChoice, EngineInfo, ErrorCode, JudgeReport, JudgeRequest, Language, Limits, TestReport,
    Verdict,
};
use std::sync::Arc;
use std::time::Duration;

/// A request the judge cannot run. Each becomes a 4xx problem+json at the HTTP edge, with [`JudgeError::code`].
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    #[error("language `{language}` is not supported; use one of: {supported}")]
    /// The language is not one of ours.
    UnknownLanguage {
        /// The language asked for.
        language: String,
        /// Every language there is.
        supported: String,
    },
    #[error("{language} is not judged by this function: {hint}")]
    /// No judge of this deployment runs the language.
    LanguageUnavailable {
        /// The language.
        language: Language,
        /// What runs where.
        hint: String,
    },
    #[error("`{field}` {reason}")]
    /// A field of the request cannot be taken.
    InvalidField {
        /// The field's path.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    #[error("`tests` is empty: give at least one test")]
    /// No tests.
    NoTests,
    #[error("`tests` has {count} tests; at most {max} are allowed per request", max = limits::MAX_TESTS)]
    /// Too many tests.
    TooManyTests {
        /// How many there were.
        count: usize,
    },
    #[error("`source` is {size} bytes; at most {max} bytes are allowed", max = limits::MAX_SOURCE_BYTES)]
    /// The source is too large.
    SourceTooLarge {
        /// Its size in bytes.
        size: usize,
    },
    #[error("`module_base64` is not valid base64 ({reason}); send the module's bytes in standard base64 with padding")]
    /// `module_base64` is not base64.
    InvalidBase64 {
        /// The decoder's reason.
        reason: String,
    },
    #[error("{0}")]
    /// A test that cannot be run as given.
    InvalidTest(String),
    #[error("{reason}; try again later")]
    /// The judge of the language could not be reached or started.
    Unavailable {
        /// The language.
        language: Language,
        /// Why.
        reason: String,
    },
    /// A problem answered by a judge in another function, passed on as it came.
    #[error("{detail}")]
    Remote {
        /// The remote judge's status.
        status: u16,
        /// Its code.
        code: String,
        /// Its detail.
        detail: String,
    },
    #[error("the judge failed: {0}")]
    /// A bug of ours.
    Internal(String),
}

/// A judging under way: it owns what it needs, so it can run wherever the engine puts it.
pub type Judging = BoxFuture<'static, Result<JudgeReport, JudgeError>>;

impl JudgeError {
    /// The stable machine code of the problem+json body.
    pub fn code(&self) -> ErrorCode {
        match self {
            JudgeError::UnknownLanguage { .. } | JudgeError::LanguageUnavailable { .. } => {
                ErrorCode::UnsupportedLanguage
            }
            JudgeError::InvalidField { .. } => ErrorCode::InvalidField,
            JudgeError::NoTests => ErrorCode::NoTests,
            JudgeError::TooManyTests { .. } => ErrorCode::TooManyTests,
            JudgeError::SourceTooLarge { .. } => ErrorCode::SourceTooLarge,
            JudgeError::InvalidBase64 { .. } => ErrorCode::InvalidBase64,
            JudgeError::InvalidTest(_) => ErrorCode::InvalidTest,
            JudgeError::Unavailable { .. } => ErrorCode::JudgeUnavailable,
            JudgeError::Remote { .. } => ErrorCode::RemoteProblem,
            JudgeError::Internal(_) => ErrorCode::InternalError,
        }
    }

    /// A judging that ended without an answer (its thread panicked); the engine logs why.
    pub fn crashed() -> JudgeError {
        JudgeError::Internal("the judging thread stopped; it has been logged".to_string())
    }

    /// HTTP status: 400 for a malformed request, 413 for sizes, 422 for a well-formed request the judge cannot take.
    pub fn status(&self) -> u16 {
        match self {
            JudgeError::InvalidBase64 { .. } => 400,
            JudgeError::SourceTooLarge { .. } => 413,
            JudgeError::Unavailable { .. } => 502,
            JudgeError::Remote { status, .. } => *status,
            JudgeError::Internal(_) => 500,
            _ => 422,
        }
    }
}

/// An engine that judges submissions: WebAssembly in-process, native programs in a sandbox, or a judge in another
/// function. Callers await the judging; an engine that runs programs in this process does that work on a thread the
/// async runtime sets aside for blocking work, and a remote one awaits its function's answer.
pub trait Judge: Send + Sync {
    /// What the engine reports as `engine` in every answer.
    fn engine(&self) -> EngineInfo;
    /// Whether this engine judges `language`.
    fn judges(&self, language: Language) -> bool;
    /// Whether programs run as WebAssembly (in-process) rather than as native processes.
    fn runs_webassembly(&self) -> bool;
    /// What GET /api/health says about this engine: by default its name and version; native judges add their sandbox
    /// layers and start-up calibration. May be slow the first time (a version probe): it is asked lazily.
    fn describe(&self) -> serde_json::Value {
        serde_json::to_value(self.engine()).unwrap_or_default()
    }
    /// Compiles once, runs every test, grades them, all before `deadline`: a compilation or test still running when
    /// it passes is stopped, and later tests are not started ([`run_tests`]). Errors are requests the engine cannot
    /// run at all.
    fn judge(self: Arc<Self>, submission: Arc<Submission>, deadline: Deadline) -> Judging;
}

/// A submission checked and matched to the judge of its language, ready to be judged any number of times.
#[derive(Clone)]
pub struct Prepared {
    /// The checked submission.
    pub submission: Arc<Submission>,
    /// The judge chosen for its language and engine.
    pub judge: Arc<dyn Judge>,
}

impl Prepared {
    /// One judging of the submission, over by `deadline`.
    pub fn judge(&self, deadline: Deadline) -> Judging {
        self.judge.clone().judge(self.submission.clone(), deadline)
    }
}

/// The engines a function brings to a deployment.
pub type JudgeList = Vec<Arc<dyn Judge>>;

/// The judges one deployment runs (one in a judge function, all of them in the local dev host), chosen per language.
#[derive(Clone, Default)]
pub struct Judges {
    engines: Vec<Arc<dyn Judge>>,
}

impl Judges {
    /// The judges of `engines`, asked in order.
    pub fn new(engines: Vec<Arc<dyn Judge>>) -> Judges {
        Judges { engines }
    }

    /// Whether there is no judge at all.
    pub fn is_empty(&self) -> bool {
        self.engines.is_empty()
    }

    /// Every judge, in order.
    pub fn engines(&self) -> impl Iterator<Item = &Arc<dyn Judge>> {
        self.engines.iter()
    }

    /// The judge for `language`: the native one unless `engine` asks for WebAssembly (and vice versa).
    pub fn for_language(&self, language: Language, engine: Option<EngineChoice>) -> Option<Arc<dyn Judge>> {
        let wants_wasm = engine == Some(EngineChoice::Wasm) || language.is_webassembly();
        self.engines
            .iter()
            .find(|judge| judge.judges(language) && judge.runs_webassembly() == wants_wasm)
            .or_else(|| self.engines.iter().find(|judge| judge.judges(language) && engine.is_none()))
            .cloned()
    }

    /// Checks `request` and picks its judge, once: the language is looked up while checking, and the judge found then
    /// is the one returned.
    pub fn prepare(&self, request: JudgeRequest) -> Result<Prepared, JudgeError> {
        let engine = request.engine;
        let chosen = std::cell::OnceCell::new();
        let submission = Submission::check(
            request,
            |language| match self.for_language(language, engine) {
                Some(judge) => chosen.set(judge).is_ok(),
                None => false,
            },
            |language| {
                format!(
                    "no {language} judge{} runs in this deployment; it judges: {}",
                    match engine {
                        Some(EngineChoice::Wasm) => " on the wasm engine",
                        Some(EngineChoice::Native) => " on the native engine",
                        None => "",
                    },
                    self.languages().join(", ")
                )
            },
        )?;
        let judge =
            chosen.into_inner().ok_or_else(|| JudgeError::Internal("no judge was chosen while checking".into()))?;
        Ok(Prepared { submission: Arc::new(submission), judge })
    }

    fn languages(&self) -> Vec<&'static str> {
        Language::ALL
            .into_iter()
            .filter(|language| self.engines.iter().any(|judge| judge.judges(*language)))
            .map(Language::as_str)
            .collect()
    }
}

/// The report of a submission that did not compile: every test is reported as not run.
pub fn compilation_failed(submission: &Submission, output: String, time: Duration, engine: EngineInfo) -> JudgeReport {
    let tests = submission
        .tests
        .iter()
        .map(|test| TestReport {
            id: test.id.clone(),
            verdict: Verdict::CompilationError,
            time_ms: 0.0,
            memory_kb: 0,
            stdout: String::new(),
            stderr: String::new(),
            exit_code: None,
            message: Some("not run: the program did not compile".to_string()),
            hidden: test.hidden,
            output_truncated: false,
            result: None,
            fuel: None,
        })
        .collect();
    JudgeReport {
        verdict: Verdict::CompilationError,
        passed: 0,
        total: submission.tests.len(),
        score: 0.0,
        compile: CompileReport { ok: false, output, time_ms: millis(time) },
        tests,
        engine,
        limits: submission.limits,
    }
}

/// Runs `run` on every test in order and grades each, before `deadline`: tests not started when it passes are
/// reported as time_limit_exceeded without running. `run` itself stops a test the deadline overtakes. `first` is the
/// first test's outcome when it already ran (an interpreter's parse check).
pub fn run_tests(
    submission: &Submission,
    compile: CompileReport,
    engine: EngineInfo,
    deadline: Deadline,
    mut first: Option<Outcome>,
    mut run: impl FnMut(usize, &TestCase) -> Outcome,
) -> JudgeReport {
    let reports: Vec<TestReport> = submission
        .tests
        .iter()
        .enumerate()
        .map(|(index, test)| {
            let outcome = match first.take() {
                Some(outcome) if index == 0 => outcome,
                _ if deadline.has_passed() => Outcome::not_run(deadline.spent(false)),
                _ => run(index, test),
            };
            grade(test, &submission.compare, outcome)
        })
        .collect();
    report(submission.limits, compile, reports, engine, &submission.tests)
}

/// Judges a named function's calls through the language's harness: `run_batch` starts the harness on a batch and
/// reports how it ended ([`crate::function::protocol::run_calls`] says which batches); `nonce` makes each batch's
/// nonce. A program that does not load, or has no function of the signature, is a compilation error.
pub fn judge_function(
    submission: &Submission,
    function: &FunctionCall,
    compile: CompileReport,
    engine: EngineInfo,
    deadline: &Deadline,
    nonce: impl FnMut() -> String,
    run_batch: impl FnMut(&Batch) -> BatchRun,
) -> JudgeReport {
    let ran = run_calls(
        &function.signature,
        function.isolation,
        &submission.tests,
        &submission.limits,
        deadline,
        nonce,
        run_batch,
    );
    match ran {
        CallsOutcome::DidNotCompile(message) => {
            let time = Duration::from_secs_f64(compile.time_ms.max(0.0) / 1000.0);
            compilation_failed(submission, message, time, engine)
        }
        CallsOutcome::Ran(outcomes) => {
            let reports = submission
                .tests
                .iter()
                .zip(outcomes)
                .map(|(test, outcome)| grade(test, &submission.compare, outcome))
                .collect();
            report(submission.limits, compile, reports, engine, &submission.tests)
        }
    }
}

fn report(
    limits: Limits,
    compile: CompileReport,
    tests: Vec<TestReport>,
    engine: EngineInfo,
    cases: &[TestCase],
) -> JudgeReport {
    JudgeReport {
        verdict: overall_verdict(&tests),
        passed: tests.iter().filter(|test| test.verdict == Verdict::Accepted).count(),
        total: tests.len(),
        score: score(&tests, cases),
        compile,
        tests,
        engine,
        limits,
    }
}

/// The parser's message when a CPython run ended because the program did not parse: CPython parses the whole program
/// before running a line, so it exits 1 having printed a SyntaxError (or IndentationError, TabError) and no traceback.
/// Native and WebAssembly Python judges both report it as compilation_error.
pub fn python_parse_failure(exit_status: Option<i32>, stdout: &[u8], stderr: &[u8]) -> Option<String> {
    if exit_status != Some(1) || !stdout.is_empty() {
        return None;
    }
    let stderr = String::from_utf8_lossy(stderr).into_owned();
    let last = stderr.lines().rev().find(|line| !line.trim().is_empty())?;
    let parse_error = ["SyntaxError:", "IndentationError:", "TabError:"].iter().any(|kind| last.starts_with(kind));
    (parse_error && !stderr.contains("Traceback (most recent call last)")).then_some(stderr)
}

/// Milliseconds with microsecond precision, as reported in `time_ms` fields.
pub fn millis(duration: Duration) -> f64 {
    (duration.as_micros() as f64) / 1000.0
}
