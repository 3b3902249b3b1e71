//! `make bench` for submissions: a program submitted to a published 10-test capsule (POST
//! /api/capsules/{id}/submissions: the capsule's head read, its tests from the instance's cache, the submission
//! stored) against the same program with the same tests in the body of POST /api/judge, warm, over loopback HTTP,
//! interleaved so both see the same machine load. Once for a WASI module (examples/wasi-sum), once for native Python.
//! Both routes pass through the same guard (one bucket decision in PostgreSQL each). Prints a Markdown report.

use base64::Engine as _;
use codecapsule_core::config::{ConfigError, HttpConfig};
use codecapsule_core::judge::{Judge, JudgeList};
use codecapsule_core::model::{Capsule, Language, Verdict};
use codecapsule_native::{NativeJudge, Runtime};
use codecapsule_state::{Actor, CapsuleStatus, NewSubmission, Submitter, Visibility};
use codecapsule_test_support::postgres::{Fixture, TempPostgres};
use codecapsule_web::host::{self, Function, Host};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SUM_WASM: &[u8] = include_bytes!("../../../examples/wasi-sum/sum.wasm");
const PYTHON_SUM: &str = "print(sum(int(n) for n in input().split()))\n";

fn judges() -> Result<JudgeList, ConfigError> {
    Ok(vec![Arc::new(codecapsule_wasm::WasmJudge) as Arc<dyn Judge>, Arc::new(NativeJudge::new(Runtime::python()))])
}

const FUNCTIONS: &[Function<codecapsule_state::guard::Stateful>] = &[Function { judges, ..validate::FUNCTION }];

fn ten_tests() -> Vec<Value> {
    (1..=10)
        .map(|n| {
            let numbers: Vec<i64> = (0..100).map(|i| i * n - 50).collect();
            let stdin = numbers.iter().map(i64::to_string).collect::<Vec<_>>().join(" ") + "\n";
            // Half of them hidden, as a real capsule's would be.
            json!({"id": format!("t{n}"), "stdin": stdin, "expected_stdout": format!("{}\n", numbers.iter().sum::<i64>()),
                   "hidden": n % 2 == 0})
        })
        .collect()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let postgres = TempPostgres::start().await;
        let fixture = Fixture::create(&postgres.client().await).await;
        let client = postgres.client().await;
        // The benchmark measures the routes, not the buckets: no allowance runs out during it.
        client.execute("update public.runtime_config set pro_per_minute = 1000000", &[]).await.unwrap();
        let deployment = postgres.deployment(4);
        let store = deployment.store.clone().unwrap();
        let key = store.create_api_key(&fixture.admin_a.actor(), fixture.org_a, "bench").await.unwrap();
        let module = base64::engine::general_purpose::STANDARD.encode(SUM_WASM);
        let local = Host::Local { address: ([127, 0, 0, 1], 0).into() };
        let app = host::app(FUNCTIONS, local, &HttpConfig::default(), &deployment).unwrap();
        let (ready, bound) = tokio::sync::oneshot::channel();
        tokio::spawn(host::serve(app, ([127, 0, 0, 1], 0).into(), local, Some(ready)));
        let base = format!("http://{}", bound.await.unwrap());

        println!("## Submissions to stored capsules (issue: capsules on the server's terms)\n");
        println!("Machine: {} cores; release build; PostgreSQL 15 on loopback (direct transport).\n", cores());
        println!("| capsule | route | p50 | p99 | submission − judge (p50) |\n|---|---|---|---|---|");
        for (name, language, code, rounds) in [
            ("10-test WASI (wasm)", "wasm", json!({"module_base64": module}), 300),
            ("10-test native Python", "python", json!({"source": PYTHON_SUM}), 60),
        ] {
            let capsule: Capsule = serde_json::from_value(json!({
                "slug": language, "title": name, "language": language, "solution": code.clone(),
                "tests": ten_tests(), "limits": {"time_ms": 1000, "memory_mb": 64}
            }))
            .unwrap();
            let saved = store
                .save_capsule(
                    &Actor::Service,
                    fixture.org_a,
                    &capsule,
                    Visibility::Public,
                    CapsuleStatus::Published,
                    None,
                )
                .await
                .unwrap();
            let mut judge_body =
                json!({"language": language, "tests": ten_tests(), "limits": {"time_ms": 1000, "memory_mb": 64}});
            for (field, value) in code.as_object().unwrap() {
                judge_body[field] = value.clone();
            }
            let submit = (format!("{base}/api/capsules/{}/submissions", saved.id), code.clone(), 201);
            let judge = (format!("{base}/api/judge"), judge_body, 200);
            let http = reqwest::Client::new();
            let time = |(url, body, status): &(String, Value, u16)| {
                let request = http.post(url).bearer_auth(key.expose()).json(body);
                let status = *status;
                async move {
                    let started = Instant::now();
                    let response = request.send().await.unwrap();
                    assert_eq!(response.status().as_u16(), status);
                    let report: Value = response.json().await.unwrap();
                    assert_eq!(report["verdict"], "accepted", "{report}");
                    started.elapsed()
                }
            };
            for _ in 0..10 {
                time(&submit).await;
                time(&judge).await;
            }
            let (mut submits, mut judges) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
            for _ in 0..rounds {
                submits.push(time(&submit).await);
                judges.push(time(&judge).await);
            }
            let (submit_p50, submit_p99) = percentiles(&mut submits);
            let (judge_p50, judge_p99) = percentiles(&mut judges);
            let difference = submit_p50.as_secs_f64() * 1e3 - judge_p50.as_secs_f64() * 1e3;
            println!("| {name} | POST /api/judge (tests in the body) | {} | {} | |", ms(judge_p50), ms(judge_p99));
            println!(
                "| {name} | POST /api/capsules/{{id}}/submissions | {} | {} | {difference:+.2} ms |",
                ms(submit_p50),
                ms(submit_p99)
            );
            // What the submission does that judging does not: storing it (one round trip, after judging).
            let mut writes = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                let started = Instant::now();
                store
                    .record_submission(&NewSubmission {
                        capsule_id: saved.id,
                        capsule_version: saved.version,
                        language: Language::parse(language).unwrap(),
                        verdict: Verdict::Accepted,
                        score: 1.0,
                        tests: Vec::new(),
                        submitter: Submitter::Visitor("bench".into()),
                    })
                    .await
                    .unwrap();
                writes.push(started.elapsed());
            }
            let (write_p50, write_p99) = percentiles(&mut writes);
            println!(
                "| {name} | `record_submission` alone (the store's write) | {} | {} | |",
                ms(write_p50),
                ms(write_p99)
            );
        }
        println!();
    });
}

fn percentiles(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort();
    (times[times.len() / 2], times[(times.len() * 99 / 100).min(times.len() - 1)])
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

fn cores() -> usize {
    std::thread::available_parallelism().map(usize::from).unwrap_or(1)
}
