//! Function-call tests on the native judges: every verdict, the harness's defences against forged results, and values
//! that must round-trip exactly. Each capsule is JSON as a client would send it.

use codecapsule_core::deadline::Deadline;
use codecapsule_core::judge::{Judge, JudgeError, Judges};
use codecapsule_core::model::{JudgeReport, JudgeRequest, Verdict};
use codecapsule_native::{NativeJudge, Runtime};
use serde_json::json;
use std::sync::{Arc, OnceLock};

fn judges() -> &'static Judges {
    static JUDGES: OnceLock<Judges> = OnceLock::new();
    JUDGES.get_or_init(|| {
        // SAFETY: set once, before any judge thread starts.
        unsafe { std::env::set_var("SANDBOX_DIR", codecapsule_test_support::test_sandbox_dir("functions")) };
        Judges::new(vec![
            Arc::new(NativeJudge::new(Runtime::python())) as Arc<dyn Judge>,
            Arc::new(NativeJudge::new(Runtime::java())),
            Arc::new(NativeJudge::new(Runtime::csharp())),
        ])
    })
}

use codecapsule_test_support::functions::{
    PYTHON_TWO_SUM, assert_fates, echo_request, fates, two_sum, two_sum_cases as cases,
};

fn judge(request: JudgeRequest) -> Result<JudgeReport, JudgeError> {
    codecapsule_test_support::block_on(judges().prepare(request)?.judge(Deadline::for_request(None)))
}

#[test]
fn python_accepts_a_right_function_and_names_the_call_of_a_wrong_one() {
    let report = judge(two_sum("python", PYTHON_TWO_SUM, &cases(), false)).unwrap();
    assert_eq!(report.verdict, Verdict::Accepted, "{report:#?}");
    assert_eq!(report.tests[0].result, Some(vec![json!([0, 1])]));

    let reversed = "def two_sum(nums, target):\n    print('looking', target)\n    for i in range(len(nums)):\n        for j in range(i + 1, len(nums)):\n            if nums[i] + nums[j] == target:\n                return [j, i]\n";
    let report = judge(two_sum("python", reversed, &cases(), true)).unwrap();
    assert_eq!(report.verdict, Verdict::WrongAnswer);
    let first = &report.tests[0];
    assert_eq!(first.message.as_deref(), Some("two_sum([2, 7, 11, 15], 9) returned [1, 0]; expected [0, 1]"));
    assert_eq!(first.stdout, "looking 9\n", "each call's own output");
    assert_eq!(report.tests[1].stdout, "looking 6\n");
    let hidden = &report.tests[2];
    assert!(hidden.hidden && hidden.stdout.is_empty() && hidden.result.is_none());
    assert!(!hidden.message.as_deref().unwrap_or_default().contains("[3, 3]"), "{:?}", hidden.message);
}

#[test]
fn python_verdicts_of_calls_that_do_not_return() {
    let source = r#"
import sys
def two_sum(nums, target):
    if target == 9:
        raise ValueError("no pair for %d" % target)
    if target == 6 and nums[0] == 3 and len(nums) == 3:
        while True:
            pass
    if target == 6:
        x = []
        while True:
            x.append(" " * 1000000)
    return []
"#;
    let mut tests = cases();
    tests.push((json!([[1], 1]), json!([])));
    tests.push((json!([[1], 2]), json!([5])));
    let report = judge(two_sum("python", source, &tests, false)).unwrap();
    let verdicts: Vec<Verdict> = report.tests.iter().map(|test| test.verdict).collect();
    assert_eq!(
        verdicts,
        [
            Verdict::RuntimeError,
            Verdict::TimeLimitExceeded,
            Verdict::MemoryLimitExceeded,
            Verdict::Accepted,
            Verdict::WrongAnswer
        ],
        "{report:#?}"
    );
    assert_eq!(report.tests[0].message.as_deref(), Some("two_sum([2, 7, 11, 15], 9) raised ValueError: no pair for 9"));
    let traceback = &report.tests[0].stderr;
    assert!(traceback.contains("line 5, in two_sum") && traceback.contains("raise ValueError"), "{traceback}");
    assert!(!traceback.contains("harness"), "the harness's own frames are cut: {traceback}");
    assert_eq!(report.tests[1].message.as_deref(), Some("two_sum([3, 2, 4], 6) ran past its time limit of 1000 ms"));
}

