//! `make bench` for the languages judged in WebAssembly (CPython, QuickJS-NG, Ruby on wasmi). Prints a Markdown
//! report (copied into BENCHMARKS.md):
//! 1. per runtime: loading the pack (hash, compile, warm-up snapshot, calibration) and the start-up of one test;
//!    CPython from its snapshot against the same pack without a warm-up (every test boots the interpreter);
//! 2. a 10-test capsule judged end to end, per language, and Python's against the native judge.
//!    Interleaved rounds, so every side sees the same machine load.

use codecapsule_core::deadline::Deadline;
use codecapsule_core::judge::{Judge, Submission};
use codecapsule_core::model::{EngineChoice, JudgeRequest, Verdict};
use codecapsule_native::{NativeJudge, Runtime};
use codecapsule_wasm::runtimes::{PackSource, RuntimeJudge, RuntimePacks};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROUNDS: usize = 7;

fn main() {
    let packs = std::env::var("RUNTIME_PACKS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.data/objects/runtimes"));
    assert!(packs.join("index.json").is_file(), "no packs in {}: run `make packs`", packs.display());
    let naive_packs = without_warm_up(&packs);

    let snapshot: Arc<dyn Judge> =
        Arc::new(RuntimeJudge::new(Arc::new(RuntimePacks::new(PackSource::Directory(packs.clone()), 1 << 30))));
    let naive: Arc<dyn Judge> =
        Arc::new(RuntimeJudge::new(Arc::new(RuntimePacks::new(PackSource::Directory(naive_packs.clone()), 1 << 30))));
    let native: Arc<dyn Judge> = Arc::new(NativeJudge::new(Runtime::python()));
    // One runtime for the whole bench, as a function has: a judging is awaited on it.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let judge_on = |judge: &Arc<dyn Judge>, submission: Submission| {
        runtime.block_on(judge.clone().judge(Arc::new(submission), Deadline::for_request(None))).unwrap()
    };

    let sum = |language: &str| match language {
        "python" => "import sys\nprint(sum(map(int, sys.stdin.read().split())))",
        "javascript" => {
            "console.log(std.in.readAsString().trim().split(/\\s+/).map(Number).reduce((a, b) => a + b, 0));"
        }
        _ => "puts STDIN.read.split.map(&:to_i).sum",
    };
    let sides: Vec<(&str, &str, &Arc<dyn Judge>, EngineChoice)> = vec![
        ("python", "CPython 3.12, snapshot", &snapshot, EngineChoice::Wasm),
        ("python", "CPython 3.12, boot per test", &naive, EngineChoice::Wasm),
        ("python", "native CPython (sandbox)", &native, EngineChoice::Native),
        ("javascript", "QuickJS-NG reactor", &snapshot, EngineChoice::Wasm),
        ("ruby", "Ruby 3.2, boot per test", &snapshot, EngineChoice::Wasm),
    ];

    println!("## Languages in WebAssembly (issue: WASM-first languages)\n");
    println!(
        "### Loading a runtime (first request for its language): read + SHA-256 + compile + snapshot + calibration\n"
    );
    println!("| runtime | load | start-up of one test (calibrated, empty program) | resident memory added |");
    println!("|---|---|---|---|");
    for (language, name, judge, engine) in &sides {
        if *engine == EngineChoice::Native {
            continue;
        }
        let resident_before = resident_bytes();
        let started = Instant::now();
        let report = judge_on(judge, submission(&***judge, language, sum(language), *engine));
        assert_eq!(report.verdict, Verdict::Accepted, "{name}: {report:#?}");
        println!(
            "| {name} | {:.0} ms (with its first 10-test capsule) | {:.1} ms | {:.1} MB |",
            millis(started.elapsed()),
            report.engine.startup_ms.unwrap_or_default(),
            resident_bytes().saturating_sub(resident_before) as f64 / 1e6
        );
    }

    println!("\n### A 10-test capsule end to end (sum of the input), {ROUNDS} interleaved rounds, runtimes loaded\n");
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); sides.len()];
    for _ in 0..ROUNDS {
        for (index, (language, name, judge, engine)) in sides.iter().enumerate() {
            let submission = submission(&***judge, language, sum(language), *engine);
            let started = Instant::now();
            let report = judge_on(judge, submission);
            times[index].push(started.elapsed());
            assert_eq!(report.verdict, Verdict::Accepted, "{name}: {report:#?}");
        }
    }
    let python_native = median(&times[2]);
    println!("| runtime | p50 | max | ratio to native CPython |");
    println!("|---|---|---|---|");
    for (index, (_, name, _, _)) in sides.iter().enumerate() {
        let p50 = median(&times[index]);
        let max = times[index].iter().max().copied().unwrap_or_default();
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.2} |",
            millis(p50),
            millis(max),
            p50.as_secs_f64() / python_native.as_secs_f64()
        );
    }
    println!(
        "\nSnapshot speed-up for CPython (boot per test / snapshot): {:.1}x",
        median(&times[1]).as_secs_f64() / median(&times[0]).as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(naive_packs);
}

fn submission(judge: &dyn Judge, language: &str, source: &str, engine: EngineChoice) -> Submission {
    let tests: Vec<serde_json::Value> = (1..=10)
        .map(|n| serde_json::json!({"stdin": format!("{n} {} {}\n", n * 2, n * 3), "expected_stdout": format!("{}\n", n * 6)}))
        .collect();
    let request: JudgeRequest = serde_json::from_value(serde_json::json!({
        "language": language, "source": source, "tests": tests, "engine": engine,
        "limits": {"time_ms": 2000, "memory_mb": 128}
    }))
    .unwrap();
    Submission::check(request, |language| judge.judges(language), |_| String::new()).unwrap()
}

/// A copy of the packs whose CPython has no warm-up, so that every test boots the interpreter.
fn without_warm_up(packs: &Path) -> PathBuf {
    let copy = std::env::temp_dir().join(format!("codecapsule-bench-packs-{}", std::process::id()));
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(packs.join("index.json")).unwrap()).unwrap();
    let pack = index["python"].as_str().unwrap();
    std::fs::create_dir_all(copy.join(pack)).unwrap();
    std::fs::copy(packs.join("index.json"), copy.join("index.json")).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(packs.join(pack).join("manifest.json")).unwrap()).unwrap();
    manifest["launch"].as_object_mut().unwrap().remove("warm_up");
    std::fs::write(copy.join(pack).join("manifest.json"), serde_json::to_vec(&manifest).unwrap()).unwrap();
    let module = manifest["module"].as_str().unwrap();
    std::fs::copy(packs.join(pack).join(module), copy.join(pack).join(module)).unwrap();
    copy
}

/// The process's resident memory, from /proc/self/statm (pages of 4 KiB).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|pages| pages.parse::<u64>().ok()).unwrap_or(0) * 4096
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
