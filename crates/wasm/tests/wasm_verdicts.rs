//! Every verdict of the WebAssembly judge, produced for real by WAT modules and by the committed WASI example
//! (examples/wasi-sum: a Rust program built for wasm32-wasip1).

use base64::Engine as _;
use codecapsule_core::deadline::Deadline;
use codecapsule_core::judge::{Judge, JudgeError, Submission, limits};
use codecapsule_core::model::ErrorCode;
use codecapsule_core::model::{Compare, Entry, JudgeReport, JudgeRequest, LimitsRequest, Test, Verdict};
use codecapsule_wasm::WasmJudge;
use std::sync::Arc;

const SUM_WASM: &[u8] = include_bytes!("../../../examples/wasi-sum/sum.wasm");

/// Imports and a data segment shared by the WASI modules below: `$print` writes `len` bytes at `ptr` to stdout.
const PRINT: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $print (param $ptr i32) (param $len i32) (result i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
"#;

fn stdio_test(id: &str, stdin: &str, expected: &str) -> Test {
    Test { id: Some(id.into()), ..Test::stdio(stdin, expected) }
}

fn call_test(args: serde_json::Value, expected: serde_json::Value) -> Test {
    Test {
        id: None,
        stdin: String::new(),
        expected_stdout: None,
        args: Some(serde_json::from_value(args).unwrap()),
        expected_return: None,
        expected_result: Some(serde_json::from_value(expected).unwrap()),
        hidden: false,
        weight: 1.0,
    }
}

fn wat_request(wat: &str, tests: Vec<Test>) -> JudgeRequest {
    let limits = LimitsRequest { time_ms: Some(200), memory_mb: Some(16), output_kb: Some(4) };
    codecapsule_test_support::source_request("wat", wat, tests, limits)
}

fn wasm_request(module: &[u8], tests: Vec<Test>) -> JudgeRequest {
    JudgeRequest {
        language: "wasm".into(),
        source: None,
        module_base64: Some(base64::engine::general_purpose::STANDARD.encode(module)),
        ..wat_request("", tests)
    }
}

fn judge(request: JudgeRequest) -> Result<JudgeReport, JudgeError> {
    let submission = Submission::check(request, |language| WasmJudge.judges(language), |_| String::new())?;
    codecapsule_test_support::block_on(Arc::new(WasmJudge).judge(Arc::new(submission), Deadline::for_request(None)))
}

fn single(request: JudgeRequest) -> codecapsule_core::model::TestReport {
    let report = judge(request).expect("the request is valid");
    assert_eq!(report.tests.len(), 1);
    assert_eq!(report.verdict, report.tests[0].verdict, "one test: its verdict is the overall verdict");
    report.tests.into_iter().next().unwrap()
}

fn wasi_module(start_body: &str) -> String {
    format!("(module {PRINT} (data (i32.const 64) \"3\\n\") (func (export \"_start\") {start_body}))")
}

#[test]
fn accepted_and_wrong_answer_from_a_wat_wasi_program() {
    let wat = wasi_module("(drop (call $print (i32.const 64) (i32.const 2)))");
    let report = judge(wat_request(&wat, vec![stdio_test("ok", "", "3\n"), stdio_test("bad", "", "4\n")])).unwrap();
    assert_eq!(report.tests[0].verdict, Verdict::Accepted);
    assert_eq!(report.tests[0].stdout, "3\n");
    assert_eq!(report.tests[0].exit_code, Some(0));
    assert_eq!(report.tests[1].verdict, Verdict::WrongAnswer);
    assert_eq!(report.tests[1].message.as_deref(), Some("line 1, column 1: expected \"4\", got \"3\""));
    assert_eq!((report.verdict, report.passed, report.total, report.score), (Verdict::WrongAnswer, 1, 2, 0.5));
    assert!(report.compile.ok);
    assert_eq!(report.engine.name, "wasmi");
    assert!(report.engine.version.starts_with("2."), "{}", report.engine.version);
}

#[test]
fn the_rust_wasi_example_reads_stdin_and_is_graded() {
    let mut hidden = stdio_test("hidden", "40 2\n", "41\n");
    hidden.hidden = true;
    let tests = vec![
        stdio_test("sum", "1 2\n3\n", "6\n"),
        stdio_test("negative", "-5 5 -7", "-7\n"),
        stdio_test("wrong", "2 2\n", "5\n"),
        hidden,
        stdio_test("not-a-number", "1 x", "1\n"),
    ];
    let report = judge(wasm_request(SUM_WASM, tests)).unwrap();
    let verdicts: Vec<Verdict> = report.tests.iter().map(|test| test.verdict).collect();
    assert_eq!(
        verdicts,
        [Verdict::Accepted, Verdict::Accepted, Verdict::WrongAnswer, Verdict::WrongAnswer, Verdict::RuntimeError]
    );
    assert_eq!(report.tests[2].message.as_deref(), Some("line 1, column 1: expected \"5\", got \"4\""));
    // A hidden test tells nothing: no output, no expected value in the message.
    let hidden = &report.tests[3];
    assert!(hidden.hidden && hidden.stdout.is_empty() && hidden.stderr.is_empty());
    assert!(!hidden.message.as_deref().unwrap().contains("41"));
    // exit(3) with the program's own stderr.
    assert_eq!(report.tests[4].exit_code, Some(3));
    assert_eq!(report.tests[4].stderr, "not an integer: x\n");
    assert_eq!(report.tests[4].message.as_deref(), Some("the program exited with status 3"));
    assert!(report.tests[0].memory_kb > 0 && report.tests[0].fuel.unwrap() > 0);
}

#[test]
fn fuel_is_reproducible_from_test_to_test() {
    let tests = vec![stdio_test("a", "1 2\n", "3\n"), stdio_test("b", "1 2\n", "3\n")];
    let first = judge(wasm_request(SUM_WASM, tests.clone())).unwrap();
    let second = judge(wasm_request(SUM_WASM, tests)).unwrap();
    let fuel: Vec<Option<u64>> = first.tests.iter().chain(&second.tests).map(|test| test.fuel).collect();
    assert!(fuel.iter().all(|used| *used == fuel[0]), "{fuel:?}");
}

#[test]
fn an_infinite_loop_is_time_limit_exceeded_by_fuel() {
    let test = single(wat_request(&wasi_module("(loop (br 0))"), vec![stdio_test("t", "", "")]));
    assert_eq!(test.verdict, Verdict::TimeLimitExceeded);
    let message = test.message.unwrap();
    assert!(message.contains("time limit of 200 ms"), "{message}");
    assert!(test.fuel.unwrap() >= 200 * codecapsule_wasm::FUEL_PER_MS - codecapsule_wasm::FUEL_SLICE);
}

#[test]
fn a_grow_bomb_is_memory_limit_exceeded() {
    let bomb = wasi_module("(loop (br_if 0 (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable");
    let test = single(wat_request(&bomb, vec![stdio_test("t", "", "")]));
    assert_eq!(test.verdict, Verdict::MemoryLimitExceeded);
    assert!(test.message.unwrap().contains("memory limit is 16 MiB"));
    assert!(test.memory_kb <= 16 * 1024 && test.memory_kb > 15 * 1024, "peak {} KiB", test.memory_kb);
}

#[test]
fn a_module_that_declares_too_much_memory_is_memory_limit_exceeded() {
    let test = single(wat_request("(module (memory 1024) (func (export \"_start\")))", vec![stdio_test("t", "", "")]));
    assert_eq!(test.verdict, Verdict::MemoryLimitExceeded);
}

#[test]
fn a_print_loop_is_output_limit_exceeded() {
    let flood = wasi_module("(loop (drop (call $print (i32.const 64) (i32.const 2))) (br 0))");
    let test = single(wat_request(&flood, vec![stdio_test("t", "", "")]));
    assert_eq!(test.verdict, Verdict::OutputLimitExceeded);
    assert_eq!(test.message.as_deref(), Some("stdout went over the output limit of 4 KiB"));
    assert_eq!(test.stdout.len(), 4 * 1024, "the output up to the cap is kept");
    // The run stopped at the cap rather than spinning on failed writes until the fuel ran out.
    assert!(test.fuel.unwrap() < 10_000_000, "fuel {:?}", test.fuel);
}

#[test]
fn traps_are_runtime_errors_naming_the_trap() {
    let cases = [
        ("unreachable", "wasm `unreachable` instruction executed"),
        ("(drop (i32.div_s (i32.const 1) (i32.const 0)))", "integer divide by zero"),
    ];
    for (body, expected) in cases {
        let test = single(wat_request(&wasi_module(body), vec![stdio_test("t", "", "")]));
        assert_eq!(test.verdict, Verdict::RuntimeError, "{body}");
        let message = test.message.unwrap();
        assert!(message.starts_with("trap: ") && message.contains(expected), "{body}: {message}");
    }
}

#[test]
fn unbounded_recursion_is_a_runtime_error_but_deep_recursion_is_fine() {
    let wat = r#"(module
        (func $forever (call $forever))
        (func $down (export "down") (param i32) (result i32)
          (if (result i32) (local.get 0)
            (then (i32.add (i32.const 1) (call $down (i32.sub (local.get 0) (i32.const 1)))))
            (else (i32.const 0))))
        (func (export "_start") (call $forever)))"#;
    let test = single(wat_request(wat, vec![stdio_test("t", "", "")]));
    assert_eq!(test.verdict, Verdict::RuntimeError);
    assert!(test.message.unwrap().contains("stack overflow"));

    // wasmi's default stack traps at 1000 frames; the judge allows real programs far more.
    let mut request = wat_request(wat, vec![call_test(serde_json::json!([50_000]), serde_json::json!([50_000]))]);
    request.entry = Some(Entry::export("down"));
    let test = single(request);
    assert_eq!(test.verdict, Verdict::Accepted, "{:?}", test.message);
}

