//! A PostgreSQL cluster of our own, from the machine's binaries (initdb and pg_ctl): the embedded default of
//! `make run` (a persistent cluster under .data/) and the tests' throwaway clusters.
//!
//! The binaries are found through PG_BIN, else `pg_config --bindir`, else the newest /usr/lib/postgresql/<n>/bin.
//! PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` system user and the server runs
//! as that user. It listens on 127.0.0.1 only, with trust authentication: it is for this machine's own use.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
/// Why the local cluster could not be started.
pub enum LocalPostgresError {
    #[error(
        "no PostgreSQL server binaries found (looked at PG_BIN, `pg_config --bindir`, /usr/lib/postgresql/*/bin): \
         install PostgreSQL (Debian: apt-get install postgresql), or set DATABASE_URL or SUPABASE_URL"
    )]
    /// No initdb/pg_ctl on this machine.
    NoBinaries,
    #[error("running as root needs the `postgres` system user to own the cluster (PostgreSQL refuses root): {0}")]
    /// As root, the cluster must run as the `postgres` user, and there is none.
    NoPostgresUser(String),
    #[error(
        "the PostgreSQL cluster in {} is already running (postmaster pid {pid}), probably for another `make run` in \
         this checkout: stop that one first, or give this one its own state with DATABASE_URL",
        directory.display()
    )]
    /// Another server (another dev host of the same checkout) runs the cluster: it is left alone.
    InUse {
        /// The cluster's directory.
        directory: PathBuf,
        /// The running postmaster's process id.
        pid: u32,
    },
    #[error("{step} failed: {detail}")]
    /// A step of setting the cluster up failed.
    Step {
        /// initdb, pg_ctl start, …
        step: &'static str,
        /// What the step printed.
        detail: String,
    },
}

/// Where `make run` keeps its cluster, relative to the repository.
pub const DEV_DIRECTORY: &str = ".data/postgres";

/// The port of `make run`'s cluster: LOCAL_POSTGRES_PORT, default 54329.
pub fn dev_port() -> Result<u16, codecapsule_core::config::ConfigError> {
    match codecapsule_core::config::read("LOCAL_POSTGRES_PORT") {
        None => Ok(54329),
        Some(value) => codecapsule_core::config::port("LOCAL_POSTGRES_PORT", &value),
    }
}

/// The superuser's URL of the cluster `make run` runs on 127.0.0.1:`port`.
pub fn dev_url(port: u16) -> String {
    loopback_url("postgres", port)
}

/// A URL for `user` and database `postgres` on 127.0.0.1:`port`, without TLS (loopback).
fn loopback_url(user: &str, port: u16) -> String {
    format!("postgres://{user}@127.0.0.1:{port}/postgres?sslmode=disable")
}

/// A running cluster. Stopped (fast shutdown) when dropped, once it was started by us; its directory stays unless it
/// was made temporary.
pub struct LocalPostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    owner: Option<(u32, u32)>,
    /// Whether our pg_ctl start succeeded: a cluster that failed to start (it may be someone else's) is never stopped.
    started: bool,
    remove_on_drop: Option<PathBuf>,
}

