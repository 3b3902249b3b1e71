//! Who is at fault when a round fails, and the repair of only that artifact.

use super::artifacts::{self};
use super::job::assemble;
use super::{Draft, GenerateRequest, GenerationError, Generator, Observer, Repair, STDERR_IN_PROMPT};
use codecapsule_core::compare;
use codecapsule_core::model::{Capsule, CapsuleCode, CapsuleProblemCode, Entry, TestReport, Verdict};
use codecapsule_core::validation;
use serde_json::Value;

/// Who is at fault, after judging.
pub(super) enum Fault {
    Solution { reason: String },
    Test { test: usize, actual: String, reason: String },
    Starter,
    WeakTests { flaw: String },
}

impl Generator<'_> {
    /// Judges the capsule and names the first fault, or None when it is valid.
    pub(super) async fn find_fault(
        &mut self,
        capsule: &Capsule,
        draft: &mut Draft,
        request: &GenerateRequest,
        observer: &mut dyn Observer,
    ) -> Result<Option<Fault>, GenerationError> {
        let solution_runs = self.judge_repeatedly(capsule.judge_request(&capsule.solution)).await?;
        let solution_run = &solution_runs[0];
        if !solution_run.compile.ok {
            return Ok(Some(Fault::Solution {
                reason: format!("it does not compile:\n{}", trim(&solution_run.compile.output)),
            }));
        }
        if validation::solution_problems(&solution_runs)
            .iter()
            .any(|problem| problem.code == CapsuleProblemCode::FlakyTest)
        {
            return Ok(Some(Fault::Solution { reason: "its output changed between runs of the same test".into() }));
        }
        for (index, test) in solution_run.tests.iter().enumerate() {
            match test.verdict {
                Verdict::Accepted => continue,
                Verdict::WrongAnswer => {}
                verdict => {
                    return Ok(Some(Fault::Solution {
                        reason: format!(
                            "on the input {:?} it ends with {verdict}: {}\nstderr: {}",
                            input(capsule, index),
                            test.message.as_deref().unwrap_or(""),
                            trim(&test.stderr)
                        ),
                    }));
                }
            }
            // A wrong answer: the solution or the test? Ask an independent solution once and see who it agrees with.
            if draft.second.is_none() {
                let second: artifacts::DraftCode = self
                    .ask(
                        "second solution",
                        artifacts::solution_prompt(&draft.spec, &request.language),
                        artifacts::code_schema(),
                        observer,
                    )
                    .await?;
                draft.second = Some(second.source);
            }
            let second = draft.second.clone().unwrap_or_default();
            let mut probe = capsule.clone();
            probe.solution = CapsuleCode { source: Some(second), module_base64: None };
            let second_run = self.judge_once(probe.judge_request(&probe.solution)).await?;
            let expected = draft.tests[index].expected_stdout.clone();
            let actual = output(capsule, test);
            // What a program does with its answer, in the reasons the model and the author read.
            let (gives, give) = if calls_a_function(capsule) { ("returns", "return") } else { ("prints", "print") };
            let agree = second_run.tests.get(index).is_some_and(|other| {
                other.verdict == Verdict::WrongAnswer && same_output(capsule, &actual, &output(capsule, other))
            });
            if agree {
                return Ok(Some(Fault::Test {
                    test: index,
                    reason: format!(
                        "two independent solutions both {give} {actual:?} for the input {:?}, but the test expects \
                         {expected:?}",
                        input(capsule, index)
                    ),
                    actual,
                }));
            }
            return Ok(Some(Fault::Solution {
                reason: format!(
                    "on the input {:?} the test expects {expected:?} but it {gives} {actual:?}\nstderr: {}",
                    input(capsule, index),
                    trim(&test.stderr)
                ),
            }));
        }
        let starter = self.judge_once(capsule.judge_request(&capsule.starter)).await?;
        if starter.verdict == Verdict::Accepted {
            return Ok(Some(Fault::Starter));
        }
        // The tests must reject at least one plausible wrong solution.
        let mut survivors = Vec::new();
        for wrong in &draft.wrong {
            let run = self
                .judge_once(capsule.judge_request(&CapsuleCode { source: Some(wrong.clone()), module_base64: None }))
                .await?;
            if run.verdict == Verdict::Accepted {
                survivors.push(wrong.clone());
            }
        }
        if !draft.wrong.is_empty() && survivors.len() == draft.wrong.len() {
            return Ok(Some(Fault::WeakTests { flaw: trim(&survivors[0]) }));
        }
        Ok(None)
    }

    /// Repairs only the artifact at fault.
    pub(super) async fn repair(
        &mut self,
        fault: Fault,
        draft: &mut Draft,
        request: &GenerateRequest,
        round: u32,
        observer: &mut dyn Observer,
    ) -> Result<Repair, GenerationError> {
        match fault {
            Fault::Solution { reason } => {
                let prompt =
                    artifacts::repair_solution_prompt(&draft.spec, &request.language, &draft.solution, &reason);
                let fixed: artifacts::DraftCode =
                    self.ask("solution repair", prompt, artifacts::code_schema(), observer).await?;
                draft.solution = fixed.source;
                Ok(Repair { round, artifact: "solution", reason, accepted: true, test_id: None })
            }
            Fault::Starter => {
                let prompt = artifacts::repair_starter_prompt(&draft.spec, &request.language, &draft.starter);
                let fixed: artifacts::DraftCode =
                    self.ask("starter repair", prompt, artifacts::code_schema(), observer).await?;
                draft.starter = fixed.source;
                Ok(Repair {
                    round,
                    artifact: "starter",
                    reason: "the starter passed every test".into(),
                    accepted: true,
                    test_id: None,
                })
            }
            Fault::Test { test, actual, reason } => {
                let case = draft.tests[test].clone();
                let prompt = artifacts::repair_test_prompt(&draft.spec, &case, &actual, &reason);
                let fixed: artifacts::TestFix =
                    self.ask("test repair", prompt, artifacts::test_fix_schema(), observer).await?;
                let id = Some(case.id.clone());
                // Accepted only with a reason from the spec and the output both independent solutions print.
                let matches_both = same_output(&assemble(draft, request, false), &fixed.expected_stdout, &actual);
                if fixed.reason.trim().is_empty() || !matches_both {
                    let why = if fixed.reason.trim().is_empty() {
                        "the change gave no reason from the spec".to_string()
                    } else {
                        format!(
                            "refused: the new expected output {:?} is not what the independent solutions print ({:?})",
                            fixed.expected_stdout, actual
                        )
                    };
                    return Ok(Repair { round, artifact: "test", reason: why, accepted: false, test_id: id });
                }
                draft.tests[test].expected_stdout = fixed.expected_stdout;
                Ok(Repair { round, artifact: "test", reason: fixed.reason, accepted: true, test_id: id })
            }
            Fault::WeakTests { flaw } => {
                let prompt = artifacts::more_tests_prompt(&draft.spec, &draft.tests, &flaw);
                let more: artifacts::Tests =
                    self.ask("more tests", prompt, artifacts::tests_schema(), observer).await?;
                let added = more.tests.len();
                let taken = draft.tests.len();
                for (offset, mut case) in more.tests.into_iter().enumerate() {
                    case.id = format!("t{}", taken + offset + 1);
                    draft.tests.push(case);
                }
                Ok(Repair {
                    round,
                    artifact: "tests",
                    reason: format!("no wrong solution was rejected: {added} tests added"),
                    accepted: true,
                    test_id: None,
                })
            }
        }
    }
}

