//! A small server speaking PostgREST's protocol over a real PostgreSQL, for testing the REST transport (there is no
//! PostgREST binary to be had here). It does what PostgREST does for the requests our code makes, with the same SQL
//! semantics, and nothing more:
//!
//! - auth: the `apikey` header is required (Supabase's gateway refuses requests without one); the JWT is
//!   `Authorization: Bearer`, else the apikey; HS256-verified with the project secret (`exp` checked); its `role`
//!   claim becomes the transaction's role (`set_config('role', …, true)`) and the whole claims object
//!   `request.jwt.claims`, exactly as PostgREST sets them; it connects as `authenticator`, as PostgREST does;
//! - `POST /rest/v1/rpc/<function>`: named arguments from a JSON object (unknown argument → 404 PGRST202); answers a
//!   scalar as its JSON value, a set or table as a JSON array of rows, void as 204;
//! - `GET /rest/v1/<table>?select=<columns>&<column>=eq.<value>&limit=<n>`: a JSON array; with
//!   `Accept: application/vnd.pgrst.object+json` exactly one object, else 406 PGRST116;
//! - schemas: `Accept-Profile`/`Content-Profile` pick public (default) or analytics, the exposed schemas; others 406;
//! - errors: `{code, message, details, hint}` with PostgREST's status mapping of SQLSTATEs (42501 is 401 for anon
//!   and 403 otherwise; PTxyz answers xyz; 23505/23503 409; 42883/42P01 404; P0001 and 22xxx/23xxx 400; 53xxx 503).
//!
//! Not covered: embedding, other filter operators, ordering, pagination headers, Prefer, writes to tables (our code
//! writes only through RPC), OpenAPI.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;

const EXPOSED_SCHEMAS: &[&str] = &["public", "analytics"];
const SINGLE_OBJECT: &str = "application/vnd.pgrst.object+json";

/// A running server; stops with the test's runtime.
pub struct PostgrestServer {
    /// What the REST transport takes as SUPABASE_URL (it appends /rest/v1).
    pub url: String,
}

struct Shared {
    pool: deadpool_postgres::Pool,
    secret: String,
}

impl PostgrestServer {
    /// Serves on a free loopback port, connecting to `authenticator_url`; JWTs signed with `jwt_secret`.
    pub async fn start(authenticator_url: &str, jwt_secret: &str) -> PostgrestServer {
        let config: tokio_postgres::Config = authenticator_url.parse().expect("a PostgreSQL URL");
        let manager = deadpool_postgres::Manager::new(config, tokio_postgres::NoTls);
        let pool = deadpool_postgres::Pool::builder(manager).max_size(16).build().expect("a pool");
        let shared = Arc::new(Shared { pool, secret: jwt_secret.to_string() });
        let app = Router::new()
            .route("/rest/v1/rpc/{function}", post(rpc))
            .route("/rest/v1/{table}", get(select))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("a port");
        let address: SocketAddr = listener.local_addr().expect("its address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        PostgrestServer { url: format!("http://{address}") }
    }
}

/// An error answer in PostgREST's shape: `{code, message, details, hint}`.
struct PostgrestError {
    status: StatusCode,
    body: Value,
}

impl IntoResponse for PostgrestError {
    fn into_response(self) -> Response {
        (self.status, [("content-type", "application/json")], self.body.to_string()).into_response()
    }
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> PostgrestError {
    PostgrestError { status, body: json!({"code": code, "message": message.into(), "details": null, "hint": null}) }
}

fn unavailable(err: impl std::fmt::Display) -> PostgrestError {
    error(StatusCode::SERVICE_UNAVAILABLE, "PGRST000", err.to_string())
}

/// The role and claims of a request, or PostgREST's 401.
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<(String, Value), PostgrestError> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_string);
    let Some(apikey) = header("apikey") else {
        return Err(error(StatusCode::UNAUTHORIZED, "PGRST301", "No API key found in request"));
    };
    let token =
        header("authorization").and_then(|value| value.strip_prefix("Bearer ").map(str::to_string)).unwrap_or(apikey);
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    let key = jsonwebtoken::DecodingKey::from_secret(shared.secret.as_bytes());
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation)
        .map_err(|err| {
            let expired = matches!(err.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature);
            error(
                StatusCode::UNAUTHORIZED,
                if expired { "PGRST303" } else { "PGRST301" },
                format!("JWT rejected: {err}"),
            )
        })?
        .claims;
    let role = claims.get("role").and_then(Value::as_str).unwrap_or("anon").to_string();
    Ok((role, claims))
}

