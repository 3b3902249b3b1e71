//! The validate function on its three hosts: a local server over real HTTP, the binary as an Azure Functions custom
//! handler called the way the Functions host calls it, and API Gateway HTTP API v2 events through lambda_http.

use codecapsule_core::config::HttpConfig;
use codecapsule_state::guard::Stateful;
use codecapsule_test_support::free_port;
use codecapsule_web::host::{self, Host};
use http::HeaderValue;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tower::ServiceExt;

const ADD: &str = include_str!("../../../examples/wat-function-add.json");
const CAPSULE: &str = include_str!("../../../examples/wat-capsule.json");

fn http_config() -> HttpConfig {
    HttpConfig { cors_origins: vec![HeaderValue::from_static("https://blog.example.com")], ..HttpConfig::default() }
}

/// The validate router served on a free loopback port, as `make run` and the local host serve it.
async fn local_server() -> String {
    let app = host::app(
        &[validate::FUNCTION],
        Host::Local { address: ([127, 0, 0, 1], 0).into() },
        &http_config(),
        &Stateful::without_state("not under test"),
    )
    .unwrap();
    let (ready, bound) = tokio::sync::oneshot::channel();
    tokio::spawn(host::serve(
        app,
        ([127, 0, 0, 1], 0).into(),
        Host::Local { address: ([127, 0, 0, 1], 0).into() },
        Some(ready),
    ));
    format!("http://{}", bound.await.unwrap())
}

async fn post(base: &str, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> (u16, String, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, content_type, body)
}

fn judge_request(tests: usize) -> Value {
    let mut request: Value = serde_json::from_str(ADD).unwrap();
    let test = json!({"args": [1, 2], "expected_result": [3]});
    request["tests"] = Value::Array(vec![test; tests]);
    request
}

#[tokio::test]
async fn local_server_judges_and_validates_over_real_http() {
    let base = local_server().await;
    let health: Value = reqwest::get(format!("{base}/api/health")).await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["host"], "local");
    assert_eq!(health["engines"][0]["name"], "wasmi");
    assert_eq!(
        health["routes"],
        json!([
            "GET /api/health",
            "GET /api/openapi.json",
            "POST /api/judge",
            "POST /api/validate",
            "POST /api/run",
            "GET /api/capsules",
            "GET /api/capsules/{id}",
            "GET /api/capsules/{id}/stats",
            "POST /api/capsules/{id}/submissions",
            "GET /api/capsules/{id}/submissions",
            "POST /api/capsules/{id}/run",
            "GET /api/submissions/{id}"
        ])
    );

    let (status, _, report) = post(&base, "/api/judge", "application/json", ADD).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["verdict"], "accepted");
    assert_eq!(report["tests"][2]["hidden"], true);
    assert_eq!(report["tests"][2].get("result"), None, "a hidden test does not echo its result");

    let (status, _, validation) = post(&base, "/api/validate", "application/json", CAPSULE).await;
    assert_eq!(status, 200, "{validation}");
    assert_eq!(validation["valid"], true, "{validation}");
    assert_eq!(validation["report"]["solution_runs"].as_array().unwrap().len(), 3);
    assert_eq!(validation["report"]["starter_run"]["verdict"], "wrong_answer");
}

#[tokio::test]
async fn validation_reports_what_is_wrong_with_a_capsule() {
    let base = local_server().await;
    let codes = |validation: &Value| -> Vec<String> {
        validation["problems"].as_array().unwrap().iter().map(|p| p["code"].as_str().unwrap().to_string()).collect()
    };
    // The starter is the solution: the tests cannot tell them apart.
    let mut capsule: Value = serde_json::from_str(CAPSULE).unwrap();
    capsule["capsule"]["starter"] = capsule["capsule"]["solution"].clone();
    let (status, _, validation) = post(&base, "/api/validate", "application/json", capsule.to_string()).await;
    assert_eq!((status, validation["valid"].as_bool()), (200, Some(false)));
    assert_eq!(codes(&validation), ["starter_passes"], "{validation}");

    // A test the solution fails, and no starter at all.
    let mut capsule: Value = serde_json::from_str(CAPSULE).unwrap();
    capsule["capsule"]["tests"][0]["expected_result"] = json!([4]);
    capsule["capsule"]["starter"] = json!({});
    let (status, _, validation) = post(&base, "/api/validate", "application/json", capsule.to_string()).await;
    assert_eq!((status, validation["valid"].as_bool()), (200, Some(false)));
    assert_eq!(codes(&validation), ["solution_fails_test", "missing_starter"], "{validation}");
    assert_eq!(validation["problems"][0]["test_id"], "small");
    assert!(validation["problems"][0]["message"].as_str().unwrap().contains("expected 4, got 3"));

    // A solution that does not compile.
    let mut capsule: Value = serde_json::from_str(CAPSULE).unwrap();
    capsule["capsule"]["solution"]["source"] = json!("(module (func");
    let (_, _, validation) = post(&base, "/api/validate", "application/json", capsule.to_string()).await;
    assert_eq!(codes(&validation), ["solution_compilation_error"], "{validation}");
}

