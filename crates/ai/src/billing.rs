//! LLM spending billed to an organization, the same for every job that calls a model (generate's jobs, validate's
//! healing): before the job, what is left of today's allowance (its tier's, from runtime_config); during it, every
//! call written to the usage ledger as it is made.

use crate::generation::Call;
use codecapsule_core::access::Tier;
use codecapsule_state::{Store, StoreError, Usage};
use uuid::Uuid;

/// Why an organization may not spend on a model now.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// No such organization.
    #[error("organization {0} does not exist")]
    UnknownOrganization(Uuid),
    /// Today's allowance is used up.
    #[error(
        "the organization's LLM allowance for today (${allowance_usd:.2} on the {} tier) is spent; it renews at 00:00 UTC",
        tier.as_str()
    )]
    AllowanceSpent {
        /// Today's allowance in US dollars.
        allowance_usd: f64,
        /// The organization's tier, which sets the allowance.
        tier: Tier,
    },
    /// The allowance could not be read.
    #[error("the LLM allowance could not be read ({0}); retry later")]
    Store(#[from] StoreError),
}

/// One organization's LLM bill.
#[derive(Clone)]
pub struct Billing {
    store: Store,
    organization: Uuid,
}

impl Billing {
    /// The bill of `organization`, kept in `store`.
    pub fn new(store: Store, organization: Uuid) -> Billing {
        Billing { store, organization }
    }

    /// What is left of today's allowance, in US dollars (more than zero), or why nothing is.
    pub async fn left_today(&self) -> Result<f64, BillingError> {
        let allowance = self
            .store
            .llm_allowance(self.organization)
            .await?
            .ok_or(BillingError::UnknownOrganization(self.organization))?;
        let left = allowance.allowance_usd - allowance.spent_usd;
        if left <= 0.0 {
            return Err(BillingError::AllowanceSpent { allowance_usd: allowance.allowance_usd, tier: allowance.tier });
        }
        Ok(left)
    }

    /// Writes one call to the ledger. The call was made and paid for: a failed write is logged, never the job's
    /// failure.
    pub async fn record(&self, call: &Call) {
        if let Err(err) = self.store.record_usage(self.organization, &Usage::from(call)).await {
            tracing::error!(error = %err, organization = %self.organization, "cannot record LLM usage");
        }
    }
}

/// One LLM call as the ledger counts it.
impl From<&Call> for Usage {
    fn from(call: &Call) -> Usage {
        Usage {
            llm_calls: 1,
            llm_prompt_tokens: i64::try_from(call.prompt_tokens).unwrap_or(i64::MAX),
            llm_completion_tokens: i64::try_from(call.completion_tokens).unwrap_or(i64::MAX),
            llm_cost_usd: call.cost_usd,
            ..Usage::default()
        }
    }
}
