//! `make bench` for the native judges. Prints a Markdown report (copied into BENCHMARKS.md):
//! 1. sandbox overhead: a trivial program run through the sandbox against the same program spawned plainly;
//! 2. Python, Java and C#: a 10-test submission judged end to end, against 10 bare starts of the runtime.
//!    Interleaved rounds, so both sides see the same machine load.

use codecapsule_core::deadline::Deadline;
use codecapsule_core::judge::{Judge, Judges};
use codecapsule_core::model::{JudgeRequest, Verdict};
use codecapsule_native::{NativeJudge, Runtime};
use codecapsule_sandbox::{Exit, Run, RunLimits, Sandbox, WorkDir};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    println!("## Native judges (issue: native judges)\n");
    println!("Sandbox layers: {}\n", serde_json::to_string(Sandbox::get().layers()).unwrap());
    sandbox_overhead();
    let judges = Judges::new(vec![
        Arc::new(NativeJudge::new(Runtime::python())) as Arc<dyn Judge>,
        Arc::new(NativeJudge::new(Runtime::java())),
        Arc::new(NativeJudge::new(Runtime::csharp())),
    ]);
    println!("### A 10-test submission end to end (compile once + 10 sandboxed runs), 10 rounds each\n");
    println!(
        "| language | judge p50 | judge max | 10 bare runtime starts p50 | ratio judge / bare | compile p50 | calibrated start-up |"
    );
    println!("|---|---|---|---|---|---|---|");
    let python = "import sys\nnumbers = list(map(int, sys.stdin.read().split()))\nprint(sum(numbers))";
    bench_language(&judges, "python", python, &["/usr/bin/python3", "-I", "-S", "-c", "pass"]);
    let java = "import java.io.*; import java.util.*;\npublic class Main { public static void main(String[] a) throws IOException {\n  BufferedReader r = new BufferedReader(new InputStreamReader(System.in)); long s = 0; String line;\n  while ((line = r.readLine()) != null) for (String t : line.trim().split(\"\\\\s+\")) if (!t.isEmpty()) s += Long.parseLong(t);\n  System.out.println(s); } }";
    // The bare JVM start runs an empty class too, compiled here with the judge's flags.
    let classes = std::env::temp_dir().join("codecapsule-bench-classes");
    std::fs::create_dir_all(&classes).unwrap();
    let empty_java = classes.join("Empty.java");
    std::fs::write(&empty_java, "class Empty { public static void main(String[] a) {} }").unwrap();
    let built = Command::new("/usr/bin/javac").arg("-d").arg(&classes).arg(&empty_java).output().unwrap();
    assert!(built.status.success(), "{built:?}");
    let class_path = classes.to_str().unwrap();
    bench_language(
        &judges,
        "java",
        java,
        &[
            "/usr/bin/java",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Xshare:auto",
            "-XX:-UsePerfData",
            "-cp",
            class_path,
            "Empty",
        ],
    );
    let csharp = "using System; using System.Linq; class P { static void Main() { long s = Console.In.ReadToEnd().Split((char[])null, StringSplitOptions.RemoveEmptyEntries).Sum(long.Parse); Console.WriteLine(s); } }";
    let empty = std::env::temp_dir().join("codecapsule-bench-empty.exe");
    let source = std::env::temp_dir().join("codecapsule-bench-empty.cs");
    std::fs::write(&source, "class Empty { static void Main() {} }").unwrap();
    let built = Command::new("/usr/bin/mcs").arg(format!("-out:{}", empty.display())).arg(&source).output().unwrap();
    assert!(built.status.success(), "{built:?}");
    bench_language(&judges, "csharp", csharp, &["/usr/bin/mono", empty.to_str().unwrap()]);
    println!();
}

