//! A judge in another function: the validate function forwards python, java and csharp submissions to the native
//! judge functions at PYTHON_JUDGE_URL, JAVA_JUDGE_URL and CSHARP_JUDGE_URL (their base URLs, e.g. a Lambda function
//! URL). The request is the checked submission re-sent in the public contract; the answer, or the remote problem, is
//! passed back as it came. The local dev host does not forward: it runs every judge in-process.

use crate::config::{self, ConfigError};
use crate::judge::{Judge, JudgeError, Submission, limits};
use crate::model::{EngineInfo, JudgeReport, Language};
use std::sync::OnceLock;
use std::time::Duration;

/// Connecting must be quick; judging may take the remote's whole request budget, plus the network.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const TOTAL_TIMEOUT: Duration = Duration::from_millis(limits::REQUEST_BUDGET_MS + 10_000);

pub struct RemoteJudge {
    language: Language,
    /// The remote function's POST /api/judge.
    endpoint: String,
    /// Built on first use: TLS set-up is not start-up work.
    client: OnceLock<reqwest::Client>,
}

/// One remote judge per configured URL variable (none when unset).
pub fn from_env() -> Result<Vec<RemoteJudge>, ConfigError> {
    let mut judges = Vec::new();
    for (var, language) in [
        ("PYTHON_JUDGE_URL", Language::Python),
        ("JAVA_JUDGE_URL", Language::Java),
        ("CSHARP_JUDGE_URL", Language::Csharp),
    ] {
        if let Some(url) = config::read(var) {
            judges.push(RemoteJudge::new(language, var, &url)?);
        }
    }
    Ok(judges)
}

impl RemoteJudge {
    pub fn new(language: Language, var: &'static str, base_url: &str) -> Result<RemoteJudge, ConfigError> {
        let base = base_url.trim().trim_end_matches('/');
        let valid =
            reqwest::Url::parse(base).is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host());
        if !valid {
            return Err(ConfigError::Invalid {
                var,
                value: base_url.to_string(),
                expected: "the judge function's base URL, such as https://abc.lambda-url.eu-west-1.on.aws".into(),
            });
        }
        Ok(RemoteJudge { language, endpoint: format!("{base}/api/judge"), client: OnceLock::new() })
    }

    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(TOTAL_TIMEOUT)
                .build()
                .unwrap_or_else(|_| reqwest::Client::new())
        })
    }

    async fn forward(&self, submission: &Submission) -> Result<JudgeReport, JudgeError> {
        let unavailable = |reason: String| JudgeError::Unavailable {
            language: self.language,
            reason: format!("the {} judge at {} {reason}", self.language, self.endpoint),
        };
        let response = self
            .client()
            .post(&self.endpoint)
            .json(&submission.to_request())
            .send()
            .await
            .map_err(|err| unavailable(format!("could not be reached: {err}")))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|err| unavailable(format!("broke off its answer: {err}")))?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|err| unavailable(format!("answered something else than a report: {err}")));
        }
        if status.is_client_error() {
            let problem: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            return Err(JudgeError::Remote {
                status: status.as_u16(),
                code: problem["code"].as_str().unwrap_or("remote_error").to_string(),
                detail: problem["detail"].as_str().unwrap_or("the remote judge refused the submission").to_string(),
            });
        }
        Err(unavailable(format!("failed with HTTP {status}")))
    }
}

impl Judge for RemoteJudge {
    fn engine(&self) -> EngineInfo {
        EngineInfo { name: "remote".to_string(), version: self.endpoint.clone(), startup_ms: None }
    }

    fn judges(&self, language: Language) -> bool {
        language == self.language
    }

    fn runs_webassembly(&self) -> bool {
        false
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({"language": self.language, "forwarded_to": self.endpoint})
    }

    /// Called on a blocking thread of the async runtime (see crate::http::judge), so it can wait on the request.
    fn judge(&self, submission: &Submission) -> Result<JudgeReport, JudgeError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| JudgeError::Internal("forwarding needs the async runtime".to_string()))?;
        runtime.block_on(self.forward(submission))
    }
}
