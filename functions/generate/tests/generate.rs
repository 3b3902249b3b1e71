//! The generate function over HTTP, with real PostgreSQL, the real Python judge, a local object directory and the
//! scripted LLM: a member generates a capsule end to end (NDJSON stream, job row, usage ledger, capsule row, public
//! object without the solution); a budget exhausted mid-job saves nothing; the daily allowance and every missing
//! piece of setup are clear refusals; a dropped connection does not stop the job.

use codecapsule_ai::generation::Budget;
use codecapsule_ai::objects::ObjectStore;
use codecapsule_core::judge::{Judge, Judges};
use codecapsule_native::{NativeJudge, Runtime};
use codecapsule_test_llm::{FakeLlm, Scripted};
use codecapsule_test_support::postgres::{Fixture, TempPostgres};
use generate::Generation;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CORRECT: &str = "a, b = map(int, input().split())\nprint(a + b)\n";
const OFF_BY_ONE: &str = "a, b = map(int, input().split())\nprint(a + b + 1)\n";
const ABS_FIRST: &str = "a, b = map(int, input().split())\nprint(abs(a) + b)\n";
const STARTER: &str = "a, b = map(int, input().split())\n# TODO: print their sum\n";

fn script() -> Vec<Scripted> {
    vec![
        Scripted::completion(&json!({"title": "Sum of two integers", "description_md": "Print a + b.",
            "input_format": "a b", "output_format": "a + b", "tags": ["math"], "hints": [], "function_signature": ""})),
        Scripted::completion(&json!({"tests": [
            {"id": "t1", "stdin": "1 2\n", "expected_stdout": "3\n", "hidden": false},
            {"id": "t2", "stdin": "-5 3\n", "expected_stdout": "-2\n", "hidden": true}]})),
        Scripted::completion(&json!({"source": CORRECT})),
        Scripted::completion(&json!({"source": STARTER})),
        Scripted::completion(
            &json!({"solutions": [{"source": OFF_BY_ONE, "flaw": "+1"}, {"source": ABS_FIRST, "flaw": "abs"}]}),
        ),
    ]
}

struct Setup {
    postgres: TempPostgres,
    fixture: Fixture,
    base: String,
    objects: PathBuf,
    _fake: FakeLlm,
}

async fn setup(script: Vec<Scripted>, budget: Budget, with_llm: bool) -> Setup {
    let postgres = TempPostgres::start().await;
    let fixture = Fixture::create(&postgres.client().await).await;
    let fake = FakeLlm::start(script).await;
    let llm = fake.client();
    let deployment = postgres.deployment(4);
    let objects = std::env::temp_dir().join(format!("codecapsule-objects-{}", uuid::Uuid::new_v4()));
    let generation = Generation {
        judges: Judges::new(vec![Arc::new(NativeJudge::new(Runtime::python())) as Arc<dyn Judge>]),
        llm: with_llm.then(|| Arc::new(llm)),
        objects: ObjectStore::Local { root: objects.clone() },
        budget,
        store: deployment.store.clone(),
    };
    let base = codecapsule_test_support::serve(generate::routes(generation, &deployment.guard)).await;
    Setup { base, postgres, fixture, objects, _fake: fake }
}

