//! The LLM client: chat completions with structured outputs, over reqwest (rustls), for Azure OpenAI (a deployment
//! URL with `api-version`, or the v1 API), OpenAI, and any OpenAI-compatible server (Ollama, vLLM, llama.cpp), chosen by
//! configuration; or a replay of a recorded transcript ([`replay`]) for demos and tests.
//!
//! What a call guarantees:
//! - the request asks for `response_format: json_schema` with `strict: true`, and the schema keeps strict mode's rules
//!   (every object lists all its properties as required and sets `additionalProperties: false`; checked before
//!   sending); the answer is then validated on our side against the same schema ([`schema`]) and our size limits;
//! - a timeout per attempt; retries for 408, 429 and 5xx and for timeouts, waiting `retry-after-ms`, else
//!   `retry-after`, else a jittered exponential backoff, each wait capped; never for `insufficient_quota`, content
//!   filtering, 400, 401, 403 or 404;
//! - refusals, `finish_reason: length` and `content_filter` are errors that say what happened;
//! - usage is read from the answer and priced from a configurable table ([`Pricing`]).

pub mod replay;
pub mod schema;

use codecapsule_core::config::{self, ConfigError, Secret};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// Attempts per call, the first included.
pub const MAX_ATTEMPTS: u32 = 4;
/// The longest wait between attempts, whatever the server asks.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(20);
/// One attempt's time limit (LLM_TIMEOUT_SECONDS overrides).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest answer accepted, in bytes of message content.
pub const MAX_CONTENT_BYTES: usize = 256 * 1024;
/// The Azure OpenAI data-plane API version used with deployment URLs (AZURE_OPENAI_API_VERSION overrides; `v1`
/// selects the v1 API).
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";

/// Where completions come from.
#[derive(Debug, Clone)]
pub enum Provider {
    /// `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=…`, `api-key` header.
    AzureDeployment {
        /// AZURE_OPENAI_ENDPOINT.
        endpoint: String,
        /// AZURE_OPENAI_DEPLOYMENT.
        deployment: String,
        /// AZURE_OPENAI_API_VERSION.
        api_version: String,
        /// AZURE_OPENAI_KEY.
        key: Secret,
    },
    /// `{endpoint}/openai/v1/chat/completions`, `api-key` header, the deployment as `model`.
    AzureV1 {
        /// AZURE_OPENAI_ENDPOINT.
        endpoint: String,
        /// AZURE_OPENAI_DEPLOYMENT.
        deployment: String,
        /// AZURE_OPENAI_KEY.
        key: Secret,
    },
    /// `{base_url}/chat/completions`, `Authorization: Bearer` when a key is set (local servers need none).
    OpenAiCompatible {
        /// OPENAI_BASE_URL.
        base_url: String,
        /// OPENAI_MODEL.
        model: String,
        /// OPENAI_API_KEY, when the server needs one.
        key: Option<Secret>,
    },
    /// A recorded transcript, played in order; every completion says it was replayed.
    Replay {
        /// LLM_REPLAY_FILE.
        transcript: std::path::PathBuf,
    },
}

#[derive(Debug, Clone)]
/// How to reach a model.
pub struct LlmConfig {
    /// Which provider, where.
    pub provider: Provider,
    /// One call's timeout (LLM_TIMEOUT_SECONDS).
    pub timeout: Duration,
    /// Prices per model.
    pub pricing: Pricing,
}

