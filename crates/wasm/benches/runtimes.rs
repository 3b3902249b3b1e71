//! `make bench` for the languages judged in WebAssembly (CPython, QuickJS-NG, Ruby on wasmi). Prints a Markdown
//! report (copied into BENCHMARKS.md):
//! 1. per runtime: loading the pack (hash, compile, snapshot, calibration: a cold instance's first request) and the
//!    start-up of one test; CPython from its snapshot against the same pack without a warm-up or driver (every test
//!    boots the interpreter and finalises it); the packs' baked snapshots against snapshots taken at load;
//! 2. 1-test and 10-test capsules judged end to end, per language, against the native Python judge;
//! 3. a long program's 10 tests with the program compiled once against compiled by every test (CPython, Ruby);
//! 4. resident memory per concurrent submission (four 10-test submissions at once, per language).
//!    Interleaved rounds, so every side sees the same machine load.

use codecapsule_core::deadline::Deadline;
use codecapsule_core::judge::{Judge, Submission};
use codecapsule_core::model::{EngineChoice, JudgeRequest, Verdict};
use codecapsule_native::{NativeJudge, Runtime};
use codecapsule_wasm::runtimes::{PackSource, RuntimeJudge, RuntimePacks};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{median, millis};

const ROUNDS: usize = 7;
/// Submissions judged at once for the memory figure.
const CONCURRENT: usize = 4;

