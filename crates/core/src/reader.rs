//! The reader's view: what a capsule and a judged submission show to someone who is not one of its authors.
//!
//! One function per view, used by every path that shows a capsule or a report to a reader (the published object, the
//! API's answers, the stored `content` the public catalogue serves), so that what is hidden is decided in one place:
//! - a capsule ([`ReaderCapsule::of`]): everything a reader needs to attempt it, the visible tests whole, and of each
//!   hidden test only its id and weight; never the solution or the explanation, and of its provenance only the model
//!   and the date;
//! - a report ([`ReaderReport::of`]): of a hidden test only its id, verdict and weight. Its output, message, exit
//!   status, time, memory and fuel all depend on the hidden input, so a program could print, exit with or sleep a
//!   hidden input back to its submitter through any of them.
//!
//! Run mode ([`RunRequest`], [`RunReport`]) is the reader's own input, run once: nothing hidden is involved.

use crate::model::{
    Capsule, CapsuleCode, Compare, CompileReport, EngineChoice, EngineInfo, Entry, JudgeReport, JudgeRequest, Limits,
    LimitsRequest, Test, TestReport, Verdict,
};
use serde::{Deserialize, Serialize};

/// The provenance keys a reader sees: which model wrote the capsule and when. Rounds, costs, prompts and repairs stay
/// with the authors.
pub const READER_PROVENANCE: [&str; 2] = ["model", "date"];

/// A capsule as a reader sees it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ReaderCapsule {
    /// Its id, once stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its version.
    pub version: u32,
    /// A URL-safe name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// The title.
    pub title: String,
    /// The statement, in Markdown.
    pub description_md: String,
    /// The language.
    pub language: String,
    /// easy, medium or hard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<String>,
    /// Topic tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// How tests reach the program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<Entry>,
    /// The code the reader starts from.
    pub starter: CapsuleCode,
    /// The limits of each test.
    pub limits: LimitsRequest,
    /// How output is compared.
    pub compare: Compare,
    /// Hints, gentlest first.
    #[serde(default)]
    pub hints: Vec<String>,
    /// The tests: visible ones whole, hidden ones as their id and weight.
    pub tests: Vec<ReaderTest>,
    /// The model and the date, when the capsule was generated.
    #[serde(default)]
    pub provenance: serde_json::Map<String, serde_json::Value>,
}

/// A test as a reader sees it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ReaderTest {
    /// A hidden test: that it exists, and what it is worth.
    Hidden(HiddenTest),
    /// A visible test, whole.
    Visible(Test),
}

/// What a reader knows of a hidden test.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HiddenTest {
    /// Its id.
    pub id: String,
    /// Always true: tells a hidden test from a visible one on the wire.
    pub hidden: bool,
    /// Its share of the score.
    pub weight: f64,
}

impl ReaderCapsule {
    /// The reader's view of `capsule`.
    pub fn of(capsule: &Capsule) -> ReaderCapsule {
        let tests = capsule
            .tests
            .iter()
            .enumerate()
            .map(|(index, test)| match test.hidden {
                true => ReaderTest::Hidden(HiddenTest { id: test.id_at(index), hidden: true, weight: test.weight }),
                false => ReaderTest::Visible(Test { id: Some(test.id_at(index)), ..test.clone() }),
            })
            .collect();
        let provenance = capsule
            .provenance
            .iter()
            .filter(|(key, _)| READER_PROVENANCE.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        ReaderCapsule {
            id: capsule.id.clone(),
            version: capsule.version,
            slug: capsule.slug.clone(),
            title: capsule.title.clone(),
            description_md: capsule.description_md.clone(),
            language: capsule.language.clone(),
            difficulty: capsule.difficulty.clone(),
            tags: capsule.tags.clone(),
            entry: capsule.entry.clone(),
            starter: crate::function::starter::of_capsule(capsule),
            limits: capsule.limits,
            compare: capsule.compare,
            hints: capsule.hints.clone(),
            tests,
            provenance,
        }
    }
}

/// A judged submission as its submitter sees it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ReaderReport {
    /// The worst verdict of the tests.
    pub verdict: Verdict,
    /// Tests accepted.
    pub passed: usize,
    /// Tests run.
    pub total: usize,
    /// The weighted share accepted, from 0 to 1.
    pub score: f64,
    /// The compilation (its output never comes from a hidden test: see [`crate::judge::Submission::parse_probe`]).
    pub compile: CompileReport,
    /// Each test's report: visible tests whole, hidden tests as id, verdict and weight.
    pub tests: Vec<ReaderTestReport>,
    /// The engine that judged.
    pub engine: EngineInfo,
    /// The limits applied.
    pub limits: Limits,
}