impl LocalPostgres {
    /// Starts the cluster in `directory` (created by initdb when empty) on 127.0.0.1:`port`; a cluster another
    /// process already runs there is [`LocalPostgresError::InUse`], and left running.
    pub fn start(directory: &Path, port: u16) -> Result<LocalPostgres, LocalPostgresError> {
        let bin = binaries().ok_or(LocalPostgresError::NoBinaries)?;
        let owner = if running_as_root() { Some(postgres_user()?) } else { None };
        std::fs::create_dir_all(directory).map_err(|err| step("creating the data directory", err))?;
        let directory = directory.canonicalize().map_err(|err| step("resolving the data directory", err))?;
        chown(&directory, owner)?;
        let data = directory.join("data");
        if let Some(pid) = running_postmaster(&data) {
            return Err(LocalPostgresError::InUse { directory, pid });
        }
        let mut cluster = LocalPostgres { bin, data, port, owner, started: false, remove_on_drop: None };
        if !cluster.data.join("PG_VERSION").exists() {
            cluster.run(
                "initdb",
                cluster
                    .command("initdb")
                    .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "-D"])
                    .arg(&cluster.data),
            )?;
        }
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off -c max_connections=200",
            directory.display()
        );
        cluster.run(
            "pg_ctl start",
            cluster
                .command("pg_ctl")
                .args(["-w", "-t", "60", "-D"])
                .arg(&cluster.data)
                .args(["-o", &options, "-l"])
                .arg(directory.join("server.log"))
                .arg("start"),
        )?;
        cluster.started = true;
        Ok(cluster)
    }

    /// A throwaway cluster in a new temporary directory, removed when dropped (tests).
    pub fn start_temporary(port: u16) -> Result<LocalPostgres, LocalPostgresError> {
        let directory = std::env::temp_dir().join(format!(
            "codecapsule-pg-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let mut cluster = LocalPostgres::start(&directory, port)?;
        cluster.remove_on_drop = Some(directory);
        Ok(cluster)
    }

    /// The port the cluster listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for the superuser `postgres` and database `postgres` (or `user`), without TLS (loopback).
    pub fn url(&self, user: &str) -> String {
        loopback_url(user, self.port)
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).env("LC_ALL", "C.UTF-8");
        if let Some((uid, gid)) = self.owner {
            use std::os::unix::process::CommandExt;
            // std drops the supplementary groups when root changes uid.
            command.uid(uid).gid(gid);
        }
        command
    }

    fn run(&self, name: &'static str, command: &mut Command) -> Result<(), LocalPostgresError> {
        let output = command.output().map_err(|err| step(name, err))?;
        if output.status.success() {
            return Ok(());
        }
        let mut detail = String::from_utf8_lossy(&output.stderr).trim().to_string();
        if detail.is_empty() {
            detail = String::from_utf8_lossy(&output.stdout).trim().to_string();
        }
        detail = format!("{} ({})", detail, output.status);
        Err(LocalPostgresError::Step { step: name, detail })
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        if self.started {
            let stopped = self.run(
                "pg_ctl stop",
                self.command("pg_ctl").args(["-w", "-t", "30", "-m", "fast", "-D"]).arg(&self.data).arg("stop"),
            );
            if let Err(err) = stopped {
                tracing::warn!(error = %err, "the local PostgreSQL did not stop cleanly");
            }
        }
        if let Some(directory) = self.remove_on_drop.take() {
            let _ = std::fs::remove_dir_all(directory);
        }
        // Give the port back before the next cluster of a test run wants one.
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The pid of the postmaster running the cluster in `data`, if one is: its postmaster.pid names a live process. (A
/// stale file, left by a server that was killed, names none, and pg_ctl starts over it.)
fn running_postmaster(data: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(data.join("postmaster.pid")).ok()?.lines().next()?.trim().parse().ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

fn step(step: &'static str, err: impl std::fmt::Display) -> LocalPostgresError {
    LocalPostgresError::Step { step, detail: err.to_string() }
}

/// The directory of initdb, pg_ctl and postgres.
fn binaries() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = codecapsule_core::config::read("PG_BIN").map(PathBuf::from) {
        return has_server(&dir).then_some(dir);
    }
    if let Ok(output) = Command::new("pg_config").arg("--bindir").stderr(Stdio::null()).output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if output.status.success() && has_server(&dir) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_server(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

fn running_as_root() -> bool {
    // The effective uid, from /proc (no libc dependency here): "Uid: real effective saved fs".
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("Uid:"))
                .and_then(|line| line.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

/// The uid and gid of the `postgres` system user, from /etc/passwd.
fn postgres_user() -> Result<(u32, u32), LocalPostgresError> {
    let passwd =
        std::fs::read_to_string("/etc/passwd").map_err(|err| LocalPostgresError::NoPostgresUser(err.to_string()))?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&"postgres") && fields.len() > 3)
        .and_then(|fields| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
        .ok_or_else(|| LocalPostgresError::NoPostgresUser("no `postgres` entry in /etc/passwd".into()))
}

fn chown(directory: &Path, owner: Option<(u32, u32)>) -> Result<(), LocalPostgresError> {
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(directory, Some(uid), Some(gid))
            .map_err(|err| step("handing the directory to postgres", err))?;
    }
    Ok(())
}