fn main() {
    let packs = std::env::var("RUNTIME_PACKS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.data/objects/runtimes"));
    assert!(packs.join("index.json").is_file(), "no packs in {}: run `make packs`", packs.display());
    // CPython without a warm-up (and so no driver: the program is `-c`'s), so that every test boots the interpreter
    // and finalises it.
    let naive_packs = copied_packs(&packs, "boot", &["python"], |manifest| {
        manifest["launch"].as_object_mut().unwrap().remove("warm_up");
        manifest["launch"].as_object_mut().unwrap().remove("compile_once");
        manifest.as_object_mut().unwrap().remove("snapshot");
        manifest["launch"]["args"] = serde_json::json!(["python", "-I", "-S", "-c", "{source}"]);
    });

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
        ("ruby", "Ruby 3.4 reactor, snapshot", &snapshot, EngineChoice::Wasm),
    ];

    println!("## Languages in WebAssembly (issue: WASM-first languages)\n");
    println!(
        "### Loading a runtime (first request for its language): read + SHA-256 + compile + snapshot + calibration\n"
    );
    println!("| runtime | load | start-up of one test (calibrated, empty program) | resident memory added |");
    println!("|---|---|---|---|");
    let load_row = |name: &str, judge: &Arc<dyn Judge>, language: &str| {
        let resident_before = resident_bytes();
        let started = Instant::now();
        let report = judge_on(judge, submission_of(&**judge, language, sum(language), EngineChoice::Wasm, 10));
        assert_eq!(report.verdict, Verdict::Accepted, "{name}: {report:#?}");
        println!(
            "| {name} | {:.0} ms (with its first 10-test capsule) | {:.1} ms | {:.1} MB |",
            millis(started.elapsed()),
            report.engine.startup_ms.unwrap_or_default(),
            resident_bytes().saturating_sub(resident_before) as f64 / 1e6
        );
    };
    for (language, name, judge, engine) in &sides {
        if *engine != EngineChoice::Native {
            load_row(name, judge, language);
        }
    }
    // The same packs without the snapshots `make packs` bakes: loading takes them itself.
    let unbaked_packs = copied_packs(&packs, "unbaked", &[], |manifest| {
        manifest.as_object_mut().unwrap().remove("snapshot");
    });
    let unbaked: Arc<dyn Judge> =
        Arc::new(RuntimeJudge::new(Arc::new(RuntimePacks::new(PackSource::Directory(unbaked_packs.clone()), 1 << 30))));
    load_row("CPython 3.12, snapshot taken at load", &unbaked, "python");
    load_row("Ruby 3.4 reactor, snapshot taken at load", &unbaked, "ruby");

    println!(
        "\n### 1-test and 10-test capsules end to end (sum of the input), {ROUNDS} interleaved rounds, runtimes loaded\n"
    );
    let sizes = [1, 10];
    let mut times: Vec<Vec<Vec<Duration>>> = vec![vec![Vec::new(); sizes.len()]; sides.len()];
    for _ in 0..ROUNDS {
        for (index, (language, name, judge, engine)) in sides.iter().enumerate() {
            for (size_index, size) in sizes.iter().enumerate() {
                let submission = submission_of(&***judge, language, sum(language), *engine, *size);
                let started = Instant::now();
                let report = judge_on(judge, submission);
                times[index][size_index].push(started.elapsed());
                assert_eq!(report.verdict, Verdict::Accepted, "{name}: {report:#?}");
            }
        }
    }
    let python_native = median(&times[2][1]);
    println!("| runtime | 1 test p50 | 10 tests p50 | 10 tests max | 10 tests: ratio to native CPython |");
    println!("|---|---|---|---|---|");
    for (index, (_, name, _, _)) in sides.iter().enumerate() {
        let ten = median(&times[index][1]);
        let max = times[index][1].iter().max().copied().unwrap_or_default();
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.1} ms | {:.2} |",
            millis(median(&times[index][0])),
            millis(ten),
            millis(max),
            ten.as_secs_f64() / python_native.as_secs_f64()
        );
    }
    println!(
        "\nSnapshot speed-up for CPython (boot per test / snapshot, 10 tests): {:.1}x",
        median(&times[1][1]).as_secs_f64() / median(&times[0][1]).as_secs_f64()
    );

    println!("\n### A long program (200 functions, then the sum), 10 tests: compiled once against by every test\n");
    println!("| runtime | program | compiled once | compiled by every test | ratio |");
    println!("|---|---|---|---|---|");
    let per_test_packs = copied_packs(&packs, "per-test", &[], |manifest| {
        manifest.as_object_mut().unwrap().remove("snapshot");
        manifest["launch"].as_object_mut().unwrap().remove("compile_once");
    });
    let per_test: Arc<dyn Judge> = Arc::new(RuntimeJudge::new(Arc::new(RuntimePacks::new(
        PackSource::Directory(per_test_packs.clone()),
        1 << 30,
    ))));
    for (language, name) in [("python", "CPython 3.12"), ("ruby", "Ruby 3.4")] {
        let long = long_program(language, sum(language));
        let mut once = Vec::new();
        let mut every = Vec::new();
        for round in 0..=ROUNDS {
            for (judge, samples) in [(&snapshot, &mut once), (&per_test, &mut every)] {
                let submission = submission_of(&**judge, language, &long, EngineChoice::Wasm, 10);
                let started = Instant::now();
                let report = judge_on(judge, submission);
                assert_eq!(report.verdict, Verdict::Accepted, "{name}: {report:#?}");
                // The first round loads the runtimes.
                if round > 0 {
                    samples.push(started.elapsed());
                }
            }
        }
        println!(
            "| {name} | {} lines, {} bytes | {:.1} ms | {:.1} ms | {:.2} |",
            long.lines().count(),
            long.len(),
            millis(median(&once)),
            millis(median(&every)),
            median(&once).as_secs_f64() / median(&every).as_secs_f64()
        );
    }

    println!("\n### Resident memory per concurrent submission (4 at once, 10 tests each, runtimes loaded)\n");
    println!("| runtime | peak resident memory added, per submission |");
    println!("|---|---|");
    for (language, name, judge, engine) in &sides {
        let baseline = reset_peak_resident();
        std::thread::scope(|scope| {
            for _ in 0..CONCURRENT {
                scope.spawn(|| {
                    let submission = submission_of(&***judge, language, sum(language), *engine, 10);
                    let report = judge_on(judge, submission);
                    assert_eq!(report.verdict, Verdict::Accepted, "{name}: {report:#?}");
                });
            }
        });
        let added = peak_resident().saturating_sub(baseline) / CONCURRENT as u64;
        println!("| {name} | {:.1} MB |", added as f64 / 1e6);
    }
    let _ = std::fs::remove_dir_all(naive_packs);
    let _ = std::fs::remove_dir_all(unbaked_packs);
    let _ = std::fs::remove_dir_all(per_test_packs);
}

