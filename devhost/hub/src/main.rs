//! The Event Hubs stand-in as `make run-edge` starts it: the hub of EVENTHUBS_CONNECTION_STRING on 127.0.0.1:HUB_PORT,
//! producing into the broker at HUB_KAFKA_BOOTSTRAP (HUB_PARTITIONS partitions when it makes the topic; default 4).

use codecapsule_core::eventhubs::ConnectionString;
use codecapsule_hub_standin::{Broker, Hub};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("eventhubs-standin: {why}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), String> {
    let var = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
    let connection = var("EVENTHUBS_CONNECTION_STRING").ok_or("set EVENTHUBS_CONNECTION_STRING (the hub's policy)")?;
    let connection = ConnectionString::parse(&connection).map_err(|err| err.to_string())?;
    let port: u16 = var("HUB_PORT").unwrap_or_else(|| "8788".into()).parse().map_err(|_| "HUB_PORT is a port")?;
    let partitions = var("HUB_PARTITIONS").unwrap_or_else(|| "4".into());
    let partitions =
        partitions.parse().ok().filter(|count| (1..=32).contains(count)).ok_or("HUB_PARTITIONS is 1 to 32")?;
    let broker = var("HUB_KAFKA_BOOTSTRAP").map(|bootstrap| Broker { bootstrap, partitions });
    let hub_name = connection.hub.clone();
    let hub = Hub::start(connection, broker).await.map_err(|err| err.to_string())?;
    let listener =
        tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(|err| format!("port {port}: {err}"))?;
    println!("Event Hubs stand-in: http://127.0.0.1:{port}/{hub_name}/messages");
    axum::serve(listener, hub.router()).await.map_err(|err| err.to_string())
}
