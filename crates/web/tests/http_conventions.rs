//! The shared HTTP conventions on a router of their own: the default body limit, panics as problem+json, request ids.

use axum::Router;
use axum::routing::{get, post};
use codecapsule_core::access::Guard;
use codecapsule_core::config::HttpConfig;
use codecapsule_core::judge::limits::DEFAULT_BODY_BYTES;
use codecapsule_web::host::Host;
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
        problems: vec![],
        functions: vec![],
        version: "test",
        host: "local",
        engines: vec![],
        routes: vec![],
        guard: serde_json::Value::Null,
    };
    let local = Host::Local { address: ([127, 0, 0, 1], 0).into() };
    service(routes, move || health.clone(), Guard::off("not under test"), local, &HttpConfig::default())
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
    // Off Azure, an invocation id header is a client's words: it is not taken for the Functions host's.
    let forged = Request::get("/api/health")
        .header("x-azure-functions-invocationid", "forged-by-a-client")
        .header("x-request-id", "client-42")
        .body(axum::body::Body::empty())
        .unwrap();
    let (_, headers, _) = call(forged).await;
    assert_eq!(headers["x-request-id"], "client-42");
}

async fn boom() -> &'static str {
    panic!("a bug")
}

type JobRun = std::pin::Pin<Box<dyn Future<Output = Result<Value, String>> + Send>>;

fn scheduled_job(_: codecapsule_web::host::Stateless) -> JobRun {
    Box::pin(async { Ok(serde_json::json!({"ran": true})) })
}

#[tokio::test]
async fn a_scheduled_job_runs_only_for_callers_on_this_machine() {
    use codecapsule_core::access::Deployment;
    let deployment = codecapsule_web::host::Stateless::from_env().unwrap();
    let router = codecapsule_web::host::timer_route("nightly", scheduled_job, &deployment);
    let call = |peer: Option<[u8; 4]>| {
        let mut request = Request::post("/nightly").body(axum::body::Body::from("{}")).unwrap();
        if let Some(peer) = peer {
            request.extensions_mut().insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((peer, 5000))));
        }
        router.clone().oneshot(request)
    };
    let local = call(Some([127, 0, 0, 1])).await.unwrap();
    assert_eq!(local.status(), StatusCode::OK);
    // The public internet (here a documentation address), or a caller the server cannot place: refused, not run.
    for peer in [Some([203, 0, 113, 9]), None] {
        let refused = call(peer).await.unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{peer:?}");
    }
}
