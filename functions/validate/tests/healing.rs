//! Self-healing in POST /api/validate, over HTTP with PostgreSQL, the real Python judge and the scripted model: an
//! organization's invalid capsule comes back healed with what changed and why (and the calls in the usage ledger); an
//! caller acting for no organization gets the plain validation with the reason healing was skipped.

use codecapsule_core::judge::{Judge, Judges};
use codecapsule_native::{NativeJudge, Runtime};
use codecapsule_test_llm::{FakeLlm, Scripted};
use codecapsule_test_support::postgres::{Fixture, TempPostgres};
use codecapsule_wasm::WasmJudge;
use serde_json::{Value, json};
use std::sync::Arc;

const CORRECT: &str = "a, b = map(int, input().split())\nprint(a + b)\n";
const OFF_BY_ONE: &str = "a, b = map(int, input().split())\nprint(a + b + 1)\n";
const ABS_FIRST: &str = "a, b = map(int, input().split())\nprint(abs(a) + b)\n";

async fn serve(postgres: &TempPostgres, fake: &FakeLlm) -> String {
    let llm = fake.client();
    let deployment = postgres.deployment(2);
    let judges =
        Judges::new(vec![Arc::new(WasmJudge) as Arc<dyn Judge>, Arc::new(NativeJudge::new(Runtime::python()))]);
    codecapsule_test_support::serve(validate::routes(
        judges,
        &deployment.guard,
        deployment.store.clone(),
        Some(Arc::new(llm)),
    ))
    .await
}

fn broken_capsule() -> Value {
    json!({"capsule": {
        "title": "Sum", "description_md": "Print a + b.", "language": "python",
        "starter": {"source": "a, b = map(int, input().split())\n# TODO\n"}, "solution": {"source": OFF_BY_ONE},
        "tests": [{"id": "t1", "stdin": "1 2\n", "expected_stdout": "3\n"}, {"id": "t2", "stdin": "-5 3\n", "expected_stdout": "-2\n"}]
    }})
}

#[tokio::test]
async fn an_organizations_invalid_capsule_comes_back_healed_with_reasons() {
    let postgres = TempPostgres::start().await;
    let fixture = Fixture::create(&postgres.client().await).await;
    let fake = FakeLlm::start(vec![
        Scripted::completion(
            &json!({"solutions": [{"source": OFF_BY_ONE, "flaw": "+1"}, {"source": ABS_FIRST, "flaw": "abs"}]}),
        ),
        Scripted::completion(&json!({"source": CORRECT})),
        Scripted::completion(&json!({"source": CORRECT})),
    ])
    .await;
    let base = serve(&postgres, &fake).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/api/validate"))
        .bearer_auth(&fixture.member_a.token)
        .header("x-organization-id", fixture.org_a.to_string())
        .json(&broken_capsule())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["healing"]["status"], "validated");
    assert_eq!(report["healing"]["repairs"][0]["artifact"], "solution");
    assert!(
        report["healing"]["repairs"][0]["reason"].as_str().unwrap().contains("expects \"3\\n\" but it prints \"4\\n\"")
    );
    assert_eq!(report["healing"]["problems_before"][0]["code"], "solution_fails_test");
    assert_eq!(report["capsule"]["solution"]["source"], CORRECT);
    let calls: i32 = postgres
        .client()
        .await
        .query_one("select llm_calls from public.usage_ledger where organization_id = $1", &[&fixture.org_a])
        .await
        .unwrap()
        .get(0);
    assert_eq!(calls, 3);
}

#[tokio::test]
async fn a_caller_without_an_organization_gets_the_plain_validation_and_the_reason() {
    let postgres = TempPostgres::start().await;
    let fixture = Fixture::create(&postgres.client().await).await;
    let fake = FakeLlm::start(Vec::new()).await;
    let base = serve(&postgres, &fake).await;
    let report: Value = reqwest::Client::new()
        .post(format!("{base}/api/validate"))
        .bearer_auth(&fixture.outsider.token)
        .json(&broken_capsule())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["healing"]["status"], "skipped");
    assert!(report["healing"]["reason"].as_str().unwrap().contains("organization"));
    assert!(fake.requests().is_empty(), "no model call that no organization would pay for");
}

#[tokio::test]
async fn a_stored_capsule_is_validated_by_id_for_those_who_may_read_its_solution() {
    let postgres = TempPostgres::start().await;
    let fixture = Fixture::create(&postgres.client().await).await;
    let fake = FakeLlm::start(Vec::new()).await;
    let base = serve(&postgres, &fake).await;
    let validate = |token: Option<String>, body: Value| {
        let base = base.clone();
        async move {
            let mut request = reqwest::Client::new().post(format!("{base}/api/validate")).json(&body);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    let by_id = json!({"capsule_id": fixture.private_a});
    let (status, report) = validate(Some(fixture.member_a.token.clone()), by_id.clone()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["capsule"]["id"], fixture.private_a.to_string());
    assert_eq!(report["report"]["solution_runs"][0]["verdict"], "accepted", "the stored solution was judged: {report}");
    assert!(report["problems"].as_array().unwrap().iter().any(|problem| problem["code"] == "missing_starter"));
    assert_eq!(report["healing"]["status"], "skipped", "no organization named: nothing billed");
    let (status, problem) = validate(Some(fixture.member_b.token.clone()), by_id.clone()).await;
    assert_eq!((status, problem["code"].as_str()), (404, Some("not_found")), "another organization's capsule");
    let (status, problem) = validate(None, by_id).await;
    assert_eq!((status, problem["code"].as_str()), (401, Some("authentication_required")));
    let both = json!({"capsule_id": fixture.private_a, "capsule": broken_capsule()["capsule"]});
    let (status, problem) = validate(Some(fixture.member_a.token.clone()), both).await;
    assert_eq!((status, problem["code"].as_str()), (422, Some("invalid_field")));
    assert!(problem["detail"].as_str().unwrap().contains("not both"), "{problem}");
    let (status, problem) = validate(Some(fixture.member_a.token.clone()), json!({})).await;
    assert_eq!((status, problem["code"].as_str()), (422, Some("invalid_field")));
    assert!(problem["detail"].as_str().unwrap().contains("neither"), "{problem}");
}
