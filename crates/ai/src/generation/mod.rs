//! The AI generation engine: a prompt becomes a capsule that has been proven by running it.
//!
//! Artifacts are generated separately, each as a strict structured output ([`artifacts`]): the spec from the prompt
//! (the prompt is data, fenced and never obeyed), the tests from the spec only, a reference solution, starter code,
//! and plausible wrong solutions. Then, in rounds, the capsule is judged (solution three times, starter must fail,
//! the tests must reject at least one wrong solution), and when it fails the engine decides who is at fault and
//! repairs only that artifact, showing the model the failing input, expected, actual and trimmed stderr:
//! - the solution does not compile, crashes, times out or is flaky → the solution;
//! - the solution's output differs from a test's expected output → an independent second solution is asked for;
//!   when both solutions agree against the test, the test is at fault, else the solution is;
//! - a test repair must give a reason from the spec, and its new expected output must be what both independent
//!   solutions print: a model "fixing" a test to match one (wrong) solution is caught and the repair refused;
//! - the starter passes → the starter; no wrong solution is rejected → the tests are too weak: more tests.
//!
//! At most [`Budget::max_rounds`] repair rounds, then one fresh regeneration, then the capsule is quarantined. Every
//! LLM call is counted against the capsule's budget (calls, tokens, cost, wall time) and reported to the caller,
//! which writes it to the usage ledger.

pub mod artifacts;

use crate::llm::{Completion, LlmClient, LlmError, Message, StructuredRequest};
use artifacts::{DraftTest, Spec};
use codecapsule_core::compare;
use codecapsule_core::judge::{JudgeError, Judges};
use codecapsule_core::model::{
    Capsule, CapsuleCode, CapsuleProblemCode, Compare, JudgeReport, LimitsRequest, Test, Verdict,
};
use codecapsule_core::validation;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

/// Languages the engine generates for (each needs a judge in the deployment).
pub const LANGUAGES: &[&str] = &["python", "java", "csharp", "wat"];
/// The longest prompt accepted, in characters.
pub const MAX_PROMPT_CHARS: usize = 4000;
/// How much of a program's stderr a repair prompt shows.
const STDERR_IN_PROMPT: usize = 1500;

/// What one capsule may spend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub max_calls: u32,
    pub max_tokens: u64,
    pub max_cost_usd: f64,
    pub max_rounds: u32,
    pub deadline: Duration,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            max_calls: 24,
            max_tokens: 150_000,
            max_cost_usd: 0.50,
            max_rounds: 3,
            deadline: Duration::from_secs(240),
        }
    }
}

/// What was asked for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    pub prompt: String,
    pub language: String,
    #[serde(default = "default_difficulty")]
    pub difficulty: String,
}

fn default_difficulty() -> String {
    "easy".into()
}

impl GenerateRequest {
    /// The request's own faults, as (field, message).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.prompt.trim().is_empty() || self.prompt.chars().count() > MAX_PROMPT_CHARS {
            return Err(("prompt", format!("the prompt must have 1 to {MAX_PROMPT_CHARS} characters")));
        }
        if !LANGUAGES.contains(&self.language.as_str()) {
            return Err(("language", format!("language must be one of {}", LANGUAGES.join(", "))));
        }
        if !["easy", "medium", "hard"].contains(&self.difficulty.as_str()) {
            return Err(("difficulty", "difficulty must be easy, medium or hard".into()));
        }
        Ok(())
    }
}

/// A progress event, streamed as one NDJSON line and stored with the job.
pub type Progress = Value;

/// One LLM call as the caller records it (usage ledger) and the report lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    pub purpose: &'static str,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    pub model: String,
    pub replayed: bool,
}

/// A repair, with its reason, as the report records it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Repair {
    pub round: u32,
    pub artifact: &'static str,
    pub reason: String,
    pub accepted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_id: Option<String>,
}

/// The outcome of a job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Generated {
    pub status: GenerationStatus,
    pub capsule: Capsule,
    pub repairs: Vec<Repair>,
    pub rounds: u32,
    pub regenerated: bool,
    pub problems: Vec<String>,
    pub calls: Vec<Call>,
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GenerationStatus {
    /// The capsule is proven: its solution passes, its starter fails, its tests tell wrong solutions apart.
    Validated,
    /// Repairs and one regeneration did not make the capsule valid: it is kept for a person to look at.
    Quarantined,
}

impl GenerationStatus {
    /// The status as answers and job rows spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            GenerationStatus::Validated => "validated",
            GenerationStatus::Quarantined => "quarantined",
        }
    }
}

