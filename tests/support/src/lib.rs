//! The harness of the integration tests and benchmarks: what several of them need to start real parts (function
//! binaries, cargo-lambda's emulator, moto_server) on loopback and to clean up after them.

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Child;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A free loopback port (bound and released: whoever takes it binds it a moment later).
///
/// Never the same port twice in one process: the tests of a binary run in parallel, and two of them handed one port
/// would start two servers on it, one of which fails to bind while its test talks to the other's.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let port = listener.local_addr().expect("its address").port();
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// Waits until something accepts connections on `port`, at most `limit`.
pub fn wait_for_port(port: u16, limit: Duration) {
    let started = Instant::now();
    while !listens(port) {
        assert!(started.elapsed() < limit, "nothing listens on 127.0.0.1:{port} after {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether something accepts connections on loopback `port`.
///
/// A connection whose two ends are the same address is not a listener: connecting to a free port in the ephemeral
/// range can, rarely, be given that port as its own source and connect to itself (TCP's simultaneous open).
pub fn listens(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok_and(|stream| stream.local_addr().ok() != stream.peer_addr().ok())
}

/// A child process killed and reaped when the guard goes.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A child process whose output goes to a log file of its own (removed with it), killed and reaped when it goes: a
/// server a test starts, whose log explains it when it does not come up or goes away.
pub struct LoggedChild {
    child: KillOnDrop,
    log: PathBuf,
}

impl LoggedChild {
    /// Spawns `command` with stdout and stderr into a log file named after `label`.
    pub fn spawn(command: &mut std::process::Command, label: &str) -> LoggedChild {
        static SPAWNED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let nth = SPAWNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = std::env::temp_dir().join(format!("codecapsule-{label}-{}-{nth}.log", std::process::id()));
        let output = std::fs::File::create(&log).expect("a log file for the child");
        let child = command
            .stdin(std::process::Stdio::null())
            .stdout(output.try_clone().expect("the log file"))
            .stderr(output)
            .spawn()
            .unwrap_or_else(|err| panic!("{label} does not start: {err}"));
        LoggedChild { child: KillOnDrop(child), log }
    }

    /// Waits until it listens on loopback `port`, at most `limit`; if it exits or the limit passes first, the test
    /// fails with its log.
    pub fn wait_until_listening(&mut self, port: u16, limit: Duration) {
        let started = Instant::now();
        while !listens(port) {
            if let Ok(Some(status)) = self.child.0.try_wait() {
                panic!("it exited ({status}) before it listened on {port}:\n{}", self.log());
            }
            assert!(started.elapsed() < limit, "nothing listens on {port} after {limit:?}:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What it printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for LoggedChild {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A tool from the project's venv (`make test` and `make bench` install them): the path in `env_var` if set, else
/// `.venv/bin/<name>` at the workspace root.
pub fn venv_tool(name: &str, env_var: &str) -> PathBuf {
    let path = std::env::var_os(env_var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin").join(name));
    assert!(path.exists(), "{name} not found at {}: run `make test`, which installs it into .venv", path.display());
    path
}

/// A sandbox directory of this test process's own (for SANDBOX_DIR), under the judge's default base, so that its host
/// checks see only its own boxes: /run/codecapsule-sandbox as root, else a directory of the uid under the temp dir.
pub fn test_sandbox_dir(label: &str) -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective uid.
    let uid = std::fs::metadata("/proc/self").map(|meta| meta.uid()).unwrap_or(u32::MAX);
    let base = if uid == 0 {
        PathBuf::from("/run/codecapsule-sandbox")
    } else {
        std::env::temp_dir().join(format!("codecapsule-sandbox-{uid}"))
    };
    base.join(format!("{label}-{}", std::process::id()))
}

/// A judge request for `source` in `language` with `tests` under `limits` (default comparison, no engine choice).
pub fn source_request(
    language: &str,
    source: &str,
    tests: Vec<codecapsule_core::model::Test>,
    limits: codecapsule_core::model::LimitsRequest,
) -> codecapsule_core::model::JudgeRequest {
    codecapsule_core::model::JudgeRequest {
        language: language.into(),
        source: Some(source.into()),
        module_base64: None,
        entry: None,
        tests,
        limits,
        compare: Default::default(),
        engine: None,
    }
}

/// moto_server from the project's venv on a free loopback port (S3 and Secrets Manager), killed with the guard; its
/// base URL.
pub fn start_moto() -> (KillOnDrop, String) {
    let port = free_port();
    let child = std::process::Command::new(venv_tool("moto_server", "MOTO_SERVER"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let moto = KillOnDrop(child);
    wait_for_port(port, Duration::from_secs(30));
    (moto, format!("http://127.0.0.1:{port}"))
}

/// `routes` with the shared HTTP conventions (a minimal health answer), served on a free loopback port; its base URL.
pub async fn serve(routes: axum::Router) -> String {
    let health = || codecapsule_web::Health {
        status: "ok",
        problems: Vec::new(),
        functions: Vec::new(),
        version: "test",
        host: "local",
        engines: Vec::new(),
        routes: Vec::new(),
        guard: serde_json::Value::Null,
    };
    let guard = codecapsule_core::access::Guard::off("test server");
    let local = codecapsule_web::host::Host::Local { address: ([127, 0, 0, 1], 0).into() };
    let app = codecapsule_web::service(routes, health, guard, local, &codecapsule_core::config::HttpConfig::default());
    let (ready, bound) = tokio::sync::oneshot::channel();
    tokio::spawn(codecapsule_web::host::serve(app, ([127, 0, 0, 1], 0).into(), local, Some(ready)));
    format!("http://{}", bound.await.expect("the server's address"))
}

pub mod edge;
pub mod eventhubs;
pub mod functions;
pub mod ingest;
pub mod kafka;
pub mod lambda;
pub mod postgres;
pub mod postgrest;
pub mod stream;

/// Runs `future` to its end from a synchronous test or bench, on a runtime of its own (judges await their work, and
/// the engines that run programs here put it on the runtime's blocking threads).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a Tokio runtime").block_on(future)
}
