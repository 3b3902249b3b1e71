//! `make bench` for function capsules (issue 17): per language, a 10-test function capsule (`add(a: int, b: int) ->
//! int`) judged end to end, warm, against the same exercise written as 10 stdin tests, in interleaved rounds on the
//! same judges. Native CPython, OpenJDK and Mono in the sandbox; CPython, QuickJS-NG and Ruby in WebAssembly. Prints a
//! Markdown table (copied into BENCHMARKS.md).

use codecapsule_core::deadline::Deadline;
use codecapsule_core::judge::{Judge, Submission};
use codecapsule_core::model::{EngineChoice, JudgeRequest, Verdict};
use codecapsule_native::{NativeJudge, Runtime};
use codecapsule_wasm::runtimes::{PackSource, RuntimeJudge, RuntimePacks};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{median, millis};

const ROUNDS: usize = 7;
const TESTS: i64 = 10;

/// A language as the bench judges it: the function, the stdin program, the engine, and the target (ms).
struct Side {
    name: &'static str,
    language: &'static str,
    engine: EngineChoice,
    function: &'static str,
    stdin: &'static str,
    target_ms: f64,
}

const SIDES: &[Side] = &[
    Side {
        name: "Python, native",
        language: "python",
        engine: EngineChoice::Native,
        function: "def add(a, b):\n    return a + b\n",
        stdin: "a, b = map(int, input().split())\nprint(a + b)\n",
        target_ms: 40.0,
    },
    Side {
        name: "Python, WebAssembly",
        language: "python",
        engine: EngineChoice::Wasm,
        function: "def add(a, b):\n    return a + b\n",
        stdin: "a, b = map(int, input().split())\nprint(a + b)\n",
        target_ms: 100.0,
    },
    Side {
        name: "JavaScript",
        language: "javascript",
        engine: EngineChoice::Wasm,
        function: "function add(a, b) { return a + b; }\n",
        stdin: "const [a, b] = std.in.getline().split(' ').map(Number);\nconsole.log(a + b);\n",
        target_ms: 20.0,
    },
    Side {
        name: "Ruby",
        language: "ruby",
        engine: EngineChoice::Wasm,
        function: "def add(a, b) = a + b\n",
        stdin: "a, b = gets.split.map(&:to_i)\nputs a + b\n",
        target_ms: 250.0,
    },
    Side {
        name: "Java",
        language: "java",
        engine: EngineChoice::Native,
        function: "public class Solution { public static long add(long a, long b) { return a + b; } }\n",
        stdin: "import java.util.*;\npublic class Main { public static void main(String[] x) { Scanner in = new Scanner(System.in); System.out.println(in.nextLong() + in.nextLong()); } }\n",
        target_ms: 400.0,
    },
    Side {
        name: "C#",
        language: "csharp",
        engine: EngineChoice::Native,
        function: "public class Solution { public static long add(long a, long b) { return a + b; } }\n",
        stdin: "using System;\npublic class Program { public static void Main() { var p = Console.ReadLine().Split(' '); Console.WriteLine(long.Parse(p[0]) + long.Parse(p[1])); } }\n",
        target_ms: 300.0,
    },
];

