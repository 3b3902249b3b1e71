//! The validate function forwarding python/java/csharp submissions to the native judge functions, here the real
//! python-judge and java-judge routers on loopback ports.

use codecapsule_core::config::{ConfigError, HttpConfig};
use codecapsule_core::deadline::Deadline;
use codecapsule_core::judge::{Judge, Judges};
use codecapsule_core::model::ErrorCode;
use codecapsule_remote::RemoteJudge;
use codecapsule_state::guard::Stateful;
use codecapsule_wasm::WasmJudge;
use codecapsule_web::host::{self, Function, Host};
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};

async fn serve(function: Function<Stateful>) -> String {
    let address = ([127, 0, 0, 1], 0).into();
    let app = host::app(
        &[function],
        Host::Local { address },
        &HttpConfig::default(),
        &Stateful::without_state("not under test"),
    )
    .unwrap();
    let (ready, bound) = tokio::sync::oneshot::channel();
    tokio::spawn(host::serve(app, address, Host::Local { address }, Some(ready)));
    format!("http://{}", bound.await.unwrap())
}

/// Where the forwarding validate below sends python: set once per test binary, before it starts.
static PYTHON_URL: OnceLock<String> = OnceLock::new();

fn forwarding_judges() -> Result<Vec<Arc<dyn Judge>>, ConfigError> {
    let url = PYTHON_URL.get().expect("set before the server starts");
    Ok(vec![
        Arc::new(WasmJudge),
        Arc::new(RemoteJudge::new(codecapsule_core::model::Language::Python, "PYTHON_JUDGE_URL", url)?),
    ])
}

fn forwarding_validate() -> Function<Stateful> {
    Function { judges: forwarding_judges, ..validate::FUNCTION }
}

async fn judge(base: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new().post(format!("{base}/api/judge")).json(&body).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn forwarding_reaches_the_judge_function_and_passes_its_answers_back() {
    let python = serve(python_judge::function()).await;
    PYTHON_URL.set(python.clone()).unwrap();
    let validate = serve(forwarding_validate()).await;

    let sum = json!({"language": "python", "source": "a, b = map(int, input().split())\nprint(a + b)",
        "tests": [{"stdin": "1 2\n", "expected_stdout": "3\n"}, {"stdin": "2 2\n", "expected_stdout": "5\n", "hidden": true}]});
    let (status, report) = judge(&validate, sum.clone()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["tests"][0]["verdict"].as_str(), report["tests"][1]["verdict"].as_str()),
        (Some("accepted"), Some("wrong_answer"))
    );
    assert_eq!(report["engine"]["name"], "cpython", "the remote judge's report comes back as it was");
    assert_eq!(report["tests"][1]["stdout"], "", "hidden stays hidden through the hop");

    // WebAssembly is still judged in-process.
    let (status, report) =
        judge(&validate, serde_json::from_str(include_str!("../../../examples/wat-function-add.json")).unwrap()).await;
    assert_eq!((status, report["engine"]["name"].as_str()), (200, Some("wasmi")));

    // Health says where python goes.
    let health: Value = reqwest::get(format!("{validate}/api/health")).await.unwrap().json().await.unwrap();
    assert!(
        health["engines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|engine| engine["forwarded_to"] == format!("{python}/api/judge"))
    );
}

/// A python submission forwarded to `base_url`, and the problem the forwarding ends in.
async fn forwarded_problem(base_url: &str) -> codecapsule_web::Problem {
    let remote = RemoteJudge::new(codecapsule_core::model::Language::Python, "PYTHON_JUDGE_URL", base_url).unwrap();
    let judges = Judges::new(vec![Arc::new(remote)]);
    let request = json!({"language": "python", "source": "print(3)", "tests": [{"expected_stdout": "3"}]});
    let err = judges
        .prepare(serde_json::from_value(request).unwrap())
        .unwrap()
        .judge(Deadline::for_request(None))
        .await
        .unwrap_err();
    codecapsule_web::Problem::from(err)
}

#[tokio::test]
async fn remote_problems_pass_through_and_an_unreachable_judge_is_502() {
    // A java judge posing as python: it refuses python with its own 422, which comes back unchanged.
    let java = serve(java_judge::function()).await;
    let problem = forwarded_problem(&java).await;
    assert_eq!((problem.status, problem.code), (422, ErrorCode::UnsupportedLanguage));

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let problem = forwarded_problem(&closed).await;
    assert_eq!((problem.status, problem.code), (502, ErrorCode::JudgeUnavailable));
    assert!(problem.detail.contains("could not be reached"), "{}", problem.detail);
}

#[test]
fn a_malformed_judge_url_is_a_start_up_error_naming_the_variable() {
    let err = RemoteJudge::new(codecapsule_core::model::Language::Java, "JAVA_JUDGE_URL", "not a url").err().unwrap();
    assert!(err.to_string().starts_with("environment variable JAVA_JUDGE_URL=\"not a url\" is invalid"), "{err}");
}
