//! The direct transport: PostgreSQL over tokio-postgres, TLS by rustls.
//!
//! Made for serverless functions behind Supabase's transaction pooler (Supavisor, port 6543):
//! - unnamed statements only (`query_typed`): named prepared statements fail there, as a pooled server connection
//!   changes between transactions;
//! - a small pool per instance (DATABASE_POOL_SIZE, default 2), connected on first use, so that a burst of cold starts
//!   cannot exhaust the database's connections;
//! - acting for a user or anon, each call is one transaction that first sets `role` and `request.jwt.claims` with
//!   `set_config(…, true)`, exactly as PostgREST does; those settings end with the transaction and never leak to the
//!   next client of a pooled connection. The four messages (begin, settings, the call, commit) are pipelined: one
//!   round trip.
//! - as service_role, the call runs as the connecting role in its own implicit transaction. The URL's user must have
//!   service_role's rights (Supabase's `postgres` user does).

use super::{Actor, Arg, Filter, Returns, StoreError};
use codecapsule_core::config::{ConfigError, Secret};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::types::{ToSql, Type};

/// How long one call may take, connecting included, before it fails as unavailable.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
/// The direct transport: a pool of PostgreSQL connections over rustls.
pub struct DirectStore {
    pool: Pool,
}

impl DirectStore {
    /// A store for `url` (nothing is connected yet). `ca_cert`: a PEM file of roots to trust besides the web's.
    pub fn new(url: &Secret, ca_cert: Option<&Path>, pool_size: usize) -> Result<DirectStore, ConfigError> {
        let invalid =
            |expected: String| ConfigError::Invalid { var: "DATABASE_URL", value: "[redacted]".into(), expected };
        let mut config: tokio_postgres::Config = url.expose().parse().map_err(|err| {
            invalid(format!("a URL like postgres://user:password@host:6543/postgres?sslmode=require ({err})"))
        })?;
        config.connect_timeout(Duration::from_secs(5));
        config.application_name("codecapsule");
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(ca_cert)?);
        let manager = Manager::from_config(config, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|err| invalid(format!("a usable connection pool ({err})")))?;
        Ok(DirectStore { pool })
    }

    pub(super) async fn rpc(
        &self,
        actor: &Actor,
        function: &'static str,
        args: &[Arg],
        returns: Returns,
    ) -> Result<Value, StoreError> {
        let call = format!(
            "public.{}({})",
            quote(function),
            args.iter()
                .enumerate()
                .map(|(index, arg)| format!("{} => ${}::text::{}", quote(arg.name), index + 1, arg.sql_type))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let sql = match returns {
            Returns::Scalar => format!("select to_jsonb({call})"),
            Returns::Rows => format!("select coalesce(jsonb_agg(to_jsonb(r)), '[]'::jsonb) from {call} r"),
            Returns::Nothing => format!("select null::jsonb from {call} r"),
        };
        let params: Vec<Option<String>> = args.iter().map(text_form).collect();
        self.query_json(actor, &sql, &params).await
    }

    pub(super) async fn select(
        &self,
        actor: &Actor,
        schema: &'static str,
        table: &'static str,
        columns: &'static [&'static str],
        filters: &[Filter],
    ) -> Result<Vec<Value>, StoreError> {
        let columns = columns.iter().map(|column| quote(column)).collect::<Vec<_>>().join(", ");
        let mut sql = format!(
            "select coalesce(jsonb_agg(to_jsonb(t)), '[]'::jsonb) from (select {columns} from {}.{}",
            quote(schema),
            quote(table)
        );
        for (index, filter) in filters.iter().enumerate() {
            let keyword = if index == 0 { "where" } else { "and" };
            sql.push_str(&format!(" {keyword} {} = ${}::text::{}", quote(filter.column), index + 1, filter.sql_type));
        }
        sql.push_str(") t");
        let params: Vec<Option<String>> = filters.iter().map(|filter| Some(filter.value.clone())).collect();
        match self.query_json(actor, &sql, &params).await? {
            Value::Array(rows) => Ok(rows),
            other => Err(StoreError::Protocol { message: format!("expected rows, got {other}") }),
        }
    }

    /// Runs `sql` (one row, one jsonb column) as `actor` and returns that value.
    async fn query_json(&self, actor: &Actor, sql: &str, params: &[Option<String>]) -> Result<Value, StoreError> {
        let call = async {
            let client = self.pool.get().await.map_err(|err| StoreError::Unavailable {
                message: format!("cannot connect to DATABASE_URL: {}", pool_error(&err)),
            })?;
            let typed: Vec<(&(dyn ToSql + Sync), Type)> =
                params.iter().map(|param| (param as &(dyn ToSql + Sync), Type::TEXT)).collect();
            let rows = match role_and_claims(actor) {
                None => client.query_typed(sql, &typed).await.map_err(database_error)?,
                Some((role, claims)) => {
                    let claims = claims.to_string();
                    let settings: [(&(dyn ToSql + Sync), Type); 2] = [(&role, Type::TEXT), (&claims, Type::TEXT)];
                    // Biased: polled in order, so the four requests reach the connection in this order.
                    let (begin, set, rows, commit) = tokio::join!(
                        biased;
                        client.batch_execute("begin"),
                        client.query_typed(
                            "select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)",
                            &settings,
                        ),
                        client.query_typed(sql, &typed),
                        client.batch_execute("commit"),
                    );
                    begin.map_err(database_error)?;
                    set.map_err(database_error)?;
                    let rows = rows.map_err(database_error)?;
                    commit.map_err(database_error)?;
                    rows
                }
            };
            let row = rows.first().ok_or_else(|| StoreError::Protocol { message: "no row".into() })?;
            let value: Option<Value> = row.try_get(0).map_err(database_error)?;
            Ok(value.unwrap_or(Value::Null))
        };
        tokio::time::timeout(CALL_TIMEOUT, call).await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable { message: format!("no answer from the database within {CALL_TIMEOUT:?}") })
        })
    }
}

