//! Capsules on the server's terms, over real HTTP, a real PostgreSQL and the real object store paths: the widget's
//! whole loop (publish with an API key, read the reader's view anonymously, submit, run, list submissions as a
//! member), what a reader can never learn of a hidden test, run mode in every language, who may call what, and the
//! anonymous bucket that no header or made-up id multiplies.

use codecapsule_ai::generation::Budget;
use codecapsule_ai::objects::ObjectStore;
use codecapsule_core::config::{ConfigError, HttpConfig};
use codecapsule_core::judge::Judges;
use codecapsule_state::guard::Stateful;
use codecapsule_test_support::postgres::{Fixture, TempPostgres};
use codecapsule_web::host::{self, Function, Host};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::OnceLock;

mod judges;
use judges::every_judge;

/// Where this test binary's published objects go (a directory of its own, never the repository's .data).
fn objects_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("codecapsule-objects-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// generate's routes (POST /api/capsules among them) with the test's object directory and no LLM.
fn authoring_router(judges: Judges, deployment: &Stateful) -> Result<axum::Router, ConfigError> {
    let generation = generate::Generation {
        judges,
        llm: None,
        objects: ObjectStore::Local { root: objects_dir().clone() },
        budget: Budget::default(),
        store: deployment.store.clone(),
    };
    Ok(generate::routes(generation, &deployment.guard))
}

const FUNCTIONS: &[Function<Stateful>] = &[
    Function { judges: every_judge, ..validate::FUNCTION },
    Function { judges: || Ok(Vec::new()), router: authoring_router, ..generate::FUNCTION },
];

struct Setup {
    base: String,
    key: String,
    postgres: TempPostgres,
    fixture: Fixture,
}

/// The functions over a fresh PostgreSQL, trusting `hops` proxies' X-Forwarded-For; an API key of organization A.
async fn start(hops: usize) -> Setup {
    let postgres = TempPostgres::start().await;
    let fixture = Fixture::create(&postgres.client().await).await;
    let deployment = postgres.deployment(4);
    let store = deployment.store.clone().unwrap();
    let key = store.create_api_key(&fixture.admin_a.actor(), fixture.org_a, "ci").await.unwrap();
    let local = Host::Local { address: ([127, 0, 0, 1], 0).into() };
    let http = HttpConfig { trusted_proxy_hops: Some(hops), ..HttpConfig::default() };
    let app = host::app(FUNCTIONS, local, &http, &deployment).unwrap();
    let (ready, bound) = tokio::sync::oneshot::channel();
    tokio::spawn(host::serve(app, ([127, 0, 0, 1], 0).into(), local, Some(ready)));
    Setup { base: format!("http://{}", bound.await.unwrap()), key: key.expose().to_string(), postgres, fixture }
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
    body: Value,
}

async fn call(
    method: reqwest::Method,
    url: String,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Answer {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer { status, headers, text, body }
}

impl Setup {
    async fn post(&self, path: &str, key: Option<&str>, body: Value) -> Answer {
        call(reqwest::Method::POST, format!("{}{path}", self.base), key, &[], Some(&body)).await
    }

    async fn get(&self, path: &str, key: Option<&str>) -> Answer {
        call(reqwest::Method::GET, format!("{}{path}", self.base), key, &[], None).await
    }

    /// Publishes `capsule` with the API key; its id.
    async fn publish(&self, capsule: Value) -> String {
        let saved = self.post("/api/capsules", Some(&self.key), json!({"capsule": capsule, "publish": true})).await;
        assert_eq!(saved.status, 201, "{}", saved.text);
        saved.body["capsule_id"].as_str().unwrap().to_string()
    }
}

/// What a reader must never see of the capsules below.
const SECRETS: [&str; 5] = ["HIDDEN-IN-7f3a", "HIDDEN-OUT-7f3a", "SOLUTION-MARK", "EXPLANATION-MARK", "4217"];

/// A Python capsule: reads a word and prints it back. Its hidden tests come first (so no visible test is the one a
/// parse check would run) and carry markers a leak would show.
fn echo_capsule() -> Value {
    json!({
        "title": "Echo", "language": "python", "description_md": "Print the line you read.",
        "starter": {"source": "print()"},
        "solution": {"source": "# SOLUTION-MARK\nprint(input())"},
        "explanation_md": "EXPLANATION-MARK",
        "limits": {"time_ms": 2000},
        "tests": [
            {"id": "secret", "stdin": "HIDDEN-IN-7f3a\n", "expected_stdout": "HIDDEN-IN-7f3a\n", "hidden": true, "weight": 2},
            {"id": "number", "stdin": "4217\n", "expected_stdout": "4217\n", "hidden": true},
            {"id": "shown", "stdin": "hello\n", "expected_stdout": "hello\n"}
        ]
    })
}

fn assert_no_secret(text: &str, what: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} shows {secret}: {text}");
    }
}

