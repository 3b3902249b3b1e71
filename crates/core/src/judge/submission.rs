//! A [`JudgeRequest`] checked once at the edge of the domain: after this, engines trust their input.

use super::{JudgeError, limits};
use crate::function::{Isolation, Signature, ValueType, call_text};
use crate::model::{Compare, Entry, JudgeRequest, Language, Limits, Param};
use base64::Engine as _;
use serde_json::Value;

/// A request that passed every check: known language, code present and within size, 1..=MAX_TESTS well-formed tests.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The language.
    pub language: Language,
    /// The program.
    pub code: Code,
    /// How a test reaches it (a program's stdin, or a function's arguments), as sent.
    pub entry: Entry,
    /// A named function's checked signature (every language but wasm and wat), when the entry is one.
    pub function: Option<FunctionCall>,
    /// The tests, each with an id.
    pub tests: Vec<TestCase>,
    /// The limits, defaults filled in.
    pub limits: Limits,
    /// How output is compared.
    pub compare: Compare,
}

#[derive(Debug, Clone)]
/// The program as sent.
pub enum Code {
    /// Text source: wat, python, java, csharp…
    Source(String),
    /// A binary WebAssembly module, decoded from `module_base64`.
    Module(Vec<u8>),
}

#[derive(Debug, Clone)]
/// A checked test.
pub struct TestCase {
    /// Its id (given, or `t<n>`).
    pub id: String,
    /// What it feeds and expects.
    pub io: TestIo,
    /// Whether the reader sees only its verdict.
    pub hidden: bool,
    /// Its share of the score.
    pub weight: f64,
}

/// A function entry of a language with a harness: what every call calls.
#[derive(Debug, Clone)]
pub struct FunctionCall {
    /// The function's name and types.
    pub signature: Signature,
    /// How many processes the calls run in.
    pub isolation: Isolation,
}

/// What a test feeds the program and what it expects back, by entry kind.
#[derive(Debug, Clone)]
pub enum TestIo {
    /// A program reading stdin and writing stdout (WASI commands and native programs).
    Stdio {
        /// What the program reads.
        stdin: String,
        /// What it must print.
        expected_stdout: String,
    },
    /// A function export called with `args`; the values are JSON numbers, typed against the export by the engine.
    Call {
        /// The arguments.
        args: Vec<serde_json::Number>,
        /// The values it must return.
        expected_result: Vec<serde_json::Number>,
    },
    /// A named function called with typed `args` through the language's harness.
    Function {
        /// The arguments, one per parameter, each of its type.
        args: Vec<Value>,
        /// The value it must return, of the return type.
        expected: Value,
        /// The call as messages name it: `two_sum([2, 7], 9)`.
        call: String,
        /// The return type, which a returned value must have.
        returns: ValueType,
    },
}

impl Submission {
    /// Checks `request`. `judges` says whether this function can judge a language; `unavailable_hint` explains what to do
    /// when it cannot (for instance, which judge URL to configure).
    pub fn check(
        request: JudgeRequest,
        judges: impl Fn(Language) -> bool,
        unavailable_hint: impl Fn(Language) -> String,
    ) -> Result<Submission, JudgeError> {
        let language = Language::parse(&request.language).ok_or_else(|| JudgeError::UnknownLanguage {
            language: request.language.clone(),
            supported: Language::ALL.iter().map(|l| l.as_str()).collect::<Vec<_>>().join(", "),
        })?;
        if !judges(language) {
            return Err(JudgeError::LanguageUnavailable { language, hint: unavailable_hint(language) });
        }
        let code = code_of(language, request.source, request.module_base64)?;
        let entry = request.entry.unwrap_or_default();
        let function = FunctionCall::of(language, &entry)?;
        let tests = tests_of(&entry, function.as_ref(), request.tests)?;
        if let Compare::Float { abs_tol, rel_tol } = request.compare {
            if !(abs_tol.is_finite() && abs_tol >= 0.0) {
                return Err(invalid("compare.abs_tol", "must be a finite number >= 0"));
            }
            if !(rel_tol.is_finite() && rel_tol >= 0.0) {
                return Err(invalid("compare.rel_tol", "must be a finite number >= 0"));
            }
        }
        let returns_a_list = function.as_ref().is_some_and(|f| matches!(f.signature.returns, ValueType::List(_)));
        if request.compare == Compare::Unordered && !returns_a_list {
            return Err(invalid(
                "compare.mode",
                "`unordered` is for function entries that return a list; for program output use `unordered_lines`",
            ));
        }
        Ok(Submission {
            language,
            code,
            entry,
            function,
            tests,
            limits: limits::clamp(&request.limits),
            compare: request.compare,
        })
    }
}

