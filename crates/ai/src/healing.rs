//! Validation with healing: a capsule is validated with the deployment's judges and, when it is invalid and an LLM is
//! configured, repaired by [`Generator::heal`] and validated again, billed to the caller's organization. Shared by
//! POST /api/validate and POST /api/capsules, so that both answer the same report for the same capsule.

use crate::billing::Billing;
use crate::generation::{Budget, Call, Generated, GenerationError, Generator, Observer, Progress};
use crate::llm::LlmClient;
use codecapsule_core::deadline::Deadline;
use codecapsule_core::judge::{JudgeError, Judges};
use codecapsule_core::model::{Capsule, ValidateReport};
use codecapsule_core::validation;
use codecapsule_state::Store;
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

/// What healing needs: a model, and the state that bills it.
#[derive(Clone, Default)]
pub struct Healing {
    /// The model; none: invalid capsules are reported, not healed.
    pub llm: Option<Arc<LlmClient>>,
    /// The state that bills the organization's calls.
    pub store: Option<Store>,
}

impl Healing {
    /// Validates `capsule`; an invalid one is healed for `organization` when a model is configured, and the report
    /// says how (`healing`: skipped with the reason, failed, or the rounds and problems before and after). The
    /// report's capsule is the healed one when healing made it. The validations and the healing share `deadline`,
    /// the request's: healing gets what the first validation left of it.
    pub async fn validate(
        &self,
        capsule: Capsule,
        judges: &Judges,
        organization: Option<Uuid>,
        deadline: Deadline,
    ) -> Result<ValidateReport, JudgeError> {
        let report = validation::validate(capsule.clone(), judges, deadline).await?;
        let Some(llm) = self.llm.as_deref() else {
            return Ok(report);
        };
        if report.valid {
            return Ok(report);
        }
        let mut report = report;
        match self.heal(llm, judges, &capsule, organization, deadline).await {
            Err(reason) => report.healing = Some(json!({"status": "skipped", "reason": reason})),
            Ok(Err(err)) => report.healing = Some(json!({"status": "failed", "error": err.to_string()})),
            Ok(Ok(generated)) => {
                let before = report.problems.clone();
                report = validation::validate(generated.capsule.clone(), judges, deadline).await?;
                report.healing = Some(json!({
                    "status": generated.status, "rounds": generated.rounds, "repairs": generated.repairs,
                    "problems_before": before, "problems_left": generated.problems, "calls": generated.calls,
                }));
            }
        }
        Ok(report)
    }

    /// Heals `capsule` for `organization` before `deadline`, or says why it was not tried.
    async fn heal(
        &self,
        llm: &LlmClient,
        judges: &Judges,
        capsule: &Capsule,
        organization: Option<Uuid>,
        deadline: Deadline,
    ) -> Result<Result<Generated, GenerationError>, String> {
        let (Some(store), Some(organization)) = (&self.store, organization) else {
            return Err("healing is billed to an organization: send an organization API key, or a user token with X-Organization-Id".into());
        };
        if capsule.solution.source.is_none() {
            return Err("only capsules with text sources are healed (a WebAssembly module is not rewritten)".into());
        }
        let billing = Billing::new(store.clone(), organization);
        let left = billing.left_today().await.map_err(|err| err.to_string())?;
        let budget = Budget {
            deadline: deadline.remaining(),
            max_cost_usd: Budget::default().max_cost_usd.min(left),
            ..Budget::default()
        };
        let mut calls = Calls(Vec::new());
        let healed = Generator::new(llm, judges, budget).heal(capsule, &mut calls).await;
        for call in &calls.0 {
            billing.record(call).await;
        }
        Ok(healed)
    }
}

/// Collects the calls a healing makes, for the usage ledger.
struct Calls(Vec<Call>);

impl Observer for Calls {
    fn call(&mut self, call: &Call) {
        self.0.push(call.clone());
    }

    fn progress(&mut self, _event: Progress) {}
}
