//! The SQL migrations of supabase/migrations and their rollbacks (supabase/rollbacks), embedded in the binary so that
//! `make run` and the tests set a database up with nothing but the binary. Production applies the same files with the
//! Supabase CLI (`supabase db push`); both record what was applied in supabase_migrations.schema_migrations.

use tokio_postgres::Client;

/// One migration: `version` is its timestamp, `name` the rest of its file name.
pub struct Migration {
    /// The timestamp that orders migrations (the file name's prefix).
    pub version: &'static str,
    /// What the migration does (the rest of the file name).
    pub name: &'static str,
    /// The SQL that applies it.
    pub up: &'static str,
    /// The SQL that rolls it back.
    pub down: &'static str,
}

macro_rules! migration {
    ($file:literal) => {{
        let (version, name) = match $file.split_once('_') {
            Some(parts) => parts,
            None => panic!("migration file names are <version>_<name>.sql"),
        };
        Migration {
            version,
            name,
            up: include_str!(concat!("../../../supabase/migrations/", $file, ".sql")),
            down: include_str!(concat!("../../../supabase/rollbacks/", $file, ".sql")),
        }
    }};
}

/// Every migration, oldest first. A test checks that this list and the two folders agree.
pub fn all() -> Vec<Migration> {
    vec![
        migration!("20261126090000_tenancy"),
        migration!("20261126090100_capsules"),
        migration!("20261126090200_api_keys"),
        migration!("20261126090300_jobs_usage_config"),
        migration!("20261126090400_analytics"),
        migration!("20261126090500_rate_limits"),
        migration!("20261126090600_analytics_pipeline"),
        migration!("20261126090700_generation"),
        migration!("20261201090000_submissions"),
        migration!("20261202090000_emergency_switches"),
        migration!("20261203090000_stream_offsets"),
        migration!("20261204090000_dashboard"),
    ]
}

/// What makes plain PostgreSQL look like Supabase where the migrations need it (supabase/local/bootstrap.sql). Only
/// for clusters of our own (`make run`, tests): never run it on a Supabase project.
pub const SUPABASE_COMPAT_BOOTSTRAP: &str = include_str!("../../../supabase/local/bootstrap.sql");

#[derive(Debug, thiserror::Error)]
/// Why the migrations could not be applied or rolled back.
pub enum MigrationError {
    #[error("migration {version}_{name} failed: {source}")]
    /// A migration's SQL failed.
    Failed {
        /// The migration's version.
        version: &'static str,
        /// The migration's name.
        name: &'static str,
        /// PostgreSQL's error.
        source: tokio_postgres::Error,
    },
    #[error("cannot read the applied migrations (run the bootstrap or the Supabase CLI first): {0}")]
    /// The ledger of applied migrations could not be read or written.
    Ledger(tokio_postgres::Error),
    #[error("cannot connect to the local PostgreSQL: {0}")]
    /// The database could not be reached.
    Connect(tokio_postgres::Error),
    #[error("the Supabase compatibility bootstrap failed: {0}")]
    /// The compatibility bootstrap failed.
    Bootstrap(tokio_postgres::Error),
}

/// Sets up a cluster of our own like a Supabase project: connects to `url` (no TLS: a local cluster), runs the
/// compatibility bootstrap, applies the pending migrations; returns how many were applied.
pub async fn prepare_local(url: &str) -> Result<usize, MigrationError> {
    let (mut client, connection) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.map_err(MigrationError::Connect)?;
    let connection = tokio::spawn(connection);
    bootstrap(&client).await?;
    let applied = apply_all(&mut client).await;
    drop(client);
    let _ = connection.await;
    applied
}

/// Applies the bootstrap (idempotent).
pub async fn bootstrap(client: &Client) -> Result<(), MigrationError> {
    client.batch_execute(SUPABASE_COMPAT_BOOTSTRAP).await.map_err(MigrationError::Bootstrap)
}

/// The versions already applied, oldest first.
pub async fn applied(client: &Client) -> Result<Vec<String>, MigrationError> {
    let rows = client
        .query("select version from supabase_migrations.schema_migrations order by version", &[])
        .await
        .map_err(MigrationError::Ledger)?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Applies every migration not applied yet, each in its own transaction; returns how many ran.
pub async fn apply_all(client: &mut Client) -> Result<usize, MigrationError> {
    let done = applied(client).await?;
    let mut count = 0;
    for migration in all().into_iter().filter(|migration| !done.iter().any(|version| version == migration.version)) {
        let failed = |source| MigrationError::Failed { version: migration.version, name: migration.name, source };
        let transaction = client.transaction().await.map_err(failed)?;
        transaction.batch_execute(migration.up).await.map_err(failed)?;
        transaction
            .execute(
                "insert into supabase_migrations.schema_migrations (version, name) values ($1, $2)",
                &[&migration.version, &migration.name],
            )
            .await
            .map_err(failed)?;
        transaction.commit().await.map_err(failed)?;
        count += 1;
    }
    Ok(count)
}

/// Rolls back every applied migration, newest first, each in its own transaction; returns how many.
pub async fn roll_back_all(client: &mut Client) -> Result<usize, MigrationError> {
    let done = applied(client).await?;
    let mut count = 0;
    for migration in all().into_iter().rev().filter(|migration| done.iter().any(|version| version == migration.version))
    {
        let failed = |source| MigrationError::Failed { version: migration.version, name: migration.name, source };
        let transaction = client.transaction().await.map_err(failed)?;
        transaction.batch_execute(migration.down).await.map_err(failed)?;
        transaction
            .execute("delete from supabase_migrations.schema_migrations where version = $1", &[&migration.version])
            .await
            .map_err(failed)?;
        transaction.commit().await.map_err(failed)?;
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(folder: &str) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../supabase").join(folder);
        let mut names: Vec<String> = std::fs::read_dir(&path)
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
            .map(|entry| entry.expect("a directory entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_migration_file_is_embedded_with_its_rollback() {
        let embedded: Vec<String> =
            all().iter().map(|migration| format!("{}_{}.sql", migration.version, migration.name)).collect();
        assert_eq!(files("migrations"), embedded, "add new migrations to state::migrations::all()");
        assert_eq!(files("rollbacks"), embedded, "every migration needs a rollback of the same name");
        let mut sorted = embedded.clone();
        sorted.sort();
        assert_eq!(sorted, embedded, "migrations are listed oldest first");
    }
}