/// A hidden test's report is its id, verdict, weight and the hidden flag: nothing else.
fn assert_hidden_reports_are_bare(report: &Value) {
    for test in report["tests"].as_array().unwrap() {
        if test["hidden"] == true {
            let mut keys: Vec<&str> = test.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["hidden", "id", "verdict", "weight"], "{test}");
        }
    }
}

#[tokio::test]
async fn the_widget_loop_works_and_hidden_tests_never_leave_the_server() {
    let setup = start(0).await;
    // One anonymous reader makes more than the free tier's 10 requests here; the buckets have a test of their own.
    let client = setup.postgres.client().await;
    client.execute("update public.runtime_config set free_per_minute = 1000", &[]).await.unwrap();
    let saved =
        setup.post("/api/capsules", Some(&setup.key), json!({"capsule": echo_capsule(), "publish": true})).await;
    assert_eq!(saved.status, 201, "{}", saved.text);
    assert_eq!((saved.body["status"].as_str(), saved.body["version"].as_i64()), (Some("published"), Some(1)));
    let id = saved.body["capsule_id"].as_str().unwrap().to_string();
    let location = saved.headers["location"].to_str().unwrap();
    assert_eq!(location, format!("/api/capsules/{id}"));

    // The published object and the reader's view: no byte of a hidden test, the solution or the explanation.
    let object = std::fs::read_to_string(objects_dir().join(saved.body["object_key"].as_str().unwrap())).unwrap();
    assert_no_secret(&object, "the published object");
    let view = setup.get(&format!("/api/capsules/{id}"), None).await;
    assert_eq!(view.status, 200, "{}", view.text);
    assert_no_secret(&view.text, "the reader's view");
    assert_eq!(view.body["tests"][0], json!({"id": "secret", "hidden": true, "weight": 2.0}));
    assert_eq!(view.body["tests"][2]["stdin"], "hello\n", "visible tests are whole");
    let whole = setup.get(&format!("/api/capsules/{id}?view=author"), Some(&setup.key)).await;
    assert_eq!(whole.status, 200, "{}", whole.text);
    assert_eq!(whole.body["tests"][0]["stdin"], "HIDDEN-IN-7f3a\n", "the authors read it whole");
    assert!(whole.body["solution"]["source"].as_str().unwrap().contains("SOLUTION-MARK"));
    let refused = setup.get(&format!("/api/capsules/{id}?view=author"), None).await;
    assert_eq!((refused.status, refused.body["code"].as_str()), (401, Some("authentication_required")));

    // A reader submits anonymously: judged against the stored tests, answered in the reader's view.
    let accepted =
        setup.post(&format!("/api/capsules/{id}/submissions"), None, json!({"source": "print(input())"})).await;
    assert_eq!(accepted.status, 201, "{}", accepted.text);
    assert_eq!((accepted.body["verdict"].as_str(), accepted.body["score"].as_f64()), (Some("accepted"), Some(1.0)));
    assert_eq!(accepted.body["capsule_version"], 1);
    assert_eq!(
        accepted.body["tests"][0],
        json!({"id": "secret", "verdict": "accepted", "hidden": true, "weight": 2.0})
    );
    assert_eq!(accepted.body["tests"][2]["stdout"], "hello\n", "a visible test is reported whole");
    assert_no_secret(&accepted.text, "an accepted submission");

    // Programs that try to read a hidden input back: printing it, exiting with it, sleeping on it, faking a syntax
    // error with it (the first test is hidden, so it must not double as the parse check), crashing with it.
    for source in [
        "import sys\ndata = sys.stdin.read()\nprint(data * 3)\nprint(data, file=sys.stderr)",
        "import sys\ndata = sys.stdin.read().strip()\nsys.exit(int(data) % 256 if data.isdigit() else 3)",
        "import time\ndata = input()\ntime.sleep(0.2 if data.isdigit() else 0.01)\nprint(data)",
        "import sys\nsys.stderr.write('SyntaxError: ' + sys.stdin.read())\nsys.exit(1)",
        "raise ValueError(input())",
    ] {
        let answer = setup.post(&format!("/api/capsules/{id}/submissions"), None, json!({"source": source})).await;
        assert_eq!(answer.status, 201, "{source}: {}", answer.text);
        assert_no_secret(&answer.text, source);
        assert_hidden_reports_are_bare(&answer.body);
    }
    // The same in WebAssembly (QuickJS): a thrown SyntaxError looks like a parse failure, and must not carry a
    // hidden input into the compile output.
    let mut javascript = echo_capsule();
    javascript["language"] = json!("javascript");
    javascript["slug"] = json!("echo-js");
    javascript["starter"] = json!({"source": "console.log()"});
    javascript["solution"] = json!({"source": "// SOLUTION-MARK\nconsole.log(std.in.getline())"});
    let js = setup.publish(javascript).await;
    for source in ["throw new SyntaxError(std.in.getline())", "console.log(std.in.getline().repeat(2)); std.exit(7)"] {
        let answer = setup.post(&format!("/api/capsules/{js}/submissions"), None, json!({"source": source})).await;
        assert_eq!(answer.status, 201, "{source}: {}", answer.text);
        assert_no_secret(&answer.text, source);
        assert_hidden_reports_are_bare(&answer.body);
    }
    // A real syntax error is still shown as one.
    let broken = setup.post(&format!("/api/capsules/{id}/submissions"), None, json!({"source": "print(("})).await;
    assert_eq!(broken.body["verdict"], "compilation_error", "{}", broken.text);
    assert!(broken.body["compile"]["output"].as_str().unwrap().contains("SyntaxError"), "{}", broken.text);

    // The body cannot change the tests: anything but the program (and a visitor id) is refused.
    for extra in
        [json!({"source": "print(1)", "tests": []}), json!({"source": "print(1)", "limits": {"time_ms": 9000}})]
    {
        let refused = setup.post(&format!("/api/capsules/{id}/submissions"), None, extra).await;
        assert_eq!(refused.status, 422, "{}", refused.text);
    }

    // Run mode: the reader's own input, in the capsule's language.
    let ran = setup
        .post(&format!("/api/capsules/{id}/run"), None, json!({"source": "print(input()[::-1])", "stdin": "abc\n"}))
        .await;
    assert_eq!(ran.status, 200, "{}", ran.text);
    assert_eq!((ran.body["status"].as_str(), ran.body["stdout"].as_str()), (Some("ok"), Some("cba\n")));
    let language =
        setup.post(&format!("/api/capsules/{id}/run"), None, json!({"source": "1", "language": "ruby"})).await;
    assert_eq!(language.status, 422, "a capsule's run is in its language: {}", language.text);

    // Members list the submissions, newest first, and read one; anonymous callers cannot.
    let listed = setup.get(&format!("/api/capsules/{id}/submissions?limit=2"), Some(&setup.key)).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let page = listed.body["submissions"].as_array().unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["verdict"], "compilation_error", "newest first");
    let next = listed.body["next_before"].as_str().unwrap();
    let rest = setup.get(&format!("/api/capsules/{id}/submissions?before={next}&limit=100"), Some(&setup.key)).await;
    assert_eq!(rest.body["submissions"].as_array().unwrap().len(), 5, "{}", rest.text);
    assert_eq!(rest.body["next_before"], Value::Null);
    assert_no_secret(&rest.text, "the submissions listing");
    let one = accepted.body["submission_id"].as_str().unwrap();
    let read = setup.get(&format!("/api/submissions/{one}"), Some(&setup.key)).await;
    assert_eq!((read.status, read.body["verdict"].as_str()), (200, Some("accepted")), "{}", read.text);
    assert!(read.body["visitor_hash"].as_str().is_some_and(|hash| hash.len() == 64));
    assert_eq!(setup.get(&format!("/api/capsules/{id}/submissions"), None).await.status, 401);
    // The page size and the visitor id at their edges.
    let full = setup.get(&format!("/api/capsules/{id}/submissions?limit=100"), Some(&setup.key)).await;
    assert_eq!((full.status, full.body["submissions"].as_array().map(Vec::len)), (200, Some(7)), "{}", full.text);
    for limit in ["0", "101", "ten"] {
        let refused = setup.get(&format!("/api/capsules/{id}/submissions?limit={limit}"), Some(&setup.key)).await;
        assert_eq!((refused.status, refused.body["field"].as_str()), (422, Some("limit")), "{limit}: {}", refused.text);
    }
    let bad_cursor = setup.get(&format!("/api/capsules/{id}/submissions?before=nope"), Some(&setup.key)).await;
    assert_eq!((bad_cursor.status, bad_cursor.body["field"].as_str()), (422, Some("before")));
    let longest = json!({"source": "print(input())", "visitor_id": "v".repeat(128)});
    assert_eq!(setup.post(&format!("/api/capsules/{id}/submissions"), None, longest).await.status, 201);
    for visitor in ["v".repeat(129), String::new()] {
        let refused = json!({"source": "print(input())", "visitor_id": visitor});
        let answer = setup.post(&format!("/api/capsules/{id}/submissions"), None, refused).await;
        assert_eq!((answer.status, answer.body["field"].as_str()), (422, Some("visitor_id")), "{}", answer.text);
    }
    assert_eq!(setup.get(&format!("/api/submissions/{one}"), None).await.status, 401);

    // A capsule saved without publishing is its organization's only; unknown ids are 404.
    let mut unpublished = echo_capsule();
    unpublished["slug"] = json!("draft-one");
    let draft = setup.post("/api/capsules", Some(&setup.key), json!({"capsule": unpublished, "publish": false})).await;
    assert_eq!((draft.status, draft.body["status"].as_str()), (201, Some("validated")), "{}", draft.text);
    assert_eq!(draft.body["object_key"], Value::Null, "nothing is published");
    let draft_id = draft.body["capsule_id"].as_str().unwrap();
    assert_eq!(setup.get(&format!("/api/capsules/{draft_id}"), None).await.status, 404);
    assert_eq!(setup.get(&format!("/api/capsules/{draft_id}"), Some(&setup.key)).await.status, 200);
    let draft_run =
        setup.post(&format!("/api/capsules/{draft_id}/submissions"), None, json!({"source": "print(1)"})).await;
    assert_eq!(draft_run.status, 404);
    for unknown in [uuid::Uuid::new_v4().to_string(), "not-a-uuid".to_string()] {
        let answer = setup.get(&format!("/api/capsules/{unknown}"), None).await;
        assert_eq!((answer.status, answer.body["code"].as_str()), (404, Some("not_found")), "{}", answer.text);
    }

    // An invalid capsule: 422 with its problems; saved as a draft only when it was not to be published.
    let mut invalid = echo_capsule();
    invalid["solution"]["source"] = json!("print('wrong')");
    let refused = setup.post("/api/capsules", Some(&setup.key), json!({"capsule": invalid, "publish": true})).await;
    assert_eq!((refused.status, refused.body["capsule_id"].clone()), (422, Value::Null), "{}", refused.text);
    assert!(!refused.body["validation"]["problems"].as_array().unwrap().is_empty());
    invalid["slug"] = json!("kept-as-draft");
    let kept = setup.post("/api/capsules", Some(&setup.key), json!({"capsule": invalid, "publish": false})).await;
    assert_eq!((kept.status, kept.body["status"].as_str()), (422, Some("draft")), "{}", kept.text);
    // A new version of a published capsule: same id, version 2, readers judged against it.
    let mut second = echo_capsule();
    second["id"] = json!(id);
    second["title"] = json!("Echo, version 2");
    let again = setup.post("/api/capsules", Some(&setup.key), json!({"capsule": second, "publish": true})).await;
    assert_eq!((again.body["capsule_id"].as_str(), again.body["version"].as_i64()), (Some(id.as_str()), Some(2)));
    // An instance trusts the head it read for HEAD_TTL (1 s): past it, the new version's tests judge.
    tokio::time::sleep(validate::capsules::HEAD_TTL + std::time::Duration::from_millis(100)).await;
    let later = setup.post(&format!("/api/capsules/{id}/submissions"), None, json!({"source": "print(input())"})).await;
    assert_eq!(later.body["capsule_version"], 2, "{}", later.text);
}