impl std::fmt::Display for GenerationStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GenerationError {
    #[error("the LLM call for the {purpose} failed: {source}")]
    Llm { purpose: &'static str, source: LlmError },
    #[error("the capsule's budget is spent ({0}); nothing was saved")]
    BudgetExhausted(String),
    #[error("the job's deadline passed ({0:?}); nothing was saved")]
    DeadlinePassed(Duration),
    #[error("the generated capsule cannot be judged: {0}")]
    Unjudgeable(String),
}

/// Reports every call and progress event as it happens (the generate function stores and streams them).
pub trait Observer: Send {
    fn call(&mut self, call: &Call);
    fn progress(&mut self, event: Progress);
}

/// One generation job.
pub struct Generator<'a> {
    llm: &'a LlmClient,
    judges: &'a Judges,
    budget: Budget,
    started: Instant,
    calls: Vec<Call>,
    tokens: u64,
    cost: f64,
    /// Single judge runs by request (program and tests).
    memo: HashMap<u64, JudgeReport>,
}

/// The artifacts of one attempt.
struct Draft {
    spec: Spec,
    tests: Vec<DraftTest>,
    solution: String,
    starter: String,
    wrong: Vec<String>,
    /// An independent second solution, asked for when a test is in doubt.
    second: Option<String>,
    /// The capsule being healed, whose other fields (id, slug, limits, compare, entry…) the result keeps.
    base: Option<Capsule>,
}

/// Where a draft's rounds ended: the capsule, and the problem left when it could not be proven.
struct Proof {
    capsule: Capsule,
    rounds: u32,
    problem: Option<String>,
}

/// Who is at fault, after judging.
enum Fault {
    Solution { reason: String },
    Test { test: usize, actual: String, reason: String },
    Starter,
    WeakTests { flaw: String },
}