impl Submission {
    /// What an interpreter that parses the whole program as it starts (CPython, QuickJS, Ruby) runs to learn whether
    /// the program parsed: `None` when the first test may double as that check (it is visible), else a run on empty
    /// input. A hidden first test never doubles: its run's stderr would become the compile output a reader sees, and a
    /// program can print a hidden input as a fake `SyntaxError:` line.
    /// Function entries never need one: the harness says how loading went.
    pub fn parse_probe(&self) -> Option<TestCase> {
        let first = self.tests.first()?;
        let io = match &first.io {
            TestIo::Stdio { .. } => TestIo::Stdio { stdin: String::new(), expected_stdout: String::new() },
            TestIo::Call { .. } => TestIo::Call { args: Vec::new(), expected_result: Vec::new() },
            TestIo::Function { .. } => return None,
        };
        first.hidden.then(|| TestCase { id: "parse-check".into(), io, hidden: false, weight: 0.0 })
    }

    /// The submission in the public contract again, limits as applied: what a judge in another function receives.
    pub fn to_request(&self) -> JudgeRequest {
        let (source, module_base64) = match &self.code {
            Code::Source(source) => (Some(source.clone()), None),
            Code::Module(bytes) => (None, Some(base64::engine::general_purpose::STANDARD.encode(bytes))),
        };
        let tests = self
            .tests
            .iter()
            .map(|test| {
                let mut sent = crate::model::Test::stdio("", "");
                sent.expected_stdout = None;
                match &test.io {
                    TestIo::Stdio { stdin, expected_stdout } => {
                        sent.stdin = stdin.clone();
                        sent.expected_stdout = Some(expected_stdout.clone());
                    }
                    TestIo::Call { args, expected_result } => {
                        sent.args = Some(args.iter().cloned().map(Value::Number).collect());
                        sent.expected_result = Some(expected_result.clone());
                    }
                    TestIo::Function { args, expected, .. } => {
                        sent.args = Some(args.clone());
                        sent.expected_return = Some(expected.clone());
                    }
                }
                crate::model::Test { id: Some(test.id.clone()), hidden: test.hidden, weight: test.weight, ..sent }
            })
            .collect();
        JudgeRequest {
            language: self.language.as_str().to_string(),
            source,
            module_base64,
            entry: Some(self.entry.clone()),
            tests,
            limits: crate::model::LimitsRequest {
                time_ms: Some(self.limits.time_ms),
                memory_mb: Some(self.limits.memory_mb),
                output_kb: Some(self.limits.output_kb),
            },
            compare: self.compare,
            engine: Some(crate::model::EngineChoice::Native),
        }
    }
}

fn invalid(field: &str, reason: &str) -> JudgeError {
    JudgeError::InvalidField { field: field.to_string(), reason: reason.to_string() }
}

fn code_of(language: Language, source: Option<String>, module_base64: Option<String>) -> Result<Code, JudgeError> {
    match (language, source, module_base64) {
        (Language::Wasm, None, Some(encoded)) => {
            // The body limit bounds the text; the decoded size is checked by the engine (a compilation_error).
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|err| JudgeError::InvalidBase64 { reason: err.to_string() })?;
            Ok(Code::Module(bytes))
        }
        (Language::Wasm, _, None) => Err(invalid("module_base64", "is required for language wasm")),
        (Language::Wasm, Some(_), Some(_)) => {
            Err(invalid("source", "must not be given with language wasm; send the module in `module_base64`"))
        }
        (_, _, Some(_)) => Err(invalid("module_base64", "is only for language wasm; send text in `source`")),
        (_, None, None) => Err(invalid("source", "is required")),
        (_, Some(source), None) if source.len() > limits::MAX_SOURCE_BYTES => {
            Err(JudgeError::SourceTooLarge { size: source.len() })
        }
        (_, Some(source), None) => Ok(Code::Source(source)),
    }
}