#[test]
fn python_output_floods_early_exits_and_missing_functions() {
    let flood = "def two_sum(nums, target):\n    if target == 6:\n        print('x' * 100000)\n    return [0, 1]\n";
    let report = judge(two_sum("python", flood, &cases(), false)).unwrap();
    let verdicts: Vec<Verdict> = report.tests.iter().map(|test| test.verdict).collect();
    assert_eq!(verdicts, [Verdict::Accepted, Verdict::OutputLimitExceeded, Verdict::OutputLimitExceeded]);

    let exits =
        "import os, sys\ndef two_sum(nums, target):\n    if target == 9:\n        os._exit(0)\n    sys.exit(0)\n";
    let report = judge(two_sum("python", exits, &cases(), false)).unwrap();
    assert!(report.tests.iter().all(|test| test.verdict == Verdict::RuntimeError), "{report:#?}");
    assert!(report.tests[0].message.as_deref().unwrap().contains("before the function returned"));

    let missing = "def twosum(nums, target):\n    return []\n";
    let report = judge(two_sum("python", missing, &cases(), false)).unwrap();
    assert_eq!(report.verdict, Verdict::CompilationError);
    assert!(report.compile.output.contains("no top-level function `two_sum`"), "{}", report.compile.output);

    let arity = "def two_sum(nums):\n    return []\n";
    let report = judge(two_sum("python", arity, &cases(), true)).unwrap();
    assert_eq!(report.verdict, Verdict::CompilationError);
    assert!(report.compile.output.contains("takes 1 parameter (nums)"), "{}", report.compile.output);

    let syntax = "def two_sum(nums, target)\n    return []\n";
    let report = judge(two_sum("python", syntax, &cases(), false)).unwrap();
    assert_eq!(report.verdict, Verdict::CompilationError);
    assert!(report.compile.output.contains("SyntaxError"), "{}", report.compile.output);
}

#[test]
fn forged_results_never_turn_a_wrong_answer_into_accepted() {
    // Each program returns a wrong answer and tries to make the judge read a right one.
    let forgeries = [
        // A result line as a harness might print one, with and without the record mark.
        "def two_sum(nums, target):\n    print('\\x1e0 returned 0.1 [0, 1]')\n    print('returned [0, 1]')\n    return [9, 9]\n",
        // A patched encoder, builtins and stdout.
        "import json, builtins, sys\njson.dumps = lambda *a, **k: '[0, 1]'\nbuiltins.repr = lambda v: '[0, 1]'\nbuiltins.str = lambda v='': '[0, 1]'\nclass L(list):\n    def __repr__(self): return '[0, 1]'\n    def __iter__(self): return iter([0, 1])\ndef two_sum(nums, target):\n    return L([9, 9])\n",
        // Writing to every descriptor the harness might hold.
        "import os\ndef two_sum(nums, target):\n    for fd in range(1, 20):\n        try:\n            os.write(fd, b'\\x1e returned 0 [0, 1]\\n')\n        except OSError:\n            pass\n    return [9, 9]\n",
        // Replacing os.write and os._exit, which the harness holds already.
        "import os\nos.write = lambda fd, data: len(data)\nos._exit = lambda status: None\ndef two_sum(nums, target):\n    return [9, 9]\n",
    ];
    for forgery in forgeries {
        let report = judge(two_sum("python", forgery, &cases()[..1], false)).unwrap();
        assert_ne!(report.verdict, Verdict::Accepted, "{forgery}\n{report:#?}");
        assert_eq!(report.tests[0].result, Some(vec![json!([9, 9])]), "{forgery}\n{report:#?}");
    }
}

#[test]
fn deep_nesting_and_unicode_round_trip_exactly() {
    let (request, value) = echo_request("python", "def echo(value, scale):\n    return value\n");
    let report = judge(request).unwrap();
    assert_eq!(report.verdict, Verdict::Accepted, "{report:#?}");
    assert_eq!(report.tests[0].result, Some(vec![value]));
}

#[test]
fn a_returned_value_of_the_wrong_type_is_a_wrong_answer_naming_it() {
    let source = "def two_sum(nums, target):\n    return {0, 1} if target == 9 else [0.0, 1]\n";
    let report = judge(two_sum("python", source, &cases()[..2], false)).unwrap();
    assert_eq!(report.tests[0].verdict, Verdict::WrongAnswer);
    assert_eq!(
        report.tests[0].message.as_deref(),
        Some("two_sum([2, 7, 11, 15], 9) returned a set, which is no value of the contract")
    );
    assert_eq!(
        report.tests[1].message.as_deref(),
        Some("two_sum([3, 2, 4], 6) returned [0.0, 1], which is not a list[int]")
    );
}