#[tokio::test]
async fn routes_that_run_what_they_are_sent_need_an_identity() {
    let setup = start(0).await;
    let program = json!({"language": "python", "source": "print(input())", "stdin": "x\n"});
    for (path, body) in [
        (
            "/api/judge",
            json!({"language": "python", "source": "print(1)", "tests": [{"stdin": "", "expected_stdout": "1\n"}]}),
        ),
        ("/api/validate", json!({"capsule": echo_capsule()})),
        ("/api/run", program.clone()),
        ("/api/capsules", json!({"capsule": echo_capsule()})),
    ] {
        let answer = setup.post(path, None, body).await;
        assert_eq!((answer.status, answer.body["code"].as_str()), (401, Some("authentication_required")), "{path}");
        assert_eq!(answer.headers["content-type"], "application/problem+json");
    }
    let ran = setup.post("/api/run", Some(&setup.key), program).await;
    assert_eq!((ran.status, ran.body["stdout"].as_str()), (200, Some("x\n")), "{}", ran.text);
}

#[tokio::test]
async fn run_mode_works_in_every_language() {
    let setup = start(0).await;
    let runs = [
        ("python", "print(input().upper())"),
        ("python-wasm", "print(input().upper())"),
        ("javascript", "console.log(std.in.getline().toUpperCase())"),
        ("ruby", "puts gets.upcase"),
        (
            "java",
            "public class Main { public static void main(String[] a) { System.out.println(new java.util.Scanner(System.in).nextLine().toUpperCase()); } }",
        ),
        ("csharp", "class P { static void Main() { System.Console.WriteLine(System.Console.ReadLine().ToUpper()); } }"),
    ];
    for (language, source) in runs {
        let (language, engine) = match language.strip_suffix("-wasm") {
            Some(language) => (language, Some("wasm")),
            None => (language, None),
        };
        let mut body = json!({"language": language, "source": source, "stdin": "shout\n"});
        if let Some(engine) = engine {
            body["engine"] = json!(engine);
        }
        let ran = setup.post("/api/run", Some(&setup.key), body).await;
        assert_eq!(ran.status, 200, "{language}: {}", ran.text);
        assert_eq!(
            (ran.body["status"].as_str(), ran.body["stdout"].as_str()),
            (Some("ok"), Some("SHOUT\n")),
            "{language}: {}",
            ran.text
        );
        assert!(ran.body["time_ms"].as_f64().is_some() && ran.body["exit_code"] == 0, "{language}: {}", ran.text);
        let expected_engine =
            if engine.is_some() || matches!(language, "javascript" | "ruby") { "wasmi" } else { "native" };
        let name = ran.body["engine"]["name"].as_str().unwrap_or_default();
        assert_eq!(name == "wasmi", expected_engine == "wasmi", "{language}: ran on {name}");
    }
    // A program that reads nothing, one that floods its output, one that fails, one that does not compile.
    let cases = [
        ("python", "print('no input needed')", "ok"),
        ("python", "while True: print('x' * 1000)", "output_limit_exceeded"),
        ("ruby", "exit 3", "runtime_error"),
        ("javascript", "while (true) {}", "time_limit_exceeded"),
        ("java", "public class Main { void }", "compilation_error"),
    ];
    for (language, source, status) in cases {
        let body = json!({"language": language, "source": source, "limits": {"time_ms": 1000}});
        let ran = setup.post("/api/run", Some(&setup.key), body).await;
        assert_eq!((ran.status, ran.body["status"].as_str()), (200, Some(status)), "{language} {source}: {}", ran.text);
        if status == "output_limit_exceeded" {
            assert!(ran.body["stdout"].as_str().unwrap().len() <= 4 << 10, "the echo is capped");
        }
        if status == "compilation_error" {
            assert!(!ran.body["stderr"].as_str().unwrap().is_empty(), "the compiler's output: {}", ran.text);
        }
    }
}

