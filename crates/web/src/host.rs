//! The host adapters: one binary, three ways to run, picked at start-up from the environment.
//!
//! - `AWS_LAMBDA_RUNTIME_API` set: AWS Lambda, HTTP events (API Gateway HTTP API v2, function URLs) through lambda_http;
//! - `FUNCTIONS_CUSTOMHANDLER_PORT` set: an Azure Functions custom handler on 127.0.0.1:that port; the host proxies HTTP
//!   with routePrefix "" so the routes are the same;
//! - otherwise a local HTTP server on BIND_ADDR:PORT (127.0.0.1:8080).
//!
//! Logs are JSON lines through tracing (text with `AWS_LAMBDA_LOG_FORMAT=Text`); the level comes from
//! `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else info. Local and Azure servers stop gracefully on SIGTERM or Ctrl-C:
//! they stop accepting and finish the requests in flight. On Lambda the runtime handles one event at a time and the
//! functions hold nothing to flush, so no shutdown extension is registered (it would cost a Runtime API call at init).

use crate::{Health, service};
use axum::Router;
use axum::middleware::Next;
use axum::response::IntoResponse;
use codecapsule_core::access::{Deployment, Guard};
use codecapsule_core::config::{self, ConfigError, HttpConfig};
use codecapsule_core::judge::{JudgeList, Judges};
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// One function as its binary describes it: a name, its routes, the judges it runs. `D` is what the deployment gives
/// its functions ([`Deployment`]): [`Stateless`] for a function that keeps no state, `codecapsule_state::Stateful`
/// (the guard and the store side by side) for one that does.
pub struct Function<D> {
    /// The function's name, as GET /api/health lists it.
    pub name: &'static str,
    /// `METHOD /path` of each route, as GET /api/health lists them (POST /api/judge included where it judges).
    pub routes: &'static [&'static str],
    /// The judges behind POST /api/judge (none for functions that do not judge); configuration errors stop start-up.
    pub judges: fn() -> Result<JudgeList, ConfigError>,
    /// Routes beyond POST /api/judge, which [`app`] adds once for all the judges of all the functions it serves.
    /// Public functions put their routes behind the guard ([`crate::guard::guarded`]). Settings a router reads are read
    /// here, at start-up: a malformed one stops the binary.
    pub router: fn(Judges, &D) -> Result<Router, ConfigError>,
    /// For a function run on a schedule: its job. On Lambda the binary then takes EventBridge events through
    /// lambda_runtime instead of HTTP events; elsewhere its router serves the job as POST /<name> ([`timer_route`]).
    pub scheduled: Option<Scheduled<D>>,
    /// On Lambda, answer through response streaming (lambda_http's streaming runner; the function URL's InvokeMode is
    /// RESPONSE_STREAM): the body reaches the client as it is written, as generate's NDJSON progress must. API
    /// Gateway cannot stream, so such a function is reached by its function URL. Elsewhere responses always stream.
    pub response_streaming: bool,
}

/// A scheduled job: given the deployment (for its store), does one run and reports it as JSON.
pub type Scheduled<D> = fn(D) -> Pin<Box<dyn Future<Output = Result<serde_json::Value, String>> + Send>>;

/// The deployment of a function that keeps no state (the native judges, reached only by validate through IAM): its
/// guard is off and says so in /api/health.
#[derive(Clone)]
pub struct Stateless {
    guard: Guard,
}

impl Deployment for Stateless {
    fn from_env() -> Result<Stateless, ConfigError> {
        Ok(Stateless { guard: Guard::off("this function keeps no state: it is reached only by the other functions") })
    }

    fn guard(&self) -> &Guard {
        &self.guard
    }
}

/// Where the binary is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// AWS Lambda (the Runtime API).
    Lambda,
    /// An Azure Functions custom handler.
    Azure {
        /// 127.0.0.1 at FUNCTIONS_CUSTOMHANDLER_PORT.
        address: SocketAddr,
    },
    /// A local HTTP server.
    Local {
        /// BIND_ADDR:PORT.
        address: SocketAddr,
    },
}

impl Host {
    /// The host, from the environment.
    pub fn detect() -> Result<Host, ConfigError> {
        if config::read("AWS_LAMBDA_RUNTIME_API").is_some() {
            return Ok(Host::Lambda);
        }
        if let Some(value) = config::read("FUNCTIONS_CUSTOMHANDLER_PORT") {
            let port = config::port("FUNCTIONS_CUSTOMHANDLER_PORT", &value)?;
            return Ok(Host::Azure { address: SocketAddr::from((Ipv4Addr::LOCALHOST, port)) });
        }
        Ok(Host::Local { address: config::local_address()? })
    }

