//! A [`JudgeRequest`] checked once at the edge of the domain: after this, engines trust their input.

use super::{JudgeError, limits};
use crate::model::{Compare, Entry, JudgeRequest, Language, Limits};
use base64::Engine as _;

/// A request that passed every check: known language, code present and within size, 1..=MAX_TESTS well-formed tests.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The language.
    pub language: Language,
    /// The program.
    pub code: Code,
    /// How a test reaches it (a program's stdin, or a function's arguments).
    pub entry: Entry,
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
        let entry = match (language.is_webassembly(), request.entry) {
            (true, entry) => entry.unwrap_or_default(),
            (false, None | Some(Entry::Wasi)) => Entry::Wasi,
            (false, Some(Entry::Function { .. })) => {
                return Err(invalid("entry", "of kind `function` is only for languages wasm and wat"));
            }
        };
        let tests = tests_of(&entry, request.tests)?;
        if let Compare::Float { abs_tol, rel_tol } = request.compare {
            if !(abs_tol.is_finite() && abs_tol >= 0.0) {
                return Err(invalid("compare.abs_tol", "must be a finite number >= 0"));
            }
            if !(rel_tol.is_finite() && rel_tol >= 0.0) {
                return Err(invalid("compare.rel_tol", "must be a finite number >= 0"));
            }
        }
        Ok(Submission {
            language,
            code,
            entry,
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
    pub fn parse_probe(&self) -> Option<TestCase> {
        let first = self.tests.first()?;
        first.hidden.then(|| TestCase {
            id: "parse-check".into(),
            io: match &first.io {
                TestIo::Stdio { .. } => TestIo::Stdio { stdin: String::new(), expected_stdout: String::new() },
                TestIo::Call { .. } => TestIo::Call { args: Vec::new(), expected_result: Vec::new() },
            },
            hidden: false,
            weight: 0.0,
        })
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
                let (stdin, expected_stdout, args, expected_result) = match &test.io {
                    TestIo::Stdio { stdin, expected_stdout } => {
                        (stdin.clone(), Some(expected_stdout.clone()), None, None)
                    }
                    TestIo::Call { args, expected_result } => {
                        (String::new(), None, Some(args.clone()), Some(expected_result.clone()))
                    }
                };
                crate::model::Test {
                    id: Some(test.id.clone()),
                    stdin,
                    expected_stdout,
                    args,
                    expected_result,
                    hidden: test.hidden,
                    weight: test.weight,
                }
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

fn tests_of(entry: &Entry, tests: Vec<crate::model::Test>) -> Result<Vec<TestCase>, JudgeError> {
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
        let io = match entry {
            Entry::Wasi => {
                if test.args.is_some() || test.expected_result.is_some() {
                    return Err(JudgeError::InvalidField {
                        field: field("args"),
                        reason: "`args`/`expected_result` are for entry kind `function`; this entry reads stdin".into(),
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
            Entry::Function { .. } => {
                if test.expected_stdout.is_some() || !test.stdin.is_empty() {
                    return Err(JudgeError::InvalidField {
                        field: field("expected_stdout"),
                        reason: "`stdin`/`expected_stdout` are for entry kind `wasi`; a function entry uses `args` \
                                 and `expected_result`"
                            .into(),
                    });
                }
                let args = test.args.unwrap_or_default();
                let expected = test.expected_result.ok_or_else(|| JudgeError::InvalidField {
                    field: field("expected_result"),
                    reason: "is required for entry kind `function`".into(),
                })?;
                if args.len() > limits::MAX_FUNCTION_VALUES || expected.len() > limits::MAX_FUNCTION_VALUES {
                    return Err(JudgeError::InvalidField {
                        field: field("args"),
                        reason: format!("at most {} values", limits::MAX_FUNCTION_VALUES),
                    });
                }
                TestIo::Call { args, expected_result: expected }
            }
        };
        cases.push(TestCase { id, io, hidden: test.hidden, weight: test.weight });
    }
    Ok(cases)
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
        function.entry = Some(Entry::Function { export: "add".into() });
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

    #[test]
    fn weights_must_be_positive_and_finite() {
        let mut zero = test("1");
        zero.weight = 0.0;
        assert!(check(request("wat", vec![zero])).unwrap_err().to_string().contains("weight"));
    }
}