impl LlmConfig {
    /// AZURE_OPENAI_ENDPOINT + AZURE_OPENAI_KEY + AZURE_OPENAI_DEPLOYMENT (+ AZURE_OPENAI_API_VERSION); else
    /// OPENAI_BASE_URL + OPENAI_MODEL (+ OPENAI_API_KEY); else LLM_REPLAY_FILE; else None: AI is off.
    pub fn from_env() -> Result<Option<LlmConfig>, ConfigError> {
        let url = |var: &'static str, value: String| {
            if value.starts_with("https://") || value.starts_with("http://") {
                Ok(value.trim_end_matches('/').to_string())
            } else {
                Err(ConfigError::Invalid { var, value, expected: "an http(s) URL".into() })
            }
        };
        let required = |var: &'static str, because: &str| {
            config::read(var).ok_or_else(|| ConfigError::Invalid {
                var,
                value: String::new(),
                expected: format!("a value, since {because} is set"),
            })
        };
        let provider = if let Some(endpoint) = config::read("AZURE_OPENAI_ENDPOINT") {
            let endpoint = url("AZURE_OPENAI_ENDPOINT", endpoint)?;
            let key = Secret::new(required("AZURE_OPENAI_KEY", "AZURE_OPENAI_ENDPOINT")?);
            let deployment = required("AZURE_OPENAI_DEPLOYMENT", "AZURE_OPENAI_ENDPOINT")?;
            match config::read("AZURE_OPENAI_API_VERSION").unwrap_or_else(|| DEFAULT_AZURE_API_VERSION.into()) {
                version if version == "v1" => Provider::AzureV1 { endpoint, deployment, key },
                api_version => Provider::AzureDeployment { endpoint, deployment, api_version, key },
            }
        } else if let Some(base_url) = config::read("OPENAI_BASE_URL") {
            Provider::OpenAiCompatible {
                base_url: url("OPENAI_BASE_URL", base_url)?,
                model: required("OPENAI_MODEL", "OPENAI_BASE_URL")?,
                key: config::read("OPENAI_API_KEY").map(Secret::new),
            }
        } else if let Some(transcript) = config::read("LLM_REPLAY_FILE") {
            Provider::Replay { transcript: transcript.into() }
        } else {
            return Ok(None);
        };
        let timeout = match config::read("LLM_TIMEOUT_SECONDS") {
            None => DEFAULT_TIMEOUT,
            Some(value) => {
                value.trim().parse().ok().filter(|s| (1..=600).contains(s)).map(Duration::from_secs).ok_or_else(
                    || ConfigError::Invalid {
                        var: "LLM_TIMEOUT_SECONDS",
                        value: value.clone(),
                        expected: "seconds from 1 to 600".into(),
                    },
                )?
            }
        };
        let pricing = match config::read("LLM_PRICING") {
            None => Pricing::default(),
            Some(value) => Pricing::parse(&value).map_err(|expected| ConfigError::Invalid {
                var: "LLM_PRICING",
                value: value.clone(),
                expected,
            })?,
        };
        Ok(Some(LlmConfig { provider, timeout, pricing }))
    }

    /// The model name completions are priced and reported under.
    pub fn model(&self) -> String {
        match &self.provider {
            Provider::AzureDeployment { deployment, .. } | Provider::AzureV1 { deployment, .. } => deployment.clone(),
            Provider::OpenAiCompatible { model, .. } => model.clone(),
            Provider::Replay { transcript } => format!("replay:{}", transcript.display()),
        }
    }
}

/// US dollars per million prompt and completion tokens, by model name (the longest matching prefix wins). A model the
/// table does not know is priced at the table's most expensive rates: budgets err on the safe side.
#[derive(Debug, Clone, PartialEq)]
pub struct Pricing {
    /// Model name → (prompt, completion) US dollars per million tokens.
    pub per_million: BTreeMap<String, (f64, f64)>,
}

impl Default for Pricing {
    fn default() -> Pricing {
        let table = [
            ("gpt-4o-mini", (0.15, 0.60)),
            ("gpt-4o", (2.50, 10.00)),
            ("gpt-4.1-nano", (0.10, 0.40)),
            ("gpt-4.1-mini", (0.40, 1.60)),
            ("gpt-4.1", (2.00, 8.00)),
            ("replay:", (0.15, 0.60)),
        ];
        Pricing { per_million: table.into_iter().map(|(model, rates)| (model.to_string(), rates)).collect() }
    }
}

impl Pricing {
    /// LLM_PRICING: `{"model-prefix": [prompt_usd_per_million, completion_usd_per_million], …}`, replacing the table.
    pub fn parse(text: &str) -> Result<Pricing, String> {
        let table: BTreeMap<String, (f64, f64)> = serde_json::from_str(text)
            .map_err(|err| format!("a JSON object of model → [prompt, completion] USD per million tokens ({err})"))?;
        if table.is_empty() || table.values().any(|(prompt, completion)| *prompt < 0.0 || *completion < 0.0) {
            return Err("at least one model, with non-negative prices".into());
        }
        Ok(Pricing { per_million: table })
    }

