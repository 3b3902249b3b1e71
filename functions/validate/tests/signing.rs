//! Forwarded requests signed with SigV4 for IAM-protected Lambda function URLs (JUDGE_URL_AUTH=aws-iam), checked on
//! a loopback server that records what it receives. (Whether AWS accepts the signature is for the deployed stack.)

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use codecapsule_core::deadline::{BUDGET_HEADER, Deadline};
use codecapsule_core::judge::{Judge, Judges};
use codecapsule_core::model::ErrorCode;
use codecapsule_remote as remote;
use serde_json::json;
use std::sync::{Arc, Mutex};

#[tokio::test]
async fn forwarded_requests_carry_a_sigv4_signature_for_lambda() {
    let seen: Arc<Mutex<Option<HeaderMap>>> = Arc::default();
    let recorder = seen.clone();
    let app = Router::new().route(
        "/api/judge",
        post(move |headers: HeaderMap| {
            *recorder.lock().unwrap() = Some(headers);
            async {
                (
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    axum::Json(json!({"code": "unsupported_language", "detail": "recorded"})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // SAFETY: this binary's only test sets them before anything reads the environment.
    unsafe {
        std::env::set_var("JUDGE_URL_AUTH", "bogus");
    }
    let err = remote::from_env().err().expect("an unknown JUDGE_URL_AUTH is refused");
    assert!(err.to_string().contains("JUDGE_URL_AUTH"), "{err}");
    unsafe {
        std::env::set_var("JUDGE_URL_AUTH", "aws-iam");
        std::env::remove_var("AWS_REGION");
    }
    let err = remote::from_env().err().expect("aws-iam needs a region");
    assert!(err.to_string().contains("AWS_REGION"), "{err}");
    unsafe {
        std::env::set_var("AWS_REGION", "eu-west-1");
        std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        std::env::set_var("AWS_SESSION_TOKEN", "session-token");
        std::env::set_var("PYTHON_JUDGE_URL", &url);
    }
    let engines: Vec<Arc<dyn Judge>> =
        remote::from_env().unwrap().into_iter().map(|judge| Arc::new(judge) as Arc<dyn Judge>).collect();
    assert_eq!(engines[0].describe()["signed"], true);
    let judges = Judges::new(engines);
    let request = json!({"language": "python", "source": "print(3)", "tests": [{"expected_stdout": "3"}]});
    let err = judges
        .prepare(serde_json::from_value(request).unwrap())
        .unwrap()
        .judge(Deadline::after(std::time::Duration::from_secs(7)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::RemoteProblem);

    let headers = seen.lock().unwrap().clone().expect("the judge received the request");
    let authorization = headers["authorization"].to_str().unwrap();
    assert!(authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), "{authorization}");
    assert!(authorization.contains("/eu-west-1/lambda/aws4_request"), "{authorization}");
    assert!(authorization.contains("SignedHeaders=content-type;host;x-amz-date"), "{authorization}");
    assert!(authorization.contains("Signature="), "{authorization}");
    assert_eq!(headers["x-amz-security-token"], "session-token");
    assert!(headers.contains_key("x-amz-date"));
    // The judge function is told what is left of the request's budget, so that both stop at the same deadline.
    let budget: u64 = headers[BUDGET_HEADER].to_str().unwrap().parse().unwrap();
    assert!((5_000..=7_000).contains(&budget), "{budget}");
}