#[test]
fn proc_exit_with_a_status_is_a_runtime_error_with_that_exit_code() {
    let wat = r#"(module
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (func (export "_start") (call $exit (i32.const 3))))"#;
    let test = single(wat_request(wat, vec![stdio_test("t", "", "")]));
    assert_eq!((test.verdict, test.exit_code), (Verdict::RuntimeError, Some(3)), "{:?}", test.message);
    let exit_zero = wat.replace("i32.const 3", "i32.const 0");
    assert_eq!(single(wat_request(&exit_zero, vec![stdio_test("t", "", "")])).verdict, Verdict::Accepted);
}

#[test]
fn sleeping_costs_no_wall_time() {
    // poll_oneoff on one relative clock subscription of one hour: a real sleep would hang past every deadline, since
    // no fuel burns while a host call blocks. The virtual clock answers at once.
    let wat = wasi_module(
        r#"(i64.store (i32.const 128) (i64.const 0))          ;; userdata
           (i32.store8 (i32.const 136) (i32.const 0))         ;; tag: clock
           (i32.store (i32.const 144) (i32.const 1))          ;; clock id: monotonic
           (i64.store (i32.const 152) (i64.const 3600000000000)) ;; timeout: one hour in ns
           (i64.store (i32.const 160) (i64.const 0))          ;; precision
           (i32.store16 (i32.const 168) (i32.const 0))        ;; flags: relative
           (drop (call $poll (i32.const 128) (i32.const 192) (i32.const 1) (i32.const 256)))
           (drop (call $print (i32.const 64) (i32.const 2)))"#,
    )
    .replace(
        "(memory (export",
        r#"(import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32))) (memory (export"#,
    );
    let test = single(wat_request(&wat, vec![stdio_test("t", "", "3\n")]));
    assert_eq!(test.verdict, Verdict::Accepted, "{:?}", test.message);
}

