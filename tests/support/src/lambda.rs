//! cargo-lambda's Runtime API emulator (`cargo lambda watch --only-lambda-apis`) on a free loopback port, for the
//! Lambda-mode tests. Its log is kept, and an invoke whose connection is refused is retried for a while and then fails
//! with that log: in CI a first invoke was once refused just after the port had accepted a connection, and a test whose
//! emulator went away must say why. (The emulator holds every HTTP request until a function polls it, so readiness can
//! only be its port accepting connections.)

use crate::{LoggedChild, free_port, venv_tool};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long the emulator may take to listen, at start and after a refused connection.
const PATIENCE: Duration = Duration::from_secs(30);

/// A running emulator.
pub struct LambdaEmulator {
    /// `http://127.0.0.1:<port>/.rt`: a function's AWS_LAMBDA_RUNTIME_API.
    pub runtime_api: String,
    /// The Invoke API's URL for the default function.
    pub invoke_url: String,
    emulator: LoggedChild,
}

impl LambdaEmulator {
    /// Starts one (cargo-lambda from the venv, or CARGO_LAMBDA) and waits until its port accepts connections.
    pub fn start() -> LambdaEmulator {
        let port = free_port();
        let mut command = Command::new(venv_tool("cargo-lambda", "CARGO_LAMBDA"));
        command
            .args(["lambda", "watch", "--only-lambda-apis", "--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(port.to_string());
        let mut child = LoggedChild::spawn(&mut command, "cargo-lambda");
        child.wait_until_listening(port, PATIENCE);
        LambdaEmulator {
            runtime_api: format!("http://127.0.0.1:{port}/.rt"),
            invoke_url: format!("http://127.0.0.1:{port}/2015-03-31/functions/_/invocations"),
            emulator: child,
        }
    }

    /// Invokes the default function with `event` through the Invoke API. A refused connection is retried for a while
    /// (the emulator restarting); then the test fails with the emulator's log.
    pub async fn invoke(&self, event: &str) -> reqwest::Response {
        let started = Instant::now();
        loop {
            match reqwest::Client::new().post(&self.invoke_url).body(event.to_string()).send().await {
                Ok(response) => return response,
                Err(err) if err.is_connect() && started.elapsed() < PATIENCE => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => panic!("the emulator did not take the invoke ({err}); its log:\n{}", self.emulator.log()),
            }
        }
    }
}
