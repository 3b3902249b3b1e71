//! Function capsules judged in WebAssembly (CPython 3.12 from the packs `make packs` fetches): every verdict, forged
//! results, exact round trips, and agreement with the native CPython judge on the same capsule.

use codecapsule_core::deadline::Deadline;
use codecapsule_core::judge::{Judge, JudgeError, Submission};
use codecapsule_core::model::{EngineChoice, JudgeReport, JudgeRequest, Verdict};
use codecapsule_native::{NativeJudge, Runtime};
use codecapsule_test_support::functions::{PYTHON_TWO_SUM, assert_fates, echo_request, fates, two_sum, two_sum_cases};
use codecapsule_wasm::runtimes::{PackSource, RuntimeJudge, RuntimePacks};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

fn packs_dir() -> PathBuf {
    let dir = std::env::var("RUNTIME_PACKS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.data/objects/runtimes"));
    assert!(dir.join("index.json").is_file(), "no runtime packs in {}: run `make packs` first", dir.display());
    dir
}

fn wasm_judge() -> Arc<RuntimeJudge> {
    static JUDGE: OnceLock<Arc<RuntimeJudge>> = OnceLock::new();
    JUDGE
        .get_or_init(|| {
            Arc::new(RuntimeJudge::new(Arc::new(RuntimePacks::new(PackSource::Directory(packs_dir()), 1 << 30))))
        })
        .clone()
}

fn judge_on(judge: Arc<dyn Judge>, request: JudgeRequest) -> Result<JudgeReport, JudgeError> {
    let submission = Submission::check(request, |language| judge.judges(language), |_| String::new())?;
    codecapsule_test_support::block_on(judge.judge(Arc::new(submission), Deadline::for_request(None)))
}

fn judge(mut request: JudgeRequest) -> Result<JudgeReport, JudgeError> {
    request.engine = Some(EngineChoice::Wasm);
    judge_on(wasm_judge(), request)
}

fn verdicts(report: &JudgeReport) -> Vec<Verdict> {
    report.tests.iter().map(|test| test.verdict).collect()
}

/// A program with a different fate per call: raised, ran forever, ate memory, flooded stdout, returned right, wrong.
const FATES: &str = r#"
def two_sum(nums, target):
    print("call", target)
    if target == 1:
        raise ValueError("no pair for %d" % target)
    if target == 2:
        while True:
            pass
    if target == 3:
        x = []
        while True:
            x.append(" " * 1000000)
    if target == 4:
        print("x" * 100000)
    if target == 6:
        return [9, 9]
    return [0, 1]
"#;

#[test]
fn python_in_webassembly_calls_the_function_and_names_wrong_calls() {
    let report = judge(two_sum("python", PYTHON_TWO_SUM, &two_sum_cases(), true)).unwrap();
    assert_eq!(report.verdict, Verdict::Accepted, "{report:#?}");
    assert_eq!(report.engine.name, "wasmi");
    let report = judge(two_sum("python", FATES, &fates(), false)).unwrap();
    assert_fates(&report, "ValueError: no pair for 1");
}

#[test]
fn native_and_webassembly_python_agree_on_the_same_capsule() {
    let native: Arc<dyn Judge> = {
        // SAFETY: set before the first sandbox is made, in this test only.
        unsafe { std::env::set_var("SANDBOX_DIR", codecapsule_test_support::test_sandbox_dir("wasm-functions")) };
        Arc::new(NativeJudge::new(Runtime::python()))
    };
    for (source, cases) in [(PYTHON_TWO_SUM, two_sum_cases()), (FATES, fates())] {
        let request = two_sum("python", source, &cases, true);
        let in_wasm = judge(request.clone()).unwrap();
        let natively = judge_on(native.clone(), request).unwrap();
        assert_eq!(verdicts(&in_wasm), verdicts(&natively), "{in_wasm:#?}\n{natively:#?}");
        for (wasm, native) in in_wasm.tests.iter().zip(&natively.tests) {
            assert_eq!((&wasm.message, &wasm.result, &wasm.stdout), (&native.message, &native.result, &native.stdout));
        }
    }
    let (request, value) = echo_request("python", "def echo(value, scale):\n    return value\n");
    let natively = judge_on(native, request.clone()).unwrap();
    let in_wasm = judge(request).unwrap();
    assert_eq!(natively.tests[0].result, Some(vec![value.clone()]));
    assert_eq!(in_wasm.tests[0].result, Some(vec![value]), "{in_wasm:#?}");
}

