//! Both triggers of the processor, through its real binary and a real PostgreSQL: an EventBridge scheduled event via
//! cargo-lambda's Runtime API emulator (lambda_runtime, as on Lambda), and the Azure Functions timer payload over HTTP
//! (the custom handler's invocation shape). Without state, a run fails as an invocation error naming what to set.

use codecapsule_test_support::lambda::LambdaEmulator;
use codecapsule_test_support::postgres::TempPostgres;
use codecapsule_test_support::{KillOnDrop, free_port, wait_for_port};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::Duration;

const SCHEDULED_EVENT: &str = r#"{"version":"0","id":"5e5c4a4e-1f2b-4c3d-9e8f-0a1b2c3d4e5f","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-11-26T18:00:00Z","region":"eu-west-1","resources":["arn:aws:events:eu-west-1:123456789012:rule/analytics-every-5-minutes"],"detail":{}}"#;

/// The Azure Functions host's timer trigger payload for a custom handler.
const AZURE_TIMER: &str = r#"{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":"2026-11-26T17:55:00+00:00","Next":"2026-11-26T18:05:00+00:00","LastUpdated":"2026-11-26T17:55:00+00:00"},"IsPastDue":false}},"Metadata":{"sys":{"MethodName":"analytics-processor","UtcNow":"2026-11-26T18:00:00.0012345Z","RandGuid":"0f8fad5b-d9cb-469f-a165-70867728950e"}}}"#;

fn processor(env: &[(&str, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_analytics-processor"));
    command.env_clear().env("PATH", "/usr/bin:/bin").stdout(Stdio::null()).stderr(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

async fn seed(postgres: &TempPostgres) {
    postgres
        .client()
        .await
        .batch_execute(
            "insert into analytics.events (event_id, capsule_id, type, occurred_at)
             select gen_random_uuid(), '00000000-0000-4000-8000-00000000000c', 'view', now() from generate_series(1, 3)",
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn an_eventbridge_schedule_runs_the_rollup_through_lambda_runtime() {
    let postgres = TempPostgres::start().await;
    seed(&postgres).await;
    let emulator = LambdaEmulator::start();
    let _function = KillOnDrop(
        processor(&[
            ("AWS_LAMBDA_RUNTIME_API", emulator.runtime_api.clone()),
            ("AWS_LAMBDA_FUNCTION_NAME", "_".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "1".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
            ("DATABASE_URL", postgres.url.clone()),
        ])
        .spawn()
        .unwrap(),
    );
    let invoke = |event: &'static str| {
        let emulator = &emulator;
        async move {
            let response = emulator.invoke(event).await;
            (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, report) = invoke(SCHEDULED_EVENT).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["rollup"], json!({"outcome": "done", "events": 3, "hours": 1}));
    let (status, report) = invoke(SCHEDULED_EVENT).await;
    assert_eq!((status, report["rollup"]["events"].as_u64()), (200, Some(0)), "the next run finds nothing new");
    let views: i64 = postgres
        .client()
        .await
        .query_one("select views from analytics.capsule_hourly_stats", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(views, 3);
}

#[tokio::test]
async fn the_azure_timer_payload_runs_the_rollup_and_is_answered_as_the_host_expects() {
    let postgres = TempPostgres::start().await;
    seed(&postgres).await;
    let port = free_port();
    let _function = KillOnDrop(
        processor(&[("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string()), ("DATABASE_URL", postgres.url.clone())])
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, Duration::from_secs(10));
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/analytics-processor"))
        .header("content-type", "application/json")
        .body(AZURE_TIMER)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["Outputs"], json!({}));
    assert_eq!(answer["ReturnValue"]["rollup"], json!({"outcome": "done", "events": 3, "hours": 1}));
    assert!(answer["Logs"][0].as_str().unwrap().contains("analytics-processor"));
}

#[tokio::test]
async fn without_state_a_run_fails_and_says_what_to_set() {
    let port = free_port();
    let _function = KillOnDrop(processor(&[("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())]).spawn().unwrap());
    wait_for_port(port, Duration::from_secs(10));
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/analytics-processor"))
        .body(AZURE_TIMER)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 500);
    let answer: Value = response.json().await.unwrap();
    assert!(answer["Logs"][0].as_str().unwrap().contains("set DATABASE_URL or SUPABASE_URL"), "{answer}");
}

#[test]
fn a_malformed_retention_stops_the_binary_at_start_up() {
    let output = processor(&[("ANALYTICS_RETENTION_DAYS", "1".into())]).stderr(Stdio::piped()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ANALYTICS_RETENTION_DAYS") && stderr.contains("from 2 to 3650"), "{stderr}");
}