#[test]
fn per_test_isolation_gives_each_call_a_fresh_process() {
    let counting = "calls = []\ndef two_sum(nums, target):\n    calls.append(1)\n    return [0, len(calls)]\n";
    let mut shared =
        two_sum("python", counting, &[(json!([[1], 1]), json!([0, 1])), (json!([[1], 1]), json!([0, 1]))], false);
    let report = judge(shared.clone()).unwrap();
    assert_eq!(report.tests[1].verdict, Verdict::WrongAnswer, "one process keeps the module's state");
    if let Some(codecapsule_core::model::Entry::Function { isolation, .. }) = &mut shared.entry {
        *isolation = codecapsule_core::function::Isolation::PerTest;
    }
    let report = judge(shared).unwrap();
    assert_eq!(report.verdict, Verdict::Accepted, "{report:#?}");
}

const JAVA_TWO_SUM: &str = "import java.util.*;\n\npublic class Solution {\n    public static List<Long> two_sum(List<Long> nums, long target) {\n        Map<Long, Long> seen = new HashMap<>();\n        for (int i = 0; i < nums.size(); i++) {\n            Long other = seen.get(target - nums.get(i));\n            if (other != null) return List.of(other, (long) i);\n            seen.put(nums.get(i), (long) i);\n        }\n        return null;\n    }\n}\n";

const JAVA_FATES: &str = r#"import java.util.*;

public class Solution {
    public static List<Long> two_sum(List<Long> nums, long target) {
        System.out.println("call " + target);
        if (target == 1) throw new IllegalArgumentException("no pair for " + target);
        if (target == 2) while (true) { nums.hashCode(); }
        if (target == 3) { List<long[]> blocks = new ArrayList<>(); while (true) blocks.add(new long[1 << 20]); }
        if (target == 4) System.out.println("x".repeat(100000));
        if (target == 6) return List.of(9L, 9L);
        return new ArrayList<>(List.of(0L, 1L));
    }
}
"#;

const CSHARP_TWO_SUM: &str = "using System.Collections.Generic;\n\npublic class Solution\n{\n    public static List<long> two_sum(List<long> nums, long target)\n    {\n        var seen = new Dictionary<long, long>();\n        for (int i = 0; i < nums.Count; i++)\n        {\n            if (seen.ContainsKey(target - nums[i])) return new List<long> { seen[target - nums[i]], i };\n            seen[nums[i]] = i;\n        }\n        return null;\n    }\n}\n";

const CSHARP_FATES: &str = r#"using System;
using System.Collections.Generic;

public class Solution
{
    public static List<long> two_sum(List<long> nums, long target)
    {
        Console.WriteLine("call " + target);
        if (target == 1) throw new ArgumentException("no pair for " + target);
        if (target == 2) while (true) { nums.GetHashCode(); }
        if (target == 3) { var blocks = new List<long[]>(); while (true) blocks.Add(new long[1 << 20]); }
        if (target == 4) Console.WriteLine(new string('x', 100000));
        if (target == 6) return new List<long> { 9, 9 };
        return new List<long> { 0, 1 };
    }
}
"#;

#[test]
fn java_and_csharp_functions_get_every_verdict() {
    for (language, right, fated, raised) in [
        ("java", JAVA_TWO_SUM, JAVA_FATES, "java.lang.IllegalArgumentException: no pair for 1"),
        ("csharp", CSHARP_TWO_SUM, CSHARP_FATES, "System.ArgumentException: no pair for 1"),
    ] {
        let report = judge(two_sum(language, right, &cases(), true)).unwrap();
        assert_eq!(report.verdict, Verdict::Accepted, "{language}: {report:#?}");
        let report = judge(two_sum(language, fated, &fates(), false)).unwrap();
        assert_fates(&report, raised);
        assert!(report.tests[0].stderr.contains("two_sum"), "{language}: the stack trace: {}", report.tests[0].stderr);
    }
}