#[test]
fn forged_results_and_early_exits_in_webassembly_are_not_results() {
    let forgeries = [
        "import os\ndef two_sum(nums, target):\n    for fd in range(1, 8):\n        try:\n            os.write(fd, b'\\x1e returned 0 [0, 1]\\n')\n        except OSError:\n            pass\n    return [9, 9]\n",
        "import builtins, os\nbuiltins.isinstance = lambda v, t: False\nos.write = lambda fd, data: len(data)\ndef two_sum(nums, target):\n    print('\\x1e0 returned 0.1 [0, 1]')\n    return [9, 9]\n",
    ];
    for forgery in forgeries {
        let report = judge(two_sum("python", forgery, &two_sum_cases()[..1], false)).unwrap();
        assert_eq!(report.tests[0].result, Some(vec![json!([9, 9])]), "{forgery}\n{report:#?}");
    }
    let exits =
        "import os, sys\ndef two_sum(nums, target):\n    if target == 9:\n        os._exit(0)\n    sys.exit(0)\n";
    let report = judge(two_sum("python", exits, &two_sum_cases(), false)).unwrap();
    assert!(report.tests.iter().all(|test| test.verdict == Verdict::RuntimeError), "{report:#?}");
    let missing = judge(two_sum("python", "def twosum(nums, target):\n    return []\n", &two_sum_cases(), true));
    let missing = missing.unwrap();
    assert_eq!(missing.verdict, Verdict::CompilationError);
    assert!(missing.compile.output.contains("no top-level function `two_sum`"), "{}", missing.compile.output);
}

const JAVASCRIPT_TWO_SUM: &str = "export function two_sum(nums, target) {\n  const seen = new Map();\n  for (let i = 0; i < nums.length; i++) {\n    if (seen.has(target - nums[i])) return [seen.get(target - nums[i]), i];\n    seen.set(nums[i], i);\n  }\n}\n";

const JAVASCRIPT_FATES: &str = r#"function two_sum(nums, target) {
  console.log("call", target);
  if (target === 1) throw new RangeError("no pair for " + target);
  if (target === 2) for (;;) {}
  if (target === 3) { const x = []; for (;;) x.push(new Uint8Array(1 << 20)); }
  if (target === 4) console.log("x".repeat(100000));
  if (target === 6) return [9, 9];
  return [0, 1];
}
"#;

#[test]
fn javascript_functions_get_every_verdict() {
    let report = judge(two_sum("javascript", JAVASCRIPT_TWO_SUM, &two_sum_cases(), true)).unwrap();
    assert_eq!(report.verdict, Verdict::Accepted, "{report:#?}");
    let report = judge(two_sum("javascript", JAVASCRIPT_FATES, &fates(), false)).unwrap();
    assert_fates(&report, "RangeError: no pair for 1");

    let (request, value) = echo_request("javascript", "function echo(value, scale) { return value; }\n");
    let report = judge(request).unwrap();
    assert_eq!(report.tests[0].result, Some(vec![value]), "{report:#?}");
}

#[test]
fn javascript_load_failures_are_compilation_errors_naming_them() {
    for (source, expected) in [
        ("function two_sum(nums, target) {\n  return [;\n}\n", "SyntaxError"),
        ("function twoSum(nums, target) { return []; }\n", "no top-level function `two_sum`"),
        ("function two_sum(nums) { return []; }\n", "declares 1 parameter"),
    ] {
        let report = judge(two_sum("javascript", source, &two_sum_cases(), true)).unwrap();
        assert_eq!(report.verdict, Verdict::CompilationError, "{source}\n{report:#?}");
        assert!(report.compile.output.contains(expected), "{source}\n{}", report.compile.output);
    }
}