/// One test's report as the submitter sees it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ReaderTestReport {
    /// A hidden test: its verdict and weight, nothing that depends on its input beyond the verdict.
    Hidden(HiddenTestReport),
    /// A visible test, whole.
    Visible(TestReport),
}

/// What the submitter learns of a hidden test's run.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HiddenTestReport {
    /// The test's id.
    pub id: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// Always true.
    pub hidden: bool,
    /// Its share of the score.
    pub weight: f64,
}

impl ReaderReport {
    /// The submitter's view of `report`, a run of `tests` (in the same order: the judges report tests as given).
    pub fn of(report: JudgeReport, tests: &[Test]) -> ReaderReport {
        let tests = report
            .tests
            .into_iter()
            .zip(tests)
            .map(|(run, test)| match test.hidden {
                true => ReaderTestReport::Hidden(HiddenTestReport {
                    id: run.id,
                    verdict: run.verdict,
                    hidden: true,
                    weight: test.weight,
                }),
                false => ReaderTestReport::Visible(run),
            })
            .collect();
        ReaderReport {
            verdict: report.verdict,
            passed: report.passed,
            total: report.total,
            score: report.score,
            compile: report.compile,
            tests,
            engine: report.engine,
            limits: report.limits,
        }
    }
}

/// POST /api/capsules/{id}/submissions: the reader's program, judged against the capsule's stored tests. Nothing else
/// is taken: tests, limits and comparison are the capsule's (an extra field is a 422).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionRequest {
    /// The program's text.
    #[serde(default)]
    pub source: Option<String>,
    /// A binary WebAssembly module, base64 (capsules in `wasm`).
    #[serde(default)]
    pub module_base64: Option<String>,
    /// The widget's visitor id (at most [`MAX_VISITOR_ID_BYTES`]), for anonymous submitters: stored only as the
    /// analytics pipeline's daily-salted hash. Without it, the client address stands in (hashed the same way).
    #[serde(default)]
    pub visitor_id: Option<String>,
}

/// The longest visitor id a submission may carry (as widget events).
pub const MAX_VISITOR_ID_BYTES: usize = 128;

impl SubmissionRequest {
    /// The judge request that runs this program against `capsule`'s stored tests.
    pub fn judge_request(&self, capsule: &Capsule) -> JudgeRequest {
        capsule.judge_request(&CapsuleCode { source: self.source.clone(), module_base64: self.module_base64.clone() })
    }
}

/// POST /api/run: one run of any program on the caller's own input (callers with an identity only).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// The language.
    pub language: String,
    /// The program's text.
    #[serde(default)]
    pub source: Option<String>,
    /// A binary WebAssembly module, base64.
    #[serde(default)]
    pub module_base64: Option<String>,
    /// What the program reads.
    #[serde(default)]
    pub stdin: String,
    /// The limits (clamped as POST /api/judge's).
    #[serde(default)]
    pub limits: LimitsRequest,
    /// `wasm` runs Python in WebAssembly, as the browser does (else the language's default engine).
    #[serde(default)]
    pub engine: Option<EngineChoice>,
}

/// POST /api/capsules/{id}/run: the reader's program on the reader's own input, in the capsule's language and limits
/// (so neither may be sent).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CapsuleRunRequest {
    /// The program's text.
    #[serde(default)]
    pub source: Option<String>,
    /// A binary WebAssembly module, base64.
    #[serde(default)]
    pub module_base64: Option<String>,
    /// What the program reads.
    #[serde(default)]
    pub stdin: String,
}

/// The id of run mode's only test.
pub const RUN_TEST_ID: &str = "run";

impl RunRequest {
    /// The judge request of this run ([`run_judge_request`]).
    pub fn judge_request(&self) -> JudgeRequest {
        let code = CapsuleCode { source: self.source.clone(), module_base64: self.module_base64.clone() };
        JudgeRequest { engine: self.engine, ..run_judge_request(self.language.clone(), code, &self.stdin, self.limits) }
    }
}

impl CapsuleRunRequest {
    /// The judge request of this run in `capsule`'s language and limits ([`run_judge_request`]).
    pub fn judge_request(&self, capsule: &Capsule) -> JudgeRequest {
        let code = CapsuleCode { source: self.source.clone(), module_base64: self.module_base64.clone() };
        run_judge_request(capsule.language.clone(), code, &self.stdin, capsule.limits)
    }
}