#[tokio::test]
async fn bad_input_gets_problem_json_at_every_limit() {
    let base = local_server().await;
    let problem = |status: u16, code: &str, field: Option<&str>| (status, code.to_string(), field.map(str::to_string));
    let seen = |(status, content_type, body): (u16, String, Value)| {
        assert_eq!(content_type, "application/problem+json", "{body}");
        assert!(body["detail"].as_str().is_some_and(|detail| !detail.is_empty()), "{body}");
        (status, body["code"].as_str().unwrap_or("").to_string(), body["field"].as_str().map(str::to_string))
    };
    let json_type = "application/json";

    assert_eq!(seen(post(&base, "/api/judge", json_type, "{\"language\": ").await), problem(400, "invalid_json", None));
    assert_eq!(seen(post(&base, "/api/judge", "text/plain", ADD).await), problem(415, "unsupported_media_type", None));
    // JSON is UTF-8 and one value: another charset is 415, anything after the object 400, an array 422.
    let utf16 = "application/json; charset=utf-16";
    assert_eq!(seen(post(&base, "/api/judge", utf16, ADD).await), problem(415, "unsupported_media_type", None));
    assert_eq!(post(&base, "/api/judge", "application/json; charset=UTF-8", ADD).await.0, 200);
    assert_eq!(
        seen(post(&base, "/api/judge", json_type, format!("{ADD}xyz")).await),
        problem(400, "invalid_json", None)
    );
    assert_eq!(
        seen(post(&base, "/api/judge", json_type, format!("{ADD}{ADD}")).await),
        problem(400, "invalid_json", None)
    );
    let array = r#"["wat", "(module)", null, [{"expected_stdout": ""}]]"#;
    assert_eq!(seen(post(&base, "/api/judge", json_type, array).await), problem(422, "invalid_field", None));
    let mut unknown_language = judge_request(1);
    unknown_language["language"] = json!("cobol");
    assert_eq!(
        seen(post(&base, "/api/judge", json_type, unknown_language.to_string()).await),
        problem(422, "unsupported_language", Some("language"))
    );
    let mut python = judge_request(1);
    python["language"] = json!("python");
    python["entry"] = Value::Null;
    assert_eq!(seen(post(&base, "/api/judge", json_type, python.to_string()).await).1, "unsupported_language");
    let garbage = json!({"language": "wasm", "module_base64": "%%%not base64%%%", "tests": [{"expected_stdout": ""}]});
    assert_eq!(
        seen(post(&base, "/api/judge", json_type, garbage.to_string()).await),
        problem(400, "invalid_base64", Some("module_base64"))
    );
    assert_eq!(
        seen(post(&base, "/api/judge", json_type, judge_request(0).to_string()).await),
        problem(422, "no_tests", Some("tests"))
    );
    assert_eq!(
        seen(post(&base, "/api/judge", json_type, judge_request(101).to_string()).await),
        problem(422, "too_many_tests", Some("tests"))
    );
    let (status, _, report) = post(&base, "/api/judge", json_type, judge_request(100).to_string()).await;
    assert_eq!((status, report["passed"].as_u64()), (200, Some(100)), "exactly at the test limit is judged");

    let mut unknown_field = judge_request(1);
    unknown_field["limits"] = json!({"time": 5});
    assert_eq!(
        seen(post(&base, "/api/judge", json_type, unknown_field.to_string()).await),
        problem(422, "invalid_field", Some("limits.time"))
    );
    let missing = json!({"language": "wat", "source": "(module)"});
    let (status, code, _) = seen(post(&base, "/api/judge", json_type, missing.to_string()).await);
    assert_eq!((status, code.as_str()), (422, "invalid_field"));
    // A struct is a JSON object at any depth: its fields in an array are not read in order.
    let mut in_order = judge_request(1);
    in_order["limits"] = json!([1000, 64, 16]);
    assert_eq!(
        seen(post(&base, "/api/judge", json_type, in_order.to_string()).await),
        problem(422, "invalid_field", Some("limits"))
    );
    let mut capsule: Value = serde_json::from_str(CAPSULE).unwrap();
    capsule["capsule"]["starter"] = json!([null, null]);
    assert_eq!(
        seen(post(&base, "/api/validate", json_type, capsule.to_string()).await),
        problem(422, "invalid_field", Some("capsule.starter"))
    );
    // In a capsule, a field is named by its path in the capsule sent.
    let mut capsule: Value = serde_json::from_str(CAPSULE).unwrap();
    capsule["capsule"]["tests"][0]["id"] = json!("");
    assert_eq!(
        seen(post(&base, "/api/validate", json_type, capsule.to_string()).await),
        problem(422, "invalid_field", Some("capsule.tests[0].id"))
    );
    let mut capsule: Value = serde_json::from_str(CAPSULE).unwrap();
    capsule["capsule"]["starter"] = json!({"module_base64": "AGFzbQEAAAA="});
    assert_eq!(
        seen(post(&base, "/api/validate", json_type, capsule.to_string()).await),
        problem(422, "invalid_field", Some("capsule.starter.module_base64"))
    );

    // Body size: exactly at the judge routes' limit is read; one byte more is 413 before judging.
    let limit = codecapsule_core::judge::limits::JUDGE_BODY_BYTES;
    let mut at_limit = judge_request(1).to_string();
    at_limit.push_str(&" ".repeat(limit - at_limit.len()));
    let (status, _, report) = post(&base, "/api/judge", json_type, at_limit.clone()).await;
    assert_eq!((status, report["verdict"].as_str()), (200, Some("accepted")));
    at_limit.push(' ');
    assert_eq!(seen(post(&base, "/api/judge", json_type, at_limit).await), problem(413, "body_too_large", None));

    // Unknown routes and methods.
    let response = reqwest::get(format!("{base}/api/nope")).await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<Value>().await.unwrap()["code"], "not_found");
    let response = reqwest::get(format!("{base}/api/judge")).await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.json::<Value>().await.unwrap()["code"], "method_not_allowed");
}