/// The RateLimit header's remaining count.
fn remaining(answer: &Answer) -> Option<u32> {
    let state = answer.headers.get("ratelimit")?.to_str().ok()?;
    state.split(';').find_map(|part| part.strip_prefix("r="))?.parse().ok()
}

#[tokio::test]
async fn anonymous_callers_get_one_free_bucket_per_address_whatever_they_send() {
    let setup = start(0).await;
    let id = setup.publish(echo_capsule()).await;
    let run = json!({"source": "print(1)"});

    // Unknown and malformed capsule ids are 404 and take nothing from the bucket.
    for _ in 0..5 {
        let unknown = setup.post(&format!("/api/capsules/{}/run", uuid::Uuid::new_v4()), None, run.clone()).await;
        assert_eq!(unknown.status, 404);
    }
    // 25 requests, each naming a fresh capsule id in X-Capsule-Id and ?capsule_id=, with forged X-Forwarded-For
    // entries, some of them 5,000 characters long: one bucket, the free tier's 10.
    let long = format!("{}203.0.113.50", "198.51.100.1, ".repeat(360));
    assert!(long.len() > 5_000);
    let mut admitted = Vec::new();
    for request in 0..25 {
        let made_up = uuid::Uuid::new_v4().to_string();
        let forged = format!("203.0.113.{request}, 198.51.100.{request}");
        let forwarded = if request % 2 == 0 { forged.as_str() } else { long.as_str() };
        let url = format!("{}/api/capsules/{id}/run?capsule_id={made_up}", setup.base);
        let headers = [("x-capsule-id", made_up.as_str()), ("x-forwarded-for", forwarded)];
        let answer = call(reqwest::Method::POST, url, None, &headers, Some(&run)).await;
        assert!(matches!(answer.status, 200 | 429), "{}", answer.text);
        if answer.status == 200 {
            admitted.push(remaining(&answer));
        } else {
            assert_eq!(answer.body["code"], "rate_limited");
        }
    }
    assert_eq!(admitted.len(), 10, "the free tier's allowance, whatever the headers said");
    assert_eq!(admitted[0], Some(9), "the 404s took nothing");

    // Behind one trusted proxy, the address it appended is the client: entries in front of it are the client's own.
    let proxied = start(1).await;
    let id = proxied.publish(echo_capsule()).await;
    let mut statuses = Vec::new();
    for request in 0..12 {
        let forwarded = format!("10.9.{request}.1, 192.0.2.{request}, 203.0.113.7");
        let url = format!("{}/api/capsules/{id}/run", proxied.base);
        let answer =
            call(reqwest::Method::POST, url, None, &[("x-forwarded-for", forwarded.as_str())], Some(&run)).await;
        statuses.push(answer.status);
    }
    assert_eq!(statuses.iter().filter(|status| **status == 200).count(), 10, "{statuses:?}");
    let url = format!("{}/api/capsules/{id}/run", proxied.base);
    let other = call(reqwest::Method::POST, url, None, &[("x-forwarded-for", "203.0.113.8")], Some(&run)).await;
    assert_eq!(other.status, 200, "another client has a bucket of its own");
}