    /// What `usage` of `model` costs, in US dollars.
    pub fn cost(&self, model: &str, usage: &TokenUsage) -> f64 {
        let rates = self
            .per_million
            .iter()
            .filter(|(prefix, _)| model.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, rates)| *rates)
            .unwrap_or_else(|| {
                self.per_million
                    .values()
                    .fold((0.0, 0.0), |(p, c), (prompt, completion)| (p.max(*prompt), c.max(*completion)))
            });
        (usage.prompt_tokens as f64 * rates.0 + usage.completion_tokens as f64 * rates.1) / 1e6
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
/// Tokens one call used.
pub struct TokenUsage {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
/// Who speaks in a message.
pub enum Role {
    /// The instructions.
    System,
    /// The request (the user's words fenced as data).
    User,
    /// The model's earlier answers.
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
/// One message of a chat.
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What they say.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Message {
        Message { role: Role::System, content: content.into() }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Message {
        Message { role: Role::User, content: content.into() }
    }
}

/// One structured-output request.
#[derive(Debug, Clone)]
pub struct StructuredRequest {
    /// The chat.
    pub messages: Vec<Message>,
    /// The schema's name (letters, digits, `_`, `-`), sent with it.
    pub schema_name: &'static str,
    /// The JSON schema the answer must match (strict mode).
    pub schema: Value,
    /// The answer's token cap.
    pub max_tokens: u32,
}

/// A validated answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The model's JSON, valid against the request's schema.
    pub content: Value,
    /// Tokens used.
    pub usage: TokenUsage,
    /// Cost in US dollars.
    pub cost_usd: f64,
    /// The model that answered.
    pub model: String,
    /// True when it came from a recorded transcript, not a model.
    pub replayed: bool,
    /// Attempts it took (retries included).
    pub attempts: u32,
}

#[derive(Debug, thiserror::Error, PartialEq)]
/// Why an LLM call failed. Only transient failures (429, 5xx, timeouts) are retried.
pub enum LlmError {
    #[error("the schema `{0}` breaks strict mode's rules: {1}")]
    /// A schema of ours breaks strict mode (a bug of ours).
    SchemaNotStrict(&'static str, String),
    #[error("the LLM endpoint refused the credentials (HTTP {0}): check AZURE_OPENAI_KEY / OPENAI_API_KEY")]
    /// The key was refused.
    Unauthorized(u16),
    #[error(
        "the LLM endpoint has no such deployment or model (HTTP 404): check AZURE_OPENAI_DEPLOYMENT / OPENAI_MODEL"
    )]
    /// The endpoint or deployment does not exist.
    NotFound,
    #[error("the LLM account's quota is exhausted (insufficient_quota): raise it or wait for the next period")]
    /// The account's quota is spent.
    QuotaExhausted,
    #[error("the provider's content filter stopped the request or the answer")]
    /// The provider's content filter stopped it.
    ContentFiltered,
    #[error("the model refused: {0}")]
    /// The model refused.
    Refused(String),
    #[error("the answer was cut off at the token limit (finish_reason: length)")]
    /// The answer hit the token cap.
    Truncated,
    #[error("the answer does not match the schema: {0}")]
    /// The answer is not JSON of the schema.
    Malformed(String),
    #[error("the LLM endpoint rejected the request (HTTP {status}): {message}")]
    /// The request was refused (4xx), not retried.
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
    },
    #[error("the LLM endpoint is rate limiting after {attempts} attempts; retry later")]
    /// 429s outlasted every retry.
    RateLimited {
        /// Attempts made.
        attempts: u32,
    },
    #[error("the LLM endpoint failed after {attempts} attempts (last: {last})")]
    /// 5xx or timeouts outlasted every retry.
    Unavailable {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    #[error("the replay transcript cannot be used: {0}")]
    /// The transcript is missing, malformed or used up.
    Replay(String),
}

/// The client the environment configures (see [`LlmConfig::from_env`]), or None when AI is off. A replay transcript
/// that cannot be read is a start-up error.
pub fn client_from_env() -> Result<Option<LlmClient>, ConfigError> {
    let Some(config) = LlmConfig::from_env()? else { return Ok(None) };
    LlmClient::new(config).map(Some).map_err(|err| ConfigError::Invalid {
        var: "LLM_REPLAY_FILE",
        value: config::read("LLM_REPLAY_FILE").unwrap_or_default(),
        expected: err.to_string(),
    })
}

/// A client for one configured provider.
pub struct LlmClient {
    config: LlmConfig,
    http: reqwest::Client,
    replay: Option<replay::Transcript>,
}

impl LlmClient {
    /// A client for `config` (its HTTP client built once).
    pub fn new(config: LlmConfig) -> Result<LlmClient, LlmError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let replay = match &config.provider {
            Provider::Replay { transcript } => Some(replay::Transcript::load(transcript)?),
            _ => None,
        };
        Ok(LlmClient { config, http, replay })
    }

