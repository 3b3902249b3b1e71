//! Function capsules shared by the engines' tests: the same capsule judged natively and in WebAssembly must agree.

use codecapsule_core::model::{JudgeReport, JudgeRequest, Verdict};
use serde_json::{Value, json};

/// `two_sum(nums: list[int], target: int) -> list[int]` in `language`, with `cases` as `[args, expected]` pairs (the
/// last one hidden when `last_hidden`), 1 s per call, 128 MiB, 16 KiB of output per stream.
pub fn two_sum(language: &str, source: &str, cases: &[(Value, Value)], last_hidden: bool) -> JudgeRequest {
    let tests: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(index, (args, expected))| {
            json!({"args": args, "expected_return": expected, "hidden": last_hidden && index + 1 == cases.len()})
        })
        .collect();
    serde_json::from_value(json!({
        "language": language,
        "source": source,
        "entry": {"kind": "function", "name": "two_sum", "returns": "list[int]",
                  "params": [{"name": "nums", "type": "list[int]"}, {"name": "target", "type": "int"}]},
        "tests": tests,
        "limits": {"time_ms": 1000, "memory_mb": 128, "output_kb": 16},
    }))
    .expect("a well-formed request")
}

/// Three calls of `two_sum` and their answers.
pub fn two_sum_cases() -> Vec<(Value, Value)> {
    vec![
        (json!([[2, 7, 11, 15], 9]), json!([0, 1])),
        (json!([[3, 2, 4], 6]), json!([1, 2])),
        (json!([[3, 3], 6]), json!([0, 1])),
    ]
}

/// A right `two_sum` in Python.
pub const PYTHON_TWO_SUM: &str = "def two_sum(nums, target):\n    seen = {}\n    for i, n in enumerate(nums):\n        if target - n in seen:\n            return [seen[target - n], i]\n        seen[n] = i\n";

/// `echo(value: map[list[list[string]]], scale: float)` returning `value`: deep nesting and every kind of character.
pub fn echo_request(language: &str, source: &str) -> (JudgeRequest, Value) {
    let value = json!({"é": [["a\"b\\c\n\u{1F600}", ""]], "zero": [], "\u{0}": [["\t", "\u{7f}\u{2028}"]]});
    let request = serde_json::from_value(json!({
        "language": language,
        "source": source,
        "entry": {"kind": "function", "name": "echo", "returns": "map[list[list[string]]]",
                  "params": [{"name": "value", "type": "map[list[list[string]]]"}, {"name": "scale", "type": "float"}]},
        "tests": [{"args": [value, 1.5], "expected_return": value}],
    }))
    .expect("a well-formed request");
    (request, value)
}

/// `two_sum` called with targets 1 to 6, each expecting `[0, 1]`: a program of [`assert_fates`]'s kind meets a
/// different fate on each (raises, loops, eats memory, floods stdout, returns right, returns `[9, 9]`), printing
/// `call <target>` first.
pub fn fates() -> Vec<(Value, Value)> {
    (1..=6).map(|target| (json!([[0, 1], target]), json!([0, 1]))).collect()
}

/// What a submission meets on [`fates`]: each verdict, `raised` as the first call's exception (type and message),
/// each call's own output, and the wrong answer naming its call.
pub fn assert_fates(report: &JudgeReport, raised: &str) {
    let verdicts: Vec<Verdict> = report.tests.iter().map(|test| test.verdict).collect();
    let expected = [
        Verdict::RuntimeError,
        Verdict::TimeLimitExceeded,
        Verdict::MemoryLimitExceeded,
        Verdict::OutputLimitExceeded,
        Verdict::Accepted,
        Verdict::WrongAnswer,
    ];
    assert_eq!(verdicts, expected, "{report:#?}");
    assert_eq!(report.tests[0].message.as_deref(), Some(format!("two_sum([0, 1], 1) raised {raised}").as_str()));
    assert_eq!(report.tests[1].message.as_deref(), Some("two_sum([0, 1], 2) ran past its time limit of 1000 ms"));
    assert_eq!(report.tests[4].stdout, "call 5\n", "each call's own output");
    assert_eq!(report.tests[5].message.as_deref(), Some("two_sum([0, 1], 6) returned [9, 9]; expected [0, 1]"));
}
