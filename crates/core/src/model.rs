//! The public contract (README.md, section API): what clients send and what they get back.
//!
//! Requests deny unknown fields, so a misspelt option is a 400 naming the field instead of being silently ignored.
//! Field names are snake_case on the wire. Extending the contract means adding optional fields, never renaming.

use serde::{Deserialize, Serialize};

/// POST /api/judge.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeRequest {
    /// Parsed later into [`Language`] so that an unknown name is a 422 `unsupported_language`, not a 400.
    pub language: String,
    #[serde(default)]
    /// The program's text (every language but wasm).
    pub source: Option<String>,
    #[serde(default)]
    /// A binary WebAssembly module, base64 (language wasm).
    pub module_base64: Option<String>,
    #[serde(default)]
    /// How tests reach the program; a WASI command by default.
    pub entry: Option<Entry>,
    /// The tests, at least one.
    pub tests: Vec<Test>,
    #[serde(default)]
    /// The limits of each test; defaults where absent.
    pub limits: LimitsRequest,
    #[serde(default)]
    /// How output is compared.
    pub compare: Compare,
    #[serde(default)]
    /// Native or WebAssembly, for languages that have both.
    pub engine: Option<EngineChoice>,
}

/// Every language the contract names. Which of them a given function can judge is the judge's business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// A binary WebAssembly module.
    Wasm,
    /// WebAssembly text.
    Wat,
    /// Python 3.
    Python,
    /// Java.
    Java,
    /// C#.
    Csharp,
    /// JavaScript (QuickJS-NG).
    Javascript,
    /// Ruby.
    Ruby,
}

impl Language {
    /// Every language.
    pub const ALL: [Language; 7] = [
        Language::Wasm,
        Language::Wat,
        Language::Python,
        Language::Java,
        Language::Csharp,
        Language::Javascript,
        Language::Ruby,
    ];

    /// The language's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Wasm => "wasm",
            Language::Wat => "wat",
            Language::Python => "python",
            Language::Java => "java",
            Language::Csharp => "csharp",
            Language::Javascript => "javascript",
            Language::Ruby => "ruby",
        }
    }

    /// The language named `name`, if it is one.
    pub fn parse(name: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|language| language.as_str() == name)
    }

    /// WebAssembly itself: judged in-process by every build that has the `wasm` feature.
    pub fn is_webassembly(self) -> bool {
        matches!(self, Language::Wasm | Language::Wat)
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How tests reach the program: its stdin, or calls of one function.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Entry {
    /// The program reads each test's `stdin` and prints to stdout (a WASI command for wasm and wat).
    #[default]
    Wasi,
    /// Each test calls one function with its `args` and compares what it returns: a WebAssembly `export` (numbers
    /// only), or in every other language the function `name` with typed `params` and `returns`.
    Function {
        /// wasm and wat: the export's name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        export: Option<String>,
        /// Every other language: the function's name (a top-level function; a public static method in Java and C#).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Its parameters, in order.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        params: Vec<Param>,
        /// Its return type.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        returns: Option<String>,
        /// One process for every call (the default), or a fresh one per test.
        #[serde(default, skip_serializing_if = "crate::function::Isolation::is_default")]
        isolation: crate::function::Isolation,
    },
}

impl Entry {
    /// The entry of a WebAssembly export.
    pub fn export(export: &str) -> Entry {
        Entry::Function {
            export: Some(export.to_string()),
            name: None,
            params: Vec::new(),
            returns: None,
            isolation: Default::default(),
        }
    }
}

/// A parameter of a function entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// Its type: int, float, bool, string, list[T], map[T] or optional[T].
    #[serde(rename = "type")]
    pub value_type: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
/// Which engine judges a language that has both.
pub enum EngineChoice {
    /// A native process in the sandbox.
    Native,
    /// WebAssembly in-process.
    Wasm,
}

/// One test case. Programs use `stdin`/`expected_stdout`; function entries use `args` and `expected_return` (or a
/// WebAssembly export's `expected_result`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Test {
    /// Defaults to `t<position>` (1-based) when absent.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    /// What the program reads (stdin tests).
    pub stdin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// What it must print (stdin tests).
    pub expected_stdout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The arguments (function tests), one per parameter.
    pub args: Option<Vec<serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The value it must return (function tests): for a WebAssembly export, a number or an array of its results.
    pub expected_return: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// A WebAssembly export's results, as numbers (the older spelling of `expected_return` for exports).
    pub expected_result: Option<Vec<serde_json::Number>>,
    #[serde(default)]
    /// Whether readers see only its verdict.
    pub hidden: bool,
    #[serde(default = "default_weight")]
    /// Its share of the score (default 1).
    pub weight: f64,
}

