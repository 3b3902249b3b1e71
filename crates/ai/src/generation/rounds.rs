//! What a round asks and runs: the artifacts from the model (each a strict structured output, counted against the
//! budget), and the capsule judged by the deployment's judges (memoised per source and tests).

use super::artifacts::{self, Spec};
use super::{Call, Draft, GenerateRequest, GenerationError, Generator, Observer};
use crate::llm::{Completion, LlmError, Message, StructuredRequest};
use codecapsule_core::judge::JudgeError;
use codecapsule_core::model::{JudgeReport, Verdict};
use codecapsule_core::validation;
use serde_json::{Value, json};
use std::hash::{Hash, Hasher};

impl Generator<'_> {
    /// Spec, tests, solution, starter and wrong solutions, each from its own call.
    pub(super) async fn draft(
        &mut self,
        request: &GenerateRequest,
        observer: &mut dyn Observer,
    ) -> Result<Draft, GenerationError> {
        let mut spec: Spec =
            self.ask("spec", artifacts::spec_prompt(request), artifacts::spec_schema(), observer).await?;
        // A signature the judges cannot take (or a language without named functions) makes a stdin exercise: the
        // later prompts then ask for programs reading stdin.
        let takes_functions = codecapsule_core::model::Language::parse(&request.language)
            .is_some_and(|language| !language.is_webassembly());
        if !spec.function_signature.trim().is_empty() && (!takes_functions || spec.function().is_none()) {
            let reason = match codecapsule_core::function::Signature::parse(&spec.function_signature) {
                Err(reason) => reason,
                Ok(_) => format!("{} has no named functions", request.language),
            };
            observer.progress(json!({"event": "function_signature_refused", "reason": reason}));
            spec.function_signature.clear();
        }
        observer.progress(json!({"event": "spec", "title": spec.title,
                                 "function": spec.function().map(|function| function.to_string())}));
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
    pub(super) async fn wrong_solutions(
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

    /// One structured call, within the budget; the call is reported before its answer is used.
    pub(super) async fn ask<T: serde::de::DeserializeOwned>(
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
        let completion: Completion = tokio::time::timeout(self.deadline.remaining(), self.llm.complete(&request))
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

    pub(super) fn check_time(&self) -> Result<(), GenerationError> {
        if self.deadline.has_passed() {
            return Err(GenerationError::DeadlinePassed(self.budget.deadline));
        }
        Ok(())
    }

    /// The solution's runs: one, and when it passes every test, [`validation::SOLUTION_RUNS`] − 1 more at once, to
    /// show flakiness (a failing solution is repaired anyway: more runs of it would only cost time).
    pub(super) async fn judge_repeatedly(
        &self,
        request: codecapsule_core::model::JudgeRequest,
    ) -> Result<Vec<JudgeReport>, GenerationError> {
        let prepared = self.judges.prepare(request).map_err(unjudgeable)?;
        let first = prepared.judge(self.deadline).await.map_err(unjudgeable)?;
        if first.verdict != Verdict::Accepted {
            return Ok(vec![first]);
        }
        let more: Vec<_> =
            (1..validation::SOLUTION_RUNS).map(|_| tokio::spawn(prepared.judge(self.deadline))).collect();
        let mut runs = vec![first];
        for run in more {
            let report = run.await.unwrap_or_else(|_| Err(JudgeError::crashed()));
            runs.push(report.map_err(unjudgeable)?);
        }
        Ok(runs)
    }

    /// One run, remembered for the rest of the job: what did not change since the last round is not run again.
    pub(super) async fn judge_once(
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
        let report =
            self.judges.prepare(request).map_err(unjudgeable)?.judge(self.deadline).await.map_err(unjudgeable)?;
        self.memo.insert(key, report.clone());
        Ok(report)
    }
}

pub(super) fn unjudgeable(err: JudgeError) -> GenerationError {
    GenerationError::Unjudgeable(err.to_string())
}
