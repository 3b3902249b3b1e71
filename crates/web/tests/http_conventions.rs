//! The shared HTTP conventions on a router of their own: the default body limit, panics as problem+json, request ids.

use axum::Router;
use axum::routing::{get, post};
use codecapsule_core::config::HttpConfig;
use codecapsule_core::judge::limits::DEFAULT_BODY_BYTES;
use codecapsule_web::{Health, Json, service};
use http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

fn app() -> Router {
    let routes = Router::new()
        .route("/echo", post(|Json(value): Json<Value>| async move { axum::Json(value) }))
        .route("/boom", get(boom));
    let health = Health {
        status: "ok",
        functions: vec![],
        version: "test",
        host: "local",
        engines: vec![],
        routes: vec![],
        guard: serde_json::Value::Null,
    };
    service(routes, move || health.clone(), &HttpConfig::default())
}

async fn call(request: Request<axum::body::Body>) -> (StatusCode, http::HeaderMap, Value) {
    let response = app().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (parts.status, parts.headers, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn echo(body: String) -> Request<axum::body::Body> {
    Request::post("/echo").header("content-type", "application/json").body(body.into()).unwrap()
}

#[tokio::test]
async fn default_body_limit_is_one_mebibyte_at_its_edge() {
    let mut body = "\"x\"".to_string();
    body.push_str(&" ".repeat(DEFAULT_BODY_BYTES - body.len()));
    let (status, _, value) = call(echo(body.clone())).await;
    assert_eq!((status, value), (StatusCode::OK, Value::from("x")));
    body.push(' ');
    let (status, headers, problem) = call(echo(body)).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("body_too_large")));
    assert_eq!(headers["content-type"], "application/problem+json");
}

#[tokio::test]
async fn a_body_larger_than_declared_limit_is_refused_without_content_length() {
    // A streamed body has no Content-Length: the limit is enforced while reading.
    let chunks = (0..=DEFAULT_BODY_BYTES / 1024).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024]));
    let body = axum::body::Body::from_stream(futures_stream(chunks));
    let request = Request::post("/echo").header("content-type", "application/json").body(body).unwrap();
    let (status, _, problem) = call(request).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("body_too_large")));
}

fn futures_stream<I: Iterator<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static>(
    items: I,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send {
    tokio_stream::iter(items)
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_problem_and_the_server_lives_on() {
    let (status, headers, problem) = call(Request::get("/boom").body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::INTERNAL_SERVER_ERROR, Some("internal_error")));
    assert!(headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn a_sane_client_request_id_is_kept_and_an_unprintable_one_replaced() {
    let request =
        |id: &str| Request::get("/api/health").header("x-request-id", id).body(axum::body::Body::empty()).unwrap();
    let (_, headers, _) = call(request("client-42")).await;
    assert_eq!(headers["x-request-id"], "client-42");
    let (_, headers, _) = call(request(&"x".repeat(200))).await;
    assert_eq!(headers["x-request-id"].len(), 36, "replaced by a UUID");
}

async fn boom() -> &'static str {
    panic!("a bug")
}