#[tokio::test]
async fn the_readmes_capsule_with_hidden_tests_publishes_and_judges_as_written() {
    let setup = start(0).await;
    let example: Value =
        serde_json::from_str(include_str!("../../examples/capsule-hidden-tests.json")).expect("the example is JSON");
    let saved = setup.post("/api/capsules", Some(&setup.key), example).await;
    assert_eq!((saved.status, saved.body["status"].as_str()), (201, Some("published")), "{}", saved.text);
    let id = saved.body["capsule_id"].as_str().unwrap();
    let view = setup.get(&format!("/api/capsules/{id}"), None).await;
    assert!(!view.text.contains("-4 9 -5") && !view.text.contains("2000000000000"), "{}", view.text);
    // The README's submission: accepted, with the hidden tests as verdicts only.
    let source = "print(sum(int(n) for n in input().split()))";
    let judged = setup.post(&format!("/api/capsules/{id}/submissions"), None, json!({"source": source})).await;
    assert_eq!((judged.status, judged.body["verdict"].as_str()), (201, Some("accepted")), "{}", judged.text);
    assert_hidden_reports_are_bare(&judged.body);
    let ran =
        setup.post(&format!("/api/capsules/{id}/run"), None, json!({"source": "print(input())", "stdin": "hi"})).await;
    assert_eq!(ran.body["stdout"], "hi\n", "{}", ran.text);
}