fn default_weight() -> f64 {
    1.0
}

impl Test {
    /// Its id: its own, or `t<position>` (1-based) when it has none. The one rule every engine and view names tests by.
    pub fn id_at(&self, index: usize) -> String {
        self.id.clone().unwrap_or_else(|| format!("t{}", index + 1))
    }

    /// A visible, weight-1 test that feeds `stdin` and expects `expected_stdout`; its id defaults to its position.
    pub fn stdio(stdin: &str, expected_stdout: &str) -> Test {
        Test {
            id: None,
            stdin: stdin.to_string(),
            expected_stdout: Some(expected_stdout.to_string()),
            args: None,
            expected_return: None,
            expected_result: None,
            hidden: false,
            weight: default_weight(),
        }
    }
}

/// Limits as asked for; every field is optional and clamped to the server's maxima (see [`crate::judge::limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsRequest {
    #[serde(default)]
    /// Milliseconds of CPU per test.
    pub time_ms: Option<u64>,
    #[serde(default)]
    /// Megabytes of memory.
    pub memory_mb: Option<u64>,
    #[serde(default)]
    /// Kilobytes of stdout and of stderr.
    pub output_kb: Option<u64>,
}

/// Limits as applied, reported back in every [`JudgeReport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub struct Limits {
    /// Milliseconds of CPU per test.
    pub time_ms: u64,
    /// Megabytes of memory.
    pub memory_mb: u64,
    /// Kilobytes of stdout and of stderr.
    pub output_kb: u64,
}

/// How a program's output is compared with the expected output.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Compare {
    /// Byte for byte.
    Exact,
    /// Trailing spaces and tabs on each line, and trailing blank lines, are ignored. Line endings may be \n or \r\n.
    #[default]
    TrailingWhitespace,
    /// Whitespace-separated tokens must be equal.
    Tokens,
    /// Tokens; where both tokens parse as numbers they are equal within `abs_tol` or `rel_tol`.
    Float {
        #[serde(default = "default_tolerance")]
        /// The absolute tolerance.
        abs_tol: f64,
        #[serde(default = "default_tolerance")]
        /// The relative tolerance.
        rel_tol: f64,
    },
    /// The same lines (trailing whitespace ignored) in any order, with the same multiplicities.
    UnorderedLines,
    /// Function entries returning a list: the same elements in any order, with the same multiplicities.
    Unordered,
}