#[tokio::test]
async fn cors_answers_configured_widget_origins_only() {
    let base = local_server().await;
    let preflight = |origin: &'static str| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, format!("{base}/api/judge"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight("https://blog.example.com").await.unwrap();
    assert!(allowed.status().is_success());
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://blog.example.com");
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(refused.headers().get("access-control-allow-origin").is_none());
    // A preflight, or a bare OPTIONS, of a path that is not a route: 404 like any other method there.
    for path in ["/api/nowhere", "/"] {
        let unknown = reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, format!("{base}{path}"))
            .header("origin", "https://blog.example.com")
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status().as_u16(), 404, "{path}");
        let bare =
            reqwest::Client::new().request(reqwest::Method::OPTIONS, format!("{base}{path}")).send().await.unwrap();
        assert_eq!(bare.status().as_u16(), 404, "{path}");
        assert_eq!(bare.headers()["content-type"], "application/problem+json");
    }
}

struct AzureHandler {
    child: Child,
    base: String,
}

impl AzureHandler {
    /// Starts a function binary (built next to validate) the way the Functions host does: FUNCTIONS_CUSTOMHANDLER_PORT
    /// in the environment.
    fn start(binary: &str) -> AzureHandler {
        let port = free_port();
        let path = std::path::Path::new(env!("CARGO_BIN_EXE_validate")).with_file_name(binary);
        let child = Command::new(&path)
            .env_clear()
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
            .env("PORT", "1") // ignored: the Azure port wins over the local one
            .env("PATH", "/usr/bin:/bin")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| {
                panic!("{} ({err}): run `make test`, which builds every binary first", path.display())
            });
        let address: SocketAddr = ([127, 0, 0, 1], port).into();
        let started = Instant::now();
        while std::net::TcpStream::connect(address).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "the handler did not listen on {address}");
            std::thread::sleep(Duration::from_millis(20));
        }
        AzureHandler { child, base: format!("http://{address}") }
    }
}

