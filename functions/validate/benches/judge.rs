//! `make bench` for the validate function. Prints a Markdown report (copied into BENCHMARKS.md):
//!
//! 1. a 10-test WASI module (examples/wasi-sum) judged end to end over loopback HTTP, p50/p99, side by side with the
//!    same program built natively and run 10 times as processes (spawn, stdin, compare): the ratio is on record;
//! 2. RSS of the serving process before and after 5,000 judge requests (an Engine per submission must not leak);
//! 3. cold start: the release `validate` binary from exec to its first answered request, and its stripped size.
//!
//! Needs the release binary (`cargo build --release -p codecapsule-validate`); `make bench` builds it first.

use codecapsule_core::config::HttpConfig;
use codecapsule_core::deadline::Deadline;
use codecapsule_state::guard::Stateful;
use codecapsule_web::host::{self, Host};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SUM_WASM: &[u8] = include_bytes!("../../../examples/wasi-sum/sum.wasm");
const JUDGE_ROUNDS: usize = 500;
const MEMORY_ROUNDS: usize = 5_000;
const COLD_STARTS: usize = 20;

fn main() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!("## validate (issue: foundation)\n");
    println!("Machine: {} cores, {}; {}\n", cores(), cpu_model(), rustc_version());
    runtime.block_on(judge_latency(&workspace));
    runtime.block_on(memory_stability());
    fuel_calibration(&runtime);
    cold_start(&workspace);
}

/// How long the fuel budget of a 1,000 ms limit takes to burn: a busy loop and a recursive fib, in-process.
fn fuel_calibration(runtime: &tokio::runtime::Runtime) {
    use codecapsule_core::judge::{Judge, Submission};
    use codecapsule_wasm::WasmJudge;
    use std::sync::Arc;
    let programs = [
        ("`(loop (br 0))`", "(module (func (export \"_start\") (loop (br 0))))"),
        (
            "recursive fib(40)",
            "(module (func $fib (param i32) (result i32) (if (result i32) (i32.lt_u (local.get 0) (i32.const 2)) \
             (then (local.get 0)) (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1))) \
             (call $fib (i32.sub (local.get 0) (i32.const 2))))))) \
             (func (export \"_start\") (drop (call $fib (i32.const 40)))))",
        ),
    ];
    println!("### Fuel calibration: programs that outrun a 1,000 ms limit (fuel budget 1,000,000,000)\n");
    println!("| program | verdict | wall time to exhaust the budget | fuel per ms of wall time |\n|---|---|---|---|");
    for (name, wat) in programs {
        let request = serde_json::from_value(json!({
            "language": "wat", "source": wat, "tests": [{"expected_stdout": ""}], "limits": {"time_ms": 1000}
        }))
        .unwrap();
        let submission = Submission::check(request, |_| true, |_| String::new()).unwrap();
        let report =
            runtime.block_on(Arc::new(WasmJudge).judge(Arc::new(submission), Deadline::for_request(None))).unwrap();
        let test = &report.tests[0];
        let fuel = test.fuel.unwrap_or(0);
        println!("| {name} | {} | {:.0} ms | {:.0} |", test.verdict, test.time_ms, fuel as f64 / test.time_ms);
    }
    println!();
}

fn ten_tests() -> Vec<(String, String)> {
    (1..=10)
        .map(|n| {
            let numbers: Vec<i64> = (0..100).map(|i| i * n - 50).collect();
            let stdin = numbers.iter().map(i64::to_string).collect::<Vec<_>>().join(" ") + "\n";
            (stdin, format!("{}\n", numbers.iter().sum::<i64>()))
        })
        .collect()
}

fn judge_body() -> String {
    use base64::Engine as _;
    let tests: Vec<Value> =
        ten_tests().into_iter().map(|(stdin, expected)| json!({"stdin": stdin, "expected_stdout": expected})).collect();
    json!({
        "language": "wasm",
        "module_base64": base64::engine::general_purpose::STANDARD.encode(SUM_WASM),
        "tests": tests,
        "limits": {"time_ms": 1000, "memory_mb": 64}
    })
    .to_string()
}

async fn local_server() -> String {
    let address = ([127, 0, 0, 1], 0).into();
    let app = host::app(
        &[validate::FUNCTION],
        Host::Local { address },
        &HttpConfig::default(),
        &Stateful::without_state("not under test"),
    )
    .unwrap();
    let (ready, bound) = tokio::sync::oneshot::channel();
    tokio::spawn(host::serve(app, address, Host::Local { address }, Some(ready)));
    format!("http://{}", bound.await.unwrap())
}