fn schema_of(headers: &HeaderMap, header: &str) -> Result<String, PostgrestError> {
    let schema = headers.get(header).and_then(|value| value.to_str().ok()).unwrap_or("public").to_string();
    if EXPOSED_SCHEMAS.contains(&schema.as_str()) {
        Ok(schema)
    } else {
        let message = format!("The schema must be one of: {}", EXPOSED_SCHEMAS.join(", "));
        Err(error(StatusCode::NOT_ACCEPTABLE, "PGRST106", message))
    }
}

fn identifier(name: &str) -> Option<String> {
    let valid = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    valid.then(|| format!("\"{name}\""))
}

/// PostgREST's status for a database error.
fn database_error(role: &str, err: &tokio_postgres::Error) -> PostgrestError {
    let Some(db) = err.as_db_error() else {
        return unavailable(err);
    };
    let code = db.code().code();
    let server_error_classes = ["25", "2D", "38", "39", "3B", "40", "55", "57", "58", "F0", "HV", "P0", "XX", "09"];
    let status = match code {
        "42501" if role == "anon" => 401,
        "42501" => 403,
        "23503" | "23505" => 409,
        "42883" | "42P01" => 404,
        "P0001" => 400,
        code if code.starts_with("PT") => code[2..].parse().unwrap_or(500),
        code if code.starts_with("08") || code.starts_with("53") => 503,
        code if code.starts_with("22") || code.starts_with("23") => 400,
        code if server_error_classes.iter().any(|class| code.starts_with(class)) => 500,
        _ => 400,
    };
    PostgrestError {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body: json!({"code": code, "message": db.message(), "details": db.detail(), "hint": db.hint()}),
    }
}

