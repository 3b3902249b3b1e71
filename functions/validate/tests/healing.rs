//! Self-healing in POST /api/validate, over HTTP with PostgreSQL, the real Python judge and the scripted model: an
//! organization's invalid capsule comes back healed with what changed and why (and the calls in the usage ledger); an
//! anonymous caller gets the plain validation with the reason healing was skipped.

use codecapsule::config::{HttpConfig, Secret};
use codecapsule::guard::Guard;
use codecapsule::guard::auth::AuthConfig;
use codecapsule::host::{self, Host};
use codecapsule::http::{Health, service};
use codecapsule::judge::{Judge, Judges};
use codecapsule::llm::{LlmClient, LlmConfig, Pricing, Provider};
use codecapsule::native::{NativeJudge, Runtime};
use codecapsule::state::StateConfig;
use codecapsule::wasm::WasmJudge;
use codecapsule_test_support::fake_llm::{FakeLlm, Scripted};
use codecapsule_test_support::postgres::{Fixture, JWT_SECRET, TempPostgres};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const CORRECT: &str = "a, b = map(int, input().split())\nprint(a + b)\n";
const OFF_BY_ONE: &str = "a, b = map(int, input().split())\nprint(a + b + 1)\n";
const ABS_FIRST: &str = "a, b = map(int, input().split())\nprint(abs(a) + b)\n";

async fn serve(postgres: &TempPostgres, fake: &FakeLlm) -> String {
    let llm = LlmClient::new(LlmConfig {
        provider: Provider::OpenAiCompatible { base_url: fake.url.clone(), model: "gpt-4o-mini".into(), key: None },
        timeout: Duration::from_secs(5),
        pricing: Pricing::default(),
    })
    .unwrap();
    let state = StateConfig::Direct { url: Secret::new(postgres.url.clone()), ca_cert: None, pool_size: 2 };
    let auth = AuthConfig {
        jwt_secret: Some(Secret::new(JWT_SECRET.into())),
        jwks_url: None,
        audience: "authenticated".into(),
    };
    let guard = Guard::new(&state, auth, Duration::from_secs(1)).unwrap();
    let judges =
        Judges::new(vec![Arc::new(WasmJudge) as Arc<dyn Judge>, Arc::new(NativeJudge::new(Runtime::python()))]);
    let health = || Health {
        status: "ok",
        functions: vec!["validate".into()],
        version: "test",
        host: "local",
        engines: Vec::new(),
        routes: Vec::new(),
        guard: Value::Null,
    };
    let app = service(validate::routes(judges, &guard, Some(Arc::new(llm))), health, &HttpConfig::default());
    let local = Host::Local { address: ([127, 0, 0, 1], 0).into() };
    let (ready, bound) = tokio::sync::oneshot::channel();
    tokio::spawn(host::serve(app, ([127, 0, 0, 1], 0).into(), local, Some(ready)));
    format!("http://{}", bound.await.unwrap())
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
async fn an_anonymous_caller_gets_the_plain_validation_and_the_reason() {
    let postgres = TempPostgres::start().await;
    let fake = FakeLlm::start(Vec::new()).await;
    let base = serve(&postgres, &fake).await;
    let report: Value = reqwest::Client::new()
        .post(format!("{base}/api/validate"))
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
    assert!(fake.requests().is_empty(), "no model call for an anonymous caller");
}
