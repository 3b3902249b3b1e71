//! The local dev host (`make run`): every function's routes on one port, with embedded defaults.
//!
//! State: DATABASE_URL or SUPABASE_URL when set; otherwise a PostgreSQL cluster of its own under .data/postgres
//! (initdb on first run, started on 127.0.0.1:LOCAL_POSTGRES_PORT, default 54329, stopped on exit), set up like a
//! Supabase project and migrated. Without PostgreSQL binaries it still serves every route and says what is missing.
//! Scheduled functions (the analytics processor) run every 5 minutes, and on demand with POST /<name>.
//! On the embedded PostgreSQL it also keeps a development organization (pro tier) with an API key, made on the first
//! run and kept in .data/dev-api-key, so that generation (billed to an organization) works out of the box, and
//! publishes the examples' capsule (examples/capsule-hidden-tests.json) as that organization at every start, for the
//! demo page.
//! The browser apps (the embed widget, the demo page, the dashboard) and the runtime packs are served beside the
//! functions ([`apps`]).

mod apps;

use codecapsule_core::config::{self, ConfigError, HttpConfig};
use codecapsule_devdb::local::{self, LocalPostgres, LocalPostgresError};
use codecapsule_devdb::migrations;
use codecapsule_devhost::FUNCTIONS;
use codecapsule_state::StateConfig;
use codecapsule_state::guard::{self, Stateful, auth::AuthConfig};
use codecapsule_web::host::{self, Host};
use std::process::ExitCode;
use tower::ServiceExt;

/// How often the dev host runs the scheduled functions, as EventBridge and the Azure timer do in the cloud.
const SCHEDULE_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

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
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return fail(&err),
    };
    // Held until the server stops: dropping it stops the embedded PostgreSQL.
    let (deployment, dev_key, _local_postgres) = match runtime.block_on(state()) {
        Ok(state) => state,
        Err(err) => return fail(&err),
    };
    let host = Host::Local { address };
    let app = match host::app(FUNCTIONS, host, &http, &deployment) {
        Ok(app) => app,
        Err(err) => return fail(&err),
    };
    let apps_dir = std::path::PathBuf::from(config::read("APPS_DIR").unwrap_or_else(|| apps::DEFAULT_APPS_DIR.into()));
    if !apps::built(&apps_dir) {
        eprintln!(
            "note: no apps in {} (the widget, demo page and dashboard): build them with `make apps`",
            apps_dir.display()
        );
    }
    let demo_capsule = apps::DemoCapsule::default();
    let app = app.merge(apps::router(&apps_dir, packs_dir().as_deref(), demo_capsule.clone()));
    let served = runtime.block_on(async move {
        let (ready, bound) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(host::serve(app.clone(), address, host, Some(ready)));
        if deployment.store.is_some() {
            tokio::spawn(run_on_schedule(deployment));
        }
        if let Ok(bound) = bound.await {
            if let Some(key) = dev_key {
                match publish_example(app, &key).await {
                    Ok(id) => {
                        let _ = demo_capsule.set(id);
                    }
                    Err(reason) => eprintln!("note: the example capsule was not published ({reason}): /demo/ waits"),
                }
            }
            announce(bound, demo_capsule.get().map(String::as_str));
        }
        server.await
    });
    match served {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(err)) => fail(&err),
        Err(err) => fail(&err),
    }
}

/// Why the dev host does not start.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    ClusterInUse(LocalPostgresError),
}

/// The configured state, else an embedded PostgreSQL, else none (the guard off, with the reason printed); an embedded
/// cluster another dev host runs stops start-up.
async fn state() -> Result<(Stateful, Option<String>, Option<LocalPostgres>), StartError> {
    let auth = AuthConfig::from_env()?;
    let switches_ttl = guard::switches_ttl_from_env()?;
    let configured = StateConfig::from_env()?;
    if !matches!(configured, StateConfig::None { .. }) {
        return Ok((Stateful::new(&configured, auth, switches_ttl)?, None, None));
    }
    let port = local::dev_port()?;
    let started =
        tokio::task::spawn_blocking(move || LocalPostgres::start(std::path::Path::new(local::DEV_DIRECTORY), port))
            .await;
    let started = match started {
        Ok(Err(in_use @ LocalPostgresError::InUse { .. })) => {
            // Another dev host of this checkout runs the cluster: serving on its database, or without state, would
            // both mislead. Stop here, leaving it alone.
            return Err(StartError::ClusterInUse(in_use));
        }
        Ok(started) => started.map_err(|err| err.to_string()),
        Err(join) => Err(join.to_string()),
    };
    let cluster = match started {
        Ok(cluster) => cluster,
        Err(reason) => {
            eprintln!("note: serving without state (no rate limits, API keys or kill switches): {reason}");
            return Ok((Stateful::without_state(format!("no embedded PostgreSQL: {reason}")), None, None));
        }
    };
    let url = cluster.url("postgres");
    match migrations::prepare_local(&url).await {
        Ok(applied) => {
            println!(
                "embedded PostgreSQL on 127.0.0.1:{port} ({}), {applied} migration(s) applied",
                local::DEV_DIRECTORY
            )
        }
        Err(err) => {
            eprintln!("note: serving without state: the embedded PostgreSQL could not be set up: {err}");
            return Ok((
                Stateful::without_state(format!("embedded PostgreSQL not set up: {err}")),
                None,
                Some(cluster),
            ));
        }
    }
    let key = match dev_api_key(&url).await {
        Ok(key) => {
            println!("development organization's API key (pro tier): {key}");
            Some(key)
        }
        Err(err) => {
            eprintln!("note: no development API key ({err}); generation needs an organization");
            None
        }
    };
    let state = StateConfig::Direct { url: config::Secret::new(url), ca_cert: None, pool_size: 4 };
    Ok((Stateful::new(&state, auth, switches_ttl)?, key, Some(cluster)))
}