/// The judge request of one run: one stdin test whose expected output is empty (any output is fine: the verdict is
/// mapped to a [`RunStatus`], never shown).
pub fn run_judge_request(language: String, code: CapsuleCode, stdin: &str, limits: LimitsRequest) -> JudgeRequest {
    JudgeRequest {
        language,
        source: code.source,
        module_base64: code.module_base64,
        entry: None,
        tests: vec![Test { id: Some(RUN_TEST_ID.into()), ..Test::stdio(stdin, "") }],
        limits,
        compare: Compare::Exact,
        engine: None,
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// It exited normally (whatever it printed).
    Ok,
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
}

/// The 200 answer of the run routes.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct RunReport {
    /// How the run ended.
    pub status: RunStatus,
    /// What it printed (capped, see `output_truncated`); on a compilation error, empty.
    pub stdout: String,
    /// What it wrote to stderr (capped); on a compilation error, the compiler's output.
    pub stderr: String,
    /// Its exit status, when it exited.
    pub exit_code: Option<i32>,
    /// How long it ran.
    pub time_ms: f64,
    /// Its peak memory.
    pub memory_kb: u64,
    /// True when `stdout` or `stderr` was cut for the response.
    pub output_truncated: bool,
    /// The engine that ran it.
    pub engine: EngineInfo,
    /// The limits applied.
    pub limits: Limits,
}

/// Why a run's report could not be made: the judge failed, which is never the program's status.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The judge answered without the run's one test.
    #[error("the judge answered a run without its test")]
    NoTest,
    /// The judge failed while running it (the sandbox, the engine).
    #[error("the judge failed while running the program: {0}")]
    Judge(String),
}

