//! One time budget per request, over HTTP: the parse check, every test and every run of a validation draw from the
//! same deadline, a program still running when it passes is stopped, later tests are not started, and the answer
//! leaves before API Gateway's 30 s whatever the tests' own limits add up to. A caller may shorten its request's
//! budget (X-CodeCapsule-Budget-Ms, as validate does when it forwards to a judge function), never lengthen it.

use codecapsule_core::access::Guard;
use codecapsule_core::deadline::BUDGET_HEADER;
use codecapsule_core::judge::{Judge, Judges, limits};
use codecapsule_native::{NativeJudge, Runtime};
use codecapsule_wasm::WasmJudge;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SLEEPER: &str = "import time\ntime.sleep(100)\n";
const SPINNER: &str = r#"(module (func (export "_start") (loop br 0)))"#;

async fn serve() -> String {
    let judges =
        Judges::new(vec![Arc::new(WasmJudge) as Arc<dyn Judge>, Arc::new(NativeJudge::new(Runtime::python()))]);
    let guard = Guard::off("budget tests");
    let routes =
        codecapsule_web::judge::routes(judges.clone(), &guard).merge(validate::routes(judges, &guard, None, None));
    codecapsule_test_support::serve(routes).await
}

fn three_tests() -> Value {
    json!([{"stdin": "1", "expected_stdout": "1"}, {"stdin": "2", "expected_stdout": "2"}, {"stdin": "3", "expected_stdout": "3"}])
}

async fn post(base: &str, path: &str, budget_ms: Option<&str>, body: &Value) -> (u16, Value, Duration) {
    let mut request = reqwest::Client::new().post(format!("{base}{path}")).json(body);
    if let Some(budget) = budget_ms {
        request = request.header(BUDGET_HEADER, budget);
    }
    let started = Instant::now();
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap();
    (status, body, started.elapsed())
}

/// The first test was stopped by the budget, the others never started.
fn assert_spent(tests: &Value, seconds: &str) {
    let messages: Vec<&str> = tests.as_array().unwrap().iter().map(|test| test["message"].as_str().unwrap()).collect();
    assert!(tests.as_array().unwrap().iter().all(|test| test["verdict"] == "time_limit_exceeded"), "{tests}");
    assert_eq!(messages[0], format!("stopped: the request's time budget of {seconds} s ran out while this test ran"));
    for message in &messages[1..] {
        assert_eq!(*message, format!("not run: the request's time budget of {seconds} s was spent on earlier work"));
    }
}

#[tokio::test]
async fn a_webassembly_loop_is_stopped_when_the_requests_budget_runs_out() {
    let base = serve().await;
    let body = json!({"language": "wat", "source": SPINNER, "limits": {"time_ms": 10_000}, "tests": three_tests()});
    let (status, report, elapsed) = post(&base, "/api/judge", Some("1500"), &body).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["verdict"], "time_limit_exceeded");
    assert_spent(&report["tests"], "1.5");
    // Three tests of 10 s each (their wall clocks 20 s each) answered when the 1.5 s budget ran out.
    assert!(elapsed < Duration::from_secs(10), "answered after {elapsed:?}");
}

#[tokio::test]
async fn the_parse_check_and_every_python_test_share_one_budget() {
    let base = serve().await;
    let body = json!({"language": "python", "source": SLEEPER, "limits": {"time_ms": 10_000}, "tests": three_tests()});
    let (status, report, elapsed) = post(&base, "/api/judge", Some("2000"), &body).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["compile"]["ok"], true, "a sleeping program parses: {report}");
    assert_spent(&report["tests"], "2");
    assert!(elapsed < Duration::from_secs(10), "answered after {elapsed:?}");
}

#[tokio::test]
async fn a_validation_answers_within_the_full_budget_whatever_its_runs_ask_for() {
    let base = serve().await;
    let capsule = json!({"capsule": {
        "title": "Sleeps", "description_md": "Never answers.", "language": "python",
        "starter": {"source": SLEEPER}, "solution": {"source": SLEEPER},
        "limits": {"time_ms": 10_000}, "tests": three_tests()
    }});
    // Three solution runs and a starter run of three 10 s tests each: two minutes of limits, one request's budget.
    let (status, report, elapsed) = post(&base, "/api/validate", None, &capsule).await;
    assert_eq!(status, 200, "{report}");
    assert!(elapsed < Duration::from_millis(limits::REQUEST_BUDGET_MS + 1_000), "answered after {elapsed:?}");
    // In order: tests that ended by their own wall clock (20 s each), the one the budget stopped, then none started.
    let runs = &report["report"];
    let tests: Vec<&Value> =
        [&runs["solution_runs"][0], &runs["solution_runs"][1], &runs["solution_runs"][2], &runs["starter_run"]]
            .into_iter()
            .flat_map(|run| run["tests"].as_array().unwrap())
            .collect();
    assert!(tests.iter().all(|test| test["verdict"] == "time_limit_exceeded"), "{report}");
    let messages: Vec<&str> = tests.iter().map(|test| test["message"].as_str().unwrap()).collect();
    let stopped =
        messages.iter().position(|message| message.starts_with("stopped: the request's time budget")).unwrap();
    assert!(messages[..stopped].iter().all(|message| message.contains("wall-clock limit")), "{messages:?}");
    assert!(
        messages[stopped + 1..].iter().all(|message| message.starts_with("not run: the request's time budget")),
        "{messages:?}"
    );
    assert_eq!(report["valid"], false);
}

#[tokio::test]
async fn a_malformed_budget_is_refused_and_a_longer_one_is_the_requests_own() {
    let base = serve().await;
    let body = json!({"language": "wat", "source": SPINNER, "limits": {"time_ms": 100}, "tests": three_tests()});
    let (status, problem, _) = post(&base, "/api/judge", Some("soon"), &body).await;
    assert_eq!((status, problem["code"].as_str()), (400, Some("invalid_header")), "{problem}");
    // A budget beyond the request's own is cut to it (crates/core's deadline tests): these tests end by their limits.
    let (status, report, _) = post(&base, "/api/judge", Some("99999999"), &body).await;
    assert_eq!(status, 200, "{report}");
    for test in report["tests"].as_array().unwrap() {
        // Its fuel or, on a loaded machine, its wall-clock deadline ends it: either way its own limit, not the budget.
        let message = test["message"].as_str().unwrap();
        assert_eq!(test["verdict"], "time_limit_exceeded", "{test}");
        assert!(message.contains("time limit of 100 ms") || message.contains("(time limit 100 ms"), "{test}");
        assert!(!message.contains("the request's time budget"), "{test}");
    }
}