impl FunctionCall {
    /// The named function `entry` calls in `language`, checked: `None` for stdin programs and WebAssembly exports.
    pub fn of(language: Language, entry: &Entry) -> Result<Option<FunctionCall>, JudgeError> {
        let Entry::Function { export, name, params, returns, isolation } = entry else {
            return Ok(None);
        };
        if language.is_webassembly() {
            let Some(export) = export else {
                return Err(invalid(
                    "entry.export",
                    "is required: wasm and wat call an export of the module by its name",
                ));
            };
            if export.is_empty() {
                return Err(invalid("entry.export", "must not be empty"));
            }
            if name.is_some() || !params.is_empty() || returns.is_some() || *isolation != Isolation::default() {
                return Err(invalid(
                    "entry.name",
                    "`name`, `params`, `returns` and `isolation` are for languages with a harness; a wasm export's \
                 types are the module's own",
                ));
            }
            return Ok(None);
        }
        if export.is_some() {
            return Err(invalid("entry.export", "is only for wasm and wat; name the function in `entry.name`"));
        }
        let name = name.as_deref().ok_or_else(|| invalid("entry.name", "is required: the function each test calls"))?;
        let returns =
            returns.as_deref().ok_or_else(|| invalid("entry.returns", "is required: the type the function returns"))?;
        let params: Vec<(&str, &str)> =
            params.iter().map(|Param { name, value_type }| (name.as_str(), value_type.as_str())).collect();
        let signature = Signature::new(name, &params, returns)
            .map_err(|err| JudgeError::InvalidField { field: format!("entry.{}", err.part), reason: err.reason })?;
        Ok(Some(FunctionCall { signature, isolation: *isolation }))
    }
}

fn tests_of(
    entry: &Entry,
    function: Option<&FunctionCall>,
    tests: Vec<crate::model::Test>,
) -> Result<Vec<TestCase>, JudgeError> {
    if tests.is_empty() {
        return Err(JudgeError::NoTests);
    }
    if tests.len() > limits::MAX_TESTS {
        return Err(JudgeError::TooManyTests { count: tests.len() });
    }
    let mut seen = std::collections::HashSet::new();
    let mut cases = Vec::with_capacity(tests.len());
    for (index, test) in tests.into_iter().enumerate() {
        let field = |name: &str| format!("tests[{index}].{name}");
        let id = test.id_at(index);
        if id.is_empty() || id.len() > limits::MAX_TEST_ID_BYTES {
            return Err(JudgeError::InvalidField {
                field: field("id"),
                reason: format!("must be 1 to {} bytes long", limits::MAX_TEST_ID_BYTES),
            });
        }
        if !seen.insert(id.clone()) {
            let reason = match test.id {
                Some(_) => format!("`{id}` is used twice"),
                None => format!("has no id, and its default name `{id}` is another test's: give it an id"),
            };
            return Err(JudgeError::InvalidField { field: field("id"), reason });
        }
        if !(test.weight.is_finite() && test.weight > 0.0 && test.weight <= 1e6) {
            return Err(JudgeError::InvalidField {
                field: field("weight"),
                reason: "must be > 0 and <= 1000000".into(),
            });
        }
        if test.stdin.len() > limits::MAX_TEST_TEXT_BYTES {
            return Err(too_long(field("stdin")));
        }
        let (hidden, weight) = (test.hidden, test.weight);
        let io = match (entry, function) {
            (Entry::Wasi, _) => {
                if test.args.is_some() || test.expected_result.is_some() || test.expected_return.is_some() {
                    return Err(JudgeError::InvalidField {
                        field: field("args"),
                        reason: "`args`/`expected_return` are for entry kind `function`; this entry reads stdin".into(),
                    });
                }
                let expected = test.expected_stdout.ok_or_else(|| JudgeError::InvalidField {
                    field: field("expected_stdout"),
                    reason: "is required".into(),
                })?;
                if expected.len() > limits::MAX_TEST_TEXT_BYTES {
                    return Err(too_long(field("expected_stdout")));
                }
                TestIo::Stdio { stdin: test.stdin, expected_stdout: expected }
            }
            (Entry::Function { .. }, _) if test.expected_stdout.is_some() || !test.stdin.is_empty() => {
                return Err(JudgeError::InvalidField {
                    field: field("expected_stdout"),
                    reason: "`stdin`/`expected_stdout` are for entry kind `wasi`; a function entry uses `args` and \
                             `expected_return`"
                        .into(),
                });
            }
            (Entry::Function { .. }, None) => export_call(test, &field)?,
            (Entry::Function { .. }, Some(function)) => function_call(test, &function.signature, &field)?,
        };
        cases.push(TestCase { id, io, hidden, weight });
    }
    Ok(cases)
}