async fn judge_latency(workspace: &Path) {
    let base = local_server().await;
    let client = reqwest::Client::new();
    let body = judge_body();
    let judge = || async {
        let started = Instant::now();
        let report: Value = client
            .post(format!("{base}/api/judge"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(report["verdict"], "accepted", "{report}");
        started.elapsed()
    };
    let native = native_binary(workspace);
    let run_native = || {
        let started = Instant::now();
        for (stdin, expected) in ten_tests() {
            let mut child =
                Command::new(&native).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("native sum runs");
            child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
            let output = child.wait_with_output().unwrap();
            assert_eq!(String::from_utf8_lossy(&output.stdout), expected);
        }
        started.elapsed()
    };
    for _ in 0..20 {
        judge().await;
        run_native();
    }
    // Interleaved, so that both see the same machine load.
    let mut wasm_times = Vec::with_capacity(JUDGE_ROUNDS);
    let mut native_times = Vec::with_capacity(JUDGE_ROUNDS);
    for _ in 0..JUDGE_ROUNDS {
        wasm_times.push(judge().await);
        native_times.push(run_native());
    }
    let (wasm_p50, wasm_p99) = percentiles(&mut wasm_times);
    let (native_p50, native_p99) = percentiles(&mut native_times);
    println!(
        "### Judge latency: 10-test WASI module (examples/wasi-sum, 100 numbers per test), {JUDGE_ROUNDS} rounds\n"
    );
    println!("| path | p50 | p99 |\n|---|---|---|");
    println!(
        "| POST /api/judge over loopback HTTP (wasmi, compile + 10 fresh stores) | {} | {} |",
        ms(wasm_p50),
        ms(wasm_p99)
    );
    println!(
        "| same program native, 10 process runs (spawn + stdin + compare) | {} | {} |",
        ms(native_p50),
        ms(native_p99)
    );
    println!(
        "| ratio judge / native | {:.2} | {:.2} |\n",
        wasm_p50.as_secs_f64() / native_p50.as_secs_f64(),
        wasm_p99.as_secs_f64() / native_p99.as_secs_f64()
    );
}

async fn memory_stability() {
    let base = local_server().await;
    let client = reqwest::Client::new();
    let body = judge_body();
    let request = || async {
        let response = client
            .post(format!("{base}/api/judge"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send();
        assert!(response.await.unwrap().status().is_success());
    };
    for _ in 0..100 {
        request().await;
    }
    let before = rss_kib();
    let mut samples = Vec::new();
    for round in 1..=MEMORY_ROUNDS {
        request().await;
        if round % 1000 == 0 {
            samples.push(format!("{}", rss_kib()));
        }
    }
    let after = rss_kib();
    println!("### Memory over {MEMORY_ROUNDS} judge requests (same process, after 100 warm-up requests)\n");
    println!("| RSS before | RSS after | growth | RSS every 1,000 requests (KiB) |\n|---|---|---|---|");
    println!(
        "| {before} KiB | {after} KiB | {:+.1}% | {} |\n",
        (after as f64 - before as f64) * 100.0 / before as f64,
        samples.join(", ")
    );
}

fn cold_start(workspace: &Path) {
    let binary = workspace.join("target/release/validate");
    let size = std::fs::metadata(&binary).expect("build it first: cargo build --release -p codecapsule-validate").len();
    let mut times = Vec::with_capacity(COLD_STARTS);
    for _ in 0..COLD_STARTS {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let started = Instant::now();
        let mut child = Command::new(&binary)
            .env_clear()
            .env("PORT", port.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let elapsed = loop {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                stream.write_all(b"GET /api/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
                let mut answer = String::new();
                std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
                assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
                break started.elapsed();
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        times.push(elapsed);
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let (p50, _) = percentiles(&mut times);
    println!("### Cold start of the release binary (exec to first answered GET /api/health), {COLD_STARTS} starts\n");
    println!("| median | fastest | slowest | stripped size |\n|---|---|---|---|");
    println!(
        "| {} | {} | {} | {:.2} MB ({size} bytes) |\n",
        ms(p50),
        ms(times[0]),
        ms(times[times.len() - 1]),
        size as f64 / 1e6
    );
}

/// examples/wasi-sum/main.rs built natively with the same optimisation as the wasm build.
fn native_binary(workspace: &Path) -> PathBuf {
    let out = workspace.join("target/bench-native-sum");
    let status = Command::new("rustc")
        .args(["--edition", "2021", "-C", "opt-level=s", "-C", "panic=abort", "-o"])
        .arg(&out)
        .arg(workspace.join("examples/wasi-sum/main.rs"))
        .status()
        .unwrap();
    assert!(status.success());
    out
}

fn percentiles(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).saturating_sub(1).min(times.len() - 1)];
    (at(0.50), at(0.99))
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|line| {
                line.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn rustc_version() -> String {
    Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
