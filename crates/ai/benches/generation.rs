//! `make bench` for the generation engine (issue: AI generation). Prints a Markdown report (copied into BENCHMARKS.md):
//! the engine's own time per repair round (everything but the model's: prompts, schema validation, blame, judging),
//! for a Python capsule and a WebAssembly (WAT) capsule, with the model answering instantly from a scripted server on
//! loopback; and the tokens and cost of the recorded transcript of `make run`.
//!
//! Per round = (a job with 3 solution repairs − the same job with none) / 3, medians of 5 jobs each, interleaved.

use codecapsule_ai::generation::{Budget, Call, GenerateRequest, GenerationStatus, Generator, Observer, Progress};
use codecapsule_ai::llm::{LlmClient, LlmConfig, Pricing, Provider};
use codecapsule_core::judge::{Judge, Judges};
use codecapsule_native::{NativeJudge, Runtime};
use codecapsule_test_llm::{FakeLlm, Scripted};
use codecapsule_wasm::WasmJudge;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Quiet(Vec<Call>);

impl Observer for Quiet {
    fn call(&mut self, call: &Call) {
        self.0.push(call.clone());
    }

    fn progress(&mut self, _event: Progress) {}
}

fn wat_printing(text: &str) -> String {
    format!(
        r#"(module (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1) (data (i32.const 16) "{text}\n")
  (func (export "_start") (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const {len}))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
        len = text.len() + 1
    )
}

struct Language {
    name: &'static str,
    correct: String,
    wrong: String,
    starter: String,
    tests: serde_json::Value,
}

fn script(language: &Language, repairs: usize) -> Vec<Scripted> {
    let code = |source: &str| Scripted::completion(&json!({ "source": source }));
    let mut script = vec![
        Scripted::completion(&json!({"title": "Sum", "description_md": "a + b", "input_format": "a b",
            "output_format": "a + b", "tags": [], "hints": [], "function_signature": ""})),
        Scripted::completion(&json!({ "tests": language.tests })),
        code(if repairs == 0 { &language.correct } else { &language.wrong }),
        code(&language.starter),
        Scripted::completion(&json!({"solutions": [{"source": language.wrong, "flaw": "off by one"}]})),
    ];
    if repairs > 0 {
        script.push(code(&language.correct)); // the second solution: it agrees with the tests, so the solution is blamed
        for round in 1..=repairs {
            script.push(code(if round == repairs { &language.correct } else { &language.wrong }));
        }
    }
    script
}

async fn job(language: &Language, judges: &Judges, repairs: usize) -> Duration {
    let fake = FakeLlm::start(script(language, repairs)).await;
    let llm = fake.client();
    let request = GenerateRequest { prompt: "sum".into(), language: language.name.into(), difficulty: "easy".into() };
    let started = Instant::now();
    let generated =
        Generator::new(&llm, judges, Budget::default()).generate(&request, &mut Quiet(Vec::new())).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!((generated.status, generated.rounds as usize), (GenerationStatus::Validated, repairs));
    elapsed
}

#[tokio::main]
async fn main() {
    let judges =
        Judges::new(vec![Arc::new(NativeJudge::new(Runtime::python())) as Arc<dyn Judge>, Arc::new(WasmJudge)]);
    let python = Language {
        name: "python",
        correct: "a, b = map(int, input().split())\nprint(a + b)\n".into(),
        wrong: "a, b = map(int, input().split())\nprint(a + b + 1)\n".into(),
        starter: "a, b = map(int, input().split())\n# TODO\n".into(),
        tests: json!([{"id": "t1", "stdin": "1 2\n", "expected_stdout": "3\n", "hidden": false},
                      {"id": "t2", "stdin": "-5 3\n", "expected_stdout": "-2\n", "hidden": true}]),
    };
    let wat = Language {
        name: "wat",
        correct: wat_printing("3"),
        wrong: wat_printing("4"),
        starter: wat_printing(""),
        tests: json!([{"id": "t1", "stdin": "1 2\n", "expected_stdout": "3\n", "hidden": false}]),
    };
    println!("## Generation engine (AI generation issue)\n");
    println!("### The engine's own time per repair round (the model answers instantly), medians of 5\n");
    println!("| capsule | job, no repair | job, 3 solution repairs | per repair round |");
    println!("|---|---|---|---|");
    for language in [&python, &wat] {
        job(language, &judges, 0).await; // warm-up: the judge's runtime probe
        let (mut plain, mut repaired) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            plain.push(job(language, &judges, 0).await);
            repaired.push(job(language, &judges, 3).await);
        }
        plain.sort();
        repaired.sort();
        let per_round = repaired[2].saturating_sub(plain[2]) / 3;
        println!(
            "| {} ({} tests) | {:.1} ms | {:.1} ms | {:.1} ms |",
            language.name,
            language.tests.as_array().unwrap().len(),
            plain[2].as_secs_f64() * 1e3,
            repaired[2].as_secs_f64() * 1e3,
            per_round.as_secs_f64() * 1e3
        );
    }

    let transcript =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/transcripts/sum-python.jsonl");
    let llm = LlmClient::new(LlmConfig {
        provider: Provider::Replay { transcript },
        timeout: Duration::from_secs(5),
        pricing: Pricing::default(),
    })
    .unwrap();
    let request = GenerateRequest { prompt: "sum".into(), language: "python".into(), difficulty: "easy".into() };
    let mut calls = Quiet(Vec::new());
    let generated = Generator::new(&llm, &judges, Budget::default()).generate(&request, &mut calls).await.unwrap();
    let (prompt, completion): (u64, u64) =
        calls.0.iter().fold((0, 0), |(p, c), call| (p + call.prompt_tokens, c + call.completion_tokens));
    let cost: f64 = calls.0.iter().map(|call| call.cost_usd).sum();
    println!("\n### Tokens and cost per capsule: the recorded transcript (examples/transcripts/sum-python.jsonl)\n");
    println!("| status | rounds | LLM calls | prompt tokens | completion tokens | cost (gpt-4o-mini prices) |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {prompt} | {completion} | ${cost:.6} |",
        generated.status,
        generated.rounds,
        calls.0.len()
    );
}