/// A WebAssembly export's test: numbers in, numbers out.
fn export_call(test: crate::model::Test, field: &dyn Fn(&str) -> String) -> Result<TestIo, JudgeError> {
    let numbers = |values: Vec<Value>, name: &str| -> Result<Vec<serde_json::Number>, JudgeError> {
        values
            .into_iter()
            .enumerate()
            .map(|(index, value)| match value {
                Value::Number(number) => Ok(number),
                other => Err(JudgeError::InvalidField {
                    field: field(&format!("{name}[{index}]")),
                    reason: format!("is {other}; a wasm export takes and returns numbers only"),
                }),
            })
            .collect()
    };
    let args = numbers(test.args.unwrap_or_default(), "args")?;
    let expected = match (test.expected_result, test.expected_return) {
        (Some(_), Some(_)) => {
            return Err(JudgeError::InvalidField {
                field: field("expected_return"),
                reason: "give `expected_return` or `expected_result`, not both".into(),
            });
        }
        (Some(numbers), None) => numbers,
        (None, Some(Value::Array(values))) => numbers(values, "expected_return")?,
        (None, Some(scalar)) => numbers(vec![scalar], "expected_return")?,
        (None, None) => {
            return Err(JudgeError::InvalidField {
                field: field("expected_return"),
                reason: "is required for entry kind `function`".into(),
            });
        }
    };
    if args.len() > limits::MAX_FUNCTION_VALUES || expected.len() > limits::MAX_FUNCTION_VALUES {
        return Err(JudgeError::InvalidField {
            field: field("args"),
            reason: format!("at most {} values", limits::MAX_FUNCTION_VALUES),
        });
    }
    Ok(TestIo::Call { args, expected_result: expected })
}

/// A named function's test: one argument per parameter and an expected value, each of its type.
fn function_call(
    test: crate::model::Test,
    signature: &Signature,
    field: &dyn Fn(&str) -> String,
) -> Result<TestIo, JudgeError> {
    if test.expected_result.is_some() {
        return Err(JudgeError::InvalidField {
            field: field("expected_result"),
            reason: "is for wasm exports; a named function's test gives `expected_return`".into(),
        });
    }
    let args = test.args.ok_or_else(|| JudgeError::InvalidField {
        field: field("args"),
        reason: format!("is required: one value per parameter of `{}`", signature.name),
    })?;
    if args.len() != signature.params.len() {
        let names: Vec<&str> = signature.params.iter().map(|(name, _)| name.as_str()).collect();
        return Err(JudgeError::InvalidField {
            field: field("args"),
            reason: format!(
                "has {} values; `{}` takes {} ({})",
                args.len(),
                signature.name,
                names.len(),
                names.join(", ")
            ),
        });
    }
    for (index, (value, (name, value_type))) in args.iter().zip(&signature.params).enumerate() {
        value_type.check(value).map_err(|mismatch| JudgeError::InvalidField {
            field: field(&format!("args[{index}]")),
            reason: format!("(`{name}`) {}", mismatch.describe()),
        })?;
    }
    let expected = test.expected_return.ok_or_else(|| JudgeError::InvalidField {
        field: field("expected_return"),
        reason: format!("is required: the {} `{}` must return", signature.returns, signature.name),
    })?;
    signature.returns.check(&expected).map_err(|mismatch| JudgeError::InvalidField {
        field: field("expected_return"),
        reason: mismatch.describe(),
    })?;
    let args: Vec<Value> =
        args.into_iter().zip(&signature.params).map(|(value, (_, value_type))| value_type.normalise(value)).collect();
    let expected = signature.returns.normalise(expected);
    let call = call_text(&signature.name, &args);
    Ok(TestIo::Function { args, expected, call, returns: signature.returns.clone() })
}