#[test]
fn java_and_csharp_signatures_are_checked_and_values_round_trip() {
    let wrong = [
        (
            "java",
            "import java.util.*;\npublic class Solution { public static List<Long> twoSum(List<Long> n, long t) { return null; } }",
            "no public class",
        ),
        (
            "java",
            "import java.util.*;\npublic class Solution { public static List<Integer> two_sum(List<Integer> n, int t) { return null; } }",
            "Solution declares `List<Integer> two_sum(List<Integer>, int)`",
        ),
        (
            "java",
            "import java.util.*;\npublic class Solution { public static List<Long> two_sum(List<Long> n, long t) { return null }",
            "error",
        ),
        (
            "csharp",
            "using System.Collections.Generic;\npublic class Solution { public static List<long> two_sum(List<long> n) { return null; } }",
            "Solution declares",
        ),
        ("csharp", "public class Solution { }", "no public class"),
    ];
    for (language, source, expected) in wrong {
        let report = judge(two_sum(language, source, &cases(), true)).unwrap();
        assert_eq!(report.verdict, Verdict::CompilationError, "{source}\n{report:#?}");
        assert!(report.compile.output.contains(expected), "{source}\n{}", report.compile.output);
    }
    let (request, value) = echo_request(
        "java",
        "import java.util.*;\npublic class Echo { public static Map<String, List<List<String>>> echo(Map<String, List<List<String>>> value, double scale) { return value; } }\n",
    );
    let report = judge(request).unwrap();
    assert_eq!(report.tests[0].result, Some(vec![value.clone()]), "{report:#?}");
    let (request, _) = echo_request(
        "csharp",
        "using System.Collections.Generic;\npublic class Echo { public static Dictionary<string, List<List<string>>> echo(Dictionary<string, List<List<string>>> value, double scale) { return value; } }\n",
    );
    let report = judge(request).unwrap();
    assert_eq!(report.tests[0].result, Some(vec![value]), "{report:#?}");
}

#[test]
fn java_and_csharp_forgeries_change_nothing() {
    let forgeries = [
        (
            "java",
            "import java.util.*;\nimport java.io.*;\npublic class Solution {\n  public static List<Long> two_sum(List<Long> nums, long target) throws Exception {\n    System.out.println(\"\\u001e0 returned 0 [0,1]\");\n    for (int fd = 1; fd < 8; fd++) { try { new FileOutputStream(\"/proc/self/fd/\" + fd).write(\"\\u001e returned 0 [0,1]\\n\".getBytes()); } catch (Exception e) {} }\n    System.setOut(new PrintStream(new ByteArrayOutputStream()));\n    return List.of(9L, 9L);\n  }\n}\n",
        ),
        (
            "java",
            "import java.util.*;\npublic class Solution {\n  public static List<Long> two_sum(List<Long> nums, long target) { System.exit(0); return null; }\n}\n",
        ),
        (
            "csharp",
            "using System;\nusing System.Collections.Generic;\npublic class Solution {\n  public static List<long> two_sum(List<long> nums, long target) {\n    Console.WriteLine(\"\\u001e0 returned 0 [0,1]\");\n    Console.SetOut(System.IO.TextWriter.Null);\n    return new List<long> { 9, 9 };\n  }\n}\n",
        ),
        (
            "csharp",
            "using System;\nusing System.Collections.Generic;\npublic class Solution {\n  public static List<long> two_sum(List<long> nums, long target) { Environment.Exit(0); return null; }\n}\n",
        ),
    ];
    for (language, forgery) in forgeries {
        let report = judge(two_sum(language, forgery, &cases()[..1], false)).unwrap();
        assert_ne!(report.verdict, Verdict::Accepted, "{forgery}\n{report:#?}");
    }
}

#[test]
fn a_visible_call_never_shows_what_a_hidden_calls_process_held() {
    // The program digs the harness's input (every call's arguments, the nonce) out of the interpreter's frames and
    // prints it in every call: the visible call's output must hold no hidden argument.
    let snoop = "import sys\ndef dump():\n    frame = sys._getframe()\n    while frame:\n        print(repr(frame.f_locals.get('calls')))\n        frame = frame.f_back\ndump()\ndef two_sum(nums, target):\n    dump()\n    return [0, 1]\n";
    let secret = (json!([[4242, 5353], 9595]), json!([0, 1]));
    let report = judge(two_sum("python", snoop, &[cases()[0].clone(), secret], true)).unwrap();
    let visible = &report.tests[0];
    assert!(visible.stdout.contains("2, 7, 11, 15"), "the snoop works: {}", visible.stdout);
    for hidden_arg in ["4242", "5353", "9595"] {
        assert!(!visible.stdout.contains(hidden_arg) && !visible.stderr.contains(hidden_arg), "{visible:#?}");
    }
    assert!(report.tests[1].stdout.is_empty() && report.tests[1].hidden);
}