/// Every [`SCHEDULE_EVERY`], each scheduled function's job (its failures are logged by the job).
async fn run_on_schedule(deployment: Stateful) {
    let mut ticks = tokio::time::interval(SCHEDULE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        for job in FUNCTIONS.iter().filter_map(|function| function.scheduled) {
            if let Err(reason) = job(deployment.clone()).await {
                tracing::error!(%reason, "scheduled run failed");
            }
        }
    }
}

/// The development organization's API key: read from .data/dev-api-key, else made (with the organization) and kept.
async fn dev_api_key(url: &str) -> Result<String, String> {
    const DEV_API_KEY_FILE: &str = ".data/dev-api-key";
    if let Ok(key) = std::fs::read_to_string(DEV_API_KEY_FILE) {
        return Ok(key.trim().to_string());
    }
    let (client, connection) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.map_err(|err| err.to_string())?;
    tokio::spawn(connection);
    let key: String = client
        .query_one(
            "with org as (insert into public.organizations (name, tier) values ('Local development', 'pro') returning id)
             select public.create_api_key((select id from org), 'make run')",
            &[],
        )
        .await
        .map_err(|err| err.to_string())?
        .get(0);
    std::fs::write(DEV_API_KEY_FILE, &key).map_err(|err| err.to_string())?;
    Ok(key)
}

/// The runtime packs' directory when the WebAssembly judge reads them from one (not when RUNTIME_PACKS_URL names a
/// bucket: the widget then reads them there, through `data-objects`).
fn packs_dir() -> Option<std::path::PathBuf> {
    match codecapsule_wasm::runtimes::PackSource::from_env() {
        Ok(codecapsule_wasm::runtimes::PackSource::Directory(directory)) => Some(directory),
        _ => None,
    }
}

/// Publishes the examples' capsule as the development organization, through the app's own POST /api/capsules (so it
/// is validated and written to the object store as any author's); its id.
async fn publish_example(app: axum::Router, key: &str) -> Result<String, String> {
    const EXAMPLE: &str = include_str!("../../examples/capsule-hidden-tests.json");
    let mut request = axum::http::Request::post("/api/capsules")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(EXAMPLE))
        .map_err(|err| err.to_string())?;
    // Called in-process, as if from this machine.
    request.extensions_mut().insert(axum::extract::ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 0))));
    let answer = app.oneshot(request).await.map_err(|err| err.to_string())?;
    let status = answer.status();
    let body = axum::body::to_bytes(answer.into_body(), 1 << 20).await.map_err(|err| err.to_string())?;
    let saved: serde_json::Value = serde_json::from_slice(&body).map_err(|err| err.to_string())?;
    match saved["capsule_id"].as_str() {
        Some(id) if status.is_success() && saved["status"] == "published" => Ok(id.to_string()),
        _ => Err(format!("POST /api/capsules answered {status}: {}", String::from_utf8_lossy(&body))),
    }
}

fn announce(bound: std::net::SocketAddr, demo_capsule: Option<&str>) {
    let mut routes: Vec<&str> = Vec::new();
    for route in FUNCTIONS.iter().flat_map(|function| function.routes.iter().copied()) {
        if !routes.contains(&route) {
            routes.push(route);
        }
    }
    println!("\nCodeCapsule dev host on http://{bound}  (routes: GET /api/health, {})", routes.join(", "));
    // The judge routes need an identity: the development organization's key (on the embedded PostgreSQL).
    let key = "-H \"authorization: Bearer $(cat .data/dev-api-key)\"";
    println!(
        "Try:\n  curl -s http://{bound}/api/judge {key} -H 'content-type: application/json' -d @examples/wat-function-add.json"
    );
    println!(
        "  curl -s http://{bound}/api/judge {key} -H 'content-type: application/json' -d @examples/python-sum.json"
    );
    println!(
        "  curl -s http://{bound}/api/capsules {key} -H 'content-type: application/json' -d @examples/capsule-hidden-tests.json"
    );
    println!(
        "  curl -sN http://{bound}/api/generate -H \"authorization: Bearer $(cat .data/dev-api-key)\" \\\n    \
         -H 'content-type: application/json' -d @examples/generate-sum.json   (with LLM_REPLAY_FILE or an LLM)\n"
    );
    println!(
        "Apps:\n  http://{bound}/demo/        the widget embedding the example capsule{}",
        match demo_capsule {
            Some(id) => format!(" ({id})"),
            None => " (not published: no state)".into(),
        }
    );
    println!("  http://{bound}/dashboard/   sign in with the key in .data/dev-api-key");
    println!("  <script src=\"http://{bound}/embed.js\" data-capsule=\"<capsule id>\"></script>   on any page\n");
}

fn fail(err: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {err}");
    ExitCode::from(2)
}
