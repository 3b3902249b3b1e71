//! The generation engine with a scripted model and the real Python judge: a correct capsule; a solution repaired in
//! round 2; a wrong test blamed (two independent solutions agree) and fixed with a reason; a wrong solution that is
//! repaired instead of the test it fails; a test fix that does not match the solutions refused; weak tests
//! strengthened; a passing starter repaired; quarantine after a regeneration; the budget and model errors; a Java
//! capsule whose solution does not compile, repaired (the real javac), and a C# capsule (the real Mono).

use codecapsule_ai::generation::{
    Budget, Call, GenerateRequest, GenerationError, GenerationStatus, Generator, Observer, Progress,
};
use codecapsule_ai::llm::{LlmClient, LlmConfig, LlmError, Pricing, Provider};
use codecapsule_core::judge::{Judge, Judges};
use codecapsule_native::{NativeJudge, Runtime};
use codecapsule_test_llm::{FakeLlm, Scripted};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const CORRECT: &str = "a, b = map(int, input().split())\nprint(a + b)\n";
const OFF_BY_ONE: &str = "a, b = map(int, input().split())\nprint(a + b + 1)\n";
const ABS_FIRST: &str = "a, b = map(int, input().split())\nprint(abs(a) + b)\n";
const STARTER: &str = "a, b = map(int, input().split())\n# TODO: print their sum\n";
const SYNTAX_ERROR: &str = "a, b = map(int, input().split()\nprint(a + b)\n";
const CRASHES: &str = "a, b = map(int, input().split())\nprint(a + c)\n";

fn spec() -> Scripted {
    Scripted::completion(&json!({
        "title": "Sum of two integers", "description_md": "Read two integers and print their sum.",
        "input_format": "One line: two integers a and b.", "output_format": "One line: a + b.",
        "tags": ["arithmetic"], "hints": ["Split the line."], "function_signature": ""
    }))
}

fn tests(cases: &[(&str, &str)]) -> Scripted {
    let tests: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(index, (stdin, expected))| {
            json!({"id": format!("t{}", index + 1), "stdin": stdin, "expected_stdout": expected, "hidden": index == 2})
        })
        .collect();
    Scripted::completion(&json!({ "tests": tests }))
}

/// Tests with a negative first number, so that ABS_FIRST is rejected.
fn good_tests() -> Scripted {
    tests(&[("1 2\n", "3\n"), ("-5 3\n", "-2\n"), ("0 0\n", "0\n")])
}

fn code(source: &str) -> Scripted {
    Scripted::completion(&json!({ "source": source }))
}

fn wrong(sources: &[&str]) -> Scripted {
    let solutions: Vec<Value> =
        sources.iter().map(|source| json!({"source": source, "flaw": "a plausible mistake"})).collect();
    Scripted::completion(&json!({ "solutions": solutions }))
}

fn test_fix(expected: &str, reason: &str) -> Scripted {
    Scripted::completion(&json!({"expected_stdout": expected, "reason": reason}))
}

#[derive(Default)]
struct Recorder {
    calls: Vec<Call>,
    events: Vec<Progress>,
}

impl Observer for Recorder {
    fn call(&mut self, call: &Call) {
        self.calls.push(call.clone());
    }

    fn progress(&mut self, event: Progress) {
        self.events.push(event);
    }
}

async fn run(
    script: Vec<Scripted>,
    budget: Budget,
) -> (Result<codecapsule_ai::generation::Generated, GenerationError>, Recorder, FakeLlm) {
    run_in("python", Runtime::python(), script, budget).await
}

/// A job for a `language` capsule, judged by the real native judge of `runtime`.
async fn run_in(
    language: &str,
    runtime: Runtime,
    script: Vec<Scripted>,
    budget: Budget,
) -> (Result<codecapsule_ai::generation::Generated, GenerationError>, Recorder, FakeLlm) {
    let fake = FakeLlm::start(script).await;
    let llm = fake.client();
    let judges = Judges::new(vec![Arc::new(NativeJudge::new(runtime)) as Arc<dyn Judge>]);
    let request =
        GenerateRequest { prompt: "Sum two integers".into(), language: language.into(), difficulty: "easy".into() };
    let mut recorder = Recorder::default();
    let result = Generator::new(&llm, &judges, budget).generate(&request, &mut recorder).await;
    (result, recorder, fake)
}

