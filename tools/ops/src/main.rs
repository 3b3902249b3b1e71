//! The emergency commands, for an operator watching the credits burn: switch a feature off or on, throttle every tier,
//! see what is switched. They change `public.runtime_config` (and log each change) on the database the functions read:
//! DATABASE_URL, else SUPABASE_URL with its service key, else `make run`'s embedded PostgreSQL
//! (127.0.0.1:LOCAL_POSTGRES_PORT). Every function sees a change within its cache time (RUNTIME_CONFIG_TTL_SECONDS,
//! 30 s at most).
//!
//! ```text
//! codecapsule-ops status
//! codecapsule-ops disable generation|judging|ingestion [--reason TEXT]
//! codecapsule-ops enable generation|judging|ingestion [--reason TEXT]
//! codecapsule-ops rate-limit FACTOR [--reason TEXT]     (1 is normal, 0.1 lets a tenth through, 0 none)
//! ```

use codecapsule_core::access::Feature;
use codecapsule_core::config::Secret;
use codecapsule_devdb::local;
use codecapsule_state::{StateConfig, Store};
use std::process::ExitCode;

/// What the operator asked.
#[derive(Debug, PartialEq)]
enum Command {
    Status,
    Switch { feature: Feature, enabled: bool, reason: String },
    RateLimit { factor: f64, reason: String },
}

const USAGE: &str = "usage: codecapsule-ops status | disable FEATURE | enable FEATURE | rate-limit FACTOR \
                     [--reason TEXT]   (FEATURE: generation, judging or ingestion; FACTOR: 0 to 100, 1 is normal)";

fn parse(args: &[String]) -> Result<Command, String> {
    let (words, reason) = match args.iter().position(|arg| arg == "--reason") {
        Some(at) => {
            let reason = args.get(at + 1).ok_or("--reason needs a text")?;
            ([&args[..at], &args[at + 2..]].concat(), reason.clone())
        }
        None => (args.to_vec(), "set with codecapsule-ops".to_string()),
    };
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["status"] => Ok(Command::Status),
        [verb @ ("disable" | "enable"), feature] => {
            let feature = Feature::parse(feature)
                .ok_or_else(|| format!("unknown feature `{feature}`: use generation, judging or ingestion"))?;
            Ok(Command::Switch { feature, enabled: *verb == "enable", reason })
        }
        ["rate-limit", factor] => {
            let factor: f64 = factor.parse().map_err(|_| format!("`{factor}` is not a number: give 0 to 100"))?;
            Ok(Command::RateLimit { factor, reason })
        }
        _ => Err(USAGE.to_string()),
    }
}

/// The database the functions read, as the environment says, else `make run`'s.
fn store() -> Result<(Store, String), String> {
    let configured = StateConfig::from_env().map_err(|err| err.to_string())?;
    let (state, label) = match configured {
        StateConfig::None { .. } => {
            let port = local::dev_port().map_err(|err| err.to_string())?;
            let url = local::dev_url(port);
            let state = StateConfig::Direct { url: Secret::new(url), ca_cert: None, pool_size: 1 };
            (state, format!("make run's PostgreSQL on 127.0.0.1:{port} (is `make run` running? else set DATABASE_URL)"))
        }
        StateConfig::Direct { .. } => (configured, "DATABASE_URL".to_string()),
        StateConfig::Rest { ref url, .. } => {
            let label = format!("SUPABASE_URL {url}");
            (configured, label)
        }
    };
    let store = state.store().map_err(|err| err.to_string())?.ok_or("no state configured")?;
    Ok((store, label))
}

async fn run(command: Command) -> Result<(), String> {
    let (store, label) = store()?;
    let failed = |err: codecapsule_state::StoreError| format!("{label}: {err}");
    match command {
        Command::Status => {}
        Command::Switch { feature, enabled, reason } => {
            store.set_feature_enabled(feature, enabled, &reason).await.map_err(failed)?;
            println!("{} {} ({label})", feature.as_str(), if enabled { "enabled" } else { "disabled" });
        }
        Command::RateLimit { factor, reason } => {
            store.set_rate_limit_multiplier(factor, &reason).await.map_err(failed)?;
            println!("rate limits x{factor} ({label})");
        }
    }
    for switch in store.runtime_status().await.map_err(failed)? {
        let since = match (&switch.since, &switch.changed_by) {
            (Some(since), Some(by)) => format!("since {} by {by}", since.to_rfc3339()),
            _ => "as deployed".to_string(),
        };
        let reason = switch.reason.map(|reason| format!(": {reason}")).unwrap_or_default();
        println!("{:<22} {:<6} {since}{reason}", switch.setting, switch.value);
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse(&args) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn commands_are_read_as_operators_type_them() {
        assert_eq!(parse(&words("status")), Ok(Command::Status));
        assert_eq!(
            parse(&words("disable ingestion --reason burst")),
            Ok(Command::Switch { feature: Feature::Ingest, enabled: false, reason: "burst".into() })
        );
        assert_eq!(
            parse(&words("rate-limit 0.1")),
            Ok(Command::RateLimit { factor: 0.1, reason: "set with codecapsule-ops".into() })
        );
        assert!(parse(&words("disable everything")).unwrap_err().contains("unknown feature"));
        assert!(parse(&words("rate-limit lots")).unwrap_err().contains("not a number"));
        assert!(parse(&words("restart")).unwrap_err().starts_with("usage"));
        assert!(parse(&words("enable judging --reason")).is_err());
    }
}