fn too_long(field: String) -> JudgeError {
    JudgeError::InvalidField { field, reason: format!("is longer than {} bytes", limits::MAX_TEST_TEXT_BYTES) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ErrorCode, LimitsRequest, Test};

    fn request(language: &str, tests: Vec<Test>) -> JudgeRequest {
        JudgeRequest {
            language: language.into(),
            source: Some("(module)".into()),
            module_base64: None,
            entry: None,
            tests,
            limits: LimitsRequest::default(),
            compare: Compare::default(),
            engine: None,
        }
    }

    fn test(expected: &str) -> Test {
        Test::stdio("", expected)
    }

    fn check(request: JudgeRequest) -> Result<Submission, JudgeError> {
        Submission::check(request, |l| l.is_webassembly(), |_| "configure it".into())
    }

    #[test]
    fn test_count_edges() {
        assert!(matches!(check(request("wat", vec![])), Err(JudgeError::NoTests)));
        assert_eq!(check(request("wat", vec![test("1"); limits::MAX_TESTS])).unwrap().tests.len(), limits::MAX_TESTS);
        let too_many = check(request("wat", vec![test("1"); limits::MAX_TESTS + 1]));
        assert!(matches!(too_many, Err(JudgeError::TooManyTests { count }) if count == limits::MAX_TESTS + 1));
    }

    #[test]
    fn ids_default_to_positions_and_must_be_unique() {
        let submission = check(request("wat", vec![test("1"), test("2")])).unwrap();
        assert_eq!(submission.tests[1].id, "t2");
        let mut twice = vec![test("1"), test("2")];
        twice[0].id = Some("t2".into());
        let err = check(request("wat", twice.clone())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`tests[1].id` has no id, and its default name `t2` is another test's: give it an id",
            "the client sent no `t2` at tests[1]: the message says where the name came from"
        );
        twice[1].id = Some("t2".into());
        let err = check(request("wat", twice)).unwrap_err();
        assert_eq!(err.to_string(), "`tests[1].id` `t2` is used twice");
    }

    #[test]
    fn a_score_with_nothing_passed_is_plus_zero() {
        let cases = check(request("wat", vec![test("1"), test("2")])).unwrap().tests;
        let failed = |id: &str| crate::model::TestReport {
            id: id.into(),
            verdict: crate::model::Verdict::WrongAnswer,
            time_ms: 0.0,
            memory_kb: 0,
            stdout: String::new(),
            stderr: String::new(),
            exit_code: Some(0),
            message: None,
            hidden: false,
            output_truncated: false,
            result: None,
            fuel: None,
        };
        let score = crate::judge::score(&[failed("t1"), failed("t2")], &cases);
        assert!(score == 0.0 && score.is_sign_positive(), "{score:?}");
        assert_eq!(serde_json::to_string(&score).unwrap(), "0.0");
    }

    #[test]
    fn languages_unknown_or_elsewhere_are_422_with_a_hint() {
        let err = check(request("cobol", vec![test("1")])).unwrap_err();
        assert_eq!((err.code(), err.status()), (ErrorCode::UnsupportedLanguage, 422));
        assert!(err.to_string().contains("wasm, wat, python"), "{err}");
        let err = check(request("python", vec![test("1")])).unwrap_err();
        assert_eq!(err.to_string(), "python is not judged by this function: configure it");
    }

    #[test]
    fn source_size_edge() {
        let mut at_limit = request("wat", vec![test("1")]);
        at_limit.source = Some("x".repeat(limits::MAX_SOURCE_BYTES));
        assert!(check(at_limit).is_ok());
        let mut over = request("wat", vec![test("1")]);
        over.source = Some("x".repeat(limits::MAX_SOURCE_BYTES + 1));
        assert!(matches!(check(over), Err(JudgeError::SourceTooLarge { .. })));
    }

    #[test]
    fn base64_garbage_is_400() {
        let mut garbage = request("wasm", vec![test("1")]);
        garbage.source = None;
        garbage.module_base64 = Some("not base64!!".into());
        let err = check(garbage).unwrap_err();
        assert_eq!((err.code(), err.status()), (ErrorCode::InvalidBase64, 400));
    }

    #[test]
    fn wasi_tests_need_expected_stdout_and_function_tests_need_results() {
        let mut missing = test("1");
        missing.expected_stdout = None;
        let err = check(request("wat", vec![test("1"), missing])).unwrap_err();
        assert_eq!(err.to_string(), "`tests[1].expected_stdout` is required");

        let mut function = request("wat", vec![test("1")]);
        function.entry = Some(Entry::export("add"));
        let err = check(function).unwrap_err();
        assert!(err.to_string().starts_with("`tests[0].expected_stdout`"), "{err}");
    }

    #[test]
    fn a_submission_re_sent_to_another_judge_is_the_same_submission() {
        let mut hidden = test("2");
        hidden.hidden = true;
        hidden.weight = 3.0;
        let mut original = request("wat", vec![test("1"), hidden]);
        original.limits.time_ms = Some(99_999);
        let first = check(original).unwrap();
        let again = check(first.to_request()).unwrap();
        assert_eq!(format!("{:?}", again.tests), format!("{:?}", first.tests));
        assert_eq!(
            (again.limits, again.compare, again.entry.clone()),
            (first.limits, first.compare, first.entry.clone())
        );
        assert_eq!(again.limits.time_ms, limits::MAX_TIME_MS, "the limits travel as applied");
    }

    fn function_request(tests: serde_json::Value) -> JudgeRequest {
        serde_json::from_value(serde_json::json!({
            "language": "python",
            "source": "def two_sum(nums, target): pass",
            "entry": {"kind": "function", "name": "two_sum", "returns": "list[int]",
                      "params": [{"name": "nums", "type": "list[int]"}, {"name": "target", "type": "int"}]},
            "tests": tests,
        }))
        .unwrap()
    }

    fn check_any(request: JudgeRequest) -> Result<Submission, JudgeError> {
        Submission::check(request, |_| true, |_| String::new())
    }

    #[test]
    fn function_arguments_are_type_checked_naming_the_field() {
        let fine = serde_json::json!({"args": [[1, 2], 3], "expected_return": [0, 1]});
        let submission = check_any(function_request(serde_json::json!([fine]))).unwrap();
        assert!(matches!(&submission.tests[0].io, TestIo::Function { call, .. } if call == "two_sum([1, 2], 3)"));
        let bad = serde_json::json!({"args": [[1, 2.5], 3], "expected_return": [0, 1]});
        let err = check_any(function_request(serde_json::json!([fine, fine, fine, bad]))).unwrap_err();
        assert_eq!((err.code(), err.status()), (ErrorCode::InvalidField, 422));
        assert_eq!(err.to_string(), "`tests[3].args[0]` (`nums`) has 2.5 at `[1]`, not an int");
        let arity = serde_json::json!({"args": [[1]], "expected_return": [0]});
        let err = check_any(function_request(serde_json::json!([arity]))).unwrap_err();
        assert_eq!(err.to_string(), "`tests[0].args` has 1 values; `two_sum` takes 2 (nums, target)");
        let returns = serde_json::json!({"args": [[1], 1], "expected_return": "x"});
        let err = check_any(function_request(serde_json::json!([returns]))).unwrap_err();
        assert_eq!(err.to_string(), "`tests[0].expected_return` is \"x\", not a list[int]");
    }

    #[test]
    fn function_entries_are_checked_per_language() {
        let mut request = function_request(serde_json::json!([{"args": [[1], 1], "expected_return": [0]}]));
        request.compare = Compare::Unordered;
        assert!(check_any(request.clone()).is_ok(), "unordered suits a list");
        request.language = "wat".into();
        assert!(check_any(request.clone()).unwrap_err().to_string().starts_with("`entry.export` is required"));
        request.language = "python".into();
        request.entry = Some(Entry::export("add"));
        assert!(check_any(request.clone()).unwrap_err().to_string().contains("only for wasm and wat"));
        let mut stdin = request.clone();
        stdin.entry = None;
        stdin.tests = vec![test("1")];
        assert!(check_any(stdin).unwrap_err().to_string().starts_with("`compare.mode` `unordered` is for function"));
        let wrong_name: JudgeRequest = serde_json::from_value(serde_json::json!({
            "language": "java", "source": "x", "tests": [{"args": [], "expected_return": 1}],
            "entry": {"kind": "function", "name": "class", "returns": "int"},
        }))
        .unwrap();
        assert!(check_any(wrong_name).unwrap_err().to_string().contains("`class` is not a name every language takes"));
    }

    #[test]
    fn parameters_and_names_are_bounded_at_their_edges() {
        let entry = |params: usize, name: &str| {
            let params: Vec<serde_json::Value> =
                (0..params).map(|index| serde_json::json!({"name": format!("p{index}"), "type": "int"})).collect();
            let args: Vec<serde_json::Value> = (0..params.len()).map(|index| serde_json::json!(index)).collect();
            serde_json::from_value::<JudgeRequest>(serde_json::json!({
                "language": "python", "source": "x",
                "entry": {"kind": "function", "name": name, "params": params, "returns": "int"},
                "tests": [{"args": args, "expected_return": 0}],
            }))
            .unwrap()
        };
        let longest = "f".repeat(crate::function::types::MAX_NAME_BYTES);
        assert!(check_any(entry(crate::function::types::MAX_PARAMS, &longest)).is_ok());
        let err = check_any(entry(crate::function::types::MAX_PARAMS + 1, "f")).unwrap_err();
        assert_eq!(err.to_string(), "`entry.params` has 17 parameters; at most 16");
        let err = check_any(entry(1, &format!("{longest}f"))).unwrap_err();
        assert!(err.to_string().starts_with("`entry.name`"), "{err}");
    }

    #[test]
    fn a_function_submission_re_sent_is_the_same_submission() {
        let mut per_test = function_request(serde_json::json!([{"args": [[1, 2], 3], "expected_return": [0, 1]}]));
        if let Some(Entry::Function { isolation, .. }) = &mut per_test.entry {
            *isolation = Isolation::PerTest;
        }
        let first = check_any(per_test).unwrap();
        let again = check_any(first.to_request()).unwrap();
        assert_eq!(format!("{:?}", again.tests), format!("{:?}", first.tests));
        assert_eq!(format!("{:?}", again.function), format!("{:?}", first.function));
        let export = check_any(JudgeRequest {
            entry: Some(Entry::export("add")),
            tests: vec![serde_json::from_value(serde_json::json!({"args": [1, 2], "expected_return": 3})).unwrap()],
            ..request("wat", vec![])
        })
        .unwrap();
        assert!(matches!(&export.tests[0].io, TestIo::Call { expected_result, .. } if expected_result.len() == 1));
        let again = check_any(export.to_request()).unwrap();
        assert_eq!(format!("{:?}", again.tests), format!("{:?}", export.tests));
    }

    #[test]
    fn weights_must_be_positive_and_finite() {
        let mut zero = test("1");
        zero.weight = 0.0;
        assert!(check(request("wat", vec![zero])).unwrap_err().to_string().contains("weight"));
    }
}