/// 200 small functions, never called, then `program`: compiling it is most of a test's work.
fn long_program(language: &str, program: &str) -> String {
    let definitions: String = (0..200)
        .map(|i| match language {
            "python" => format!("def f{i}(x):\n    y = x * {i} + 1\n    return [y, str(y), {{'k': y}}]\n"),
            _ => format!("def f{i}(x)\n  y = x * {i} + 1\n  [y, y.to_s, {{k: y}}]\nend\n"),
        })
        .collect();
    definitions + program
}

/// A capsule of `tests` tests summing their input.
fn submission_of(judge: &dyn Judge, language: &str, source: &str, engine: EngineChoice, tests: usize) -> Submission {
    let tests: Vec<serde_json::Value> = (1..=tests)
        .map(|n| serde_json::json!({"stdin": format!("{n} {} {}\n", n * 2, n * 3), "expected_stdout": format!("{}\n", n * 6)}))
        .collect();
    let request: JudgeRequest = serde_json::from_value(serde_json::json!({
        "language": language, "source": source, "tests": tests, "engine": engine,
        "limits": {"time_ms": 2000, "memory_mb": 128}
    }))
    .unwrap();
    Submission::check(request, |language| judge.judges(language), |_| String::new()).unwrap()
}

/// A copy of the packs in `from` under the temporary directory (only `languages`' when given), each manifest changed
/// by `edit`.
fn copied_packs(from: &Path, name: &str, languages: &[&str], edit: impl Fn(&mut serde_json::Value)) -> PathBuf {
    let copy = std::env::temp_dir().join(format!("codecapsule-bench-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(from.join("index.json"), copy.join("index.json")).unwrap();
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(from.join("index.json")).unwrap()).unwrap();
    for (language, pack) in index.as_object().unwrap() {
        if !languages.is_empty() && !languages.contains(&language.as_str()) {
            continue;
        }
        let pack = pack.as_str().unwrap();
        std::fs::create_dir_all(copy.join(pack)).unwrap();
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(from.join(pack).join("manifest.json")).unwrap()).unwrap();
        edit(&mut manifest);
        std::fs::write(copy.join(pack).join("manifest.json"), serde_json::to_vec(&manifest).unwrap()).unwrap();
        let module = manifest["module"].as_str().unwrap();
        std::fs::copy(from.join(pack).join(module), copy.join(pack).join(module)).unwrap();
    }
    copy
}

/// Returns the allocator's free memory to the system, then resets the process's peak resident memory (VmHWM) to its
/// current resident memory, which it answers: a later peak is then memory the measured work itself touched, not
/// memory freed earlier and reused.
fn reset_peak_resident() -> u64 {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: glibc's malloc_trim only releases free memory of the allocator; it touches no live allocation.
    unsafe { malloc_trim(0) };
    std::fs::write("/proc/self/clear_refs", "5").expect("the peak resident memory can be reset (Linux 4.0+)");
    resident_bytes()
}

/// The process's peak resident memory since the last reset (VmHWM, /proc/self/status).
fn peak_resident() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|line| line.starts_with("VmHWM:")).unwrap_or_default();
    line.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()).unwrap_or(0) * 1024
}

/// The process's resident memory, from /proc/self/statm (pages of 4 KiB).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|pages| pages.parse::<u64>().ok()).unwrap_or(0) * 4096
}