fn draft(solution: &str) -> Vec<Scripted> {
    vec![spec(), good_tests(), code(solution), code(STARTER), wrong(&[OFF_BY_ONE, ABS_FIRST])]
}

#[tokio::test]
async fn a_correct_capsule_is_validated_in_round_zero() {
    let (result, recorder, fake) = run(draft(CORRECT), Budget::default()).await;
    let generated = result.unwrap();
    assert_eq!((generated.status, generated.rounds, generated.repairs.len()), (GenerationStatus::Validated, 0, 0));
    assert_eq!(generated.capsule.solution.source.as_deref(), Some(CORRECT));
    assert_eq!(generated.capsule.tests.len(), 3);
    assert!(generated.capsule.tests[2].hidden, "the model's hidden flag is kept in the saved capsule");
    assert_eq!(generated.capsule.slug.as_deref(), Some("sum-of-two-integers"));
    assert_eq!(generated.capsule.provenance["model"], "gpt-4o-mini");
    // Five calls, each reported, each priced; the user's prompt went only into the spec call, fenced.
    assert_eq!(
        recorder.calls.iter().map(|call| call.purpose).collect::<Vec<_>>(),
        ["spec", "tests", "solution", "starter", "wrong solutions"]
    );
    assert!(recorder.calls.iter().all(|call| call.cost_usd > 0.0));
    let requests = fake.requests();
    assert!(
        requests[0].body["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("<user_request>\nSum two integers\n</user_request>")
    );
    assert!(
        requests[1..].iter().all(|request| !request.body.to_string().contains("Sum two integers")),
        "tests come from the spec only"
    );
    assert_eq!(requests[1].body["response_format"]["json_schema"]["strict"], true);
    assert!(recorder.events.iter().any(|event| event["event"] == "validated"));
}

#[tokio::test]
async fn a_failing_solution_is_repaired_in_round_two() {
    let mut script = draft(SYNTAX_ERROR);
    script.extend([code(CRASHES), code(CORRECT)]);
    let (result, recorder, fake) = run(script, Budget::default()).await;
    let generated = result.unwrap();
    assert_eq!((generated.status, generated.rounds), (GenerationStatus::Validated, 2));
    assert_eq!(generated.repairs.iter().map(|repair| repair.artifact).collect::<Vec<_>>(), ["solution", "solution"]);
    assert!(generated.repairs[0].reason.contains("does not compile"), "{}", generated.repairs[0].reason);
    assert!(generated.repairs[1].reason.contains("runtime_error"), "{}", generated.repairs[1].reason);
    // The repair prompt showed the failure: the input and the trimmed stderr.
    let repair_prompt = fake.requests()[6].body["messages"][1]["content"].as_str().unwrap().to_string();
    assert!(repair_prompt.contains("NameError") && repair_prompt.contains("1 2"), "{repair_prompt}");
    assert_eq!(recorder.calls.len(), 7);
}

#[tokio::test]
async fn a_wrong_test_is_blamed_when_two_solutions_agree_and_fixed_with_a_reason() {
    let script = vec![
        spec(),
        tests(&[("1 2\n", "3\n"), ("-5 3\n", "-2\n"), ("2 2\n", "5\n")]),
        code(CORRECT),
        code(STARTER),
        wrong(&[OFF_BY_ONE, ABS_FIRST]),
        code(CORRECT), // the independent second solution
        test_fix("4\n", "The output is a + b, and 2 + 2 = 4 (spec: 'One line: a + b')."),
    ];
    let (result, recorder, _fake) = run(script, Budget::default()).await;
    let generated = result.unwrap();
    assert_eq!(generated.status, GenerationStatus::Validated);
    let repair = &generated.repairs[0];
    assert_eq!((repair.artifact, repair.accepted, repair.test_id.as_deref()), ("test", true, Some("t3")));
    assert!(repair.reason.contains("spec"), "the spec-based reason is recorded: {}", repair.reason);
    assert_eq!(generated.capsule.tests[2].expected_stdout.as_deref(), Some("4\n"));
    assert_eq!(recorder.calls.iter().filter(|call| call.purpose == "second solution").count(), 1);
}

#[tokio::test]
async fn a_wrong_solution_is_repaired_and_the_test_it_fails_is_left_alone() {
    // The reference is off by one; an independent solution agrees with the test: the solution is at fault, so the
    // model is never asked to change the test (it cannot "fix" it to match the wrong solution).
    let mut script = draft(OFF_BY_ONE);
    script.extend([code(CORRECT), code(CORRECT)]);
    let (result, recorder, _fake) = run(script, Budget::default()).await;
    let generated = result.unwrap();
    assert_eq!(generated.status, GenerationStatus::Validated);
    assert_eq!(generated.repairs.iter().map(|repair| repair.artifact).collect::<Vec<_>>(), ["solution"]);
    assert!(!recorder.calls.iter().any(|call| call.purpose == "test repair"));
    assert_eq!(generated.capsule.tests[0].expected_stdout.as_deref(), Some("3\n"), "the right test kept its value");
}

#[tokio::test]
async fn a_test_fix_that_matches_neither_solution_is_refused() {
    let script = vec![
        spec(),
        tests(&[("1 2\n", "3\n"), ("-5 3\n", "-2\n"), ("2 2\n", "5\n")]),
        code(CORRECT),
        code(STARTER),
        wrong(&[OFF_BY_ONE, ABS_FIRST]),
        code(CORRECT),
        test_fix("22\n", "Concatenate the numbers, as the spec says."),
        test_fix("4\n", "The spec says print a + b: 2 + 2 = 4."),
    ];
    let (result, _recorder, _fake) = run(script, Budget::default()).await;
    let generated = result.unwrap();
    assert_eq!(generated.status, GenerationStatus::Validated);
    assert_eq!((generated.repairs[0].artifact, generated.repairs[0].accepted), ("test", false));
    assert!(generated.repairs[0].reason.contains("refused"), "{}", generated.repairs[0].reason);
    assert!(generated.repairs[1].accepted);
    assert_eq!(generated.capsule.tests[2].expected_stdout.as_deref(), Some("4\n"));
}

#[tokio::test]
async fn weak_tests_are_strengthened_and_a_passing_starter_is_repaired() {
    let script = vec![
        spec(),
        tests(&[("1 2\n", "3\n"), ("4 5\n", "9\n")]),
        code(CORRECT),
        code(CORRECT), // a starter that already solves it
        wrong(&[ABS_FIRST]),
        code(STARTER),
        tests(&[("-5 3\n", "-2\n")]),
    ];
    let (result, _recorder, _fake) = run(script, Budget::default()).await;
    let generated = result.unwrap();
    assert_eq!(generated.status, GenerationStatus::Validated);
    assert_eq!(generated.repairs.iter().map(|repair| repair.artifact).collect::<Vec<_>>(), ["starter", "tests"]);
    assert_eq!(generated.capsule.tests.len(), 3);
    assert_eq!(generated.capsule.tests[2].id.as_deref(), Some("t3"));
}

#[tokio::test]
async fn a_capsule_that_cannot_be_healed_is_regenerated_once_then_quarantined() {
    let mut script = draft(CRASHES);
    script.extend([code(CRASHES), code(CRASHES), code(CRASHES)]);
    script.extend(draft(CRASHES));
    script.extend([code(CRASHES), code(CRASHES), code(CRASHES)]);
    let (result, recorder, _fake) = run(script, Budget::default()).await;
    let generated = result.unwrap();
    assert_eq!((generated.status, generated.regenerated), (GenerationStatus::Quarantined, true));
    assert_eq!(generated.repairs.len(), 6, "3 rounds, a regeneration, 3 more rounds");
    assert!(generated.problems[0].contains("the solution is wrong"));
    assert_eq!(recorder.calls.len(), 16);
    assert!(recorder.events.iter().any(|event| event["event"] == "regenerating"));
}

#[tokio::test]
async fn the_budget_and_the_model_stop_a_job_with_a_clear_error() {
    let budget = Budget { max_calls: 3, ..Budget::default() };
    let (result, recorder, _fake) = run(draft(CORRECT), budget).await;
    assert_eq!(result.unwrap_err(), GenerationError::BudgetExhausted("3 LLM calls".into()));
    assert_eq!(recorder.calls.len(), 3);

    let costly = Budget { max_cost_usd: 0.0005, ..Budget::default() };
    let (result, _, _) = run(draft(CORRECT), costly).await;
    assert!(matches!(result, Err(GenerationError::BudgetExhausted(_))), "{result:?}");

    let (result, _, _) = run(vec![Scripted::finished("{\"title\": ", "stop")], Budget::default()).await;
    assert!(
        matches!(result, Err(GenerationError::Llm { purpose: "spec", source: LlmError::Malformed(_) })),
        "{result:?}"
    );
    let (result, _, _) = run(vec![spec(), Scripted::finished("{", "length")], Budget::default()).await;
    assert_eq!(result.unwrap_err(), GenerationError::Llm { purpose: "tests", source: LlmError::Truncated });
    let (result, _, _) = run(vec![Scripted::error(400, "content_filter", "filtered")], Budget::default()).await;
    assert_eq!(result.unwrap_err(), GenerationError::Llm { purpose: "spec", source: LlmError::ContentFiltered });
}

#[tokio::test]
async fn the_recorded_transcript_of_make_run_generates_and_heals_a_capsule() {
    let transcript =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/transcripts/sum-python.jsonl");
    let llm = LlmClient::new(LlmConfig {
        provider: Provider::Replay { transcript },
        timeout: Duration::from_secs(5),
        pricing: Pricing::default(),
    })
    .unwrap();
    let judges = Judges::new(vec![Arc::new(NativeJudge::new(Runtime::python())) as Arc<dyn Judge>]);
    let request =
        GenerateRequest { prompt: "Sum two integers".into(), language: "python".into(), difficulty: "easy".into() };
    let mut recorder = Recorder::default();
    let generated = Generator::new(&llm, &judges, Budget::default()).generate(&request, &mut recorder).await.unwrap();
    assert_eq!((generated.status, generated.rounds), (GenerationStatus::Validated, 1));
    assert_eq!(generated.repairs[0].artifact, "solution");
    assert_eq!(generated.capsule.provenance["replayed"], true, "a replayed capsule says so");
    assert!(recorder.calls.iter().all(|call| call.replayed));
}

#[tokio::test]
async fn an_existing_capsule_is_healed_and_keeps_its_identity() {
    let fake = FakeLlm::start(vec![wrong(&[OFF_BY_ONE, ABS_FIRST]), code(CORRECT), code(CORRECT)]).await;
    let llm = fake.client();
    let judges = Judges::new(vec![Arc::new(NativeJudge::new(Runtime::python())) as Arc<dyn Judge>]);
    let capsule: codecapsule_core::model::Capsule = serde_json::from_value(json!({
        "id": "c-42", "slug": "sum", "title": "Sum", "description_md": "Print a + b.", "language": "python",
        "starter": {"source": STARTER}, "solution": {"source": OFF_BY_ONE},
        "tests": [{"id": "t1", "stdin": "1 2\n", "expected_stdout": "3\n"}, {"id": "t2", "stdin": "-5 3\n", "expected_stdout": "-2\n"}],
        "compare": {"mode": "tokens"}
    }))
    .unwrap();
    let mut recorder = Recorder::default();
    let healed = Generator::new(&llm, &judges, Budget::default()).heal(&capsule, &mut recorder).await.unwrap();
    assert_eq!((healed.status, healed.rounds), (GenerationStatus::Validated, 1));
    assert_eq!(healed.repairs[0].artifact, "solution");
    assert_eq!(healed.capsule.solution.source.as_deref(), Some(CORRECT));
    assert_eq!((healed.capsule.id.as_deref(), healed.capsule.slug.as_deref()), (Some("c-42"), Some("sum")));
    assert_eq!(healed.capsule.compare, capsule.compare, "the capsule's own settings are kept");
    assert_eq!(
        recorder.calls.iter().map(|call| call.purpose).collect::<Vec<_>>(),
        ["wrong solutions", "second solution", "solution repair"]
    );
}

const JAVA_CORRECT: &str = "import java.util.*;\npublic class Main {\n  public static void main(String[] args) {\n    Scanner in = new Scanner(System.in);\n    long a = in.nextLong(), b = in.nextLong();\n    System.out.println(a + b);\n  }\n}\n";
const CSHARP_CORRECT: &str = "using System;\npublic class Program {\n  public static void Main() {\n    var parts = Console.ReadLine().Split(' ');\n    Console.WriteLine(long.Parse(parts[0]) + long.Parse(parts[1]));\n  }\n}\n";

/// The Python draft in another language: `solution` first, then a starter and two wrong solutions made from `correct`
/// with its `sum` replaced by the starter's TODO and by the two flaws.
fn draft_in(solution: &str, correct: &str, sum: &str, off_by_one: &str, abs_first: &str, todo: &str) -> Vec<Scripted> {
    let off = correct.replace(sum, off_by_one);
    let abs = correct.replace(sum, abs_first);
    let starter = correct.replace(sum, todo);
    assert!(off != correct && abs != correct && starter != correct, "the replacements apply");
    vec![spec(), good_tests(), code(solution), code(&starter), wrong(&[&off, &abs])]
}

#[tokio::test]
async fn a_java_capsule_is_generated_and_a_compile_error_repaired() {
    let broken = JAVA_CORRECT.replace("long a = in.nextLong()", "long a = in.nextLong(");
    let mut script = draft_in(&broken, JAVA_CORRECT, "a + b", "a + b + 1", "Math.abs(a) + b", "0");
    script.push(code(JAVA_CORRECT));
    let (result, _, fake) = run_in("java", Runtime::java(), script, Budget::default()).await;
    let generated = result.unwrap();
    assert_eq!((generated.status, generated.rounds), (GenerationStatus::Validated, 1), "{:#?}", generated.repairs);
    assert_eq!(generated.repairs[0].artifact, "solution");
    assert!(generated.repairs[0].reason.contains("does not compile"), "{}", generated.repairs[0].reason);
    assert_eq!(generated.capsule.language, "java");
    assert_eq!(generated.capsule.solution.source.as_deref(), Some(JAVA_CORRECT));
    // The repair prompt carried javac's message.
    let repair_prompt = fake.requests()[5].body["messages"][1]["content"].as_str().unwrap().to_string();
    assert!(repair_prompt.contains("Main.java") && repair_prompt.contains("error:"), "{repair_prompt}");
}

#[tokio::test]
async fn a_csharp_capsule_is_generated_and_validated() {
    let script = draft_in(
        CSHARP_CORRECT,
        CSHARP_CORRECT,
        "long.Parse(parts[0]) + long.Parse(parts[1])",
        "long.Parse(parts[0]) + long.Parse(parts[1]) + 1",
        "Math.Abs(long.Parse(parts[0])) + long.Parse(parts[1])",
        "0",
    );
    let (result, recorder, _) = run_in("csharp", Runtime::csharp(), script, Budget::default()).await;
    let generated = result.unwrap();
    assert_eq!((generated.status, generated.rounds, generated.repairs.len()), (GenerationStatus::Validated, 0, 0));
    assert_eq!(generated.capsule.language, "csharp");
    assert_eq!(recorder.calls.len(), 5);
}

/// A spec that asks for a function: `add(a: int, b: int) -> int`.
fn function_spec(signature: &str) -> Scripted {
    Scripted::completion(&json!({
        "title": "Add two integers", "description_md": "Write `add(a, b)` returning a + b.",
        "input_format": "Two integers.", "output_format": "Their sum.",
        "tags": ["arithmetic"], "hints": [], "function_signature": signature
    }))
}

const ADD: &str = "def add(a, b):\n    return a + b\n";
const ADD_OFF_BY_ONE: &str = "def add(a, b):\n    return a + b + 1\n";
const ADD_ABS_FIRST: &str = "def add(a, b):\n    return abs(a) + b\n";
const ADD_STARTER: &str = "def add(a: int, b: int) -> int:\n    # TODO: return their sum\n    pass\n";

#[tokio::test]
async fn a_function_capsule_is_generated_with_its_signature_and_a_wrong_test_fixed() {
    let script = vec![
        function_spec("add(a: int, b: int) -> int"),
        tests(&[("[1, 2]", "3"), ("[-5, 3]", "-2"), ("[2, 2]", "5")]),
        code(ADD),
        code(ADD_STARTER),
        wrong(&[ADD_OFF_BY_ONE, ADD_ABS_FIRST]),
        code(ADD), // the independent second solution
        test_fix("4", "add returns a + b, and 2 + 2 = 4."),
    ];
    let (result, recorder, fake) = run(script, Budget::default()).await;
    let generated = result.unwrap();
    assert_eq!(generated.status, GenerationStatus::Validated, "{generated:#?}");
    let capsule = &generated.capsule;
    let entry = serde_json::to_value(&capsule.entry).unwrap();
    assert_eq!(entry["name"], "add");
    assert_eq!(entry["returns"], "int");
    assert_eq!(capsule.tests[0].args, Some(vec![json!(1), json!(2)]));
    assert_eq!(
        capsule.tests[2].expected_return,
        Some(json!(4)),
        "the test was blamed and fixed: {:#?}",
        generated.repairs
    );
    let repair = &generated.repairs[0];
    assert!(repair.reason.contains("2 + 2"), "{}", repair.reason);
    assert!(recorder.events.iter().any(|event| event["function"] == "add(a: int, b: int) -> int"));
    let tests_prompt = fake.requests()[1].body["messages"][1]["content"].as_str().unwrap().to_string();
    assert!(tests_prompt.contains("Function: add(a: int, b: int) -> int"), "{tests_prompt}");
}

#[tokio::test]
async fn a_signature_the_judges_cannot_take_makes_a_stdin_capsule() {
    let script = vec![
        function_spec("add(a: integer) -> int"),
        good_tests(),
        code(CORRECT),
        code(STARTER),
        wrong(&[OFF_BY_ONE, ABS_FIRST]),
    ];
    let (result, recorder, _fake) = run(script, Budget::default()).await;
    let generated = result.unwrap();
    assert_eq!(generated.status, GenerationStatus::Validated);
    assert_eq!(generated.capsule.entry, None);
    let refused = recorder.events.iter().find(|event| event["event"] == "function_signature_refused").unwrap();
    assert!(refused["reason"].as_str().unwrap().contains("integer"), "{refused}");
}

#[tokio::test]
async fn a_function_capsule_is_healed_as_a_function_capsule() {
    let fake = FakeLlm::start(vec![wrong(&[ADD_OFF_BY_ONE, ADD_ABS_FIRST]), code(ADD), code(ADD)]).await;
    let llm = fake.client();
    let judges = Judges::new(vec![Arc::new(NativeJudge::new(Runtime::python())) as Arc<dyn Judge>]);
    let capsule: codecapsule_core::model::Capsule = serde_json::from_value(json!({
        "id": "c-43", "title": "Add", "description_md": "Return a + b.", "language": "python",
        "entry": {"kind": "function", "name": "add", "returns": "int",
                  "params": [{"name": "a", "type": "int"}, {"name": "b", "type": "int"}]},
        "starter": {"source": ADD_STARTER}, "solution": {"source": ADD_OFF_BY_ONE},
        "tests": [{"id": "t1", "args": [1, 2], "expected_return": 3}, {"id": "t2", "args": [-5, 3], "expected_return": -2}]
    }))
    .unwrap();
    let mut recorder = Recorder::default();
    let healed = Generator::new(&llm, &judges, Budget::default()).heal(&capsule, &mut recorder).await.unwrap();
    assert_eq!((healed.status, healed.repairs[0].artifact), (GenerationStatus::Validated, "solution"), "{healed:#?}");
    assert_eq!(healed.capsule.entry, capsule.entry);
    assert_eq!(healed.capsule.tests[1].args, Some(vec![json!(-5), json!(3)]));
    assert_eq!(healed.capsule.tests[1].expected_return, Some(json!(-2)));
    let repair_prompt = fake.requests()[2].body["messages"][1]["content"].as_str().unwrap().to_string();
    assert!(repair_prompt.contains("Function: add(a: int, b: int) -> int"), "{repair_prompt}");
}
