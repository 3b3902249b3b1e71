//! The edge Worker under workerd, as `wrangler dev` serves it, for the edge tests: the Worker that worker-build built
//! into edge/build (`make test` builds it), from a configuration of its own in a temp dir
//! (`tools/edge_toolchain.sh serve-config`), with its settings as that dir's .dev.vars and its Durable Objects' state
//! there too, on a free port. Killed, workerd included, when the guard goes.

use crate::free_port;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long wrangler may take to start the Worker (it bundles it first).
const START_LIMIT: Duration = Duration::from_secs(90);

/// A running Worker.
pub struct EdgeWorker {
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub url: String,
    wrangler: Child,
    dir: PathBuf,
}

/// wrangler: `WRANGLER`, as `make test` sets it.
pub fn wrangler() -> PathBuf {
    match std::env::var_os("WRANGLER").map(PathBuf::from) {
        Some(path) if path.exists() => path,
        _ => panic!("no wrangler: run `make test`, which installs the edge toolchain and sets WRANGLER to its path"),
    }
}

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

impl EdgeWorker {
    /// Starts the Worker with `vars` (name, value) as its settings and secrets.
    pub async fn start(vars: &[(&str, &str)]) -> EdgeWorker {
        let build = workspace().join("edge/build/index.js");
        assert!(build.exists(), "no built Worker at {}: run `make edge-build` (make test does)", build.display());
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("codecapsule-edge-{}-{port}", std::process::id()));
        let configured = Command::new("bash")
            .arg(workspace().join("tools/edge_toolchain.sh"))
            .args(["serve-config".as_ref(), dir.as_os_str()])
            .current_dir(workspace())
            .status()
            .expect("bash runs");
        assert!(configured.success(), "tools/edge_toolchain.sh serve-config failed");
        let dev_vars: String = vars.iter().map(|(name, value)| format!("{name}={}\n", quoted(value))).collect();
        std::fs::write(dir.join(".dev.vars"), dev_vars).expect("the Worker's .dev.vars");
        let log = std::fs::File::create(dir.join("wrangler.log")).expect("a log file for wrangler");
        let wrangler = Command::new(wrangler())
            .arg("dev")
            .arg("--config")
            .arg(dir.join("wrangler.toml"))
            .args(["--ip", "127.0.0.1", "--port", &port.to_string(), "--inspector-port", &free_port().to_string()])
            .arg("--persist-to")
            .arg(dir.join("state"))
            .args(["--show-interactive-dev-session=false", "--log-level", "warn"])
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CI", "1")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file"))
            .stderr(log)
            // Its own process group: workerd, its child, goes with it.
            .process_group(0)
            .spawn()
            .expect("wrangler starts");
        let mut worker = EdgeWorker { url: format!("http://127.0.0.1:{port}"), wrangler, dir };
        worker.wait_until_ready().await;
        worker
    }

    /// Until GET /api/health answers (the Worker is loaded, not only wrangler's proxy).
    async fn wait_until_ready(&mut self) {
        let started = Instant::now();
        let client = reqwest::Client::new();
        loop {
            let health = client.get(format!("{}/api/health", self.url)).timeout(Duration::from_secs(5)).send().await;
            if let Ok(answer) = health
                && answer
                    .headers()
                    .get("content-type")
                    .is_some_and(|value| value.as_bytes().starts_with(b"application/"))
            {
                return;
            }
            if let Ok(Some(status)) = self.wrangler.try_wait() {
                panic!("wrangler exited ({status}) before the Worker answered:\n{}", self.log());
            }
            assert!(
                started.elapsed() < START_LIMIT,
                "the Worker did not answer within {START_LIMIT:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// What wrangler and the Worker logged (console_error! lines included).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("wrangler.log")).unwrap_or_default()
    }
}

impl Drop for EdgeWorker {
    fn drop(&mut self) {
        // The whole group: wrangler, and workerd under it. (The group's id is wrangler's pid: process_group(0).)
        // SAFETY: kill(2) with a negative pid signals a process group; it touches no memory of ours.
        unsafe {
            libc::kill(-(self.wrangler.id() as i32), libc::SIGKILL);
        }
        let _ = self.wrangler.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A .dev.vars value: double-quoted, with what dotenv would read otherwise escaped.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}