/// An argument as the text the SQL casts to its type (`$n::text::type`); JSON arguments as JSON text.
fn text_form(arg: &Arg) -> Option<String> {
    match (&arg.value, arg.sql_type) {
        (Value::Null, _) => None,
        (value, "jsonb" | "json") => Some(value.to_string()),
        (Value::String(text), _) => Some(text.clone()),
        (value, _) => Some(value.to_string()),
    }
}

/// A quoted SQL identifier (ours are constants, but quoting costs nothing and keeps them safe).
fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

fn database_error(err: tokio_postgres::Error) -> StoreError {
    match err.as_db_error() {
        Some(db) => StoreError::from_sqlstate(db.code().code(), db.message().to_string()),
        None if err.is_closed() => StoreError::Unavailable { message: "the connection closed".into() },
        None => StoreError::Unavailable { message: err.to_string() },
    }
}

fn pool_error(err: &deadpool_postgres::PoolError) -> String {
    match err {
        deadpool_postgres::PoolError::Backend(err) => match err.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => err.to_string(),
        },
        other => other.to_string(),
    }
}

/// rustls with the web's roots (webpki-roots) plus those of `ca_cert` (Supabase signs its database certificates
/// with its own CA: download it from the dashboard and point DATABASE_CA_CERT at it).
fn tls_config(ca_cert: Option<&Path>) -> Result<rustls::ClientConfig, ConfigError> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = ca_cert {
        use rustls_pki_types::pem::PemObject;
        let invalid = |expected: String| ConfigError::Invalid {
            var: "DATABASE_CA_CERT",
            value: path.display().to_string(),
            expected,
        };
        let certificates = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|err| invalid(format!("a readable PEM file of CA certificates ({err})")))?;
        for certificate in certificates {
            let certificate = certificate.map_err(|err| invalid(format!("PEM certificates ({err})")))?;
            roots.add(certificate).map_err(|err| invalid(format!("valid CA certificates ({err})")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| ConfigError::Invalid {
            var: "DATABASE_URL",
            value: "[redacted]".into(),
            expected: format!("a TLS configuration rustls accepts ({err})"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// The role and claims an actor's transaction runs with (PostgREST's `role` and `request.jwt.claims`).
fn role_and_claims(actor: &Actor) -> Option<(&'static str, Value)> {
    match actor {
        Actor::Service => None,
        Actor::Anonymous => Some(("anon", json!({"role": "anon"}))),
        Actor::User(user) => Some(("authenticated", user.claims.clone())),
    }
}
