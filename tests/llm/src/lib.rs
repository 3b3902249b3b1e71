//! A scripted LLM server speaking the OpenAI / Azure OpenAI wire format: the one part of the system the tests fake.
//! Each test gives the answers in order (status, headers, body, an optional delay before answering); the server
//! records every request (path with query, headers, JSON body) so the test can assert what was sent. Any path is
//! accepted, so Azure deployment URLs, the v1 API and OpenAI-compatible servers are all served. An exhausted script
//! answers 500 and says so.

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Scripted {
    /// A chat completion whose message content is `content` serialised (what structured outputs return).
    pub fn completion(content: &Value) -> Scripted {
        Scripted::finished(&content.to_string(), "stop")
    }

    /// A chat completion with raw message text and a finish reason.
    pub fn finished(text: &str, finish_reason: &str) -> Scripted {
        Scripted::ok(json!({
            "id": "chatcmpl-test", "object": "chat.completion", "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "finish_reason": finish_reason,
                         "message": {"role": "assistant", "content": text, "refusal": null}}],
            "usage": {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500},
        }))
    }

    /// A refusal, as structured outputs report one.
    pub fn refusal(reason: &str) -> Scripted {
        Scripted::ok(json!({
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": null, "refusal": reason}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5},
        }))
    }

    pub fn ok(body: Value) -> Scripted {
        Scripted { status: 200, headers: Vec::new(), body: body.to_string(), delay: Duration::ZERO }
    }

    /// An error answer with OpenAI's `{"error": {"code", "message"}}` body.
    pub fn error(status: u16, code: &str, message: &str) -> Scripted {
        let body = json!({"error": {"code": code, "message": message, "type": code}});
        Scripted { status, headers: Vec::new(), body: body.to_string(), delay: Duration::ZERO }
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Scripted {
        self.headers.push((name, value.to_string()));
        self
    }

    pub fn after(mut self, delay: Duration) -> Scripted {
        self.delay = delay;
        self
    }
}

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Default)]
struct State {
    script: VecDeque<Scripted>,
    requests: Vec<Recorded>,
}

/// The running server.
pub struct FakeLlm {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FakeLlm {
    pub async fn start(script: Vec<Scripted>) -> FakeLlm {
        let state = Arc::new(Mutex::new(State { script: script.into(), requests: Vec::new() }));
        let shared = state.clone();
        let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = shared.clone();
            async move { answer(&state, uri, headers, body).await }
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("a port");
        let address = listener.local_addr().expect("its address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeLlm { url: format!("http://{address}"), state }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().expect("the fake's state").requests.clone()
    }

    /// A client of this server as an OpenAI-compatible provider (model gpt-4o-mini, no key, 5 s per attempt).
    pub fn client(&self) -> codecapsule_ai::llm::LlmClient {
        codecapsule_ai::llm::LlmClient::new(codecapsule_ai::llm::LlmConfig {
            provider: codecapsule_ai::llm::Provider::OpenAiCompatible {
                base_url: self.url.clone(),
                model: "gpt-4o-mini".into(),
                key: None,
            },
            timeout: Duration::from_secs(5),
            pricing: codecapsule_ai::llm::Pricing::default(),
        })
        .expect("a client of the fake")
    }

    /// Adds answers to the end of the script.
    pub fn push(&self, more: impl IntoIterator<Item = Scripted>) {
        self.state.lock().expect("the fake's state").script.extend(more);
    }
}

async fn answer(state: &Mutex<State>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let scripted = {
        let mut state = state.lock().expect("the fake's state");
        state.requests.push(Recorded {
            path_and_query: uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
            headers,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        state.script.pop_front()
    };
    let Some(scripted) = scripted else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "the fake LLM's script is exhausted").into_response();
    };
    tokio::time::sleep(scripted.delay).await;
    let mut response = (StatusCode::from_u16(scripted.status).expect("a status"), scripted.body).into_response();
    response.headers_mut().insert("content-type", "application/json".parse().expect("a header"));
    for (name, value) in scripted.headers {
        response.headers_mut().insert(name, value.parse().expect("a header value"));
    }
    response
}
