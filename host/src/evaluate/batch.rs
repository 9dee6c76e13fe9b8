//! Evaluation of 0.2 rules: many profiles per `decide-batch` call, with
//! the budgets still per recipient (see `wit/v0.2.0/rules.wit`).
//!
//! A batch is a fresh sandbox. Each profile in it gets the full fuel
//! budget and deadline when the rule calls `host.begin` for it. If the
//! batch as a whole fails (a trap, fuel or time running out, memory, an
//! answer that does not fit the batch), its decisions are thrown away and
//! its profiles run again one by one, each in a fresh sandbox of its own:
//! a failure costs exactly the recipient that caused it, and no decision
//! depends on the batch size.

use std::sync::Arc;
use std::time::Instant;

use super::{Evaluation, Evaluator, Failure, MAX_RULE_ERROR_MESSAGE, cap};
use crate::contract::Instance;
use crate::contract::v0_2::host_api::{Account, BatchProgress};
use crate::contract::v0_2::input::BatchBuilder;
use crate::contract::v0_2::{output, types};
use crate::profile::Profile;

/// Most bytes a batch may take in the rule's memory (its text and the rows
/// of its lists); a batch is cut before the profile that would take it past
/// this, so large profiles do not make a batch outgrow the rule's memory.
/// A single profile always makes a batch, whatever its size.
pub const MAX_BATCH_BYTES: usize = 1 << 20;

/// Evaluates `profiles` with the rule that serves `canary`, in batches of
/// the evaluator's batch size. One evaluation per profile, in order.
pub(super) fn evaluate(
    evaluator: &Evaluator,
    canary: bool,
    profiles: &[Arc<Profile>],
) -> Vec<Evaluation> {
    let mut evaluations = Vec::with_capacity(profiles.len());
    let mut start = 0;
    while start < profiles.len() {
        let (batch, end) = fill(evaluator, canary, profiles, start);
        evaluations.extend(run_or_split(
            evaluator,
            canary,
            &profiles[start..end],
            batch,
        ));
        start = end;
    }
    evaluations
}

/// Lays out profiles from `start` until the batch is full; the batch and
/// where it ends.
fn fill(
    evaluator: &Evaluator,
    canary: bool,
    profiles: &[Arc<Profile>],
    start: usize,
) -> (types::Batch, usize) {
    let fields = evaluator
        .rule_for(canary)
        .pre
        .description()
        .map(|description| description.fields)
        .unwrap_or(types::Field::empty());
    let mut builder = BatchBuilder::new(evaluator.layout(), fields);
    let mut end = start;
    while end < profiles.len() && end - start < evaluator.batch {
        builder.push(&profiles[end]);
        if end > start && builder.guest_bytes() > MAX_BATCH_BYTES {
            // Over the cap with this profile: lay the batch out again
            // without it (rare: only very large profiles get here).
            return fill_exactly(evaluator, canary, profiles, start, end);
        }
        end += 1;
    }
    (builder.finish(), end)
}

/// The batch of `profiles[start..end]`.
fn fill_exactly(
    evaluator: &Evaluator,
    canary: bool,
    profiles: &[Arc<Profile>],
    start: usize,
    end: usize,
) -> (types::Batch, usize) {
    let (batch, _) = fill(evaluator, canary, &profiles[..end], start);
    (batch, end)
}

fn run_or_split(
    evaluator: &Evaluator,
    canary: bool,
    profiles: &[Arc<Profile>],
    batch: types::Batch,
) -> Vec<Evaluation> {
    let failed = match run(evaluator, canary, profiles, &batch) {
        Ok(evaluations) => return evaluations,
        Err(failed) => *failed,
    };
    let host_unavailable = matches!(failed.result, Err(Failure::HostUnavailable { .. }));
    if profiles.len() == 1 || host_unavailable {
        // Not the rule's doing, or nothing left to split.
        return profiles.iter().map(|_| failed.clone()).collect();
    }
    profiles
        .iter()
        .map(|profile| {
            let one = std::slice::from_ref(profile);
            let (batch, _) = fill(evaluator, canary, one, 0);
            match run(evaluator, canary, one, &batch) {
                Ok(mut evaluations) => evaluations.pop().unwrap_or(failed.clone()),
                Err(failed) => *failed,
            }
        })
        .collect()
}

/// One `decide-batch` call in a fresh sandbox: an evaluation per profile,
/// or the failure of the batch as a whole.
fn run(
    evaluator: &Evaluator,
    canary: bool,
    profiles: &[Arc<Profile>],
    batch: &types::Batch,
) -> Result<Vec<Evaluation>, Box<Evaluation>> {
    let started = Instant::now();
    let rule = evaluator.rule_for(canary);
    let segments = rule
        .pre
        .description()
        .map(|description| description.segments.as_slice())
        .unwrap_or_default();
    let (mut store, instance) = evaluator.instantiate_waiting(profiles[0].clone(), canary);
    let failed = |store: &wasmtime::Store<_>, error| {
        Box::new(evaluator.finish(store, Err(error), started, canary))
    };
    let rules = match instance {
        Ok(Instance::V0_2(rules)) => rules,
        Ok(Instance::V0_1(_)) => {
            return Err(failed(
                &store,
                wasmtime::format_err!("a 0.1 rule on the 0.2 path"),
            ));
        }
        Err(error) => return Err(failed(&store, error)),
    };
    let isolation = evaluator.engine.isolation();
    let limits = &evaluator.limits;
    store.data_mut().batch = Some(BatchProgress::new(
        profiles.to_vec(),
        isolation.fuel.then_some(limits.fuel),
        isolation
            .epochs
            .then_some((limits.timeout, evaluator.deadline_ticks)),
    ));
    let answer = rules
        .mailrules_rules_rule()
        .call_decide_batch(&mut store, batch);
    let accounts = BatchProgress::finish(&mut store);
    let decisions = match answer {
        Ok(decisions) => decisions,
        Err(error) => return Err(failed(&store, error)),
    };
    let invalid = |detail: String| {
        let failure = Err(Failure::InvalidDecision { detail });
        let mut evaluation = evaluator.finish(&store, Ok(Ok(Default::default())), started, canary);
        evaluation.result = failure;
        Box::new(evaluation)
    };
    if profiles.len() > 1 && accounts.len() != profiles.len() {
        return Err(invalid(format!(
            "the rule called host.begin for {} of the batch's {} profiles",
            accounts.len(),
            profiles.len()
        )));
    }
    let rows = output::rows(
        &decisions,
        profiles.len(),
        &evaluator.campaign,
        segments,
        &evaluator.limits,
    )
    .map_err(invalid)?;
    let whole = (accounts.is_empty())
        .then(|| evaluator.finish(&store, Ok(Ok(Default::default())), started, canary));
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let account = match (&whole, accounts.get(i)) {
                (_, Some(account)) => account.clone(),
                (Some(whole), None) => Account {
                    fuel_used: whole.fuel_used,
                    elapsed: whole.elapsed,
                    log: whole.log.clone(),
                    log_dropped: whole.log_dropped,
                },
                (None, None) => Account::default(),
            };
            Evaluation {
                result: match row {
                    Ok(Ok(decision)) => Ok(decision),
                    Ok(Err(error)) => Err(Failure::RuleError {
                        code: error.code,
                        message: cap(error.message, MAX_RULE_ERROR_MESSAGE),
                    }),
                    Err(detail) => Err(Failure::InvalidDecision { detail }),
                },
                fuel_used: account.fuel_used,
                elapsed: account.elapsed,
                log: account.log,
                log_dropped: account.log_dropped,
                canary,
            }
        })
        .collect())
}
