//! Python, JavaScript and Ruby judged in WebAssembly through their WASI runtimes (CPython 3.12, QuickJS-NG, Ruby 3.4),
//! loaded from the runtime packs `make packs` fetches from the registries (tools/fetch_runtime_packs.py).
//! The packs are required: without them these tests fail and say how to get them.

use codecapsule_core::deadline::Deadline;
use codecapsule_core::judge::{Judge, JudgeError, Judges, Submission};
use codecapsule_core::model::ErrorCode;
use codecapsule_core::model::{
    EngineChoice, JudgeReport, JudgeRequest, Language, LimitsRequest, Test, TestReport, Verdict,
};
use codecapsule_wasm::runtimes::{PackSource, RuntimeJudge, RuntimePacks};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The packs `make packs` writes (RUNTIME_PACKS_DIR overrides).
fn packs_dir() -> PathBuf {
    let dir = std::env::var("RUNTIME_PACKS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.data/objects/runtimes"));
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
    let limits = LimitsRequest { time_ms: Some(1_000), memory_mb: Some(64), output_kb: Some(16) };
    JudgeRequest {
        engine: Some(EngineChoice::Wasm),
        ..codecapsule_test_support::source_request(language, source, tests, limits)
    }
}

fn judge(request: JudgeRequest) -> Result<JudgeReport, JudgeError> {
    judge_by(judge_of_packs(), request)
}