fn main() {
    let packs = std::env::var("RUNTIME_PACKS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.data/objects/runtimes"));
    assert!(packs.join("index.json").is_file(), "no packs in {}: run `make packs`", packs.display());
    let wasm: Arc<dyn Judge> =
        Arc::new(RuntimeJudge::new(Arc::new(RuntimePacks::new(PackSource::Directory(packs), 1 << 30))));
    let natives: Vec<Arc<dyn Judge>> = vec![
        Arc::new(NativeJudge::new(Runtime::python())),
        Arc::new(NativeJudge::new(Runtime::java())),
        Arc::new(NativeJudge::new(Runtime::csharp())),
    ];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let judge_of = |side: &Side| -> Arc<dyn Judge> {
        let language = codecapsule_core::model::Language::parse(side.language).unwrap();
        match side.engine {
            EngineChoice::Wasm => wasm.clone(),
            EngineChoice::Native => natives.iter().find(|judge| judge.judges(language)).unwrap().clone(),
        }
    };
    let time = |side: &Side, request: &JudgeRequest| {
        let judge = judge_of(side);
        let submission = Submission::check(request.clone(), |language| judge.judges(language), |_| String::new())
            .expect("a valid request");
        let started = Instant::now();
        let report = runtime.block_on(judge.judge(Arc::new(submission), Deadline::for_request(None))).unwrap();
        let elapsed = started.elapsed();
        assert_eq!(report.verdict, Verdict::Accepted, "{}: {report:#?}", side.name);
        (elapsed, Duration::from_secs_f64(report.compile.time_ms / 1000.0))
    };
    let requests: Vec<(JudgeRequest, JudgeRequest)> =
        SIDES.iter().map(|side| (function_request(side), stdin_request(side))).collect();
    // Warm: each judge has loaded its runtime and calibrated it before the first timed round.
    for (side, (function, stdin)) in SIDES.iter().zip(&requests) {
        time(side, function);
        time(side, stdin);
    }
    // Per side: (function capsule, its compile step), (stdin capsule, its compile step).
    let mut samples = vec![[(Vec::new(), Vec::new()), (Vec::new(), Vec::new())]; SIDES.len()];
    for _ in 0..ROUNDS {
        for (index, (side, (function, stdin))) in SIDES.iter().zip(&requests).enumerate() {
            for (kind, request) in [function, stdin].into_iter().enumerate() {
                let (total, compile) = time(side, request);
                samples[index][kind].0.push(total);
                samples[index][kind].1.push(compile);
            }
        }
    }
    println!("## Function capsules (function-call tests issue)\n");
    println!(
        "### A 10-test function capsule (`add(a: int, b: int) -> int`) against the same exercise as 10 stdin tests, \
         warm, median of {ROUNDS} interleaved rounds\n"
    );
    println!(
        "| language | 10 calls (of which compiling) | 10 stdin tests (of which compiling) | function / stdin | target | \
         met |"
    );
    println!("|---|---|---|---|---|---|");
    for (side, [function, stdin]) in SIDES.iter().zip(&samples) {
        let figures =
            |(totals, compiles): &(Vec<Duration>, Vec<Duration>)| (millis(median(totals)), millis(median(compiles)));
        let ((function, function_compile), (stdin, stdin_compile)) = (figures(function), figures(stdin));
        println!(
            "| {} | {function:.1} ms ({function_compile:.1}) | {stdin:.1} ms ({stdin_compile:.1}) | {:.2} | < {:.0} ms | \
             {} |",
            side.name,
            function / stdin,
            side.target_ms,
            if function < side.target_ms { "yes" } else { "no" }
        );
    }
}

fn function_request(side: &Side) -> JudgeRequest {
    let tests: Vec<Value> =
        (1..=TESTS).map(|n| json!({"args": [n, n * 2], "expected_return": n * 3, "hidden": n > 7})).collect();
    serde_json::from_value(json!({
        "language": side.language, "source": side.function, "engine": side.engine, "tests": tests,
        "entry": {"kind": "function", "name": "add", "returns": "int",
                  "params": [{"name": "a", "type": "int"}, {"name": "b", "type": "int"}]},
        "limits": {"time_ms": 2000, "memory_mb": 128},
    }))
    .unwrap()
}

fn stdin_request(side: &Side) -> JudgeRequest {
    let tests: Vec<Value> = (1..=TESTS)
        .map(|n| json!({"stdin": format!("{n} {}\n", n * 2), "expected_stdout": format!("{}\n", n * 3), "hidden": n > 7}))
        .collect();
    serde_json::from_value(json!({
        "language": side.language, "source": side.stdin, "engine": side.engine, "tests": tests,
        "limits": {"time_ms": 2000, "memory_mb": 128},
    }))
    .unwrap()
}