fn sandbox_overhead() {
    const ROUNDS: usize = 200;
    let sandbox_box = Sandbox::get().new_box().unwrap();
    let limits = RunLimits {
        wall: Duration::from_secs(5),
        cpu_seconds: 5,
        address_space: Some(1 << 30),
        processes: 16,
        open_files: 64,
        file_size: 16 << 20,
        stack: 8 << 20,
        output_bytes: 64 << 10,
    };
    println!("### Sandbox overhead: a trivial program, {ROUNDS} runs each way, interleaved\n");
    println!(
        "| program | plain spawn + wait, median | through the sandbox, median | ratio of medians | ratio of means |\n|---|---|---|---|---|"
    );
    for (name, program, args) in [
        ("/bin/true", "/bin/true", vec![]),
        ("python3 -I -S -c pass", "/usr/bin/python3", vec!["-I", "-S", "-c", "pass"]),
    ] {
        let (mut plain, mut boxed) = (Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS));
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let status = Command::new(program)
                .args(&args)
                .env_clear()
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .output()
                .unwrap();
            assert!(status.status.success());
            plain.push(started.elapsed());
            let started = Instant::now();
            let result = sandbox_box
                .run(&Run {
                    program: Path::new(program),
                    args: args.iter().map(Into::into).collect(),
                    env: vec![],
                    work_dir: WorkDir::Fresh,
                    stdin: b"",
                    limits: limits.clone(),
                })
                .unwrap();
            assert_eq!(result.exit, Exit::Code(0));
            boxed.push(started.elapsed());
        }
        let mean = |runs: &[Duration]| runs.iter().sum::<Duration>().as_secs_f64() / runs.len() as f64;
        let ratio_of_means = mean(&boxed) / mean(&plain);
        plain.sort();
        boxed.sort();
        let (plain, boxed) = (plain[ROUNDS / 2], boxed[ROUNDS / 2]);
        let ratio = boxed.as_secs_f64() / plain.as_secs_f64();
        println!("| {name} | {} | {} | {ratio:.2} | {ratio_of_means:.2} |", ms(plain), ms(boxed));
    }
    println!();
}

fn bench_language(judges: &Judges, language: &str, source: &str, bare: &[&str]) {
    const ROUNDS: usize = 10;
    let tests: Vec<serde_json::Value> = (1..=10)
        .map(|n| {
            let numbers: Vec<i64> = (0..100).map(|i| i * n).collect();
            serde_json::json!({"stdin": numbers.iter().map(i64::to_string).collect::<Vec<_>>().join(" "), "expected_stdout": format!("{}\n", numbers.iter().sum::<i64>())})
        })
        .collect();
    let request: JudgeRequest =
        serde_json::from_value(serde_json::json!({"language": language, "source": source, "tests": tests})).unwrap();
    let prepared = judges.prepare(request).unwrap();
    // One runtime for the whole bench, as a function has: a judging is awaited on it.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let warm = runtime.block_on(prepared.judge(Deadline::for_request(None))).unwrap();
    assert_eq!(warm.verdict, Verdict::Accepted, "{warm:?}");
    let (mut judged, mut bare_runs, mut compiles) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let report = runtime.block_on(prepared.judge(Deadline::for_request(None))).unwrap();
        judged.push(started.elapsed());
        compiles.push(Duration::from_secs_f64(report.compile.time_ms / 1e3));
        let started = Instant::now();
        for _ in 0..10 {
            let output = Command::new(bare[0]).args(&bare[1..]).env_clear().output().unwrap();
            assert!(output.status.success());
        }
        bare_runs.push(started.elapsed());
    }
    judged.sort();
    bare_runs.sort();
    compiles.sort();
    let startup = prepared.judge.engine().startup_ms.unwrap_or(0.0);
    println!(
        "| {language} | {} | {} | {} | {:.2} | {} | {startup:.1} ms |",
        ms(judged[ROUNDS / 2]),
        ms(judged[ROUNDS - 1]),
        ms(bare_runs[ROUNDS / 2]),
        judged[ROUNDS / 2].as_secs_f64() / bare_runs[ROUNDS / 2].as_secs_f64(),
        ms(compiles[ROUNDS / 2]),
    );
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}