fn post(setup: &Setup, token: Option<&str>, organization: Option<uuid::Uuid>, body: Value) -> reqwest::RequestBuilder {
    let mut request = reqwest::Client::new().post(format!("{}/api/generate", setup.base)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(organization) = organization {
        request = request.header("x-organization-id", organization.to_string());
    }
    request
}

fn sum_request() -> Value {
    json!({"prompt": "Sum two integers", "language": "python", "difficulty": "easy"})
}

async fn lines(response: reqwest::Response) -> Vec<Value> {
    let text = response.text().await.unwrap();
    text.lines().map(|line| serde_json::from_str(line).expect("every line is JSON")).collect()
}

#[tokio::test]
async fn a_member_generates_a_capsule_end_to_end() {
    let setup = setup(script(), Budget::default(), true).await;
    let (member, org) = (&setup.fixture.member_a, setup.fixture.org_a);
    let response = post(&setup, Some(&member.token), Some(org), sum_request()).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let job_id = response.headers()["x-job-id"].to_str().unwrap().to_string();
    let events = lines(response).await;
    assert_eq!(events[0], json!({"event": "job", "job_id": job_id}));
    assert_eq!(events.iter().filter(|event| event["event"] == "llm_call").count(), 5);
    assert!(events.iter().any(|event| event["event"] == "validated"));
    let done = events.last().unwrap();
    assert_eq!((done["event"].as_str(), done["status"].as_str()), (Some("done"), Some("succeeded")), "{done}");
    let capsule_id: uuid::Uuid = serde_json::from_value(done["capsule_id"].clone()).unwrap();

    let client = setup.postgres.client().await;
    let row = client
        .query_one(
            "select organization_id, status::text, visibility::text, content from public.capsules where id = $1",
            &[&capsule_id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, uuid::Uuid>(0), org);
    assert_eq!((row.get::<_, String>(1).as_str(), row.get::<_, String>(2).as_str()), ("validated", "private"));
    assert!(row.get::<_, Value>(3).get("solution").is_none());
    let solution: Value = client
        .query_one("select solution from public.capsule_solutions where capsule_id = $1", &[&capsule_id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(solution["source"], CORRECT);
    let job = client
        .query_one(
            "select status, jsonb_array_length(progress), capsule_id from public.generation_jobs where id = $1::text::uuid",
            &[&job_id],
        )
        .await
        .unwrap();
    assert_eq!(job.get::<_, String>(0), "succeeded");
    assert_eq!(job.get::<_, i32>(1) as usize, events.len(), "every streamed event was stored first");
    let ledger = client
        .query_one("select llm_calls, llm_prompt_tokens, llm_cost_usd::float8 from public.usage_ledger where organization_id = $1", &[&org])
        .await
        .unwrap();
    assert_eq!((ledger.get::<_, i32>(0), ledger.get::<_, i64>(1)), (5, 5 * 1200));
    assert!(ledger.get::<_, f64>(2) > 0.0);
    // The public object: the capsule without its solution, by content hash.
    let key = done["result"]["object_key"].as_str().unwrap();
    let object = std::fs::read_to_string(setup.objects.join(key)).unwrap();
    assert!(!object.contains("print(a + b)"), "the solution never goes to the object store");
    assert!(object.contains("Sum of two integers"));

    // The job's state, for a client whose connection dropped: its members see it, others do not.
    let get = |token: &str| {
        reqwest::Client::new()
            .get(format!("{}/api/generate/{job_id}", setup.base))
            .bearer_auth(token.to_string())
            .send()
    };
    let mine = get(&member.token).await.unwrap();
    assert_eq!(mine.status().as_u16(), 200);
    let state: Value = mine.json().await.unwrap();
    assert_eq!((state["status"].as_str(), state["capsule_id"].clone()), (Some("succeeded"), json!(capsule_id)));
    assert_eq!(get(&setup.fixture.member_b.token).await.unwrap().status().as_u16(), 404);
    // Without credentials: 401 before any database call (it was a 503 naming a table); a job id that is no UUID: 422.
    let anonymous = reqwest::Client::new().get(format!("{}/api/generate/{job_id}", setup.base)).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let problem: Value = anonymous.json().await.unwrap();
    assert_eq!(problem["code"], "authentication_required", "{problem}");
    assert!(!problem["detail"].as_str().unwrap().contains("generation_jobs"), "{problem}");
    let malformed = reqwest::Client::new()
        .get(format!("{}/api/generate/not-a-uuid", setup.base))
        .bearer_auth(member.token.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status().as_u16(), 422);
    let unknown = reqwest::Client::new()
        .get(format!("{}/api/generate/{}", setup.base, uuid::Uuid::new_v4()))
        .bearer_auth(member.token.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
}

#[tokio::test]
async fn a_budget_exhausted_mid_job_saves_nothing() {
    let setup = setup(script(), Budget { max_calls: 3, ..Budget::default() }, true).await;
    let response = post(&setup, Some(&setup.fixture.admin_a.token), Some(setup.fixture.org_a), sum_request())
        .send()
        .await
        .unwrap();
    let events = lines(response).await;
    let last = events.last().unwrap();
    assert_eq!((last["event"].as_str(), last["code"].as_str()), (Some("failed"), Some("budget_exhausted")), "{last}");
    let client = setup.postgres.client().await;
    let capsules: i64 =
        client.query_one("select count(*) from public.capsules where slug like 'sum-%'", &[]).await.unwrap().get(0);
    assert_eq!(capsules, 0, "nothing half-saved");
    let job = client.query_one("select status, error from public.generation_jobs", &[]).await.unwrap();
    assert_eq!(job.get::<_, String>(0), "failed");
    assert!(job.get::<_, String>(1).contains("budget"));
    let calls: i32 = client
        .query_one("select llm_calls from public.usage_ledger where organization_id = $1", &[&setup.fixture.org_a])
        .await
        .unwrap()
        .get(0);
    assert_eq!(calls, 3, "every call made was written to the ledger");
    assert!(!setup.objects.exists(), "no object written");
}

#[tokio::test]
async fn the_daily_allowance_and_missing_setup_are_clear_refusals() {
    let setup = setup(Vec::new(), Budget::default(), true).await;
    let f = &setup.fixture;
    setup
        .postgres
        .client()
        .await
        .execute(
            "insert into public.usage_ledger (organization_id, day, llm_cost_usd) values ($1, (now() at time zone 'utc')::date, 0.60)",
            &[&f.org_b],
        )
        .await
        .unwrap();
    let refused = post(&setup, Some(&f.member_b.token), Some(f.org_b), sum_request()).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 429);
    assert!(refused.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() <= 86_400);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "daily_budget_exhausted");
    assert!(problem["detail"].as_str().unwrap().contains("free tier"), "{problem}");

    let refused = post(&setup, Some(&f.member_a.token), None, sum_request()).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    assert_eq!(refused.json::<Value>().await.unwrap()["code"], "organization_required");
    let anonymous = post(&setup, None, None, sum_request()).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401, "generation needs an identity before an organization");
    assert_eq!(anonymous.json::<Value>().await.unwrap()["code"], "authentication_required");
    let bad = post(&setup, Some(&f.member_a.token), Some(f.org_a), json!({"prompt": "x", "language": "cobol"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 422);
    assert_eq!(bad.json::<Value>().await.unwrap()["field"], "language");

    let off = self::setup(Vec::new(), Budget::default(), false).await;
    let disabled =
        post(&off, Some(&off.fixture.member_a.token), Some(off.fixture.org_a), sum_request()).send().await.unwrap();
    assert_eq!(disabled.status().as_u16(), 503);
    let problem: Value = disabled.json().await.unwrap();
    assert_eq!(problem["code"], "ai_disabled");
    assert!(problem["detail"].as_str().unwrap().contains("AZURE_OPENAI_ENDPOINT"));
}

#[tokio::test]
async fn a_dropped_connection_does_not_stop_the_job() {
    let setup = setup(script(), Budget::default(), true).await;
    let response = post(&setup, Some(&setup.fixture.member_a.token), Some(setup.fixture.org_a), sum_request())
        .send()
        .await
        .unwrap();
    let job_id = response.headers()["x-job-id"].to_str().unwrap().to_string();
    drop(response);
    let started = Instant::now();
    loop {
        let state: Value = reqwest::Client::new()
            .get(format!("{}/api/generate/{job_id}", setup.base))
            .bearer_auth(&setup.fixture.member_a.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if state["status"] == "succeeded" {
            assert!(state["progress"].as_array().unwrap().iter().any(|event| event["event"] == "done"));
            break;
        }
        assert_eq!(state["status"], "running", "{state}");
        assert!(started.elapsed() < Duration::from_secs(60), "the job did not finish");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