#[tokio::test]
async fn a_function_capsule_publishes_and_judges_like_any_other() {
    let setup = start(0).await;
    let capsule = json!({
        "title": "Add", "language": "python", "description_md": "Return a + b.",
        "entry": {"kind": "function", "name": "add", "returns": "int",
                  "params": [{"name": "a", "type": "int"}, {"name": "b", "type": "int"}]},
        "starter": {"source": "def add(a: int, b: int) -> int:\n    pass\n"},
        "solution": {"source": "# SOLUTION-MARK\ndef add(a, b):\n    return a + b\n"},
        "tests": [
            {"id": "shown", "args": [1, 2], "expected_return": 3},
            {"id": "secret", "args": [4217, 1], "expected_return": 4218, "hidden": true}
        ]
    });
    let id = setup.publish(capsule).await;
    let view = setup.get(&format!("/api/capsules/{id}"), None).await;
    assert_eq!(view.status, 200, "{}", view.text);
    assert_no_secret(&view.text, "the reader's view");
    assert_eq!(view.body["entry"]["name"], "add");
    let wrong = "def add(a, b):\n    print(a, b)\n    return a - b\n";
    let judged = setup.post(&format!("/api/capsules/{id}/submissions"), None, json!({"source": wrong})).await;
    assert_eq!((judged.status, judged.body["verdict"].as_str()), (201, Some("wrong_answer")), "{}", judged.text);
    assert_eq!(judged.body["tests"][0]["message"], "add(1, 2) returned -1; expected 3");
    assert_hidden_reports_are_bare(&judged.body);
    assert_no_secret(&judged.text, "the submission's report");
    let right = "def add(a, b):\n    return a + b\n";
    let judged = setup.post(&format!("/api/capsules/{id}/submissions"), None, json!({"source": right})).await;
    assert_eq!(judged.body["verdict"], "accepted", "{}", judged.text);
}

