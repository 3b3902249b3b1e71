//! The OpenAPI document (crates/web/openapi.json) held to the code: it describes every route every function serves and
//! nothing else, its problem codes are `ErrorCode`'s, and each function's GET /api/openapi.json has its own routes only.
//! (That the answers match the document is schemathesis.rs's work.)

use codecapsule_core::model::ErrorCode;
use codecapsule_devhost::FUNCTIONS;
use codecapsule_state::guard::Stateful;
use codecapsule_web::host::{self, Host};
use serde_json::Value;
use std::collections::BTreeSet;

fn document() -> Value {
    serde_json::from_str(codecapsule_web::openapi::DOCUMENT).expect("openapi.json is JSON")
}

/// `METHOD /path` of every operation of `document`.
fn operations(document: &Value) -> BTreeSet<String> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    operations
}

#[test]
fn the_document_describes_every_route_and_only_those() {
    let mut served: BTreeSet<String> =
        FUNCTIONS.iter().flat_map(|function| function.routes.iter().map(|route| route.to_string())).collect();
    served.insert("GET /api/health".into());
    served.insert(format!("GET {}", codecapsule_web::openapi::PATH));
    assert_eq!(operations(&document()), served);
}

#[test]
fn the_problem_codes_are_the_error_codes() {
    let document = document();
    let problem = &document["components"]["schemas"]["Problem"]["properties"]["code"]["enum"];
    let listed: BTreeSet<&str> = problem.as_array().unwrap().iter().map(|code| code.as_str().unwrap()).collect();
    let known: BTreeSet<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
    assert_eq!(listed, known, "the document's problem codes");
    // Every answer's codes are ours, and every problem answer names its codes.
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, answer) in operation["responses"].as_object().unwrap() {
                let is_problem = answer["content"].get("application/problem+json").is_some();
                let codes = answer.get("x-codes").and_then(Value::as_array);
                assert_eq!(is_problem, codes.is_some(), "{method} {path} {status}: x-codes on problem answers only");
                for code in codes.into_iter().flatten() {
                    assert!(known.contains(code.as_str().unwrap()), "{method} {path} {status}: unknown code {code}");
                }
            }
        }
    }
}

#[tokio::test]
async fn each_function_serves_the_document_of_its_own_routes() {
    for function in FUNCTIONS {
        let app = host::app(
            std::slice::from_ref(function),
            Host::Local { address: ([127, 0, 0, 1], 0).into() },
            &Default::default(),
            &Stateful::without_state("not under test"),
        )
        .unwrap();
        let base = serve(app).await;
        let served: Value = reqwest::get(format!("{base}/api/openapi.json")).await.unwrap().json().await.unwrap();
        let mut expected: BTreeSet<String> = function.routes.iter().map(|route| route.to_string()).collect();
        expected.insert("GET /api/health".into());
        expected.insert(format!("GET {}", codecapsule_web::openapi::PATH));
        assert_eq!(operations(&served), expected, "{}", function.name);
        assert_eq!(served["openapi"], "3.1.0");
    }
}

async fn serve(app: axum::Router) -> String {
    let (ready, bound) = tokio::sync::oneshot::channel();
    let local = Host::Local { address: ([127, 0, 0, 1], 0).into() };
    tokio::spawn(host::serve(app, ([127, 0, 0, 1], 0).into(), local, Some(ready)));
    format!("http://{}", bound.await.unwrap())
}
