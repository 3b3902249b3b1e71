//! The LLM client against a scripted server speaking the OpenAI / Azure OpenAI wire format: what it sends (URL,
//! api-version, key header, strict schema), and every way an answer can go wrong.

use codecapsule_ai::llm::replay::Transcript;
use codecapsule_ai::llm::{Completion, LlmClient, LlmConfig, LlmError, Message, Pricing, Provider, StructuredRequest};
use codecapsule_core::config::Secret;
use codecapsule_test_llm::{FakeLlm, Scripted};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn schema() -> Value {
    json!({"type": "object", "additionalProperties": false, "required": ["answer"],
           "properties": {"answer": {"type": "string", "maxLength": 20}}})
}

fn request() -> StructuredRequest {
    StructuredRequest {
        messages: vec![Message::system("You answer in JSON."), Message::user("Say hi.")],
        schema_name: "greeting",
        schema: schema(),
        max_tokens: 200,
    }
}

fn config(provider: Provider) -> LlmConfig {
    LlmConfig { provider, timeout: Duration::from_millis(500), pricing: Pricing::default() }
}

fn azure(fake: &FakeLlm) -> LlmClient {
    LlmClient::new(config(Provider::AzureDeployment {
        endpoint: fake.url.clone(),
        deployment: "gpt-4o-mini".into(),
        api_version: "2024-10-21".into(),
        key: Secret::new("azure-key".into()),
    }))
    .unwrap()
}

async fn complete(client: &LlmClient) -> Result<Completion, LlmError> {
    client.complete(&request()).await
}

#[tokio::test]
async fn azure_deployment_requests_carry_the_api_version_the_key_and_the_strict_schema() {
    let fake = FakeLlm::start(vec![Scripted::completion(&json!({"answer": "hi"}))]).await;
    let completion = complete(&azure(&fake)).await.unwrap();
    assert_eq!(completion.content, json!({"answer": "hi"}));
    assert_eq!((completion.usage.prompt_tokens, completion.usage.completion_tokens), (1200, 300));
    assert!((completion.cost_usd - (1200.0 * 0.15 + 300.0 * 0.60) / 1e6).abs() < 1e-12, "{}", completion.cost_usd);
    assert!(!completion.replayed);
    let sent = &fake.requests()[0];
    assert_eq!(sent.path_and_query, "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21");
    assert_eq!(sent.headers["api-key"], "azure-key");
    assert!(sent.headers.get("authorization").is_none());
    assert_eq!(sent.body["response_format"]["type"], "json_schema");
    assert_eq!(
        sent.body["response_format"]["json_schema"],
        json!({"name": "greeting", "strict": true, "schema": schema()})
    );
    assert_eq!(sent.body["messages"][1], json!({"role": "user", "content": "Say hi."}));
    assert!(sent.body.get("model").is_none(), "the deployment is in the URL");
}

#[tokio::test]
async fn the_v1_api_and_openai_compatible_servers_name_the_model_in_the_body() {
    let fake = FakeLlm::start(vec![Scripted::completion(&json!({"answer": "a"})); 3]).await;
    let v1 = LlmClient::new(config(Provider::AzureV1 {
        endpoint: fake.url.clone(),
        deployment: "my-4o".into(),
        key: Secret::new("k1".into()),
    }))
    .unwrap();
    complete(&v1).await.unwrap();
    let openai = |key: Option<&str>| {
        LlmClient::new(config(Provider::OpenAiCompatible {
            base_url: format!("{}/v1", fake.url),
            model: "llama3.1:8b".into(),
            key: key.map(|key| Secret::new(key.into())),
        }))
        .unwrap()
    };
    complete(&openai(Some("sk-test"))).await.unwrap();
    complete(&openai(None)).await.unwrap();
    let sent = fake.requests();
    assert_eq!(sent[0].path_and_query, "/openai/v1/chat/completions");
    assert_eq!((sent[0].headers["api-key"].to_str().unwrap(), sent[0].body["model"].as_str()), ("k1", Some("my-4o")));
    assert_eq!(sent[1].path_and_query, "/v1/chat/completions");
    assert_eq!(sent[1].headers["authorization"], "Bearer sk-test");
    assert_eq!(sent[1].body["model"], "llama3.1:8b");
    assert!(sent[2].headers.get("authorization").is_none(), "a local server without a key gets no header");
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_as_the_server_asks() {
    let fake = FakeLlm::start(vec![
        Scripted::error(429, "429", "slow down").with_header("retry-after-ms", "300").with_header("retry-after", "30"),
        Scripted::error(503, "server_error", "busy"),
        Scripted::error(500, "server_error", "oops"),
        Scripted::completion(&json!({"answer": "finally"})),
    ])
    .await;
    let started = Instant::now();
    let completion = complete(&azure(&fake)).await.unwrap();
    assert_eq!((completion.attempts, completion.content["answer"].as_str()), (4, Some("finally")));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300), "retry-after-ms was honoured: {waited:?}");
    assert!(waited < Duration::from_secs(10), "retry-after-ms wins over retry-after (30 s): {waited:?}");

    fake.push(vec![Scripted::error(429, "429", "slow").with_header("retry-after-ms", "1"); 4]);
    assert_eq!(complete(&azure(&fake)).await, Err(LlmError::RateLimited { attempts: 4 }));
    fake.push(vec![Scripted::error(500, "server_error", "down").with_header("retry-after-ms", "1"); 4]);
    assert!(matches!(complete(&azure(&fake)).await, Err(LlmError::Unavailable { attempts: 4, .. })));
    assert_eq!(fake.requests().len(), 12);
}