/// Whether a capsule's tests call a named function (their input and output then travel as JSON).
fn calls_a_function(capsule: &Capsule) -> bool {
    matches!(capsule.entry, Some(Entry::Function { name: Some(_), .. }))
}

/// What a test feeds the program, as prompts quote it: its stdin, or a function's arguments as JSON.
fn input(capsule: &Capsule, index: usize) -> String {
    let test = &capsule.tests[index];
    match &test.args {
        Some(args) if calls_a_function(capsule) => Value::Array(args.clone()).to_string(),
        _ => test.stdin.clone(),
    }
}

/// What a run gave back, spelt as a draft test's `expected_stdout`: its stdout, or the function's value as JSON.
fn output(capsule: &Capsule, test: &TestReport) -> String {
    match &test.result {
        Some(values) if calls_a_function(capsule) => values.first().map(Value::to_string).unwrap_or_default(),
        _ => test.stdout.clone(),
    }
}

/// Whether two outputs are the same: under the capsule's comparison, or as equal JSON values for a function.
fn same_output(capsule: &Capsule, one: &str, other: &str) -> bool {
    if calls_a_function(capsule) {
        let parse = |text: &str| serde_json::from_str::<Value>(text).ok();
        return parse(one).is_some() && parse(one) == parse(other);
    }
    compare::compare(&capsule.compare, one, other).is_ok()
}

pub(super) fn describe(fault: &Fault) -> String {
    match fault {
        Fault::Solution { reason } => format!("the solution is wrong: {}", trim(reason)),
        Fault::Test { reason, .. } => format!("a test is wrong: {reason}"),
        Fault::Starter => "the starter passes every test".into(),
        Fault::WeakTests { .. } => "the tests reject no wrong solution".into(),
    }
}

pub(super) fn trim(text: &str) -> String {
    let mut trimmed: String = text.chars().take(STDERR_IN_PROMPT).collect();
    if trimmed.len() < text.len() {
        trimmed.push_str("\n[…]");
    }
    trimmed
}