    /// The host's name in /api/health and the logs.
    pub fn name(self) -> &'static str {
        match self {
            Host::Lambda => "aws-lambda",
            Host::Azure { .. } => "azure-functions",
            Host::Local { .. } => "local",
        }
    }
}

#[derive(Debug, thiserror::Error)]
/// Why a function binary could not start or stopped serving.
pub enum HostError {
    #[error(transparent)]
    /// A setting is malformed.
    Config(#[from] ConfigError),
    #[error("cannot listen on {address}: {source}; set PORT (or BIND_ADDR) to a free address")]
    /// The address cannot be bound.
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// Why it could not be bound.
        source: std::io::Error,
    },
    #[error("the server stopped: {0}")]
    /// The local or Azure server failed.
    Serve(std::io::Error),
    #[error("the Lambda runtime stopped: {0}")]
    /// The Lambda runtime failed.
    Lambda(String),
    #[error("cannot start the async runtime: {0}")]
    /// The async runtime could not be built.
    Runtime(std::io::Error),
}

/// The whole `main` of a function binary: logging, host detection, configuration, serving.
pub fn main<D: Deployment>(functions: &[Function<D>]) -> ExitCode {
    init_logging();
    match run(functions) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "start-up or serving failed");
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}

fn run<D: Deployment>(functions: &[Function<D>]) -> Result<(), HostError> {
    let host = Host::detect()?;
    let deployment = D::from_env()?;
    let scheduled = functions.iter().find_map(|function| function.scheduled);
    let streaming = functions.iter().any(|function| function.response_streaming);
    let app = app(functions, host, &HttpConfig::from_env()?, &deployment)?;
    // Lambda sends one event at a time: a single-threaded runtime starts faster. Servers use every core.
    let runtime = match host {
        Host::Lambda => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        _ => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
    }
    .map_err(HostError::Runtime)?;
    runtime.block_on(async move {
        match (host, scheduled) {
            (Host::Lambda, Some(job)) => lambda_runtime::run(lambda_runtime::service_fn(
                move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
                    let deployment = deployment.clone();
                    async move {
                        tracing::info!(
                            source = event.payload.get("source").and_then(|value| value.as_str()),
                            time = event.payload.get("time").and_then(|value| value.as_str()),
                            "scheduled run"
                        );
                        job(deployment).await.map_err(lambda_runtime::Error::from)
                    }
                },
            ))
            .await
            .map_err(|err| HostError::Lambda(err.to_string())),
            (Host::Lambda, None) if streaming => {
                lambda_http::run_with_streaming_response(app).await.map_err(|err| HostError::Lambda(err.to_string()))
            }
            (Host::Lambda, None) => lambda_http::run(app).await.map_err(|err| HostError::Lambda(err.to_string())),
            (Host::Azure { address } | Host::Local { address }, _) => serve(app, address, host, None).await,
        }
    })
}

/// The functions' routes wrapped with the shared conventions, with a health answer describing them.
/// The deployment's guard stands in front of the public routes ([`Guard::off`] in tests that do not exercise it).
pub fn app<D: Deployment>(
    functions: &[Function<D>],
    host: Host,
    config: &HttpConfig,
    deployment: &D,
) -> Result<Router, ConfigError> {
    let guard = deployment.guard().clone();
    let mut engines = Vec::new();
    for function in functions {
        engines.extend((function.judges)()?);
    }
    let judges = Judges::new(engines);
    let mut routes = if judges.is_empty() { Router::new() } else { crate::judge::routes(judges.clone(), &guard) };
    for function in functions {
        routes = routes.merge((function.router)(judges.clone(), deployment)?);
    }
    let names: Vec<String> = functions.iter().map(|function| function.name.to_string()).collect();
    let mut paths: Vec<String> = vec!["GET /api/health".to_string(), format!("GET {}", crate::openapi::PATH)];
    for path in functions.iter().flat_map(|function| function.routes.iter()) {
        if !paths.iter().any(|known| known == path) {
            paths.push(path.to_string());
        }
    }
    // Made on its first request: parsing the document is no start-up work.
    let document = std::sync::Arc::new((std::sync::OnceLock::new(), paths.clone()));
    routes = routes.route(
        crate::openapi::PATH,
        axum::routing::get(move || async move {
            let (made, served) = &*document;
            axum::Json(made.get_or_init(|| crate::openapi::for_routes(served)).clone())
        }),
    );
    // Every request carries its client's address, as the host vouches for it (the guard counts anonymous callers by it).
    let hops = config.trusted_proxy_hops.unwrap_or(match host {
        Host::Azure { .. } => 1,
        Host::Lambda | Host::Local { .. } => 0,
    });
    routes = routes.layer(axum::middleware::from_fn(move |mut request: axum::extract::Request, next: Next| {
        let address = crate::client::client_address(&request, hops);
        request.extensions_mut().insert(address);
        next.run(request)
    }));
    let health = move || Health {
        status: "ok",
        problems: Vec::new(),
        functions: names.clone(),
        version: env!("CARGO_PKG_VERSION"),
        host: host.name(),
        engines: crate::describe(&judges),
        routes: paths.clone(),
        guard: guard.describe(),
    };
    Ok(service(routes, health, deployment.guard().clone(), host, config))
}

