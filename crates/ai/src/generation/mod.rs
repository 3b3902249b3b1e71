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
//!
//! Files by job: [`artifacts`] (what the model writes: schemas and prompts), `job` (a job's flow, from draft to
//! validated or quarantined), `rounds` (asking the model, judging a draft), `blame` (who is at fault, the repair).

pub mod artifacts;
mod blame;
mod job;
mod rounds;

pub use job::slug;

use crate::llm::{LlmClient, LlmError};
use artifacts::{DraftTest, Spec};
use codecapsule_core::deadline::Deadline;
use codecapsule_core::judge::Judges;
use codecapsule_core::model::{Capsule, JudgeReport};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// Languages the engine generates for (each needs a judge in the deployment).
pub const LANGUAGES: &[&str] = &["python", "java", "csharp", "wat"];
/// The longest prompt accepted, in characters.
pub const MAX_PROMPT_CHARS: usize = 4000;
/// How much of a program's stderr a repair prompt shows.
const STDERR_IN_PROMPT: usize = 1500;

/// What one capsule may spend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// LLM calls.
    pub max_calls: u32,
    /// Prompt and completion tokens together.
    pub max_tokens: u64,
    /// Cost in US dollars.
    pub max_cost_usd: f64,
    /// Repair rounds before the one regeneration.
    pub max_rounds: u32,
    /// Wall time of the whole job.
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
    /// What the exercise is about, in the author's words (data, never instructions).
    pub prompt: String,
    /// The capsule's language.
    pub language: String,
    #[serde(default = "default_difficulty")]
    /// easy, medium or hard.
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
        // PostgreSQL text (the job's stored request) cannot hold NUL: it is bad input, not an outage.
        if self.prompt.contains('\0') {
            return Err(("prompt", "the prompt must not contain NUL characters (\\u0000)".into()));
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
    /// What the call was for (spec, tests, solution, …).
    pub purpose: &'static str,
    /// Prompt tokens billed.
    pub prompt_tokens: u64,
    /// Completion tokens billed.
    pub completion_tokens: u64,
    /// Its cost in US dollars.
    pub cost_usd: f64,
    /// The model that answered.
    pub model: String,
    /// Whether it came from a recorded transcript.
    pub replayed: bool,
}

/// A repair, with its reason, as the report records it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Repair {
    /// The round it was made in.
    pub round: u32,
    /// What was repaired (solution, test, starter, tests).
    pub artifact: &'static str,
    /// Why, as the model or the engine put it.
    pub reason: String,
    /// Whether the repair was kept.
    pub accepted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The repaired test, when a test was.
    pub test_id: Option<String>,
}

/// The outcome of a job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Generated {
    /// How the job ended.
    pub status: GenerationStatus,
    /// The capsule, solution included (it is the author's).
    pub capsule: Capsule,
    /// Every repair tried.
    pub repairs: Vec<Repair>,
    /// Rounds judged.
    pub rounds: u32,
    /// Whether the draft was thrown away and generated again.
    pub regenerated: bool,
    /// What is still wrong (quarantined capsules).
    pub problems: Vec<String>,
    /// Every LLM call made.
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
/// Why a job stopped without a capsule.
pub enum GenerationError {
    #[error("the LLM call for the {purpose} failed: {source}")]
    /// A model call failed.
    Llm {
        /// What the call was for.
        purpose: &'static str,
        /// The client's error.
        source: LlmError,
    },
    #[error("the capsule's budget is spent ({0}); nothing was saved")]
    /// The budget (calls, tokens or cost) ran out.
    BudgetExhausted(String),
    #[error("the job's deadline passed ({0:?}); nothing was saved")]
    /// The job's deadline passed.
    DeadlinePassed(Duration),
    #[error("the generated capsule cannot be judged: {0}")]
    /// The capsule cannot be judged by this deployment's judges.
    Unjudgeable(String),
}

/// Reports every call and progress event as it happens (the generate function stores and streams them).
pub trait Observer: Send {
    /// An LLM call was made (for the usage ledger).
    fn call(&mut self, call: &Call);
    /// The job moved on (NDJSON progress).
    fn progress(&mut self, event: Progress);
}

/// One generation job.
pub struct Generator<'a> {
    /// The job's own client ([`LlmClient::for_job`]).
    llm: LlmClient,
    judges: &'a Judges,
    budget: Budget,
    /// The job's wall-time budget ([`Budget::deadline`]) from its start: every call and judging ends by then.
    deadline: Deadline,
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
        assert_eq!(request("sum\u{0}two", "python").check().unwrap_err().0, "prompt", "NUL is bad input");
    }
}
