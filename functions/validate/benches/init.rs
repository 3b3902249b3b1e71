//! `make bench`, deployment part: per function binary, its stripped release size and its start-up, side by side with
//! `hello-floor` (a hello world on lambda_http built the same way):
//! 1. local: exec to the first answered request over TCP;
//! 2. Lambda: exec to the first answered invocation through cargo-lambda's Runtime API emulator (the same polling of
//!    /runtime/invocation/next as on Lambda; INIT there also includes loading the binary from the image).
//!
//! The request is for an unknown route: a function's first answer, without the lazy work (runtime probes) that
//! GET /api/health of a judge triggers. Needs the release binaries and the venv's cargo-lambda (`make bench`).

use codecapsule_test_support::{KillOnDrop, free_port, venv_tool, wait_for_port};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BINARIES: &[&str] = &[
    "hello-floor",
    "validate",
    "python-judge",
    "java-judge",
    "csharp-judge",
    "generate",
    "analytics-ingest",
    "analytics-processor",
];
const ROUNDS: usize = 20;

fn main() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let release = workspace.join("target/release");
    let emulator_port = free_port();
    let _emulator = KillOnDrop(
        Command::new(venv_tool("cargo-lambda", "CARGO_LAMBDA"))
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &emulator_port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cargo-lambda from the venv (make bench installs it)"),
    );
    wait_for_port(emulator_port, Duration::from_secs(30));

    println!("## Start-up and size of every function (deployment issue)\n");
    println!("Release profile (fat LTO, stripped), {ROUNDS} starts each, medians; ratio = function / hello-floor.\n");
    println!(
        "| binary | stripped size | exec → first local answer | ratio | exec → first Lambda invocation answered (emulator) | ratio |"
    );
    println!("|---|---|---|---|---|---|");
    let mut floor = (Duration::ZERO, Duration::ZERO);
    for binary in BINARIES {
        let path = release.join(binary);
        let size = std::fs::metadata(&path).unwrap_or_else(|_| panic!("build it first: {}", path.display())).len();
        let local = median((0..ROUNDS).map(|_| local_start(&path)).collect());
        let lambda = median((0..ROUNDS).map(|_| lambda_start(&path, emulator_port)).collect());
        if *binary == "hello-floor" {
            floor = (local, lambda);
        }
        println!(
            "| {binary} | {:.2} MB | {} | {:.2} | {} | {:.2} |",
            size as f64 / 1e6,
            ms(local),
            local.as_secs_f64() / floor.0.as_secs_f64(),
            ms(lambda),
            lambda.as_secs_f64() / floor.1.as_secs_f64()
        );
    }
    println!();
}

fn local_start(binary: &Path) -> Duration {
    let port = free_port();
    let started = Instant::now();
    let _child = KillOnDrop(
        Command::new(binary)
            .env_clear()
            .env("PORT", port.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    loop {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            stream.write_all(b"GET /api/not-a-route HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Posts an invocation to the emulator's Invoke API and starts the function; the emulator answers once the function
/// has polled for it, handled it and posted the response.
fn lambda_start(binary: &Path, emulator_port: u16) -> Duration {
    let event = include_str!("../tests/fixtures/apigw-v2-health.json").replace("/api/health", "/api/not-a-route");
    let started = Instant::now();
    let invocation = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", emulator_port)).unwrap();
        let request = format!(
            "POST /2015-03-31/functions/_/invocations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{event}",
            event.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        // Buffered functions answer 200 with the route's status inside the envelope; a streamed one (generate) answers
        // the route's 404 itself; the analytics processor takes any event as its schedule and, without state, fails
        // its run (500). Each is an answered invocation.
        assert!(
            ["HTTP/1.1 200", "HTTP/1.1 404", "HTTP/1.1 500"].iter().any(|status| answer.starts_with(status)),
            "{answer}"
        );
    });
    let _function = KillOnDrop(
        Command::new(binary)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{emulator_port}/.rt"))
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    invocation.join().unwrap();
    started.elapsed()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}
