//! Python, JavaScript and Ruby judged in WebAssembly through their WASI runtimes (CPython 3.12, QuickJS-NG, Ruby 3.2),
//! loaded from the runtime packs `make packs` fetches from the registries (tools/fetch_runtime_packs.py).
//! The packs are required: without them these tests fail and say how to get them.

use codecapsule::judge::{Judge, JudgeError, Judges, Submission};
use codecapsule::model::{EngineChoice, JudgeReport, JudgeRequest, LimitsRequest, Test, TestReport, Verdict};
use codecapsule::wasm::runtimes::{PackSource, RuntimeJudge, RuntimePacks};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The packs `make packs` writes (RUNTIME_PACKS_DIR overrides).
fn packs_dir() -> PathBuf {
    let dir = std::env::var("RUNTIME_PACKS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.data/objects/runtimes"));
    assert!(
        dir.join("index.json").is_file(),
        "no runtime packs in {}: run `make packs` (tools/fetch_runtime_packs.py) first",
        dir.display()
    );
    dir
}

/// One judge for the whole file: runtimes load once, as in a warm function.
fn judge_of_packs() -> &'static RuntimeJudge {
    static JUDGE: OnceLock<RuntimeJudge> = OnceLock::new();
    JUDGE.get_or_init(|| RuntimeJudge::new(Arc::new(RuntimePacks::new(PackSource::Directory(packs_dir()), 1 << 30))))
}

fn request(language: &str, source: &str, tests: Vec<Test>) -> JudgeRequest {
    JudgeRequest {
        language: language.into(),
        source: Some(source.into()),
        module_base64: None,
        entry: None,
        tests,
        limits: LimitsRequest { time_ms: Some(1_000), memory_mb: Some(64), output_kb: Some(16) },
        compare: Default::default(),
        engine: Some(EngineChoice::Wasm),
    }
}

fn judge(request: JudgeRequest) -> Result<JudgeReport, JudgeError> {
    let judge = judge_of_packs();
    let submission = Submission::check(request, |language| judge.judges(language), |_| String::new())?;
    judge.judge(&submission)
}

fn single(language: &str, source: &str, stdin: &str, expected: &str) -> TestReport {
    let report = judge(request(language, source, vec![Test::stdio(stdin, expected)])).expect("a valid request");
    report.tests.into_iter().next().unwrap()
}

#[test]
fn python_reads_stdin_and_is_accepted() {
    let report = judge(request(
        "python",
        "import sys\na, b = map(int, sys.stdin.read().split())\nprint(a + b)\n",
        vec![Test::stdio("2 3\n", "5\n"), Test::stdio("40 2\n", "42\n"), Test::stdio("1 1\n", "3\n")],
    ))
    .unwrap();
    let verdicts: Vec<Verdict> = report.tests.iter().map(|test| test.verdict).collect();
    assert_eq!(verdicts, vec![Verdict::Accepted, Verdict::Accepted, Verdict::WrongAnswer], "{report:#?}");
    assert_eq!(report.engine.name, "wasmi");
    assert_eq!(report.engine.runtime.as_deref(), Some("cpython 3.12.0"));
    assert!(report.engine.startup_ms.is_some());
}

#[test]
fn javascript_reads_stdin_and_is_accepted() {
    let test = single(
        "javascript",
        "const [a, b] = std.in.readAsString().trim().split(' ').map(Number);\nconsole.log(a + b);\n",
        "2 3\n",
        "5\n",
    );
    assert_eq!(test.verdict, Verdict::Accepted, "{test:#?}");
}

#[test]
fn ruby_reads_stdin_and_is_accepted() {
    let test = single("ruby", "a, b = STDIN.read.split.map(&:to_i)\nputs a + b\n", "2 3\n", "5\n");
    assert_eq!(test.verdict, Verdict::Accepted, "{test:#?}");
}

#[test]
fn a_language_without_native_judge_goes_to_its_runtime() {
    let judges = Judges::new(vec![Arc::new(judge_of_packs().clone()) as Arc<dyn Judge>]);
    let mut plain = request("ruby", "puts 1", vec![Test::stdio("", "1\n")]);
    plain.engine = None;
    let (_, chosen) = judges.prepare(plain).unwrap();
    assert!(chosen.runs_webassembly());
}
