//! A judge in another function: the validate function forwards python, java and csharp submissions to the native
//! judge functions at PYTHON_JUDGE_URL, JAVA_JUDGE_URL and CSHARP_JUDGE_URL (their base URLs, e.g. a Lambda function
//! URL). The request is the checked submission re-sent in the public contract; the answer, or the remote problem, is
//! passed back as it came. The local dev host does not forward: it runs every judge in-process.
//!
//! On AWS the judges' function URLs take only IAM-signed requests (`JUDGE_URL_AUTH=aws-iam`): each forwarded request
//! is signed with SigV4 for the service `lambda`, with the function's own role credentials, which Lambda puts in the
//! environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION).

#![warn(missing_docs)]

use codecapsule_core::config::{self, ConfigError};
use codecapsule_core::deadline::{BUDGET_HEADER, Deadline};
use codecapsule_core::judge::{Judge, JudgeError, Judging, Submission};
use codecapsule_core::model::{EngineInfo, JudgeReport, Language};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Connecting must be quick. The judging gets what is left of the request's budget, which the remote judge is told
/// ([`BUDGET_HEADER`]), plus this for the network and the remote's answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const ANSWER_MARGIN: Duration = Duration::from_secs(2);

/// A judge in another function: submissions of its language are forwarded to its POST /api/judge.
pub struct RemoteJudge {
    language: Language,
    /// The remote function's POST /api/judge.
    endpoint: String,
    auth: JudgeUrlAuth,
    /// Built on first use: TLS set-up is not start-up work.
    client: OnceLock<reqwest::Client>,
}

/// How forwarded requests prove where they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JudgeUrlAuth {
    /// Plain requests (local runs, or URLs reachable only from a private network).
    None,
    /// SigV4-signed for Lambda function URLs with `AuthType: AWS_IAM`, in this region.
    AwsIam {
        /// The region the judge functions' URLs are signed for.
        region: String,
    },
}

impl JudgeUrlAuth {
    /// JUDGE_URL_AUTH: `none` (default) or `aws-iam` (then AWS_REGION is required).
    pub fn from_env() -> Result<JudgeUrlAuth, ConfigError> {
        match config::read("JUDGE_URL_AUTH").as_deref() {
            None | Some("none") => Ok(JudgeUrlAuth::None),
            Some("aws-iam") => {
                let region = config::read("AWS_REGION").ok_or_else(|| ConfigError::Invalid {
                    var: "AWS_REGION",
                    value: String::new(),
                    expected: "the region of the judge functions (Lambda sets it), needed by JUDGE_URL_AUTH=aws-iam"
                        .into(),
                })?;
                Ok(JudgeUrlAuth::AwsIam { region })
            }
            Some(other) => Err(ConfigError::Invalid {
                var: "JUDGE_URL_AUTH",
                value: other.to_string(),
                expected: "`none` or `aws-iam`".into(),
            }),
        }
    }
}

/// The judges of a public function: WebAssembly in-process; python, javascript and ruby in WebAssembly through their
/// runtime packs when a packs store is configured (see [`codecapsule_wasm::runtimes`]); python, java and csharp through
/// their judge functions where their URLs are set (validate and generate).
pub fn wasm_and_remote_judges() -> Result<codecapsule_core::judge::JudgeList, ConfigError> {
    let mut judges: codecapsule_core::judge::JudgeList = vec![Arc::new(codecapsule_wasm::WasmJudge)];
    if let Some(runtimes) = codecapsule_wasm::runtimes::RuntimeJudge::from_env()? {
        judges.push(Arc::new(runtimes));
    }
    for remote in from_env()? {
        judges.push(Arc::new(remote));
    }
    Ok(judges)
}

/// One remote judge per configured URL variable (none when unset).
pub fn from_env() -> Result<Vec<RemoteJudge>, ConfigError> {
    let auth = JudgeUrlAuth::from_env()?;
    let mut judges = Vec::new();
    for (var, language) in [
        ("PYTHON_JUDGE_URL", Language::Python),
        ("JAVA_JUDGE_URL", Language::Java),
        ("CSHARP_JUDGE_URL", Language::Csharp),
    ] {
        if let Some(url) = config::read(var) {
            judges.push(RemoteJudge::new(language, var, &url)?.with_auth(auth.clone()));
        }
    }
    Ok(judges)
}

