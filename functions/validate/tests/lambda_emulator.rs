//! Every HTTP function's Lambda mode under cargo-lambda's Runtime API emulator (`cargo lambda watch
//! --only-lambda-apis`): the real binaries poll the emulator as they poll Lambda, and receive API Gateway v2 events,
//! and a non-HTTP event, which must fail cleanly (an invocation error) without killing the function.
//! cargo-lambda comes from the project's venv (`make test` installs it; or set CARGO_LAMBDA).

use codecapsule_test_support::KillOnDrop;
use codecapsule_test_support::lambda::LambdaEmulator;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The emulator plus one function binary polling it.
fn start(binary: &str) -> (LambdaEmulator, KillOnDrop) {
    let emulator = LambdaEmulator::start();
    let binaries = PathBuf::from(env!("CARGO_BIN_EXE_validate")).parent().unwrap().to_path_buf();
    let function = Command::new(binaries.join(binary))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &emulator.runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("PATH", "/usr/bin:/bin")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| {
            panic!("{binary} is not built next to validate ({err}): run `make test`, which builds every binary first")
        });
    (emulator, KillOnDrop(function))
}

/// Invokes the function through the emulator's Invoke API, blocking, so the test reads top to bottom.
fn invoke(emulator: &LambdaEmulator, event: &str) -> (u16, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (status, text) = runtime.block_on(async {
        let response = emulator.invoke(event).await;
        (response.status().as_u16(), response.text().await.unwrap())
    });
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

const SCHEDULED_EVENT: &str = r#"{"version":"0","id":"5e5c4a4e-1f2b-4c3d-9e8f-0a1b2c3d4e5f","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-11-26T18:00:00Z","region":"eu-west-1","resources":["arn:aws:events:eu-west-1:123456789012:rule/every-5-minutes"],"detail":{}}"#;

fn body(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
}

#[test]
fn every_http_function_answers_api_gateway_events_and_refuses_other_events_cleanly() {
    for binary in ["validate", "python-judge", "java-judge", "csharp-judge"] {
        let (emulator, _function) = start(binary);
        let (status, response) = invoke(&emulator, include_str!("fixtures/apigw-v2-health.json"));
        assert_eq!((status, response["statusCode"].as_u64()), (200, Some(200)), "{binary}: {response}");
        let health = body(&response);
        assert_eq!((health["host"].as_str(), health["functions"][0].as_str()), (Some("aws-lambda"), Some(binary)));

        // An EventBridge event is not an HTTP event: an invocation error naming the problem, not a crash.
        let (status, error) = invoke(&emulator, SCHEDULED_EVENT);
        assert_eq!(status, 500, "{binary}: {error}");
        assert!(
            error["errorMessage"].as_str().unwrap_or("").contains("expects a JSON payload from Amazon API Gateway"),
            "{binary}: {error}"
        );
        // And the function is still there for the next event.
        let (status, response) = invoke(&emulator, include_str!("fixtures/apigw-v2-judge-malformed.json"));
        assert_eq!((status, response["statusCode"].as_u64()), (200, Some(400)), "{binary}: {response}");
        assert_eq!(body(&response)["code"], "invalid_json");
    }

    // validate judges through the emulator, with plain and base64 bodies.
    let (emulator, _function) = start("validate");
    for fixture in [include_str!("fixtures/apigw-v2-judge.json"), include_str!("fixtures/apigw-v2-judge-base64.json")] {
        let (_, response) = invoke(&emulator, fixture);
        assert_eq!(response["statusCode"], 200, "{response}");
        assert_eq!(body(&response)["verdict"], "accepted");
        assert!(response["headers"]["x-request-id"].as_str().is_some_and(|id| !id.is_empty()));
    }
}

/// Invokes and returns the status, content type and raw body the emulator answers.
fn invoke_raw(emulator: &LambdaEmulator, event: &str) -> (u16, String, Vec<u8>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let response = emulator.invoke(event).await;
        let content_type =
            response.headers().get("content-type").and_then(|value| value.to_str().ok()).unwrap_or("").to_string();
        (response.status().as_u16(), content_type, response.bytes().await.unwrap().to_vec())
    })
}

/// generate answers through Lambda's response streaming (its function URL is RESPONSE_STREAM): the emulator gets the
/// streaming protocol's prelude (status, headers) and then the body as written, and answers them as such, where a
/// buffered function's answer is the API Gateway envelope (`statusCode`, `body`), as validate's above.
#[test]
fn generate_answers_through_response_streaming() {
    let (emulator, _function) = start("generate");
    let (status, content_type, raw) = invoke_raw(&emulator, include_str!("fixtures/apigw-v2-health.json"));
    let health: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!((status, content_type.as_str()), (200, "application/json"), "{health}");
    assert!(health.get("statusCode").is_none(), "a streamed body, not the buffered envelope: {health}");
    assert_eq!((health["host"].as_str(), health["functions"][0].as_str()), (Some("aws-lambda"), Some("generate")));

    let (status, content_type, raw) = invoke_raw(&emulator, include_str!("fixtures/apigw-v2-judge-malformed.json"));
    assert_eq!((status, content_type.as_str()), (400, "application/problem+json"));
    assert_eq!(serde_json::from_slice::<Value>(&raw).unwrap()["code"], "invalid_json");

    // Non-HTTP events still fail cleanly, and the function serves on.
    let (status, _, _) = invoke_raw(&emulator, SCHEDULED_EVENT);
    assert_eq!(status, 500);
    let (status, _, _) = invoke_raw(&emulator, include_str!("fixtures/apigw-v2-health.json"));
    assert_eq!(status, 200);
}