impl RunReport {
    /// The run's report, from the judge's report of its one test. The judge's own failures stay errors (they are not
    /// the program's status).
    pub fn of(report: JudgeReport) -> Result<RunReport, RunError> {
        let test = report.tests.into_iter().next().ok_or(RunError::NoTest)?;
        let status = match test.verdict {
            // The expected output is empty: any output is a "wrong answer", which here is a normal end.
            Verdict::Accepted | Verdict::WrongAnswer => RunStatus::Ok,
            Verdict::TimeLimitExceeded => RunStatus::TimeLimitExceeded,
            Verdict::MemoryLimitExceeded => RunStatus::MemoryLimitExceeded,
            Verdict::OutputLimitExceeded => RunStatus::OutputLimitExceeded,
            Verdict::RuntimeError => RunStatus::RuntimeError,
            Verdict::InternalError => return Err(RunError::Judge(test.message.unwrap_or_default())),
            Verdict::CompilationError => RunStatus::CompilationError,
        };
        let (stdout, stderr) = match status {
            RunStatus::CompilationError => (String::new(), report.compile.output),
            _ => (test.stdout, test.stderr),
        };
        Ok(RunReport {
            status,
            stdout,
            stderr,
            exit_code: test.exit_code,
            time_ms: test.time_ms,
            memory_kb: test.memory_kb,
            output_truncated: test.output_truncated,
            engine: report.engine,
            limits: report.limits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CompileReport;

    fn capsule() -> Capsule {
        let mut hidden = Test::stdio("SECRET-INPUT\n", "SECRET-OUTPUT\n");
        hidden.hidden = true;
        hidden.weight = 3.0;
        let mut provenance = serde_json::Map::new();
        provenance.insert("model".into(), "gpt-test".into());
        provenance.insert("date".into(), "2026-12-01".into());
        provenance.insert("prompt".into(), "SECRET-PROMPT".into());
        Capsule {
            id: Some("c1".into()),
            slug: Some("echo".into()),
            version: 2,
            title: "Echo".into(),
            description_md: "Print what you read.".into(),
            language: "python".into(),
            difficulty: None,
            tags: vec![],
            entry: None,
            starter: CapsuleCode { source: Some("print()".into()), module_base64: None },
            solution: CapsuleCode { source: Some("SECRET-SOLUTION".into()), module_base64: None },
            tests: vec![Test::stdio("visible\n", "visible\n"), hidden],
            limits: LimitsRequest::default(),
            compare: Compare::Exact,
            hints: vec!["read a line".into()],
            explanation_md: "SECRET-EXPLANATION".into(),
            provenance,
        }
    }

    #[test]
    fn a_function_capsule_without_a_starter_offers_the_declared_function() {
        let mut function = capsule();
        function.entry = Some(
            serde_json::from_value(serde_json::json!({"kind": "function", "name": "add", "returns": "int",
                "params": [{"name": "a", "type": "int"}, {"name": "b", "type": "int"}]}))
            .unwrap(),
        );
        function.starter = CapsuleCode::default();
        let view = ReaderCapsule::of(&function);
        assert!(view.starter.source.unwrap().starts_with("def add(a: int, b: int) -> int:\n"));
        function.starter.source = Some("def add(a, b): pass".into());
        assert_eq!(ReaderCapsule::of(&function).starter.source.as_deref(), Some("def add(a, b): pass"));
        function.starter = CapsuleCode::default();
        function.entry = None;
        assert_eq!(ReaderCapsule::of(&function).starter.source, None, "a stdin capsule has no signature");
    }

    #[test]
    fn the_capsule_view_keeps_visible_tests_and_only_the_id_and_weight_of_hidden_ones() {
        let view = ReaderCapsule::of(&capsule());
        let text = serde_json::to_string(&view).unwrap();
        for secret in ["SECRET-INPUT", "SECRET-OUTPUT", "SECRET-SOLUTION", "SECRET-EXPLANATION", "SECRET-PROMPT"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("visible\\n") && text.contains("gpt-test") && text.contains("2026-12-01"), "{text}");
        assert_eq!(view.tests[1], ReaderTest::Hidden(HiddenTest { id: "t2".into(), hidden: true, weight: 3.0 }));
        let back: ReaderCapsule = serde_json::from_str(&text).unwrap();
        assert_eq!(back, view, "the view reads back as itself (a hidden test is not taken for a visible one)");
    }

    fn run(id: &str, verdict: Verdict) -> TestReport {
        TestReport {
            id: id.into(),
            verdict,
            time_ms: 123.0,
            memory_kb: 4567,
            stdout: "SECRET-OUTPUT".into(),
            stderr: "SECRET-INPUT".into(),
            exit_code: Some(83),
            message: Some("expected SECRET-OUTPUT".into()),
            hidden: false,
            output_truncated: false,
            result: None,
            fuel: Some(99),
        }
    }

    fn report(tests: Vec<TestReport>) -> JudgeReport {
        JudgeReport {
            verdict: Verdict::WrongAnswer,
            passed: 1,
            total: tests.len(),
            score: 0.25,
            compile: CompileReport { ok: true, output: String::new(), time_ms: 0.0 },
            tests,
            engine: EngineInfo { name: "wasmi".into(), version: "1".into(), startup_ms: None, runtime: None },
            limits: Limits { time_ms: 1000, memory_mb: 64, output_kb: 64 },
        }
    }

    #[test]
    fn a_hidden_test_report_is_its_id_verdict_and_weight() {
        let capsule = capsule();
        let view = ReaderReport::of(
            report(vec![run("t1", Verdict::Accepted), run("t2", Verdict::WrongAnswer)]),
            &capsule.tests,
        );
        let hidden = serde_json::to_value(&view.tests[1]).unwrap();
        assert_eq!(hidden, serde_json::json!({"id": "t2", "verdict": "wrong_answer", "hidden": true, "weight": 3.0}));
        let visible = serde_json::to_value(&view.tests[0]).unwrap();
        assert_eq!(visible["stdout"], "SECRET-OUTPUT", "a visible test is reported whole");
    }

    #[test]
    fn a_run_maps_the_verdict_of_its_one_test_to_a_status() {
        for (verdict, status) in [
            (Verdict::Accepted, RunStatus::Ok),
            (Verdict::WrongAnswer, RunStatus::Ok),
            (Verdict::RuntimeError, RunStatus::RuntimeError),
            (Verdict::TimeLimitExceeded, RunStatus::TimeLimitExceeded),
            (Verdict::OutputLimitExceeded, RunStatus::OutputLimitExceeded),
        ] {
            let ran = RunReport::of(report(vec![run(RUN_TEST_ID, verdict)])).unwrap();
            assert_eq!((ran.status, ran.stdout.as_str(), ran.exit_code), (status, "SECRET-OUTPUT", Some(83)));
        }
        let mut failed = report(vec![run(RUN_TEST_ID, Verdict::CompilationError)]);
        failed.compile = CompileReport { ok: false, output: "SyntaxError: line 1".into(), time_ms: 1.0 };
        let ran = RunReport::of(failed).unwrap();
        assert_eq!(
            (ran.status, ran.stdout.as_str(), ran.stderr.as_str()),
            (RunStatus::CompilationError, "", "SyntaxError: line 1")
        );
        assert!(RunReport::of(report(vec![])).is_err());
        let failed = RunReport::of(report(vec![run(RUN_TEST_ID, Verdict::InternalError)]));
        assert!(matches!(failed, Err(RunError::Judge(_))), "a judge failure is not the program's runtime_error");
    }
}