impl RemoteJudge {
    /// Signs forwarded requests as `auth` says (plain by default).
    pub fn with_auth(mut self, auth: JudgeUrlAuth) -> RemoteJudge {
        self.auth = auth;
        self
    }

    /// The judge of `language` at `base_url` (named by the setting `var` in errors); unsigned until [`RemoteJudge::with_auth`].
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
        Ok(RemoteJudge {
            language,
            endpoint: format!("{base}/api/judge"),
            auth: JudgeUrlAuth::None,
            client: OnceLock::new(),
        })
    }

    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build()
                .unwrap_or_else(|_| reqwest::Client::new())
        })
    }

    async fn forward(&self, submission: &Submission, deadline: Deadline) -> Result<JudgeReport, JudgeError> {
        let unavailable = |reason: String| JudgeError::Unavailable {
            language: self.language,
            reason: format!("the {} judge at {} {reason}", self.language, self.endpoint),
        };
        let body = serde_json::to_vec(&submission.to_request())
            .map_err(|err| JudgeError::Internal(format!("the submission could not be encoded: {err}")))?;
        let remaining = deadline.remaining();
        let mut request = self
            .client()
            .post(&self.endpoint)
            .timeout(remaining + ANSWER_MARGIN)
            .header("content-type", "application/json")
            .header(BUDGET_HEADER, remaining.as_millis().to_string());
        if let JudgeUrlAuth::AwsIam { region } = &self.auth {
            for (name, value) in self.sigv4_headers(region, &body)? {
                request = request.header(name, value);
            }
        }
        let response =
            request.body(body).send().await.map_err(|err| unavailable(format!("could not be reached: {err}")))?;
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

impl RemoteJudge {
    /// The SigV4 headers (authorization, x-amz-date, x-amz-security-token) of a POST of `body` to the judge.
    fn sigv4_headers(&self, region: &str, body: &[u8]) -> Result<Vec<(String, String)>, JudgeError> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let keys = config::aws_environment_credentials().ok_or_else(|| JudgeError::Unavailable {
            language: self.language,
            reason: format!(
                "requests to the {} judge must be signed, but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set",
                self.language
            ),
        })?;
        let credentials = aws_credential_types::Credentials::new(
            keys.access_key_id,
            keys.secret_access_key.expose(),
            keys.session_token.map(|token| token.expose().to_string()),
            None,
            "environment",
        );
        let identity: aws_smithy_runtime_api::client::identity::Identity = credentials.into();
        let failed =
            |err: &dyn std::fmt::Display| JudgeError::Internal(format!("the request could not be signed: {err}"));
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("lambda")
            .time(std::time::SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|err| failed(&err))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            &self.endpoint,
            std::iter::once(("content-type", "application/json")),
            SignableBody::Bytes(body),
        )
        .map_err(|err| failed(&err))?;
        let (instructions, _signature) = sign(signable, &params).map_err(|err| failed(&err))?.into_parts();
        Ok(instructions.headers().map(|(name, value)| (name.to_string(), value.to_string())).collect())
    }
}

impl Judge for RemoteJudge {
    fn engine(&self) -> EngineInfo {
        EngineInfo { name: "remote".to_string(), version: self.endpoint.clone(), startup_ms: None, runtime: None }
    }

    fn judges(&self, language: Language) -> bool {
        language == self.language
    }

    fn runs_webassembly(&self) -> bool {
        false
    }

    fn describe(&self) -> serde_json::Value {
        let signed = matches!(self.auth, JudgeUrlAuth::AwsIam { .. });
        serde_json::json!({"language": self.language, "forwarded_to": self.endpoint, "signed": signed})
    }

    /// Forwards the submission and awaits the judge function's answer.
    fn judge(self: Arc<Self>, submission: Arc<Submission>, deadline: Deadline) -> Judging {
        Box::pin(async move { self.forward(&submission, deadline).await })
    }
}