#[test]
fn javascript_forgeries_change_nothing() {
    let forgeries = [
        "JSON.stringify = () => '[0,1]';\nArray.prototype.toJSON = function () { return [0, 1]; };\nArray.prototype.join = () => '0,1';\nfunction two_sum(nums, target) { return [9, 9]; }\n",
        "Array.prototype[Symbol.iterator] = function* () { yield [0, 1]; };\nfunction two_sum(nums, target) { console.log('\\x1e0 returned 0 [0,1]'); std.out.puts('\\x1e returned 0 [0,1]\\n'); return [9, 9]; }\n",
        "function two_sum(nums, target) { std.exit(0); }\n",
    ];
    for forgery in forgeries {
        let report = judge(two_sum("javascript", forgery, &two_sum_cases()[..1], false)).unwrap();
        assert_ne!(report.verdict, Verdict::Accepted, "{forgery}\n{report:#?}");
    }
}

const RUBY_TWO_SUM: &str = "def two_sum(nums, target)\n  seen = {}\n  nums.each_with_index do |n, i|\n    return [seen[target - n], i] if seen.key?(target - n)\n    seen[n] = i\n  end\n  nil\nend\n";

const RUBY_FATES: &str = r#"def two_sum(nums, target)
  puts "call #{target}"
  raise ArgumentError, "no pair for #{target}" if target == 1
  loop {} if target == 2
  if target == 3
    blocks = []
    loop { blocks << ('x' * (1 << 20)) }
  end
  puts "x" * 100_000 if target == 4
  return [9, 9] if target == 6
  [0, 1]
end
"#;

#[test]
fn ruby_functions_get_every_verdict() {
    let report = judge(two_sum("ruby", RUBY_TWO_SUM, &two_sum_cases(), true)).unwrap();
    assert_eq!(report.verdict, Verdict::Accepted, "{report:#?}");
    let report = judge(two_sum("ruby", RUBY_FATES, &fates(), false)).unwrap();
    assert_fates(&report, "ArgumentError: no pair for 1");
    assert!(report.tests[0].stderr.contains("main.rb:3"), "{}", report.tests[0].stderr);

    let (request, value) = echo_request("ruby", "def echo(value, scale) = value\n");
    let report = judge(request).unwrap();
    assert_eq!(report.tests[0].result, Some(vec![value]), "{report:#?}");
}

#[test]
fn ruby_load_failures_and_forgeries() {
    for (source, expected) in [
        ("def two_sum(nums, target)\n  [\nend\n", "syntax"),
        ("def twoSum(nums, target) = []\n", "no top-level method `two_sum`"),
        ("def two_sum(nums) = []\n", "takes (nums)"),
    ] {
        let report = judge(two_sum("ruby", source, &two_sum_cases(), true)).unwrap();
        assert_eq!(report.verdict, Verdict::CompilationError, "{source}\n{report:#?}");
        assert!(report.compile.output.contains(expected), "{source}\n{}", report.compile.output);
    }
    let forgeries = [
        "class Array\n  def to_json(*) = '[0,1]'\n  def each(&) = [0, 1].each(&)\n  def size = 2\nend\nclass Integer\n  def to_s(*) = '0'\nend\ndef two_sum(nums, target) = [9, 9]\n",
        "def two_sum(nums, target)\n  puts \"\\x1e0 returned 0 [0,1]\"\n  STDOUT.write(\"\\x1e returned 0 [0,1]\\n\")\n  exit!(0) if target == 9\n  [9, 9]\nend\n",
    ];
    for forgery in forgeries {
        let report = judge(two_sum("ruby", forgery, &two_sum_cases()[..1], false)).unwrap();
        assert_ne!(report.verdict, Verdict::Accepted, "{forgery}\n{report:#?}");
    }
}

#[test]
fn an_integer_given_for_a_float_arrives_as_a_float() {
    for (language, source) in [
        ("ruby", "def half(x) = x / 2\n"),
        ("python", "def half(x):\n    return x / 2 if isinstance(x, float) else 'an int'\n"),
        ("javascript", "function half(x) { return x / 2; }\n"),
    ] {
        let request: codecapsule_core::model::JudgeRequest = serde_json::from_value(json!({
            "language": language, "source": source,
            "entry": {"kind": "function", "name": "half", "params": [{"name": "x", "type": "float"}], "returns": "float"},
            "tests": [{"args": [3], "expected_return": 1.5}, {"args": [4], "expected_return": 2}],
        }))
        .unwrap();
        let report = judge(request).unwrap();
        assert_eq!(report.verdict, Verdict::Accepted, "{language}: {report:#?}");
    }
}