/// POST /<name>: runs a scheduled job on request, answering in the shape the Azure Functions host expects of a custom
/// handler's timer trigger (`{"Outputs": {}, "Logs": [...], "ReturnValue": <report>}`; the timer's own payload,
/// `{"Data": …, "Metadata": …}`, carries nothing the job needs). A failed run is a 500 with the reason in Logs, which
/// the host records as a failed invocation. The same route runs the job locally on request. Only a caller on this
/// machine may (the Functions host proxies from loopback, and its public HTTP function covers `/api/` only): anyone
/// else is 403 `forbidden`.
pub fn timer_route<D: Deployment>(name: &'static str, job: Scheduled<D>, deployment: &D) -> Router {
    let deployment = deployment.clone();
    Router::new().route(
        &format!("/{name}"),
        axum::routing::post(move |request: axum::extract::Request| {
            let deployment = deployment.clone();
            let peer = request.extensions().get::<axum::extract::ConnectInfo<SocketAddr>>().map(|info| info.0);
            async move {
                if !peer.is_some_and(|peer| peer.ip().is_loopback()) {
                    return crate::Problem::new(
                        ::http::StatusCode::FORBIDDEN,
                        codecapsule_core::model::ErrorCode::Forbidden,
                        format!("{name} is run by the scheduler on this machine only"),
                    )
                    .into_response();
                }
                let (status, logs, value) = match job(deployment).await {
                    Ok(report) => (::http::StatusCode::OK, vec![format!("{name}: done")], report),
                    Err(reason) => {
                        tracing::error!(%reason, job = name, "scheduled run failed");
                        (
                            ::http::StatusCode::INTERNAL_SERVER_ERROR,
                            vec![format!("{name} failed: {reason}")],
                            serde_json::Value::Null,
                        )
                    }
                };
                (status, axum::Json(serde_json::json!({"Outputs": {}, "Logs": logs, "ReturnValue": value})))
                    .into_response()
            }
        }),
    )
}

/// Serves `app` on `address` until SIGTERM/Ctrl-C, then drains in-flight requests. `ready` hears the bound address
/// (useful with port 0).
pub async fn serve(
    app: Router,
    address: SocketAddr,
    host: Host,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<(), HostError> {
    let listener =
        tokio::net::TcpListener::bind(address).await.map_err(|source| HostError::Bind { address, source })?;
    let bound = listener.local_addr().map_err(HostError::Serve)?;
    tracing::info!(address = %bound, host = host.name(), "listening");
    if let Some(ready) = ready {
        let _ = ready.send(bound);
    }
    crate::server::serve(listener, app, shutdown_signal()).await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received: finishing requests in flight");
}

/// JSON logs (or text), level from AWS_LAMBDA_LOG_LEVEL, RUST_LOG, or info. Safe to call twice (tests).
pub fn init_logging() {
    let filter = config::read("AWS_LAMBDA_LOG_LEVEL")
        .map(|level| EnvFilter::new(level.to_lowercase().replace("fatal", "error")))
        .or_else(|| config::read("RUST_LOG").map(EnvFilter::new))
        .unwrap_or_else(|| EnvFilter::new("info"));
    let text = config::read("AWS_LAMBDA_LOG_FORMAT").is_some_and(|format| format.eq_ignore_ascii_case("text"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stdout);
    let _ = if text {
        builder.with_ansi(false).try_init()
    } else {
        builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init()
    };
}