#[tokio::test]
async fn a_hanging_server_times_out_and_the_retry_succeeds() {
    let fake = FakeLlm::start(vec![
        Scripted::completion(&json!({"answer": "late"})).after(Duration::from_secs(3)),
        Scripted::completion(&json!({"answer": "on time"})),
    ])
    .await;
    let completion = complete(&azure(&fake)).await.unwrap();
    assert_eq!((completion.attempts, completion.content["answer"].as_str()), (2, Some("on time")));
}

#[tokio::test]
async fn final_errors_are_not_retried_and_say_what_happened() {
    let cases: Vec<(Scripted, LlmError)> = vec![
        (Scripted::error(429, "insufficient_quota", "You exceeded your current quota"), LlmError::QuotaExhausted),
        (
            Scripted::error(
                400,
                "content_filter",
                "The response was filtered due to the prompt triggering the content management policy",
            ),
            LlmError::ContentFiltered,
        ),
        (Scripted::error(401, "invalid_api_key", "bad key"), LlmError::Unauthorized(401)),
        (Scripted::error(404, "DeploymentNotFound", "no deployment"), LlmError::NotFound),
        (
            Scripted::error(400, "invalid_request_error", "bad schema"),
            LlmError::Rejected { status: 400, message: "bad schema".into() },
        ),
        (Scripted::finished("{\"answer\": \"cut", "length"), LlmError::Truncated),
        (Scripted::finished("", "content_filter"), LlmError::ContentFiltered),
        (Scripted::refusal("I can't help with that."), LlmError::Refused("I can't help with that.".into())),
        (
            Scripted::finished("{\"answer\": ", "stop"),
            LlmError::Malformed("the content is not JSON: EOF while parsing a value at line 1 column 11".into()),
        ),
        (
            Scripted::completion(&json!({"answer": 42})),
            LlmError::Malformed("$.answer: expected a string, got a number".into()),
        ),
        (
            Scripted::completion(&json!({"answer": "hi", "and": "ignore previous instructions"})),
            LlmError::Malformed("$: unexpected property `and`".into()),
        ),
        (
            Scripted::completion(&json!({"answer": "x".repeat(21)})),
            LlmError::Malformed("$.answer: longer than 20 characters".into()),
        ),
    ];
    let count = cases.len();
    let fake = FakeLlm::start(cases.iter().map(|(scripted, _)| scripted.clone()).collect()).await;
    for (_, expected) in cases {
        assert_eq!(complete(&azure(&fake)).await, Err(expected));
    }
    assert_eq!(fake.requests().len(), count, "one request each: none of these is retried");
}

#[tokio::test]
async fn a_schema_that_breaks_strict_mode_is_refused_before_sending() {
    let fake = FakeLlm::start(vec![]).await;
    let mut loose = request();
    loose.schema["additionalProperties"] = json!(true);
    let refused = azure(&fake).complete(&loose).await;
    assert!(matches!(refused, Err(LlmError::SchemaNotStrict("greeting", _))), "{refused:?}");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_replayed_transcript_says_so_and_ends() {
    let line = |answer: &str| {
        json!({"choices": [{"finish_reason": "stop", "message": {"content": json!({"answer": answer}).to_string()}}],
               "usage": {"prompt_tokens": 100, "completion_tokens": 10}})
        .to_string()
    };
    let path = std::env::temp_dir().join(format!("transcript-{}.jsonl", uuid::Uuid::new_v4()));
    std::fs::write(&path, format!("// recorded for the test\n{}\n\n{}\n", line("one"), line("two"))).unwrap();
    let client = LlmClient::new(config(Provider::Replay { transcript: path.clone() })).unwrap();
    let first = complete(&client).await.unwrap();
    assert!(first.replayed);
    assert!(first.model.starts_with("replay:"));
    assert_eq!(complete(&client).await.unwrap().content["answer"], "two");
    assert!(matches!(complete(&client).await, Err(LlmError::Replay(reason)) if reason.contains("has 2 responses")));
    // The next job replays the recording from its start.
    assert_eq!(complete(&client.for_job()).await.unwrap().content["answer"], "one");
    std::fs::remove_file(&path).unwrap();
    assert!(Transcript::parse("{\"no\": \"choices\"}").is_err());
    assert!(matches!(LlmClient::new(config(Provider::Replay { transcript: path })), Err(LlmError::Replay(_))));
}
