//! The API fuzzed against its own document: schemathesis (PyPI, pinned in requirements/test.txt) generates requests
//! for every operation of the dev host's GET /api/openapi.json, from the schemas and beyond them, and checks every
//! answer: no server error, a status the document lists for the operation, its content type, its body valid against
//! the document's schema. A fixed seed and a bounded number of examples per operation keep the run repeatable and
//! within CI's time. The host is the dev host's (every function, every judge, a fresh PostgreSQL) with the API key of
//! a b2b organization, so that requests are judged rather than refused at the rate limit, and the recorded model.

use codecapsule_core::config::HttpConfig;
use codecapsule_state::guard::Stateful;
use codecapsule_test_support::postgres::{Fixture, TempPostgres};
use codecapsule_web::host::{self, Function, Host};
use std::path::Path;
use std::process::Command;

mod judges;
use judges::every_judge;

/// Examples per operation, and the seed: the same requests on every run.
const EXAMPLES_PER_OPERATION: &str = "12";
const SEED: &str = "20261202";

/// The dev host's functions, as `make run` serves them (the judges in-process).
const FUNCTIONS: &[Function<Stateful>] = &[
    Function { judges: every_judge, ..validate::FUNCTION },
    analytics_ingest::FUNCTION,
    analytics_processor::FUNCTION,
    generate::FUNCTION,
];

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_answers_as_its_document_says() {
    let postgres = TempPostgres::start().await;
    let client = postgres.client().await;
    let fixture = Fixture::create(&client).await;
    client.execute("update public.organizations set tier = 'b2b' where id = $1", &[&fixture.org_a]).await.unwrap();
    let deployment = postgres.deployment(4);
    let store = deployment.store.clone().unwrap();
    let key = store.create_api_key(&fixture.admin_a.actor(), fixture.org_a, "schemathesis").await.unwrap();
    // Generation answers with `make run`'s recorded model: without one it is 503 ai_disabled, a server error.
    let transcript = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/transcripts/sum-python.jsonl");
    // Published capsules go to a directory of this run's, not to the checkout.
    let objects = std::env::temp_dir().join(format!("codecapsule-schemathesis-objects-{}", std::process::id()));
    // SAFETY: this binary's only test sets them before anything reads the environment.
    unsafe {
        std::env::set_var("LLM_REPLAY_FILE", transcript);
        std::env::set_var("OBJECTS_DIR", &objects);
    }
    let local = Host::Local { address: ([127, 0, 0, 1], 0).into() };
    let app = host::app(FUNCTIONS, local, &HttpConfig::default(), &deployment).unwrap();
    let (ready, bound) = tokio::sync::oneshot::channel();
    tokio::spawn(host::serve(app, ([127, 0, 0, 1], 0).into(), local, Some(ready)));
    let base = format!("http://{}", bound.await.unwrap());
    // The operations on one capsule and one submission get those of a published capsule: random ids only meet 404.
    let (capsule, submission) = capsule_and_submission(&base, key.expose()).await;
    let config = std::env::temp_dir().join(format!("schemathesis-{}.toml", std::process::id()));
    std::fs::write(
        &config,
        format!(
            "[cache]\nenabled = false\n\n[[operations]]\ninclude-path-regex = \"^/api/capsules/\\\\{{id\\\\}}\"\nparameters = {{ \"path.id\" = \"{capsule}\" }}\n\n\
             [[operations]]\ninclude-path = \"/api/submissions/{{id}}\"\nparameters = {{ \"path.id\" = \"{submission}\" }}\n"
        ),
    )
    .unwrap();

    let schemathesis = codecapsule_test_support::venv_tool("schemathesis", "SCHEMATHESIS");
    let authorization = format!("authorization: Bearer {}", key.expose());
    let config_file = config.clone();
    let run = tokio::task::spawn_blocking(move || {
        Command::new(schemathesis)
            // Its caches and databases stay out of the checkout.
            .current_dir(std::env::temp_dir())
            .arg("--config-file")
            .arg(&config_file)
            .args(["run", &format!("{base}/api/openapi.json"), "--url", &base])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            ])
            // One worker: with two, CPython 3.11's compiler, called from both of the tool's threads, once crashed
            // inside the tool ("AST constructor recursion depth mismatch"), failing the run on no answer of ours.
            .args(["--max-examples", EXAMPLES_PER_OPERATION, "--seed", SEED, "--workers", "1"])
            .args(["--phases", "examples,coverage,fuzzing", "--generation-database", "none"])
            .args(["--request-timeout", "30", "--no-color", "--header", &authorization])
            .output()
            .expect("schemathesis starts")
    })
    .await
    .unwrap();
    let output = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "schemathesis found answers the document does not allow:\n{output}");
    let _ = std::fs::remove_dir_all(&objects);
    let _ = std::fs::remove_file(&config);
    println!("{output}");
    // It ran every operation of the document.
    assert!(output.contains("API Operations:"), "{output}");
}

/// Publishes examples/capsule-hidden-tests.json with `key` and submits its solution once: their ids.
async fn capsule_and_submission(base: &str, key: &str) -> (String, String) {
    let client = reqwest::Client::new();
    let capsule: serde_json::Value =
        serde_json::from_str(include_str!("../../examples/capsule-hidden-tests.json")).unwrap();
    let saved = client.post(format!("{base}/api/capsules")).bearer_auth(key).json(&capsule).send().await.unwrap();
    assert_eq!(saved.status().as_u16(), 201);
    let id = saved.json::<serde_json::Value>().await.unwrap()["capsule_id"].as_str().unwrap().to_string();
    let solution = &capsule["capsule"]["solution"];
    let submitted = client
        .post(format!("{base}/api/capsules/{id}/submissions"))
        .bearer_auth(key)
        .json(&serde_json::json!({"source": solution["source"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status().as_u16(), 201);
    let submission =
        submitted.json::<serde_json::Value>().await.unwrap()["submission_id"].as_str().unwrap().to_string();
    (id, submission)
}