#[test]
fn compilation_errors_name_their_cause() {
    let cases: Vec<(JudgeRequest, &str)> = vec![
        (wasm_request(b"\0asm\x01\0\0\0garbage", vec![stdio_test("t", "", "")]), "not valid WebAssembly"),
        (wasm_request(b"(module)", vec![stdio_test("t", "", "")]), "not a WebAssembly binary"),
        (wat_request("(module (func", vec![stdio_test("t", "", "")]), "WAT text does not parse"),
        (
            wat_request(
                r#"(module (import "env" "secret" (func)) (func (export "_start")))"#,
                vec![stdio_test("t", "", "")],
            ),
            "import `env.secret` is not allowed",
        ),
        (
            wat_request(
                r#"(module (import "wasi_snapshot_preview1" "sock_open" (func)) (func (export "_start")))"#,
                vec![stdio_test("t", "", "")],
            ),
            "sock_open",
        ),
        (
            wat_request(
                r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32))) (func (export "_start")))"#,
                vec![stdio_test("t", "", "")],
            ),
            "not the signature WASI defines",
        ),
        (wat_request("(module (func (export \"main\")))", vec![stdio_test("t", "", "")]), "no `_start` function"),
    ];
    for (request, expected) in cases {
        let report = judge(request).unwrap();
        assert_eq!(report.verdict, Verdict::CompilationError);
        assert!(!report.compile.ok);
        assert!(report.compile.output.contains(expected), "expected {expected:?} in {:?}", report.compile.output);
        assert!(report.tests.iter().all(|test| test.verdict == Verdict::CompilationError));
    }
}