fn judge_by(judge: &RuntimeJudge, request: JudgeRequest) -> Result<JudgeReport, JudgeError> {
    let submission = Submission::check(request, |language| judge.judges(language), |_| String::new())?;
    codecapsule_test_support::block_on(Arc::new(judge.clone()).judge(Arc::new(submission), Deadline::for_request(None)))
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

/// What the README promises a JavaScript learner, exactly: the `std` and `os` globals, QuickJS-NG's module names
/// `qjs:std` and `qjs:os`; QuickJS's older names and Node's `require` are not there (and say so).
#[test]
fn javascript_has_quickjs_ngs_std_and_os_and_nothing_of_node() {
    let echo = |source: &str| single("javascript", source, "hi\n", "hi\n");
    for source in [
        "console.log(std.in.readAsString().trim());",
        "import * as std from 'qjs:std';\nconsole.log(std.in.readAsString().trim());",
        "import * as io from 'qjs:std';\nimport * as os from 'qjs:os';\nif (typeof os.now !== 'function') throw 1;\nconsole.log(io.in.getline());",
    ] {
        let test = echo(source);
        assert_eq!(test.verdict, Verdict::Accepted, "{source}: {test:#?}");
    }
    let old_name = echo("import * as std from 'std';\nconsole.log(std.in.readAsString().trim());");
    assert_eq!(old_name.verdict, Verdict::RuntimeError);
    assert!(old_name.stderr.contains("could not load module filename 'std'"), "{}", old_name.stderr);
    let node = echo("console.log(require('fs').readFileSync(0, 'utf8').trim());");
    assert!(node.stderr.contains("require is not defined"), "{}", node.stderr);
}

#[test]
fn ruby_reads_stdin_and_is_accepted() {
    let source = "a, b = STDIN.read.split.map(&:to_i)\nputs a + b\n";
    let report =
        judge(request("ruby", source, vec![Test::stdio("2 3\n", "5\n"), Test::stdio("1 1\n", "2\n")])).unwrap();
    assert_eq!(report.verdict, Verdict::Accepted, "{report:#?}");
}

#[test]
fn a_language_without_native_judge_goes_to_its_runtime() {
    let judges = Judges::new(vec![Arc::new(judge_of_packs().clone()) as Arc<dyn Judge>]);
    let mut plain = request("ruby", "puts 1", vec![Test::stdio("", "1\n")]);
    plain.engine = None;
    assert!(judges.prepare(plain).unwrap().judge.runs_webassembly());
}

/// One program per verdict, per language: (verdict, python, javascript, ruby). Input "2 3", expected "5".
const VERDICT_PROGRAMS: &[(Verdict, &str, &str, &str)] = &[
    (
        Verdict::Accepted,
        "a, b = map(int, input().split())\nprint(a + b)",
        "const [a, b] = std.in.getline().split(' ').map(Number);\nconsole.log(a + b);",
        "a, b = gets.split.map(&:to_i)\nputs a + b",
    ),
    (
        Verdict::WrongAnswer,
        "a, b = map(int, input().split())\nprint(a * b)",
        "const [a, b] = std.in.getline().split(' ').map(Number);\nconsole.log(a * b);",
        "a, b = gets.split.map(&:to_i)\nputs a * b",
    ),
    (Verdict::CompilationError, "print(", "console.log(;", "puts(1"),
    (
        Verdict::RuntimeError,
        "print('partial')\nraise ValueError('boom')",
        "console.log('partial');\nthrow new Error('boom');",
        "puts 'partial'\nraise ArgumentError, 'boom'",
    ),
    (Verdict::RuntimeError, "import sys\nsys.exit(3)", "std.exit(3);", "exit 3"),
    (Verdict::TimeLimitExceeded, "while True:\n    pass", "for (;;) {}", "loop {}"),
    (
        Verdict::MemoryLimitExceeded,
        "blocks = []\nwhile True:\n    blocks.append(bytearray(1 << 20))",
        "const blocks = [];\nfor (;;) blocks.push(new Uint8Array(1 << 20));",
        "blocks = []\nloop { blocks << ('x' * (1 << 20)) }",
    ),
    (
        Verdict::OutputLimitExceeded,
        "while True:\n    print('x' * 1000)",
        "for (;;) console.log('x'.repeat(1000));",
        "loop { puts 'x' * 1000 }",
    ),
];

fn verdict_request(language: &str, source: &str) -> JudgeRequest {
    let mut request = request(language, source, vec![Test::stdio("2 3\n", "5\n")]);
    request.limits = LimitsRequest { time_ms: Some(500), memory_mb: Some(64), output_kb: Some(16) };
    request
}

fn check_every_verdict(language: Language) {
    for (expected, python, javascript, ruby) in VERDICT_PROGRAMS {
        let source = match language {
            Language::Python => python,
            Language::Javascript => javascript,
            _ => ruby,
        };
        let report = judge(verdict_request(language.as_str(), source)).unwrap();
        let test = &report.tests[0];
        assert_eq!(test.verdict, *expected, "{language} program {source:?}: {test:#?} {:#?}", report.compile);
        if *expected == Verdict::MemoryLimitExceeded {
            assert!(test.memory_kb <= 64 * 1024, "memory is the program's, not the runtime's: {test:#?}");
        }
        if *expected == Verdict::OutputLimitExceeded {
            assert!(test.stdout.len() <= 16 * 1024 + 1024, "output is capped");
        }
    }
}

#[test]
fn every_verdict_in_python() {
    check_every_verdict(Language::Python);
}

#[test]
fn every_verdict_in_javascript() {
    check_every_verdict(Language::Javascript);
}

#[test]
fn every_verdict_in_ruby() {
    check_every_verdict(Language::Ruby);
}

/// Ruby runs each program from its snapshot through tools/runtime_drivers/ruby.rb, as `ruby -e` would run it: at the
/// top level of `-e`, at_exit handlers last first (their `exit` sets the status), messages as Ruby prints them, the
/// driver itself out of sight, the standard library and bundled gems there, and no JavaScript host.
#[test]
fn ruby_runs_each_program_as_ruby_dash_e_would() {
    let test = single(
        "ruby",
        "at_exit { puts 'last'; exit 4 }
at_exit { puts 'first' }
puts [__FILE__, $0, self, defined?(CodeCapsule).inspect].join(' ')",
        "",
        "-e -e main nil\nfirst\nlast\n",
    );
    assert_eq!((test.verdict, test.exit_code), (Verdict::RuntimeError, Some(4)), "{test:#?}");
    assert_eq!(test.stdout, "-e -e main nil\nfirst\nlast\n");

    let test = single("ruby", "def half(n) = raise(ArgumentError, 'odd')\nhalf(3)", "", "");
    assert_eq!(test.stderr, "-e:1:in 'Object#half': odd (ArgumentError)\n\tfrom -e:2:in '<main>'\n", "{test:#?}");

    let report = judge(request("ruby", "puts(1", vec![Test::stdio("", "1\n")])).unwrap();
    assert_eq!(report.verdict, Verdict::CompilationError, "{report:#?}");
    assert!(report.compile.output.starts_with("-e: -e:1: syntax error"), "{}", report.compile.output);

    let test = single("ruby", "require 'set'\nrequire 'prime'\nputs Set[*Prime.first(3)].sum", "", "10\n");
    assert_eq!(test.verdict, Verdict::Accepted, "{test:#?}");

    let test = single("ruby", "require 'js'\nJS.global", "", "");
    assert_eq!(test.verdict, Verdict::RuntimeError, "{test:#?}");
    assert!(test.message.as_deref().unwrap_or_default().contains("needs a JavaScript host"), "{test:#?}");
}

/// CPython and Ruby compile a program once for all its tests when that pays (the tests would compile it again more
/// than the packs' `worth_from_bytes`), and `compile.time_ms` reports that run; a short program is compiled by each
/// test. Either way every test starts from nothing the others did, and a syntax error is found without a test run.
#[test]
fn a_long_program_is_compiled_once_for_its_tests() {
    for (language, definition, program) in [
        (
            "python",
            "def f{i}(x):\n    return [x * {i}, str(x)]\n",
            "import sys\nsys.seen = getattr(sys, 'seen', 0) + 1\nprint(sys.seen, f3(2)[0])",
        ),
        (
            "ruby",
            "def f{i}(x)\n  [x * {i}, x.to_s]\nend\n",
            "$seen = ($seen || 0) + 1\nputs [$seen, f3(2)[0]].join(' ')",
        ),
    ] {
        let long: String = (0..400).map(|i| definition.replace("{i}", &i.to_string())).collect::<String>() + program;
        let tests = (0..5).map(|_| Test::stdio("", "1 6\n")).collect::<Vec<_>>();
        let report = judge(request(language, &long, tests.clone())).unwrap();
        assert_eq!(report.verdict, Verdict::Accepted, "{language}: {report:#?}");
        assert!(report.compile.time_ms > 0.0, "{language}: compiled once: {report:#?}");
        let short = if language == "python" { "print('1 6')" } else { "puts '1 6'" };
        let report = judge(request(language, short, tests)).unwrap();
        assert_eq!((report.verdict, report.compile.time_ms), (Verdict::Accepted, 0.0), "{language}: {report:#?}");

        let unparsable = format!("{long}\n)(");
        let report = judge(request(language, &unparsable, vec![Test::stdio("", ""); 5])).unwrap();
        assert_eq!(report.verdict, Verdict::CompilationError, "{language}: {report:#?}");
        let not_run = |test: &TestReport| test.time_ms == 0.0 && test.fuel.is_none();
        assert!(report.tests.iter().all(not_run), "{language}: found by the compile run alone: {report:#?}");
    }
}

#[test]
fn runtime_errors_say_what_was_raised() {
    let test = single("python", "raise ValueError('boom')", "", "");
    assert_eq!(test.verdict, Verdict::RuntimeError);
    assert!(test.stderr.contains("ValueError: boom"), "{test:#?}");
    let test = single("ruby", "raise ArgumentError, 'boom'", "", "");
    assert!(test.stderr.contains("boom (ArgumentError)"), "{test:#?}");
    let test = single("javascript", "throw new RangeError('boom');", "", "");
    assert!(test.stderr.contains("RangeError: boom"), "{test:#?}");
}

#[test]
fn no_state_crosses_tests_started_from_the_snapshot() {
    // Each test appends to a module-level list and to a builtin: a shared interpreter would count up.
    let source = "import sys\nsys.modules.setdefault('seen', []).append(1)\nprint(len(sys.modules['seen']))";
    let tests = (0..4).map(|_| Test::stdio("", "1\n")).collect();
    let report = judge(request("python", source, tests)).unwrap();
    assert!(report.tests.iter().all(|test| test.verdict == Verdict::Accepted), "{report:#?}");
    // And nothing the warm-up did is visible as a name in __main__.
    let test = single("python", "print(sorted(k for k in globals() if not k.startswith('__')))", "", "[]\n");
    assert_eq!(test.verdict, Verdict::Accepted, "{test:#?}");
}

/// Ten tests of one submission in every language: each program reads and then changes what a shared interpreter
/// would carry into the next test (a global, a module's attribute or a class, the builtins, the RNG's state, the
/// clock) and
/// prints what it found. Every test must print what a fresh interpreter prints: the one-test run's output.
#[test]
fn ten_tests_share_no_state_in_any_language() {
    let programs = [
        (
            "python",
            "import builtins, json, random, sys, time\n\
             print(getattr(sys, 'seen', 0), getattr(json, 'seen', 0), hasattr(builtins, 'seen'), random.random(), \
             time.time())\n\
             sys.seen = 1; json.seen = 1; builtins.seen = 1; random.seed(7); time.sleep(5)\n",
        ),
        (
            "javascript",
            "console.log(globalThis.seen ?? 0, typeof Object.prototype.seen, Math.random(), Date.now());\n\
             globalThis.seen = 1; Object.prototype.seen = 1; for (let i = 0; i < 9; i++) Math.random();\n",
        ),
        (
            "ruby",
            "puts [$seen.inspect, defined?(SEEN).inspect, String.method_defined?(:seen), rand, Time.now.to_f].join(' ')\n\
             $seen = 1; SEEN = 1; class String; def seen; end; end; srand(7)\n",
        ),
    ];
    for (language, source) in programs {
        let fresh = single(language, source, "", "");
        assert!(fresh.verdict == Verdict::WrongAnswer && !fresh.stdout.is_empty(), "{language}: {fresh:#?}");
        let tests = (0..10).map(|_| Test::stdio("", &fresh.stdout)).collect();
        let report = judge(request(language, source, tests)).unwrap();
        let verdicts: Vec<Verdict> = report.tests.iter().map(|test| test.verdict).collect();
        assert_eq!(verdicts, vec![Verdict::Accepted; 10], "{language}: a test saw another's state: {report:#?}");
    }
}

#[test]
fn the_clock_and_randomness_are_deterministic() {
    let source = "import random, time\nprint(random.random(), time.time())";
    let report = judge(request("python", source, vec![Test::stdio("", ""), Test::stdio("", "")])).unwrap();
    assert_eq!(report.tests[0].stdout, report.tests[1].stdout);
}

#[test]
fn the_program_is_data_not_arguments() {
    // A program that looks like interpreter flags is still only the program.
    let test = single("python", "-c", "", "");
    assert_eq!(test.verdict, Verdict::RuntimeError, "{test:#?}");
    let test = single("ruby", "--version", "", "");
    assert_ne!(test.verdict, Verdict::Accepted, "{test:#?}");
}

/// The same capsule through the native Python judge and the WebAssembly one: every verdict agrees.
#[test]
fn native_and_wasm_python_agree_on_every_verdict() {
    use codecapsule_native::{NativeJudge, Runtime};
    // SAFETY: set before the native judge's first box; this test binary has no other native judge.
    unsafe { std::env::set_var("SANDBOX_DIR", codecapsule_test_support::test_sandbox_dir("runtimes")) };
    let native = Arc::new(NativeJudge::new(Runtime::python()));
    for (expected, python, _, _) in VERDICT_PROGRAMS {
        let mut native_request = verdict_request("python", python);
        native_request.engine = Some(EngineChoice::Native);
        let submission =
            Submission::check(native_request, |language| native.judges(language), |_| String::new()).expect("valid");
        let native_report =
            codecapsule_test_support::block_on(native.clone().judge(Arc::new(submission), Deadline::for_request(None)))
                .unwrap();
        let wasm_report = judge(verdict_request("python", python)).unwrap();
        assert_eq!(native_report.tests[0].verdict, *expected, "native: {python:?} {native_report:#?}");
        assert_eq!(wasm_report.tests[0].verdict, native_report.tests[0].verdict, "wasm vs native: {python:?}");
        assert_eq!(wasm_report.tests[0].stdout, native_report.tests[0].stdout, "same output: {python:?}");
    }
}

/// Packs copied into a temporary directory, so that a test may alter them.
fn copied_packs() -> tempdir::Dir {
    let dir = tempdir::Dir::new();
    for entry in std::fs::read_dir(packs_dir()).unwrap() {
        let entry = entry.unwrap();
        let target = dir.path().join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir(&target).unwrap();
            for file in std::fs::read_dir(entry.path()).unwrap() {
                let file = file.unwrap();
                std::fs::copy(file.path(), target.join(file.file_name())).unwrap();
            }
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
    dir
}

mod tempdir {
    pub struct Dir(std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            let path = std::env::temp_dir().join(format!("codecapsule-packs-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }
        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn judge_with(dir: &Path, request: JudgeRequest) -> Result<JudgeReport, JudgeError> {
    judge_by(
        &RuntimeJudge::new(Arc::new(RuntimePacks::new(PackSource::Directory(dir.to_path_buf()), 1 << 30))),
        request,
    )
}

#[test]
fn a_tampered_pack_is_refused_with_a_clear_error() {
    let dir = copied_packs();
    let module = dir.path().join("quickjs-ng-0.17.0/qjs-wasi-reactor.wasm");
    let mut bytes = std::fs::read(&module).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&module, bytes).unwrap();
    let err = judge_with(dir.path(), request("javascript", "console.log(1)", vec![Test::stdio("", "1\n")]))
        .expect_err("a tampered module must not run");
    assert_eq!(err.code(), ErrorCode::JudgeUnavailable);
    let message = err.to_string();
    assert!(
        message.contains("SHA-256") && message.contains("quickjs-ng-0.17.0") && message.contains("make packs"),
        "{message}"
    );
}

/// The snapshots `make packs` bakes into the packs judge exactly as the ones taken at load: the same programs print
/// the same in Python and Ruby from both. A baked file that was altered is refused like an altered module; one taken
/// of another launch is set aside and the snapshot taken afresh.
#[test]
fn a_baked_snapshot_judges_as_one_taken_at_load() {
    let manifest_of = |dir: &Path, pack: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join(pack).join("manifest.json")).unwrap()).unwrap()
    };
    for pack in ["cpython-3.12.0", "ruby-3.4.1"] {
        assert!(
            manifest_of(&packs_dir(), pack)["snapshot"].is_object(),
            "{pack} has no baked snapshot: run `make packs`"
        );
    }
    let live = copied_packs();
    for pack in ["cpython-3.12.0", "ruby-3.4.1"] {
        let mut manifest = manifest_of(live.path(), pack);
        manifest.as_object_mut().unwrap().remove("snapshot");
        std::fs::write(live.path().join(pack).join("manifest.json"), manifest.to_string()).unwrap();
    }
    let programs = [
        ("python", "import sys, random\nprint(sys.stdin.read().upper(), random.random(), sorted(sys.modules)[:5])"),
        ("ruby", "puts STDIN.read.upcase, rand, $LOADED_FEATURES.size, ObjectSpace.count_objects[:T_STRING] > 0"),
    ];
    for (language, source) in programs {
        let baked = judge(request(language, source, vec![Test::stdio("hi", "")])).unwrap();
        let taken = judge_with(live.path(), request(language, source, vec![Test::stdio("hi", "")])).unwrap();
        assert!(!baked.tests[0].stdout.is_empty(), "{language}: {baked:#?}");
        assert_eq!(baked.tests[0].stdout, taken.tests[0].stdout, "{language}: baked and taken at load differ");
    }

    let altered = copied_packs();
    let file = altered.path().join("ruby-3.4.1/snapshot.bin");
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let err = judge_with(altered.path(), request("ruby", "puts 1", vec![Test::stdio("", "1\n")])).unwrap_err();
    assert_eq!(err.code(), ErrorCode::JudgeUnavailable);
    assert!(err.to_string().contains("snapshot.bin") && err.to_string().contains("SHA-256"), "{err}");

    let stale = copied_packs();
    let mut manifest = manifest_of(stale.path(), "ruby-3.4.1");
    let driver = manifest["launch"]["warm_up"].as_str().unwrap().to_string();
    manifest["launch"]["warm_up"] = format!("{driver}\nSTALE = true\n").into();
    std::fs::write(stale.path().join("ruby-3.4.1/manifest.json"), manifest.to_string()).unwrap();
    let report = judge_with(stale.path(), request("ruby", "puts defined?(STALE)", vec![Test::stdio("", "constant\n")]));
    assert_eq!(report.unwrap().verdict, Verdict::Accepted, "the snapshot of the changed warm-up was taken at load");
}

#[test]
fn a_missing_pack_or_broken_manifest_is_a_clear_error() {
    let dir = copied_packs();
    std::fs::write(dir.path().join("index.json"), r#"{"python": "cpython-3.12.0"}"#).unwrap();
    let err = judge_with(dir.path(), request("ruby", "puts 1", vec![Test::stdio("", "1\n")])).unwrap_err();
    assert!(err.to_string().contains("no runtime pack serves ruby"), "{err}");
    std::fs::write(dir.path().join("cpython-3.12.0/manifest.json"), r#"{"language": "python"}"#).unwrap();
    let err = judge_with(dir.path(), request("python", "print(1)", vec![Test::stdio("", "1\n")])).unwrap_err();
    assert!(err.to_string().contains("not a valid runtime manifest"), "{err}");
}

/// Packs read over HTTP from an S3 bucket (moto_server's S3, path style), as from R2's public URL: the QuickJS pack
/// judges; the same pack with its module altered in the bucket is refused.
#[test]
fn packs_are_read_from_an_s3_bucket_and_checked() {
    let (_moto, endpoint) = codecapsule_test_support::start_moto();
    let bucket = format!("{endpoint}/packs");
    let local = packs_dir();
    let pack = "quickjs-ng-0.17.0";
    let module = "qjs-wasi-reactor.wasm";
    let put = |key: String, body: Vec<u8>| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            // Public read, as an R2 bucket behind its public URL: the judge reads anonymously.
            let response =
                reqwest::Client::new().put(key).header("x-amz-acl", "public-read").body(body).send().await.unwrap();
            assert!(response.status().is_success(), "{response:?}");
        });
    };
    put(bucket.clone(), Vec::new());
    put(format!("{bucket}/runtimes/index.json"), format!(r#"{{"javascript": "{pack}"}}"#).into_bytes());
    put(
        format!("{bucket}/runtimes/{pack}/manifest.json"),
        std::fs::read(local.join(pack).join("manifest.json")).unwrap(),
    );
    let bytes = std::fs::read(local.join(pack).join(module)).unwrap();
    put(format!("{bucket}/runtimes/{pack}/{module}"), bytes.clone());

    let from_bucket =
        || RuntimeJudge::new(Arc::new(RuntimePacks::new(PackSource::Url(format!("{bucket}/runtimes")), 1 << 30)));
    let program = || request("javascript", "console.log(6 * 7);", vec![Test::stdio("", "42\n")]);
    let report = judge_by(&from_bucket(), program()).unwrap();
    assert_eq!(report.verdict, Verdict::Accepted, "{report:#?}");

    let mut altered = bytes;
    altered[100] ^= 1;
    put(format!("{bucket}/runtimes/{pack}/{module}"), altered);
    let err = judge_by(&from_bucket(), program()).unwrap_err();
    assert!(err.to_string().contains("SHA-256"), "{err}");
    let missing = RuntimeJudge::new(Arc::new(RuntimePacks::new(
        PackSource::Url(format!("{endpoint}/no-such-bucket/runtimes")),
        1 << 30,
    )));
    let err = judge_by(&missing, program()).unwrap_err();
    assert!(err.to_string().contains("index.json") && err.to_string().contains("404"), "{err}");
}

#[test]
fn javascript_runs_promise_jobs_and_top_level_await() {
    let test = single(
        "javascript",
        "Promise.resolve().then(() => console.log('later'));\nconsole.log('now');\nconst x = await Promise.resolve(42);\nconsole.log(x);",
        "",
        "now\nlater\n42\n",
    );
    assert_eq!(test.verdict, Verdict::Accepted, "{test:#?}");
}

/// The README's examples for these languages are accepted as they are.
#[test]
fn the_readme_examples_are_accepted() {
    for example in [
        include_str!("../../../examples/python-wasm-sum.json"),
        include_str!("../../../examples/javascript-sum.json"),
        include_str!("../../../examples/ruby-sum.json"),
    ] {
        let report = judge(serde_json::from_str(example).unwrap()).unwrap();
        assert_eq!(report.verdict, Verdict::Accepted, "{example}: {report:#?}");
    }
}
