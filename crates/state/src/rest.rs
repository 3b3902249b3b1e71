//! The REST transport: Supabase's REST API (PostgREST) over reqwest with rustls.
//!
//! It speaks PostgREST's protocol directly rather than through the `postgrest` crate: that crate reports non-2xx
//! answers as success, loses Prefer headers, and brings a second HTTP and TLS stack (reqwest 0.11, hyper 0.14,
//! rustls 0.21) into binaries that already link reqwest 0.12. What it would add over this file is a query builder for
//! the two requests we make:
//! - `POST /rest/v1/rpc/<function>` with the arguments as a JSON object;
//! - `GET /rest/v1/<table>?select=<columns>&<column>=eq.<value>` (`Accept-Profile` names a schema other than public).
//!
//! Every answer's status is checked; PostgREST's errors `{code, message, details, hint}` become [`StoreError`]s.
//! Roles: `apikey` is the anon key (the service key for service_role) and `Authorization: Bearer` the user's JWT,
//! the anon key or the service key, so PostgREST switches to the same role and claims as the direct transport.

use super::{Actor, Arg, Filter, Returns, StoreError};
use codecapsule_core::config::Secret;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
/// The REST transport: Supabase's PostgREST API over HTTPS.
pub struct RestStore {
    http: reqwest::Client,
    /// `<SUPABASE_URL>/rest/v1`
    base: String,
    anon_key: Secret,
    service_key: Secret,
}

/// PostgREST's error body.
#[derive(Debug, Default, Deserialize)]
struct PostgrestError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    hint: Option<String>,
}

impl RestStore {
    /// A client of the project at `supabase_url`, with its anon and service-role keys.
    pub fn new(supabase_url: &str, anon_key: Secret, service_key: Secret) -> RestStore {
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        RestStore { http, base: format!("{}/rest/v1", supabase_url.trim_end_matches('/')), anon_key, service_key }
    }

    pub(super) async fn rpc(
        &self,
        actor: &Actor,
        function: &'static str,
        args: &[Arg],
        returns: Returns,
    ) -> Result<Value, StoreError> {
        let body: serde_json::Map<String, Value> =
            args.iter().map(|arg| (arg.name.to_string(), arg.value.clone())).collect();
        let request = self.http.post(format!("{}/rpc/{function}", self.base)).json(&body);
        let answer = self.send(actor, request).await?;
        match (returns, answer) {
            (Returns::Nothing, _) => Ok(Value::Null),
            (_, None) => Err(StoreError::Protocol { message: format!("rpc/{function} answered no body") }),
            (_, Some(value)) => Ok(value),
        }
    }

    pub(super) async fn select(
        &self,
        actor: &Actor,
        schema: &'static str,
        table: &'static str,
        columns: &'static [&'static str],
        filters: &[Filter],
    ) -> Result<Vec<Value>, StoreError> {
        let mut query: Vec<(String, String)> = vec![("select".into(), columns.join(","))];
        query.extend(filters.iter().map(|filter| (filter.column.to_string(), format!("eq.{}", filter.value))));
        let mut request = self.http.get(format!("{}/{table}", self.base)).query(&query);
        if schema != "public" {
            request = request.header("accept-profile", schema);
        }
        match self.send(actor, request).await? {
            Some(Value::Array(rows)) => Ok(rows),
            other => Err(StoreError::Protocol { message: format!("{table}: expected a JSON array, got {other:?}") }),
        }
    }

    /// Sends with the actor's keys; the JSON body of a 2xx answer (None when empty), or the error it reports.
    async fn send(&self, actor: &Actor, request: reqwest::RequestBuilder) -> Result<Option<Value>, StoreError> {
        let (apikey, bearer) = match actor {
            Actor::Service => (&self.service_key, self.service_key.expose()),
            Actor::Anonymous => (&self.anon_key, self.anon_key.expose()),
            Actor::User(user) => (&self.anon_key, user.token.expose()),
        };
        let response = request
            .header("apikey", apikey.expose())
            .bearer_auth(bearer)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|err| StoreError::Unavailable { message: format!("SUPABASE_URL unreachable: {err}") })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|err| StoreError::Unavailable { message: format!("the answer broke off: {err}") })?;
        if status.is_success() {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(None);
            }
            return serde_json::from_slice(&body)
                .map(Some)
                .map_err(|err| StoreError::Protocol { message: format!("the answer is not JSON: {err}") });
        }
        let error: PostgrestError = serde_json::from_slice(&body).unwrap_or_default();
        Err(error_of(status.as_u16(), error))
    }
}

/// A PostgREST error as a [`StoreError`]: the database's SQLSTATE when there is one, else the HTTP status.
fn error_of(status: u16, error: PostgrestError) -> StoreError {
    let mut message = error.message.unwrap_or_else(|| format!("HTTP {status}"));
    for extra in [error.details, error.hint].into_iter().flatten() {
        message.push_str("; ");
        message.push_str(&extra);
    }
    let code = error.code.unwrap_or_default();
    // PGRST codes are PostgREST's own (JWT, schema cache, request parsing): the status says enough.
    if !code.is_empty() && !code.starts_with("PGRST") {
        return StoreError::from_sqlstate(&code, message);
    }
    match status {
        401 => StoreError::Unauthorized { message },
        403 => StoreError::Forbidden { message },
        404 | 406 => StoreError::NotFound { message },
        409 => StoreError::Conflict { message },
        429 => StoreError::RateLimited,
        400 | 422 => StoreError::Invalid { message },
        500..=599 => StoreError::Unavailable { message },
        _ => StoreError::Protocol { message: format!("HTTP {status}: {message}") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: &str, message: &str) -> PostgrestError {
        PostgrestError { code: Some(code.into()), message: Some(message.into()), details: None, hint: None }
    }

    #[test]
    fn database_codes_win_over_statuses() {
        assert!(matches!(error_of(409, error("23505", "duplicate key")), StoreError::Conflict { .. }));
        assert!(matches!(error_of(403, error("42501", "permission denied")), StoreError::Forbidden { .. }));
        assert!(matches!(error_of(401, error("42501", "permission denied")), StoreError::Forbidden { .. }));
    }

    #[test]
    fn postgrest_codes_fall_back_to_the_status() {
        assert!(matches!(error_of(401, error("PGRST301", "JWSError")), StoreError::Unauthorized { .. }));
        assert!(matches!(error_of(404, error("PGRST202", "no function")), StoreError::NotFound { .. }));
        assert!(matches!(error_of(406, error("PGRST116", "0 rows")), StoreError::NotFound { .. }));
        assert_eq!(error_of(429, PostgrestError::default()), StoreError::RateLimited);
        assert!(matches!(error_of(503, PostgrestError::default()), StoreError::Unavailable { .. }));
        let StoreError::Invalid { message } =
            error_of(400, PostgrestError { hint: Some("fix it".into()), ..error("PGRST100", "bad filter") })
        else {
            panic!("a 400 is invalid input")
        };
        assert_eq!(message, "bad filter; fix it");
    }
}