#[test]
fn module_size_edge_is_a_compilation_error() {
    // A valid module padded with a custom section to exactly the limit compiles; one byte more does not.
    let padded = |total: usize| {
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        let name = b"pad";
        // custom section: id 0, size (LEB128, 4 bytes), name length, name, payload
        let payload = total - module.len() - 1 - 4 - 1 - name.len();
        let size = (1 + name.len() + payload) as u32;
        module.push(0);
        module.extend_from_slice(&[
            (size & 0x7f) as u8 | 0x80,
            ((size >> 7) & 0x7f) as u8 | 0x80,
            ((size >> 14) & 0x7f) as u8 | 0x80,
            (size >> 21) as u8,
        ]);
        module.push(name.len() as u8);
        module.extend_from_slice(name);
        module.resize(total, 0);
        module
    };
    let at_limit = judge(wasm_request(&padded(limits::MAX_MODULE_BYTES), vec![stdio_test("t", "", "")])).unwrap();
    assert!(at_limit.compile.output.contains("no `_start`"), "{}", at_limit.compile.output);
    let over = judge(wasm_request(&padded(limits::MAX_MODULE_BYTES + 1), vec![stdio_test("t", "", "")])).unwrap();
    assert!(over.compile.output.contains("at most 8388608 bytes"), "{}", over.compile.output);
}

#[test]
fn function_entries_type_arguments_and_compare_results() {
    let wat = r#"(module
        (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
        (func (export "half") (param f64) (result f64) (f64.div (local.get 0) (f64.const 2)))
        (func (export "nan") (result f32) (f32.div (f32.const 0) (f32.const 0))))"#;
    let run = |export: &str, compare: Compare, tests: Vec<Test>| {
        let mut request = wat_request(wat, tests);
        request.entry = Some(Entry::export(export));
        request.compare = compare;
        judge(request)
    };
    let report = run(
        "add",
        Compare::default(),
        vec![
            call_test(serde_json::json!([1, 2]), serde_json::json!([3])),
            call_test(serde_json::json!([1, 2]), serde_json::json!([4])),
        ],
    )
    .unwrap();
    assert_eq!(report.tests[0].verdict, Verdict::Accepted);
    assert_eq!(report.tests[1].message.as_deref(), Some("result 1: expected 4, got 3"));

    let tolerant = Compare::Float { abs_tol: 1e-3, rel_tol: 0.0 };
    let close = vec![call_test(serde_json::json!([1.0]), serde_json::json!([0.5004]))];
    assert_eq!(run("half", tolerant, close.clone()).unwrap().verdict, Verdict::Accepted);
    assert_eq!(run("half", Compare::default(), close).unwrap().verdict, Verdict::WrongAnswer);

    let report =
        run("nan", Compare::default(), vec![call_test(serde_json::json!([]), serde_json::json!([0]))]).unwrap();
    assert_eq!(report.tests[0].result, Some(vec![serde_json::json!("NaN")]));
    assert_eq!(report.verdict, Verdict::WrongAnswer);

    // Wrong arity and out-of-range arguments are the request's fault: 422 invalid_test naming the test.
    let err =
        run("add", Compare::default(), vec![call_test(serde_json::json!([1]), serde_json::json!([1]))]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidTest);
    assert!(err.to_string().contains("takes 2 (i32, i32)"), "{err}");
    let err = run("add", Compare::default(), vec![call_test(serde_json::json!([1, 1e12]), serde_json::json!([1]))])
        .unwrap_err();
    assert!(err.to_string().contains("arg 2"), "{err}");
    let report =
        run("missing", Compare::default(), vec![call_test(serde_json::json!([]), serde_json::json!([]))]).unwrap();
    assert!(report.compile.output.contains("no function export named `missing`"));
}

#[test]
fn each_test_starts_from_a_fresh_store() {
    // A counter in a global: were the instance shared between tests, the second run would print "4".
    let wat = r#"(module
        (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (global $runs (mut i32) (i32.const 0))
        (func (export "_start")
          (global.set $runs (i32.add (global.get $runs) (i32.const 1)))
          (i32.store8 (i32.const 64) (i32.add (i32.const 50) (global.get $runs)))
          (i32.store (i32.const 0) (i32.const 64))
          (i32.store (i32.const 4) (i32.const 1))
          (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;
    let report = judge(wat_request(wat, vec![stdio_test("a", "", "3"), stdio_test("b", "", "3")])).unwrap();
    assert_eq!(report.verdict, Verdict::Accepted);
}
