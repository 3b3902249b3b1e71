//! A job's flow: draft, prove in rounds, regenerate once, finish (validated or quarantined); healing an existing
//! capsule starts from its own artifacts.

use super::artifacts::{DraftTest, Spec};
use super::blame::describe;
use super::{
    Budget, Draft, GenerateRequest, Generated, GenerationError, GenerationStatus, Generator, Observer, Proof, Repair,
    default_difficulty,
};
use crate::llm::LlmClient;
use codecapsule_core::deadline::Deadline;
use codecapsule_core::judge::FunctionCall;
use codecapsule_core::judge::Judges;
use codecapsule_core::model::{Capsule, CapsuleCode, Compare, Language, LimitsRequest, Test};
use serde_json::{Value, json};
use std::collections::HashMap;

impl<'a> Generator<'a> {
    /// A generator over `llm` and `judges`, spending at most `budget`.
    pub fn new(llm: &LlmClient, judges: &'a Judges, budget: Budget) -> Generator<'a> {
        Generator {
            llm: llm.for_job(),
            judges,
            budget,
            deadline: Deadline::after(budget.deadline),
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
        let function = Language::parse(&capsule.language)
            .zip(capsule.entry.as_ref())
            .and_then(|(language, entry)| FunctionCall::of(language, entry).ok().flatten());
        let spec = Spec {
            title: capsule.title.clone(),
            description_md: capsule.description_md.clone(),
            input_format: String::new(),
            output_format: String::new(),
            tags: capsule.tags.clone(),
            hints: capsule.hints.clone(),
            function_signature: function.map(|function| function.signature.to_string()).unwrap_or_default(),
        };
        let wrong = self.wrong_solutions(&spec, &request.language, observer).await?;
        let tests = capsule
            .tests
            .iter()
            .enumerate()
            .map(|(index, test)| DraftTest {
                id: test.id_at(index),
                // A function's test travels as JSON in the same fields (see DraftTest).
                stdin: match &test.args {
                    Some(args) => Value::Array(args.clone()).to_string(),
                    None => test.stdin.clone(),
                },
                expected_stdout: match &test.expected_return {
                    Some(value) => value.to_string(),
                    None => test.expected_stdout.clone().unwrap_or_default(),
                },
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
    pub(super) async fn prove(
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

    pub(super) fn finish(
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
        capsule.provenance.insert("date".into(), json!(chrono::Utc::now().date_naive().to_string()));
        capsule.provenance.insert("replayed".into(), json!(replayed));
        capsule.provenance.insert("rounds".into(), json!(rounds));
        capsule.provenance.insert("cost_usd".into(), json!(self.cost));
        Generated { status, capsule, repairs, rounds, regenerated, problems, calls: self.calls }
    }
}

/// The capsule of a draft. While judging, every test is visible (the engine must see outputs); the saved capsule
/// keeps the model's hidden flags. A function exercise's tests carry their JSON as `args` and `expected_return`;
/// JSON that does not parse is sent as a string, which the judge refuses naming the test.
pub(super) fn assemble(draft: &Draft, request: &GenerateRequest, for_saving: bool) -> Capsule {
    let function = draft.spec.function();
    let tests = draft
        .tests
        .iter()
        .map(|case| {
            let test = Test { id: Some(case.id.clone()), hidden: for_saving && case.hidden, ..Test::stdio("", "") };
            let json = |text: &str| serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()));
            match &function {
                None => Test { stdin: case.stdin.clone(), expected_stdout: Some(case.expected_stdout.clone()), ..test },
                Some(_) => Test {
                    expected_stdout: None,
                    args: Some(match json(&case.stdin) {
                        Value::Array(args) => args,
                        other => vec![other],
                    }),
                    expected_return: Some(json(&case.expected_stdout)),
                    ..test
                },
            }
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
        entry: function.map(|function| function.entry()),
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