impl<'a> Generator<'a> {
    pub fn new(llm: &'a LlmClient, judges: &'a Judges, budget: Budget) -> Generator<'a> {
        Generator {
            llm,
            judges,
            budget,
            started: Instant::now(),
            calls: Vec::new(),
            tokens: 0,
            cost: 0.0,
            memo: HashMap::new(),
        }
    }

    /// Generates, judges and repairs until the capsule is valid or quarantined.
    pub async fn generate(
        mut self,
        request: &GenerateRequest,
        observer: &mut dyn Observer,
    ) -> Result<Generated, GenerationError> {
        let mut repairs = Vec::new();
        let draft = self.draft(request, observer).await?;
        let first = self.prove(draft, request, &mut repairs, observer).await?;
        let Some(problem) = first.problem else {
            return Ok(self.finish(
                GenerationStatus::Validated,
                first.capsule,
                repairs,
                first.rounds,
                false,
                Vec::new(),
            ));
        };
        observer.progress(json!({"event": "regenerating", "problem": problem}));
        let draft = self.draft(request, observer).await?;
        let second = self.prove(draft, request, &mut repairs, observer).await?;
        match second.problem {
            None => {
                Ok(self.finish(GenerationStatus::Validated, second.capsule, repairs, second.rounds, true, Vec::new()))
            }
            Some(problem) => {
                observer.progress(json!({"event": "quarantined", "problem": problem}));
                Ok(self.finish(
                    GenerationStatus::Quarantined,
                    second.capsule,
                    repairs,
                    second.rounds,
                    true,
                    vec![problem],
                ))
            }
        }
    }

    /// Heals an existing capsule (POST /api/validate): its tests, solution and starter are judged and repaired in
    /// the same rounds, against wrong solutions the model proposes; a capsule that cannot be healed comes back
    /// quarantined (there is no prompt to regenerate it from). Text sources only.
    pub async fn heal(mut self, capsule: &Capsule, observer: &mut dyn Observer) -> Result<Generated, GenerationError> {
        let request = GenerateRequest {
            prompt: capsule.description_md.clone(),
            language: capsule.language.clone(),
            difficulty: capsule.difficulty.clone().unwrap_or_else(default_difficulty),
        };
        let spec = Spec {
            title: capsule.title.clone(),
            description_md: capsule.description_md.clone(),
            input_format: String::new(),
            output_format: String::new(),
            tags: capsule.tags.clone(),
            hints: capsule.hints.clone(),
        };
        let wrong = self.wrong_solutions(&spec, &request.language, observer).await?;
        let tests = capsule
            .tests
            .iter()
            .enumerate()
            .map(|(index, test)| DraftTest {
                id: test.id.clone().unwrap_or_else(|| format!("t{}", index + 1)),
                stdin: test.stdin.clone(),
                expected_stdout: test.expected_stdout.clone().unwrap_or_default(),
                hidden: test.hidden,
            })
            .collect();
        let draft = Draft {
            spec,
            tests,
            solution: capsule.solution.source.clone().unwrap_or_default(),
            starter: capsule.starter.source.clone().unwrap_or_default(),
            wrong,
            second: None,
            base: Some(capsule.clone()),
        };
        let mut repairs = Vec::new();
        let proof = self.prove(draft, &request, &mut repairs, observer).await?;
        match proof.problem {
            None => {
                Ok(self.finish(GenerationStatus::Validated, proof.capsule, repairs, proof.rounds, false, Vec::new()))
            }
            Some(problem) => Ok(self.finish(
                GenerationStatus::Quarantined,
                proof.capsule,
                repairs,
                proof.rounds,
                false,
                vec![problem],
            )),
        }
    }

    /// Judging and repair rounds over one draft, at most [`Budget::max_rounds`] repairs.
    async fn prove(
        &mut self,
        mut draft: Draft,
        request: &GenerateRequest,
        repairs: &mut Vec<Repair>,
        observer: &mut dyn Observer,
    ) -> Result<Proof, GenerationError> {
        let mut round = 0;
        loop {
            self.check_time()?;
            let capsule = assemble(&draft, request, false);
            observer.progress(json!({"event": "judging", "round": round}));
            let fault = self.find_fault(&capsule, &mut draft, request, observer).await?;
            let Some(fault) = fault else {
                observer.progress(json!({"event": "validated", "round": round}));
                return Ok(Proof { capsule: assemble(&draft, request, true), rounds: round, problem: None });
            };
            if round == self.budget.max_rounds {
                let problem = Some(describe(&fault));
                return Ok(Proof { capsule: assemble(&draft, request, true), rounds: round, problem });
            }
            round += 1;
            let repair = self.repair(fault, &mut draft, request, round, observer).await?;
            observer.progress(json!({"event": "repair", "round": round, "artifact": repair.artifact,
                                     "accepted": repair.accepted, "reason": repair.reason}));
            repairs.push(repair);
        }
    }

    fn finish(
        self,
        status: GenerationStatus,
        mut capsule: Capsule,
        repairs: Vec<Repair>,
        rounds: u32,
        regenerated: bool,
        problems: Vec<String>,
    ) -> Generated {
        let replayed = self.calls.iter().any(|call| call.replayed);
        capsule.provenance.insert("generator".into(), json!("codecapsule-ai"));
        capsule.provenance.insert("model".into(), json!(self.llm.model()));
        capsule.provenance.insert("replayed".into(), json!(replayed));
        capsule.provenance.insert("rounds".into(), json!(rounds));
        capsule.provenance.insert("cost_usd".into(), json!(self.cost));
        Generated { status, capsule, repairs, rounds, regenerated, problems, calls: self.calls }
    }

    /// Spec, tests, solution, starter and wrong solutions, each from its own call.
    async fn draft(
        &mut self,
        request: &GenerateRequest,
        observer: &mut dyn Observer,
    ) -> Result<Draft, GenerationError> {
        let spec: Spec = self.ask("spec", artifacts::spec_prompt(request), artifacts::spec_schema(), observer).await?;
        observer.progress(json!({"event": "spec", "title": spec.title}));
        let tests: artifacts::Tests =
            self.ask("tests", artifacts::tests_prompt(&spec), artifacts::tests_schema(), observer).await?;
        observer.progress(json!({"event": "tests", "count": tests.tests.len()}));
        let solution: artifacts::DraftCode = self
            .ask("solution", artifacts::solution_prompt(&spec, &request.language), artifacts::code_schema(), observer)
            .await?;
        observer.progress(json!({"event": "solution"}));
        let starter: artifacts::DraftCode = self
            .ask("starter", artifacts::starter_prompt(&spec, &request.language), artifacts::code_schema(), observer)
            .await?;
        let wrong = self.wrong_solutions(&spec, &request.language, observer).await?;
        observer.progress(json!({"event": "starter_and_wrong_solutions", "wrong_solutions": wrong.len()}));
        Ok(Draft {
            spec,
            tests: tests.tests,
            solution: solution.source,
            starter: starter.source,
            wrong,
            second: None,
            base: None,
        })
    }

    /// Plausible wrong programs the tests must reject (for a new draft and for a capsule being healed).
    async fn wrong_solutions(
        &mut self,
        spec: &Spec,
        language: &str,
        observer: &mut dyn Observer,
    ) -> Result<Vec<String>, GenerationError> {
        let wrong: artifacts::WrongSolutions = self
            .ask("wrong solutions", artifacts::wrong_prompt(spec, language), artifacts::wrong_schema(), observer)
            .await?;
        Ok(wrong.solutions.into_iter().map(|wrong| wrong.source).collect())
    }

    /// Judges the capsule and names the first fault, or None when it is valid.
    async fn find_fault(
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
                            capsule.tests[index].stdin,
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
            let expected = capsule.tests[index].expected_stdout.clone().unwrap_or_default();
            let agree = second_run.tests.get(index).is_some_and(|other| {
                other.verdict == Verdict::WrongAnswer
                    && compare::compare(&capsule.compare, &test.stdout, &other.stdout).is_ok()
            });
            if agree {
                return Ok(Some(Fault::Test {
                    test: index,
                    actual: test.stdout.clone(),
                    reason: format!(
                        "two independent solutions both print {:?} for the input {:?}, but the test expects {:?}",
                        test.stdout, capsule.tests[index].stdin, expected
                    ),
                }));
            }
            return Ok(Some(Fault::Solution {
                reason: format!(
                    "on the input {:?} the test expects {:?} but it prints {:?}\nstderr: {}",
                    capsule.tests[index].stdin,
                    expected,
                    test.stdout,
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
    async fn repair(
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
                let matches_both = compare::compare(&Compare::default(), &fixed.expected_stdout, &actual).is_ok();
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

    /// One structured call, within the budget; the call is reported before its answer is used.
    async fn ask<T: serde::de::DeserializeOwned>(
        &mut self,
        purpose: &'static str,
        messages: Vec<Message>,
        schema: Value,
        observer: &mut dyn Observer,
    ) -> Result<T, GenerationError> {
        self.check_time()?;
        if self.calls.len() as u32 >= self.budget.max_calls {
            return Err(GenerationError::BudgetExhausted(format!("{} LLM calls", self.budget.max_calls)));
        }
        let request =
            StructuredRequest { messages, schema_name: artifacts::schema_name(purpose), schema, max_tokens: 4000 };
        let remaining = self.budget.deadline.saturating_sub(self.started.elapsed());
        let completion: Completion = tokio::time::timeout(remaining, self.llm.complete(&request))
            .await
            .map_err(|_| GenerationError::DeadlinePassed(self.budget.deadline))?
            .map_err(|source| GenerationError::Llm { purpose, source })?;
        let call = Call {
            purpose,
            prompt_tokens: completion.usage.prompt_tokens,
            completion_tokens: completion.usage.completion_tokens,
            cost_usd: completion.cost_usd,
            model: completion.model.clone(),
            replayed: completion.replayed,
        };
        observer.call(&call);
        self.tokens += call.prompt_tokens + call.completion_tokens;
        self.cost += call.cost_usd;
        self.calls.push(call);
        if self.tokens > self.budget.max_tokens {
            return Err(GenerationError::BudgetExhausted(format!("{} tokens", self.budget.max_tokens)));
        }
        if self.cost > self.budget.max_cost_usd {
            return Err(GenerationError::BudgetExhausted(format!("${:.2}", self.budget.max_cost_usd)));
        }
        serde_json::from_value(completion.content)
            .map_err(|err| GenerationError::Llm { purpose, source: LlmError::Malformed(err.to_string()) })
    }

    fn check_time(&self) -> Result<(), GenerationError> {
        if self.started.elapsed() > self.budget.deadline {
            return Err(GenerationError::DeadlinePassed(self.budget.deadline));
        }
        Ok(())
    }

    /// The solution's runs: one, and when it passes every test, [`validation::SOLUTION_RUNS`] − 1 more at once, to
    /// show flakiness (a failing solution is repaired anyway: more runs of it would only cost time).
    async fn judge_repeatedly(
        &self,
        request: codecapsule_core::model::JudgeRequest,
    ) -> Result<Vec<JudgeReport>, GenerationError> {
        let judges = self.judges.clone();
        tokio::task::spawn_blocking(move || {
            let (submission, judge) = judges.prepare(request)?;
            let first = judge.judge(&submission)?;
            if first.verdict != Verdict::Accepted {
                return Ok(vec![first]);
            }
            std::thread::scope(|scope| {
                let more: Vec<_> =
                    (1..validation::SOLUTION_RUNS).map(|_| scope.spawn(|| judge.judge(&submission))).collect();
                let mut runs = vec![first];
                for run in more {
                    runs.push(
                        run.join().unwrap_or_else(|_| Err(JudgeError::Internal("a judging thread panicked".into())))?,
                    );
                }
                Ok(runs)
            })
        })
        .await
        .map_err(|err| GenerationError::Unjudgeable(err.to_string()))?
        .map_err(unjudgeable)
    }

    /// One run, remembered for the rest of the job: what did not change since the last round is not run again.
    async fn judge_once(
        &mut self,
        request: codecapsule_core::model::JudgeRequest,
    ) -> Result<JudgeReport, GenerationError> {
        let key = {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            serde_json::to_string(&request).unwrap_or_default().hash(&mut hasher);
            hasher.finish()
        };
        if let Some(report) = self.memo.get(&key) {
            return Ok(report.clone());
        }
        let judges = self.judges.clone();
        let report = tokio::task::spawn_blocking(move || {
            let (submission, judge) = judges.prepare(request)?;
            judge.judge(&submission)
        })
        .await
        .map_err(|err| GenerationError::Unjudgeable(err.to_string()))?
        .map_err(unjudgeable)?;
        self.memo.insert(key, report.clone());
        Ok(report)
    }
}

fn unjudgeable(err: JudgeError) -> GenerationError {
    GenerationError::Unjudgeable(err.to_string())
}

/// The capsule of a draft. While judging, every test is visible (the engine must see outputs); the saved capsule
/// keeps the model's hidden flags.
fn assemble(draft: &Draft, request: &GenerateRequest, for_saving: bool) -> Capsule {
    let tests = draft
        .tests
        .iter()
        .map(|case| Test {
            id: Some(case.id.clone()),
            hidden: for_saving && case.hidden,
            ..Test::stdio(&case.stdin, &case.expected_stdout)
        })
        .collect();
    if let Some(base) = &draft.base {
        let mut healed = base.clone();
        healed.tests = tests;
        healed.solution = CapsuleCode { source: Some(draft.solution.clone()), module_base64: None };
        healed.starter = CapsuleCode { source: Some(draft.starter.clone()), module_base64: None };
        return healed;
    }
    Capsule {
        id: None,
        slug: Some(slug(&draft.spec.title)),
        version: 1,
        title: draft.spec.title.clone(),
        description_md: draft.spec.description_md.clone(),
        language: request.language.clone(),
        difficulty: Some(request.difficulty.clone()),
        tags: draft.spec.tags.clone(),
        entry: None,
        starter: CapsuleCode { source: Some(draft.starter.clone()), module_base64: None },
        solution: CapsuleCode { source: Some(draft.solution.clone()), module_base64: None },
        tests,
        limits: LimitsRequest::default(),
        compare: Compare::default(),
        hints: draft.spec.hints.clone(),
        explanation_md: String::new(),
        provenance: serde_json::Map::new(),
    }
}

fn describe(fault: &Fault) -> String {
    match fault {
        Fault::Solution { reason } => format!("the solution is wrong: {}", trim(reason)),
        Fault::Test { reason, .. } => format!("a test is wrong: {reason}"),
        Fault::Starter => "the starter passes every test".into(),
        Fault::WeakTests { .. } => "the tests reject no wrong solution".into(),
    }
}

fn trim(text: &str) -> String {
    let mut trimmed: String = text.chars().take(STDERR_IN_PROMPT).collect();
    if trimmed.len() < text.len() {
        trimmed.push_str("\n[…]");
    }
    trimmed
}

/// A URL slug from a title: lower-case letters, digits and dashes, at most 60 characters.
pub fn slug(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(60).collect();
    if slug.is_empty() { "capsule".into() } else { slug.trim_end_matches('-').to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_url_safe() {
        assert_eq!(slug("Sum of Two Numbers!"), "sum-of-two-numbers");
        assert_eq!(slug("  ¿Qué?  "), "qu");
        assert_eq!(slug("!!!"), "capsule");
    }

    #[test]
    fn requests_are_checked() {
        let request = |prompt: &str, language: &str| GenerateRequest {
            prompt: prompt.into(),
            language: language.into(),
            difficulty: "easy".into(),
        };
        assert!(request("sum two numbers", "python").check().is_ok());
        assert_eq!(request("", "python").check().unwrap_err().0, "prompt");
        assert_eq!(request(&"x".repeat(MAX_PROMPT_CHARS + 1), "python").check().unwrap_err().0, "prompt");
        assert_eq!(request("x", "cobol").check().unwrap_err().0, "language");
    }
}