#[tokio::test]
async fn an_organization_lists_its_own_capsules_and_reads_only_its_own_stats() {
    let setup = start(0).await;
    let client = setup.postgres.client().await;
    let id_of = |slug: &'static str| {
        let client = &client;
        async move {
            let row = client.query_one("select id from public.capsules where slug = $1", &[&slug]).await.unwrap();
            row.get::<_, uuid::Uuid>(0).to_string()
        }
    };
    let (own, other) = (id_of("public-a").await, id_of("public-b").await);
    client
        .batch_execute(&format!(
            "insert into analytics.capsule_hourly_stats (capsule_id, hour, views, runs, verified_attempts, verified_accepted)
             values ('{own}', '2026-11-30T10:00:00Z', 7, 3, 2, 1), ('{own}', '2026-11-30T11:00:00Z', 1, 0, 0, 0),
                    ('{own}', '2026-11-01T00:00:00Z', 99, 0, 0, 0), ('{other}', '2026-11-30T10:00:00Z', 5, 5, 5, 5)"
        ))
        .await
        .unwrap();

    let listed = setup.get("/api/capsules", Some(&setup.key)).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let slugs: Vec<&str> =
        listed.body["capsules"].as_array().unwrap().iter().map(|c| c["slug"].as_str().unwrap()).collect();
    assert!(slugs.contains(&"public-a") && slugs.contains(&"private-a"), "{slugs:?}");
    assert!(
        !slugs.iter().any(|slug| slug.ends_with("-b")),
        "another organization's capsules are not listed: {slugs:?}"
    );
    assert_eq!(listed.body["capsules"][0].get("content"), None, "a listing, not the capsules' tests");

    let range = "from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z";
    let stats = setup.get(&format!("/api/capsules/{own}/stats?{range}"), Some(&setup.key)).await;
    assert_eq!(stats.status, 200, "{}", stats.text);
    let hours = stats.body["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 2, "the hours in the range only: {hours:?}");
    assert_eq!((hours[0]["views"].clone(), hours[0]["verified_accepted"].clone()), (json!(7), json!(1)));

    // Another organization's capsule, whether or not it is published, is a 404 like an unknown one.
    let theirs = setup.get(&format!("/api/capsules/{other}/stats?{range}"), Some(&setup.key)).await;
    assert_eq!(theirs.status, 404, "{}", theirs.text);
    assert!(!theirs.text.contains("\"views\""), "{}", theirs.text);
    let unknown = setup.get(&format!("/api/capsules/{}/stats", uuid::Uuid::new_v4()), Some(&setup.key)).await;
    assert_eq!(unknown.status, 404);

    // A member reads through row-level security, acting for an organization they belong to, and only for one.
    let get = |path: String, token: &str, organization: Option<String>| {
        let organization = organization.unwrap_or_default();
        let headers = if organization.is_empty() { vec![] } else { vec![("x-organization-id", organization)] };
        let base = setup.base.clone();
        let token = token.to_string();
        async move {
            let headers: Vec<(&str, &str)> = headers.iter().map(|(name, value)| (*name, value.as_str())).collect();
            call(reqwest::Method::GET, format!("{base}{path}"), Some(&token), &headers, None).await
        }
    };
    let (member_a, member_b) = (&setup.fixture.member_a.token, &setup.fixture.member_b.token);
    let (org_a, org_b) = (Some(setup.fixture.org_a.to_string()), Some(setup.fixture.org_b.to_string()));
    let as_member = get("/api/capsules".into(), member_a, org_a.clone()).await;
    assert_eq!(as_member.status, 200, "{}", as_member.text);
    assert_eq!(as_member.body["capsules"].as_array().unwrap().len(), slugs.len(), "{}", as_member.text);
    let stats_path = format!("/api/capsules/{own}/stats?{range}");
    let member_stats = get(stats_path.clone(), member_a, org_a.clone()).await;
    assert_eq!((member_stats.status, member_stats.body["hours"].as_array().map(Vec::len)), (200, Some(2)));
    let no_organization = get("/api/capsules".into(), member_a, None).await;
    assert_eq!((no_organization.status, no_organization.body["code"].clone()), (403, json!("organization_required")));
    let not_theirs = get("/api/capsules".into(), member_a, org_b.clone()).await;
    assert_eq!(not_theirs.status, 403, "a member of A acting for B: {}", not_theirs.text);
    let other_member = get(stats_path, member_b, org_b).await;
    assert_eq!(other_member.status, 404, "{}", other_member.text);

    assert_eq!(setup.get("/api/capsules", None).await.status, 401);
    assert_eq!(setup.get(&format!("/api/capsules/{own}/stats"), None).await.status, 401);
    let longest = "from=2026-08-29T00:00:00Z&to=2026-11-30T00:00:00Z";
    assert_eq!(setup.get(&format!("/api/capsules/{own}/stats?{longest}"), Some(&setup.key)).await.status, 200);
    let too_long = "from=2026-08-29T00:00:00Z&to=2026-11-30T01:00:00Z";
    let refused = setup.get(&format!("/api/capsules/{own}/stats?{too_long}"), Some(&setup.key)).await;
    assert_eq!((refused.status, refused.body["field"].clone()), (422, json!("from")), "{}", refused.text);
}

