//! Capsule validation: a capsule is valid when its reference solution passes every test, the same way each time, and
//! its starter code does not pass. Problems are listed with stable codes so an author (or the AI repair loop, later)
//! knows what to fix.

use crate::deadline::Deadline;
use crate::judge::{JudgeError, Judges};
use crate::model::{Capsule, CapsuleProblem, CapsuleProblemCode, JudgeReport, ValidateReport, ValidationRuns, Verdict};
use std::collections::BTreeSet;

/// How many times the reference solution runs: a test whose verdict or output changes between runs is flaky.
pub const SOLUTION_RUNS: usize = 3;

/// Validates `capsule` with the judge of its language among `judges`, every run before `deadline` (runs it overtakes
/// report their tests as time_limit_exceeded, which the problems then name). Errors are capsules that cannot be judged
/// at all (bad tests, unknown language): the same 4xx as POST /api/judge.
pub async fn validate(capsule: Capsule, judges: &Judges, deadline: Deadline) -> Result<ValidateReport, JudgeError> {
    let mut problems = Vec::new();
    if capsule.title.trim().is_empty() {
        problems.push(problem(CapsuleProblemCode::MissingTitle, "the capsule has no title", None));
    }
    let solution =
        judges.prepare(capsule.judge_request(&capsule.solution)).map_err(|err| in_capsule(err, "solution"))?;
    let mut solution_runs = Vec::with_capacity(SOLUTION_RUNS);
    for _ in 0..SOLUTION_RUNS {
        solution_runs.push(solution.judge(deadline).await?);
    }
    problems.extend(solution_problems(&solution_runs));

    // A function capsule without a starter is offered the declared function: that is the starter that must fail.
    let starter_code = crate::function::starter::of_capsule(&capsule);
    let starter_run = if starter_code.source.is_none() && starter_code.module_base64.is_none() {
        problems.push(problem(
            CapsuleProblemCode::MissingStarter,
            "the capsule has no starter code for the learner to begin from",
            None,
        ));
        None
    } else {
        let starter = judges.prepare(capsule.judge_request(&starter_code)).map_err(|err| in_capsule(err, "starter"))?;
        let report = starter.judge(deadline).await?;
        if report.verdict == Verdict::Accepted {
            problems.push(problem(
                CapsuleProblemCode::StarterPasses,
                "the starter code already passes every test: the tests cannot tell it from a solution",
                None,
            ));
        }
        Some(report)
    };
    Ok(ValidateReport {
        valid: problems.is_empty(),
        problems,
        report: ValidationRuns { solution_runs, starter_run },
        capsule,
        healing: None,
    })
}

/// Problems found in the solution's runs: compile errors, failing tests, and tests that changed between runs.
pub fn solution_problems(runs: &[JudgeReport]) -> Vec<CapsuleProblem> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    if !first.compile.ok {
        return vec![problem(
            CapsuleProblemCode::SolutionCompilationError,
            &format!("the reference solution does not compile: {}", first.compile.output),
            None,
        )];
    }
    let mut problems = Vec::new();
    let mut flaky = BTreeSet::new();
    for (index, test) in first.tests.iter().enumerate() {
        let changed = runs[1..].iter().any(|run| {
            run.tests.get(index).is_none_or(|other| other.verdict != test.verdict || other.stdout != test.stdout)
        });
        if changed {
            flaky.insert(test.id.clone());
            let verdicts: Vec<String> =
                runs.iter().filter_map(|run| run.tests.get(index)).map(|t| t.verdict.to_string()).collect();
            problems.push(problem(
                CapsuleProblemCode::FlakyTest,
                &format!("the solution's result on this test changed between runs: {}", verdicts.join(", ")),
                Some(&test.id),
            ));
        }
    }
    for test in &first.tests {
        if test.verdict != Verdict::Accepted && !flaky.contains(&test.id) {
            let detail = test.message.as_deref().unwrap_or("no detail");
            problems.push(problem(
                CapsuleProblemCode::SolutionFailsTest,
                &format!("the reference solution gets {} on this test: {detail}", test.verdict),
                Some(&test.id),
            ));
        }
    }
    problems
}

/// A field error of the judge request made from the capsule's `program` (solution or starter), named by its path in
/// the capsule as the caller sent it: `tests[1].stdin` is `capsule.tests[1].stdin`, `source` is
/// `capsule.solution.source`.
fn in_capsule(err: JudgeError, program: &str) -> JudgeError {
    match err {
        JudgeError::InvalidField { field, reason } => {
            let field = if field == "source" || field == "module_base64" {
                format!("capsule.{program}.{field}")
            } else {
                format!("capsule.{field}")
            };
            JudgeError::InvalidField { field, reason }
        }
        other => other,
    }
}

fn problem(code: CapsuleProblemCode, message: &str, test_id: Option<&str>) -> CapsuleProblem {
    CapsuleProblem { code, message: message.to_string(), test_id: test_id.map(str::to_string) }
}