    /// The client for one job: the same provider and connections; a replayed transcript starts again from its first
    /// response, as every job's calls are the calls of one recorded generation.
    pub fn for_job(&self) -> LlmClient {
        LlmClient {
            config: self.config.clone(),
            http: self.http.clone(),
            replay: self.replay.as_ref().map(replay::Transcript::from_start),
        }
    }

    /// The model's name, as reports and provenance give it.
    pub fn model(&self) -> String {
        self.config.model()
    }

    /// One structured completion: sent (with retries), checked, validated, priced.
    pub async fn complete(&self, request: &StructuredRequest) -> Result<Completion, LlmError> {
        schema::check_strict(&request.schema)
            .map_err(|reason| LlmError::SchemaNotStrict(request.schema_name, reason))?;
        let (answer, attempts) = match &self.replay {
            Some(transcript) => (transcript.next()?, 1),
            None => self.send_with_retries(request).await?,
        };
        let mut completion = self.read(&answer, request)?;
        completion.attempts = attempts;
        Ok(completion)
    }

    fn endpoint(&self) -> (String, Option<(&'static str, String)>) {
        match &self.config.provider {
            Provider::AzureDeployment { endpoint, deployment, api_version, key } => (
                format!("{endpoint}/openai/deployments/{deployment}/chat/completions?api-version={api_version}"),
                Some(("api-key", key.expose().to_string())),
            ),
            Provider::AzureV1 { endpoint, key, .. } => {
                (format!("{endpoint}/openai/v1/chat/completions"), Some(("api-key", key.expose().to_string())))
            }
            Provider::OpenAiCompatible { base_url, key, .. } => (
                format!("{base_url}/chat/completions"),
                key.as_ref().map(|key| ("authorization", format!("Bearer {}", key.expose()))),
            ),
            Provider::Replay { .. } => unreachable!("replays are not sent"),
        }
    }

    fn body(&self, request: &StructuredRequest) -> Value {
        let mut body = json!({
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": 0.2,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "strict": true, "schema": request.schema},
            },
        });
        // Azure deployment URLs name the model in the path; everyone else names it in the body.
        if !matches!(self.config.provider, Provider::AzureDeployment { .. }) {
            body["model"] = json!(self.config.model());
        }
        body
    }

    async fn send_with_retries(&self, request: &StructuredRequest) -> Result<(Value, u32), LlmError> {
        let (url, auth) = self.endpoint();
        let body = self.body(request);
        let mut last = String::new();
        for attempt in 1..=MAX_ATTEMPTS {
            let mut call = self.http.post(&url).json(&body);
            if let Some((name, value)) = &auth {
                call = call.header(*name, value);
            }
            let wait = match call.send().await {
                Err(err) => {
                    last = if err.is_timeout() {
                        format!("no answer within {:?}", self.config.timeout)
                    } else {
                        err.to_string()
                    };
                    backoff(attempt)
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let asked = retry_after(response.headers());
                    let text = response.text().await.unwrap_or_default();
                    if (200..300).contains(&status) {
                        let answer = serde_json::from_str(&text)
                            .map_err(|err| LlmError::Malformed(format!("the response is not JSON: {err}")))?;
                        return Ok((answer, attempt));
                    }
                    let error: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    let code =
                        error["error"]["code"].as_str().or(error["error"]["type"].as_str()).unwrap_or("").to_string();
                    let message =
                        error["error"]["message"].as_str().unwrap_or(&text).chars().take(300).collect::<String>();
                    match status {
                        _ if code == "insufficient_quota" => return Err(LlmError::QuotaExhausted),
                        _ if code == "content_filter" || code == "content_policy_violation" => {
                            return Err(LlmError::ContentFiltered);
                        }
                        401 | 403 => return Err(LlmError::Unauthorized(status)),
                        404 => return Err(LlmError::NotFound),
                        408 | 429 | 500..=599 => {
                            last = format!("HTTP {status}: {message}");
                            if attempt == MAX_ATTEMPTS && status == 429 {
                                return Err(LlmError::RateLimited { attempts: attempt });
                            }
                            asked.unwrap_or_else(|| backoff(attempt))
                        }
                        _ => return Err(LlmError::Rejected { status, message }),
                    }
                }
            };
            if attempt < MAX_ATTEMPTS {
                tracing::warn!(attempt, wait_ms = wait.as_millis() as u64, reason = %last, "LLM call failed: retrying");
                tokio::time::sleep(wait.min(MAX_RETRY_WAIT)).await;
            }
        }
        Err(LlmError::Unavailable { attempts: MAX_ATTEMPTS, last })
    }