/// Runs `sql` with `params` (text) in a transaction as `role` with `claims`; the first column of the first row.
async fn run_as(
    shared: &Shared,
    role: &str,
    claims: &Value,
    sql: &str,
    params: &[String],
) -> Result<Option<Value>, PostgrestError> {
    let mut client = shared.pool.get().await.map_err(unavailable)?;
    let transaction = client.transaction().await.map_err(|err| database_error(role, &err))?;
    transaction
        .execute(
            "select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)",
            &[&role, &claims.to_string()],
        )
        .await
        .map_err(|err| database_error(role, &err))?;
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        params.iter().map(|param| param as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
    let rows = transaction.query(sql, &params).await.map_err(|err| database_error(role, &err))?;
    transaction.commit().await.map_err(|err| database_error(role, &err))?;
    Ok(rows.first().and_then(|row| row.get::<_, Option<Value>>(0)))
}

fn json_response(value: &Value) -> Response {
    (StatusCode::OK, [("content-type", "application/json")], value.to_string()).into_response()
}

async fn rpc(
    State(shared): State<Arc<Shared>>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PostgrestError> {
    let (role, claims) = authenticate(&shared, &headers)?;
    let schema = schema_of(&headers, "content-profile")?;
    let body: &[u8] = if body.is_empty() { b"{}" } else { &body };
    let args: serde_json::Map<String, Value> = serde_json::from_slice(body)
        .map_err(|err| error(StatusCode::BAD_REQUEST, "PGRST102", format!("Invalid JSON body: {err}")))?;
    // The function's input arguments and their types, as PostgREST reads them from its schema cache.
    let client = shared.pool.get().await.map_err(unavailable)?;
    let signature = client
        .query_opt(
            "select coalesce(p.proargnames[1:p.pronargs], '{}'), \
                    array(select format_type(t, null) from unnest(p.proargtypes) t), \
                    p.proretset or p.proargmodes is not null and 't' = any(p.proargmodes), \
                    p.prorettype = 'void'::regtype \
             from pg_proc p join pg_namespace n on n.oid = p.pronamespace \
             where n.nspname = $1 and p.proname = $2",
            &[&schema, &function],
        )
        .await
        .map_err(|err| database_error(&role, &err))?;
    drop(client);
    let not_found = || {
        let names = args.keys().cloned().collect::<Vec<_>>().join(", ");
        let message = format!("Could not find the function {schema}.{function}({names}) in the schema cache");
        error(StatusCode::NOT_FOUND, "PGRST202", message)
    };
    let signature = signature.ok_or_else(not_found)?;
    let (names, types, returns_rows, returns_void): (Vec<String>, Vec<String>, bool, bool) =
        (signature.get(0), signature.get(1), signature.get(2), signature.get(3));
    let mut call_args = Vec::new();
    for name in args.keys() {
        let position = names.iter().position(|known| known == name).ok_or_else(not_found)?;
        let ty = &types[position];
        let quoted = identifier(name).ok_or_else(not_found)?;
        let operator = if ty == "jsonb" || ty == "json" { "->" } else { "->>" };
        call_args.push(format!("{quoted} => ($1::text::jsonb {operator} '{name}')::{ty}"));
    }
    let function_name = identifier(&function).ok_or_else(not_found)?;
    let call = format!("\"{schema}\".{function_name}({})", call_args.join(", "));
    let sql = if returns_void {
        format!("select null::jsonb from {call} called")
    } else if returns_rows {
        format!("select coalesce(jsonb_agg(to_jsonb(r)), '[]'::jsonb) from {call} r")
    } else {
        format!("select to_jsonb({call})")
    };
    let value = run_as(&shared, &role, &claims, &sql, &[Value::Object(args).to_string()]).await?;
    if returns_void {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok(json_response(&value.unwrap_or(Value::Null)))
}

async fn select(
    State(shared): State<Arc<Shared>>,
    Path(table): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, PostgrestError> {
    let (role, claims) = authenticate(&shared, &headers)?;
    let schema = schema_of(&headers, "accept-profile")?;
    let bad = |message: String| error(StatusCode::BAD_REQUEST, "PGRST100", message);
    let mut columns = "*".to_string();
    let mut filters = Vec::new();
    let mut params = Vec::new();
    let mut limit = String::new();
    for pair in query.unwrap_or_default().split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match key {
            "select" if value == "*" => {}
            "select" => {
                let parsed: Option<Vec<String>> = value.split(',').map(identifier).collect();
                columns = parsed.ok_or_else(|| bad(format!("unsupported select: {value}")))?.join(", ");
            }
            "limit" => {
                let n: u32 = value.parse().map_err(|_| bad(format!("limit must be a number, not {value}")))?;
                limit = format!(" limit {n}");
            }
            column => {
                let (Some(column), Some(operand)) = (identifier(column), value.strip_prefix("eq.")) else {
                    return Err(bad(format!("unsupported filter {key}={value} (this test server knows eq only)")));
                };
                params.push(operand.to_string());
                filters.push(format!("{column}::text = ${}", params.len()));
            }
        }
    }
    let table_name = identifier(&table).ok_or_else(|| bad(format!("bad table name {table}")))?;
    let filter = if filters.is_empty() { String::new() } else { format!(" where {}", filters.join(" and ")) };
    let sql = format!(
        "select coalesce(jsonb_agg(to_jsonb(t)), '[]'::jsonb) from (select {columns} from \"{schema}\".{table_name}{filter}{limit}) t"
    );
    let rows = run_as(&shared, &role, &claims, &sql, &params).await?.unwrap_or_else(|| json!([]));
    let accept = headers.get("accept").and_then(|value| value.to_str().ok()).unwrap_or_default();
    if accept.contains(SINGLE_OBJECT) {
        return match rows.as_array().map(Vec::as_slice) {
            Some([row]) => Ok(json_response(row)),
            _ => Err(error(
                StatusCode::NOT_ACCEPTABLE,
                "PGRST116",
                "JSON object requested, multiple (or no) rows returned",
            )),
        };
    }
    Ok(json_response(&rows))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' if index + 2 < bytes.len() => match u8::from_str_radix(&text[index + 1..index + 3], 16) {
                Ok(byte) => {
                    out.push(byte);
                    index += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