impl Drop for AzureHandler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn azure_custom_handler_serves_the_same_routes_and_stops_gracefully() {
    let mut handler = AzureHandler::start("validate");
    let client = reqwest::Client::new();
    let health: Value = client.get(format!("{}/api/health", handler.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["host"], "azure-functions");

    // The Functions host proxies the HTTP request (routePrefix "") and adds its invocation id.
    let invocation = "5d3c2f1e-9a8b-4c7d-8e6f-0a1b2c3d4e5f";
    let response = client
        .post(format!("{}/api/judge", handler.base))
        .header("content-type", "application/json")
        .header("x-azure-functions-invocationid", invocation)
        .header("x-forwarded-for", "203.0.113.7")
        .body(ADD)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], invocation);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["verdict"], "accepted");

    // SIGTERM: stops accepting, finishes, exits 0; its JSON log lines carry the invocation id as request id.
    let terminated = Command::new("kill").args(["-TERM", &handler.child.id().to_string()]).status().unwrap();
    assert!(terminated.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = handler.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the handler did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    let mut logs = String::new();
    std::io::Read::read_to_string(handler.child.stdout.as_mut().unwrap(), &mut logs).unwrap();
    let request_lines: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["span"]["request_id"] == invocation)
        .collect();
    assert!(request_lines.iter().any(|line| line["message"] == "request done" && line["status"] == 200), "{logs}");
}

#[tokio::test]
async fn every_judge_function_runs_as_an_azure_custom_handler() {
    let programs = [
        ("python-judge", "python", "print(sum(map(int, input().split())))"),
        (
            "java-judge",
            "java",
            "import java.util.*; class A { public static void main(String[] a) { Scanner s = new Scanner(System.in); System.out.println(s.nextInt() + s.nextInt()); } }",
        ),
        (
            "csharp-judge",
            "csharp",
            "using System; class P { static void Main() { var p = Console.ReadLine().Split(' '); Console.WriteLine(int.Parse(p[0]) + int.Parse(p[1])); } }",
        ),
    ];
    let client = reqwest::Client::new();
    for (binary, language, source) in programs {
        let handler = AzureHandler::start(binary);
        let health: Value =
            client.get(format!("{}/api/health", handler.base)).send().await.unwrap().json().await.unwrap();
        assert_eq!((health["host"].as_str(), health["functions"][0].as_str()), (Some("azure-functions"), Some(binary)));
        assert_eq!(health["engines"][0]["sandbox"]["seccomp"], true, "{health}");
        let request =
            json!({"language": language, "source": source, "tests": [{"stdin": "1 2\n", "expected_stdout": "3\n"}]});
        let response = client
            .post(format!("{}/api/judge", handler.base))
            .header("x-azure-functions-invocationid", "inv-1")
            .json(&request)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["x-request-id"], "inv-1");
        let report: Value = response.json().await.unwrap();
        assert_eq!(report["verdict"], "accepted", "{binary}: {report}");
    }
}

/// An API Gateway HTTP API (payload 2.0) event, converted by lambda_http and handed to the router as Lambda does.
async fn lambda_invoke(fixture: &str, request_id: &str) -> (u16, http::HeaderMap, Value) {
    let app =
        host::app(&[validate::FUNCTION], Host::Lambda, &http_config(), &Stateful::without_state("not under test"))
            .unwrap();
    let mut context = lambda_runtime::Context::default();
    context.request_id = request_id.to_string();
    let request = lambda_http::request::from_str(fixture).unwrap();
    let request = lambda_http::RequestExt::with_lambda_context(request, context);
    let response = app.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, headers, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn api_gateway_v2_events_reach_the_router_through_lambda_http() {
    let (status, _, health) = lambda_invoke(include_str!("fixtures/apigw-v2-health.json"), "req-1").await;
    assert_eq!((status, health["host"].as_str()), (200, Some("aws-lambda")));

    for fixture in [include_str!("fixtures/apigw-v2-judge.json"), include_str!("fixtures/apigw-v2-judge-base64.json")] {
        let (status, headers, report) = lambda_invoke(fixture, "8f9e7d6c-lambda-request").await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["verdict"], "accepted");
        assert_eq!(headers["x-request-id"], "8f9e7d6c-lambda-request", "the Lambda request id is the request id");
    }

    let (status, headers, problem) = lambda_invoke(include_str!("fixtures/apigw-v2-judge-malformed.json"), "r").await;
    assert_eq!((status, problem["code"].as_str()), (400, Some("invalid_json")));
    assert_eq!(headers["content-type"], "application/problem+json");
}