#[tokio::test]
async fn a_capsule_read_more_often_than_its_head_is_trusted_is_still_seen_unpublished() {
    let setup = start(0).await;
    let client = setup.postgres.client().await;
    client.execute("update public.runtime_config set free_per_minute = 1000", &[]).await.unwrap();
    let id = setup.publish(echo_capsule()).await;
    let path = format!("/api/capsules/{id}");
    let read = || setup.get(&path, None);
    assert_eq!(read().await.status, 200);
    let mut capsule = setup.get(&format!("/api/capsules/{id}?view=author"), Some(&setup.key)).await.body;
    for storage in ["status", "visibility", "organization_id"] {
        capsule.as_object_mut().unwrap().remove(storage);
    }
    let saved = setup.post("/api/capsules", Some(&setup.key), json!({"capsule": capsule, "publish": false})).await;
    assert_eq!((saved.status, saved.body["status"].clone()), (201, json!("validated")), "{}", saved.text);
    // Readers keep asking, several times within each HEAD_TTL: the head must still be read again once it is 1 s old.
    let started = std::time::Instant::now();
    let mut status = 200;
    while status == 200 && started.elapsed() < std::time::Duration::from_secs(5) {
        status = read().await.status;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 404, "still served to readers {:?} after it was unpublished", started.elapsed());
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "seen after {:?}", started.elapsed());
}
