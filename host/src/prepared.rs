//! A prepared campaign: one campaign, the rule that decides for it and the
//! limits its evaluations run under, resolved once and shared (the second
//! of the three lifetimes: engine per process, prepared campaign per tenant
//! rule version, store per evaluation).

use std::sync::Arc;

use crate::campaign::Campaign;
use crate::engine::RuleEngine;
use crate::evaluate::Evaluator;
use crate::limits::{Clamped, Limits, resolve_within};
use crate::outcome::Outcome;
use crate::policy;
use crate::profile::Profile;
use crate::rule::LoadedRule;

/// A campaign ready to evaluate: its rule and effective limits. Cheap to
/// clone; owns everything it needs.
#[derive(Clone)]
pub struct PreparedCampaign {
    evaluator: Evaluator,
}

/// A [`PreparedCampaign`] and the limit requests that were lowered to fit
/// the ceiling, which the caller should report.
pub struct Prepared {
    /// The prepared campaign.
    pub campaign: PreparedCampaign,
    /// Requests of the campaign's `[limits]` above the ceiling, lowered.
    pub clamped: Vec<Clamped>,
}

impl PreparedCampaign {
    /// Prepares `campaign` to run `rule` at time `now` (seconds since the
    /// Unix epoch), with its `[limits]` resolved below `ceiling` (the
    /// tenant's ceiling, or the operator's maximum for a single user).
    pub fn prepare(
        engine: &RuleEngine,
        rule: &LoadedRule,
        campaign: Arc<Campaign>,
        ceiling: &Limits,
        now: i64,
    ) -> Prepared {
        let (limits, clamped) = resolve_within(&campaign.limits, ceiling);
        Prepared {
            campaign: PreparedCampaign {
                evaluator: Evaluator::new(engine, rule, campaign, limits, now),
            },
            clamped,
        }
    }

    /// Batch mode (see [`Evaluator::with_reuse`]).
    pub fn with_reuse(mut self, evaluations: u64) -> Self {
        self.evaluator = self.evaluator.with_reuse(evaluations);
        self
    }

    /// The evaluator, for running many profiles (see [`crate::run`]).
    pub fn evaluator(&self) -> &Evaluator {
        &self.evaluator
    }

    /// The campaign.
    pub fn campaign(&self) -> &Arc<Campaign> {
        self.evaluator.campaign()
    }

    /// The limits every evaluation runs under.
    pub fn limits(&self) -> &Limits {
        self.evaluator.limits()
    }

    /// One profile in, one outcome out: consent first, then the rule in a
    /// fresh sandbox, then the host's checks of the decision.
    /// The outcome carries the reasons, fuel and log of the evaluation.
    pub fn decide(&self, profile: Arc<Profile>) -> Outcome {
        if let Some(outcome) = self.evaluator.refused(&profile) {
            return outcome;
        }
        let evaluation = self.evaluator.evaluate(profile.clone());
        policy::outcome(
            profile.id.clone(),
            evaluation,
            self.campaign(),
            self.limits(),
        )
    }
}