/// Writes `request` on a new connection to `base`, then reads until the server closes it: what it answered, and how long
/// after the write the connection stayed open. A connection still open after `patience` is a failure.
async fn held_connection(base: &str, request: &[u8], patience: Duration) -> (String, Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
    stream.write_all(request).await.unwrap();
    let started = Instant::now();
    let mut answered = Vec::new();
    let read = tokio::time::timeout(patience, async {
        let mut buffer = [0u8; 4096];
        // A reset counts as closed, as an orderly end does.
        while let Ok(read @ 1..) = stream.read(&mut buffer).await {
            answered.extend_from_slice(&buffer[..read]);
        }
    })
    .await;
    let answered = String::from_utf8_lossy(&answered).into_owned();
    assert!(read.is_ok(), "the connection was still open after {patience:?}; it had answered: {answered}");
    (answered, started.elapsed())
}

#[tokio::test]
async fn slow_and_idle_connections_are_closed() {
    let base = local_server().await;
    let patience = codecapsule_web::server::HEADER_READ_TIMEOUT + Duration::from_secs(5);
    let half_headers = held_connection(&base, b"POST /api/judge HTTP/1.1\r\nhost: localhost\r\n", patience);
    let idle = held_connection(&base, b"GET /api/health HTTP/1.1\r\nhost: localhost\r\n\r\n", patience);
    let short_body = held_connection(
        &base,
        b"POST /api/judge HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"lang",
        codecapsule_web::BODY_READ_TIMEOUT + Duration::from_secs(5),
    );
    let ((unanswered, _), (health, _), (timed_out, _)) = tokio::join!(half_headers, idle, short_body);
    assert!(!unanswered.contains("200 OK"), "{unanswered}");
    // The idle connection was answered, kept alive, then closed when no next request came.
    assert!(health.starts_with("HTTP/1.1 200 OK"), "{health}");
    // Less body than announced: a problem+json 408 once the body's time is up.
    assert!(timed_out.starts_with("HTTP/1.1 408"), "{timed_out}");
    assert!(
        timed_out.contains("application/problem+json") && timed_out.contains("\"code\":\"body_timeout\""),
        "{timed_out}"
    );
}

#[tokio::test]
async fn requests_hyper_cannot_parse_are_answered_with_problem_json() {
    let base = local_server().await;
    let patience = Duration::from_secs(5);
    // More headers than hyper reads (100): small, so that the whole request is sent before the answer comes.
    let headers: String = (0..150).map(|n| format!("x-header-{n}: {n}\r\n")).collect();
    let huge_header = format!("GET /api/health HTTP/1.1\r\nhost: localhost\r\n{headers}\r\n");
    let long_uri = format!("GET /{} HTTP/1.1\r\nhost: localhost\r\n\r\n", "a".repeat(70_000));
    let cases: [(&[u8], &str); 5] = [
        (b"GARBAGE\r\n\r\n", "400"),
        (b"POST /api/judge HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabc", "400"),
        (b"GET /api/health HTTP/2.5\r\n\r\n", "400"),
        (long_uri.as_bytes(), "414"),
        (huge_header.as_bytes(), "431"),
    ];
    for (request, status) in cases {
        let (answer, _) = held_connection(&base, request, patience).await;
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
        assert!(head.contains("content-type: application/problem+json"), "{head}");
        let problem: Value = serde_json::from_str(body).unwrap_or_else(|err| panic!("{err}: {body}"));
        assert_eq!(problem["code"], "malformed_request", "{body}");
        assert_eq!(problem["status"].as_u64().unwrap().to_string(), status);
    }
}