    /// The chat completion's message, checked and validated.
    fn read(&self, answer: &Value, request: &StructuredRequest) -> Result<Completion, LlmError> {
        let choice = &answer["choices"][0];
        match choice["finish_reason"].as_str() {
            Some("length") => return Err(LlmError::Truncated),
            Some("content_filter") => return Err(LlmError::ContentFiltered),
            _ => {}
        }
        if let Some(refusal) = choice["message"]["refusal"].as_str() {
            return Err(LlmError::Refused(refusal.chars().take(300).collect()));
        }
        let text = choice["message"]["content"]
            .as_str()
            .ok_or_else(|| LlmError::Malformed("the answer has no message content".into()))?;
        if text.len() > MAX_CONTENT_BYTES {
            return Err(LlmError::Malformed(format!(
                "the answer is {} bytes; at most {MAX_CONTENT_BYTES}",
                text.len()
            )));
        }
        let content: Value =
            serde_json::from_str(text).map_err(|err| LlmError::Malformed(format!("the content is not JSON: {err}")))?;
        schema::validate(&request.schema, &content).map_err(LlmError::Malformed)?;
        let usage = TokenUsage {
            prompt_tokens: answer["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
            completion_tokens: answer["usage"]["completion_tokens"].as_u64().unwrap_or(0),
        };
        let model = self.config.model();
        Ok(Completion {
            cost_usd: self.config.pricing.cost(&model, &usage),
            content,
            usage,
            model,
            replayed: self.replay.is_some(),
            attempts: 1,
        })
    }
}

/// What the server asked us to wait: `retry-after-ms` (Azure), else `retry-after` in seconds.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim);
    if let Some(ms) = header("retry-after-ms").and_then(|value| value.parse::<f64>().ok()).filter(|ms| *ms >= 0.0) {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    header("retry-after").and_then(|value| value.parse::<f64>().ok()).filter(|s| *s >= 0.0).map(Duration::from_secs_f64)
}

/// Full jitter over an exponential base: uniformly random in [0, 500 ms × 2^(attempt−1)], capped.
fn backoff(attempt: u32) -> Duration {
    let ceiling = Duration::from_millis(500).saturating_mul(1 << attempt.saturating_sub(1).min(10)).min(MAX_RETRY_WAIT);
    let fraction = (uuid::Uuid::new_v4().as_u128() % 1_000_000) as f64 / 1_000_000.0;
    ceiling.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pricing_takes_the_longest_prefix_and_errs_expensive() {
        let pricing = Pricing::default();
        let usage = TokenUsage { prompt_tokens: 1_000_000, completion_tokens: 1_000_000 };
        assert!((pricing.cost("gpt-4o-mini-2024-07-18", &usage) - 0.75).abs() < 1e-9);
        assert!((pricing.cost("gpt-4o-2024-08-06", &usage) - 12.5).abs() < 1e-9);
        assert!((pricing.cost("llama3", &usage) - 12.5).abs() < 1e-9, "unknown: the most expensive rates");
        let custom = Pricing::parse(r#"{"llama": [0, 0]}"#).unwrap();
        assert_eq!(custom.cost("llama3:8b", &usage), 0.0);
        assert!(Pricing::parse(r#"{"x": [-1, 0]}"#).is_err());
        assert!(Pricing::parse("[]").is_err());
    }

    #[test]
    fn retry_after_prefers_milliseconds() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
        assert!(backoff(3) <= Duration::from_secs(2));
        assert!(backoff(30) <= MAX_RETRY_WAIT);
    }
}