fn default_tolerance() -> f64 {
    1e-6
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
/// How a test (or a submission) ended.
pub enum Verdict {
    /// Every expectation met.
    Accepted,
    /// The output or result is not the expected one.
    WrongAnswer,
    /// Past the time limit.
    TimeLimitExceeded,
    /// Past the memory limit.
    MemoryLimitExceeded,
    /// Past the output limit.
    OutputLimitExceeded,
    /// A crash, a trap or a non-zero exit.
    RuntimeError,
    /// The program did not compile (or parse).
    CompilationError,
    /// A bug of ours.
    InternalError,
}

impl Verdict {
    /// The verdict's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::WrongAnswer => "wrong_answer",
            Verdict::TimeLimitExceeded => "time_limit_exceeded",
            Verdict::MemoryLimitExceeded => "memory_limit_exceeded",
            Verdict::OutputLimitExceeded => "output_limit_exceeded",
            Verdict::RuntimeError => "runtime_error",
            Verdict::CompilationError => "compilation_error",
            Verdict::InternalError => "internal_error",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The 200 answer of POST /api/judge.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct JudgeReport {
    /// The worst verdict of the tests.
    pub verdict: Verdict,
    /// Tests accepted.
    pub passed: usize,
    /// Tests run.
    pub total: usize,
    /// The weighted share accepted, from 0 to 1.
    pub score: f64,
    /// The compilation.
    pub compile: CompileReport,
    /// Each test's report.
    pub tests: Vec<TestReport>,
    /// The engine that judged.
    pub engine: EngineInfo,
    /// The limits applied.
    pub limits: Limits,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
/// How the compilation went.
pub struct CompileReport {
    /// Whether it compiled.
    pub ok: bool,
    /// The compiler's output.
    pub output: String,
    /// How long it took.
    pub time_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
/// How one test went.
pub struct TestReport {
    /// Its id.
    pub id: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// The time it took.
    pub time_ms: f64,
    /// Peak memory: linear memory for WebAssembly, peak resident set for native programs.
    pub memory_kb: u64,
    /// Empty for hidden tests. At most [`crate::judge::limits::ECHO_MAX_BYTES`]; see `output_truncated`.
    pub stdout: String,
    /// What it wrote to stderr (capped).
    pub stderr: String,
    /// Its exit status, when it exited.
    pub exit_code: Option<i32>,
    /// Why it got its verdict, in words.
    pub message: Option<String>,
    #[serde(default)]
    /// Whether the test is hidden.
    pub hidden: bool,
    /// True when `stdout` or `stderr` above was cut for the response (the comparison always sees all of it).
    #[serde(default)]
    pub output_truncated: bool,
    /// What a function entry returned (never for hidden tests): a WebAssembly export's values (JSON numbers, or the
    /// strings "NaN", "inf" and "-inf" for the floats JSON cannot carry), or a named function's one value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Vec<serde_json::Value>>,
    /// WebAssembly fuel the test consumed: a deterministic upper bound of the work done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
/// The engine that judged.
pub struct EngineInfo {
    /// wasmi, cpython, openjdk, mono, remote…
    pub name: String,
    /// Its version.
    pub version: String,
    /// Native runtimes: the calibrated start-up CPU time subtracted from every test's time (see the codecapsule-native crate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_ms: Option<f64>,
    /// Languages judged in WebAssembly: the interpreter that ran the program, e.g. `cpython 3.12.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
}

/// A capsule: one embeddable exercise. `solution` is server-side only and never served to widgets.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Capsule {
    #[serde(default)]
    /// Its id, once stored.
    pub id: Option<String>,
    #[serde(default)]
    /// A URL-safe name.
    pub slug: Option<String>,
    #[serde(default = "default_version")]
    /// Its version, from 1.
    pub version: u32,
    /// The title.
    pub title: String,
    #[serde(default)]
    /// The statement, in Markdown.
    pub description_md: String,
    /// The language.
    pub language: String,
    #[serde(default)]
    /// easy, medium or hard.
    pub difficulty: Option<String>,
    #[serde(default)]
    /// Topic tags.
    pub tags: Vec<String>,
    #[serde(default)]
    /// How tests reach the program.
    pub entry: Option<Entry>,
    /// Absent: validation reports `missing_starter` (a stored draft may not have one yet).
    #[serde(default)]
    pub starter: CapsuleCode,
    /// The reference solution (never a reader's to see).
    pub solution: CapsuleCode,
    /// The tests.
    pub tests: Vec<Test>,
    #[serde(default)]
    /// The limits of each test.
    pub limits: LimitsRequest,
    #[serde(default)]
    /// How output is compared.
    pub compare: Compare,
    #[serde(default)]
    /// Hints, gentlest first.
    pub hints: Vec<String>,
    #[serde(default)]
    /// The explanation shown after solving.
    pub explanation_md: String,
    #[serde(default)]
    /// Where it came from: model, date, rounds, cost.
    pub provenance: serde_json::Map<String, serde_json::Value>,
}

fn default_version() -> u32 {
    1
}

/// A piece of capsule code: text source, or a base64 WebAssembly module for language `wasm`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CapsuleCode {
    #[serde(default)]
    /// The program's text.
    pub source: Option<String>,
    #[serde(default)]
    /// A binary WebAssembly module, base64.
    pub module_base64: Option<String>,
}

impl Capsule {
    /// The judge request that runs `code` against this capsule's tests.
    pub fn judge_request(&self, code: &CapsuleCode) -> JudgeRequest {
        JudgeRequest {
            language: self.language.clone(),
            source: code.source.clone(),
            module_base64: code.module_base64.clone(),
            entry: self.entry.clone(),
            tests: self.tests.clone(),
            limits: self.limits,
            compare: self.compare,
            engine: None,
        }
    }
}

/// POST /api/validate: a capsule inline, or the id of a stored one (exactly one of the two).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    #[serde(default)]
    /// The capsule itself.
    pub capsule: Option<Capsule>,
    #[serde(default)]
    /// A stored capsule's id.
    pub capsule_id: Option<uuid::Uuid>,
}

/// The 200 answer of POST /api/validate.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ValidateReport {
    /// Whether there is no problem.
    pub valid: bool,
    /// The problems found.
    pub problems: Vec<CapsuleProblem>,
    /// What validation ran.
    pub report: ValidationRuns,
    /// The capsule validated (healed, when healing ran).
    pub capsule: Capsule,
    /// When AI is configured and the capsule was invalid: what healing did (status, rounds, repairs with their
    /// reasons, the problems it started from, LLM calls), or why it was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healing: Option<serde_json::Value>,
}

/// One thing wrong with a capsule, with a stable code a client can act on.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct CapsuleProblem {
    /// What is wrong.
    pub code: CapsuleProblemCode,
    /// In words, for the author.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The test at fault, if one is.
    pub test_id: Option<String>,
}

