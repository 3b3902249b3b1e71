//! The local dev host (`make run`): every function's routes on one port, with embedded defaults.

use codecapsule::config::{self, HttpConfig};
use codecapsule::host::{self, Host};
use std::process::ExitCode;

/// Every function that exists so far; each new function adds its `FUNCTION` here.
const FUNCTIONS: &[host::Function] =
    &[validate::FUNCTION, python_judge::FUNCTION, java_judge::FUNCTION, csharp_judge::FUNCTION];

fn main() -> ExitCode {
    host::init_logging();
    let address = match config::local_address() {
        Ok(address) => address,
        Err(err) => return fail(&err),
    };
    let http = match HttpConfig::from_env() {
        Ok(http) => http,
        Err(err) => return fail(&err),
    };
    let host = Host::Local { address };
    let app = match host::app(FUNCTIONS, host, &http) {
        Ok(app) => app,
        Err(err) => return fail(&err),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return fail(&err),
    };
    let served = runtime.block_on(async move {
        let (ready, bound) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(host::serve(app, address, host, Some(ready)));
        if let Ok(bound) = bound.await {
            announce(bound);
        }
        server.await
    });
    match served {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(err)) => fail(&err),
        Err(err) => fail(&err),
    }
}

fn announce(bound: std::net::SocketAddr) {
    let mut routes: Vec<&str> = Vec::new();
    for route in FUNCTIONS.iter().flat_map(|function| function.routes.iter().copied()) {
        if !routes.contains(&route) {
            routes.push(route);
        }
    }
    println!("\nCodeCapsule dev host on http://{bound}  (routes: GET /api/health, {})", routes.join(", "));
    println!(
        "Try:\n  curl -s http://{bound}/api/judge -H 'content-type: application/json' -d @examples/wat-function-add.json"
    );
    println!("  curl -s http://{bound}/api/judge -H 'content-type: application/json' -d @examples/python-sum.json\n");
}

fn fail(err: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {err}");
    ExitCode::from(2)
}