/// What is wrong with a capsule, as validation names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CapsuleProblemCode {
    /// The capsule has no title.
    MissingTitle,
    /// The capsule has no starter code.
    MissingStarter,
    /// The starter code already passes every test.
    StarterPasses,
    /// The reference solution does not compile.
    SolutionCompilationError,
    /// The reference solution's result on a test changed between runs.
    FlakyTest,
    /// The reference solution does not pass a test.
    SolutionFailsTest,
}

/// What validation ran: the reference solution several times, then the starter code once.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ValidationRuns {
    /// The reference solution's runs.
    pub solution_runs: Vec<JudgeReport>,
    /// The starter's run, when there is a starter.
    pub starter_run: Option<JudgeReport>,
}

/// The stable `code` of every problem+json answer: what a client branches on. The README's API section lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The body is not JSON of the route's shape (400).
    InvalidJson,
    /// `module_base64` is not standard base64 (400).
    InvalidBase64,
    /// The body is over the route's limit (413).
    BodyTooLarge,
    /// The body could not be read to its end (400).
    BodyUnreadable,
    /// The body did not arrive in time: the client sent less than it announced, or too slowly (408).
    BodyTimeout,
    /// Not valid HTTP/1.1: a bad request line, a duplicate Content-Length, a URI or headers too large (400, 414, 431).
    MalformedRequest,
    /// `source` is over its limit (413).
    SourceTooLarge,
    /// The Content-Type is not one the route takes (415).
    UnsupportedMediaType,
    /// A field has a value the route cannot take (422).
    InvalidField,
    /// `tests` is empty (422).
    NoTests,
    /// `tests` has more tests than a request may (422).
    TooManyTests,
    /// A test cannot be run as given (422).
    InvalidTest,
    /// No judge of this deployment runs the language (422).
    UnsupportedLanguage,
    /// The judge of the language could not be reached or started (502).
    JudgeUnavailable,
    /// A judge in another function answered with a problem of its own code (its status).
    RemoteProblem,
    /// No such route, or nothing the caller may see (404).
    NotFound,
    /// The route does not take this method (405).
    MethodNotAllowed,
    /// A bug of ours (500).
    InternalError,
    /// A header (X-Organization-Id) is not a UUID (400).
    InvalidHeader,
    /// The route runs the caller's code and the caller sent no identity (401).
    AuthenticationRequired,
    /// The bearer token is not a valid user token (401).
    InvalidToken,
    /// The API key is unknown or revoked (401).
    InvalidApiKey,
    /// The keys that verify user tokens could not be fetched (503).
    AuthUnavailable,
    /// The user is not a member of X-Organization-Id (403).
    NotAMember,
    /// The caller's role may not do this, e.g. a member who is not an admin saving a capsule (403).
    Forbidden,
    /// The write lost a race: the row changed since it was read (409).
    Conflict,
    /// The operators switched the feature off (503).
    FeatureDisabled,
    /// The caller's bucket is empty (429).
    RateLimited,
    /// The state store failed or is not configured (503).
    StateUnavailable,
    /// The batch has more events than allowed (413).
    TooManyEvents,
    /// No LLM is configured (503).
    AiDisabled,
    /// The route bills an organization and the caller named none (403).
    OrganizationRequired,
    /// The organization's LLM allowance for today is spent (429).
    DailyBudgetExhausted,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 33] = [
        ErrorCode::InvalidJson,
        ErrorCode::InvalidBase64,
        ErrorCode::BodyTooLarge,
        ErrorCode::BodyUnreadable,
        ErrorCode::BodyTimeout,
        ErrorCode::MalformedRequest,
        ErrorCode::SourceTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::InvalidField,
        ErrorCode::NoTests,
        ErrorCode::TooManyTests,
        ErrorCode::InvalidTest,
        ErrorCode::UnsupportedLanguage,
        ErrorCode::JudgeUnavailable,
        ErrorCode::RemoteProblem,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::InternalError,
        ErrorCode::InvalidHeader,
        ErrorCode::AuthenticationRequired,
        ErrorCode::InvalidToken,
        ErrorCode::InvalidApiKey,
        ErrorCode::AuthUnavailable,
        ErrorCode::NotAMember,
        ErrorCode::Forbidden,
        ErrorCode::Conflict,
        ErrorCode::FeatureDisabled,
        ErrorCode::RateLimited,
        ErrorCode::StateUnavailable,
        ErrorCode::TooManyEvents,
        ErrorCode::AiDisabled,
        ErrorCode::OrganizationRequired,
        ErrorCode::DailyBudgetExhausted,
    ];

    /// The code as the wire spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidBase64 => "invalid_base64",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::BodyUnreadable => "body_unreadable",
            ErrorCode::BodyTimeout => "body_timeout",
            ErrorCode::MalformedRequest => "malformed_request",
            ErrorCode::SourceTooLarge => "source_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::NoTests => "no_tests",
            ErrorCode::TooManyTests => "too_many_tests",
            ErrorCode::InvalidTest => "invalid_test",
            ErrorCode::UnsupportedLanguage => "unsupported_language",
            ErrorCode::JudgeUnavailable => "judge_unavailable",
            ErrorCode::RemoteProblem => "remote_problem",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::InternalError => "internal_error",
            ErrorCode::InvalidHeader => "invalid_header",
            ErrorCode::AuthenticationRequired => "authentication_required",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InvalidApiKey => "invalid_api_key",
            ErrorCode::AuthUnavailable => "auth_unavailable",
            ErrorCode::NotAMember => "not_a_member",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Conflict => "conflict",
            ErrorCode::FeatureDisabled => "feature_disabled",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::StateUnavailable => "state_unavailable",
            ErrorCode::TooManyEvents => "too_many_events",
            ErrorCode::AiDisabled => "ai_disabled",
            ErrorCode::OrganizationRequired => "organization_required",
            ErrorCode::DailyBudgetExhausted => "daily_budget_exhausted",
        }
    }

    /// The code spelled `code`, if it is one of ours (a remote judge's problem keeps its code only then).
    pub fn parse(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|known| known.as_str() == code)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The media type of every error answer (RFC 9457 problem details).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The wire form of a problem: `{type, title, status, detail, code}` plus `field` where one field is at fault.
#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

/// The JSON body of a problem answer, the one shape every error of every function and of the edge takes: `code` is
/// the stable machine string clients branch on; `type` is a URI made from it and `title` the status's reason phrase;
/// `detail` says what happened and what to do about it.
pub fn problem_body(status: http::StatusCode, code: ErrorCode, detail: &str, field: Option<&str>) -> Vec<u8> {
    let body = ProblemBody {
        kind: format!("https://codecapsule.dev/problems/{}", code.as_str().replace('_', "-")),
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail,
        code: code.as_str(),
        field,
    };
    serde_json::to_vec(&body).unwrap_or_else(|_| b"{\"code\":\"internal_error\"}".to_vec())
}
