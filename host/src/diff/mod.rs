//! The shadow diff: runs the active rule and a candidate rule on the same
//! profiles and reports what would change for the recipients if the
//! candidate replaced the active one: statuses, segment membership,
//! variants and blocks, new and fixed failures, fuel, with example profile
//! ids to look at.
//!
//! Each side's outcome is decided exactly as [`crate::run::process`]
//! decides it (consent first, then the rule, then
//! [`crate::policy::outcome`]), so the diff shows what
//! `mailrules eval` would print with each rule. Memory stays bounded
//! however many profiles go through and whatever ids the rules invent.

mod report;
mod tally;

use std::sync::Arc;

pub use report::{
    DiffReport, FuelComparison, FuelStats, SegmentChange, StatusChange, VariantChange,
};

use crate::evaluate::{Evaluator, Session};
use crate::fair_share::FairScheduler;
use crate::policy;
use crate::profile::Profile;
use crate::profile_reader::ProfileRecord;
use tally::{Compared, Side, Tally};

/// Example profile ids kept per kind of change.
pub const MAX_EXAMPLES: usize = 10;

/// Kinds of change that keep examples (the first seen).
pub const MAX_EXAMPLE_KINDS: usize = 100;

/// Of those, kinds about one segment (`segment gained <id>`, `segment lost
/// <id>`), so invented segment ids cannot crowd out the other kinds.
pub const MAX_SEGMENT_EXAMPLE_KINDS: usize = 20;

/// Longest profile id kept as an example; longer ones are passed over.
pub const MAX_EXAMPLE_ID_BYTES: usize = 256;

/// Records per chunk handed to a comparing thread.
const CHUNK: usize = crate::run::BATCH_PER_THREAD;

/// Longest chunk accepted to keep both rules' batches aligned to input
/// positions (batch mode).
const MAX_ALIGNED_CHUNK: usize = 8_192;

/// Two evaluators that cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// They differ in something other than the rule.
    #[error(
        "the active and candidate evaluators differ in {what}; a diff compares two rules on the same campaign, time and limits"
    )]
    Mismatch {
        /// What differs: `campaign`, `now` or `limits`.
        what: &'static str,
    },
    /// The shared workers could not finish the comparison (a worker
    /// panicked, or the scheduler is shutting down).
    #[error("the comparison stopped: {0}")]
    Stopped(String),
}

/// Runs `active` and `candidate` on every record, on `jobs` threads, and
/// reports what would change. Both evaluators must share the campaign, the
/// time and the limits; only their rules differ.
///
/// Each thread evaluates both rules on the same chunk of records; results
/// are counted in input order, so the report (examples and which ids fill
/// the bounded tables included) does not depend on `jobs`.
pub fn run(
    active: &Evaluator,
    candidate: &Evaluator,
    records: impl Iterator<Item = ProfileRecord> + Send,
    jobs: usize,
) -> Result<DiffReport, DiffError> {
    comparable(active, candidate)?;
    let mut tally = Tally::default();
    let counted = crate::ordered::ordered(
        records,
        jobs,
        chunk_len(active.reuse(), candidate.reuse()),
        "compare",
        |first, chunk| compare_chunk((active, candidate), first, chunk),
        |compared| {
            tally.record(compared);
            Ok::<(), std::convert::Infallible>(())
        },
    );
    match counted {
        Ok(()) => Ok(tally.report()),
        Err(never) => match never {},
    }
}

/// Like [`run`], on the workers a [`FairScheduler`] shares between
/// tenants, as `tenant`'s work: a diff takes its fair share of the
/// evaluation capacity, not threads of its own.
pub fn run_fair(
    active: &Evaluator,
    candidate: &Evaluator,
    records: impl Iterator<Item = ProfileRecord>,
    scheduler: &FairScheduler,
    tenant: &str,
) -> Result<DiffReport, DiffError> {
    comparable(active, candidate)?;
    let mut tally = Tally::default();
    let pair = (active.clone(), candidate.clone());
    let chunk = chunk_len(active.reuse(), candidate.reuse());
    scheduler
        .map_ordered(
            tenant,
            records,
            chunk,
            move |first, chunk| compare_chunk((&pair.0, &pair.1), first, chunk),
            |compared| {
                tally.record(compared);
                Ok::<(), std::convert::Infallible>(())
            },
        )
        .map_err(|error| DiffError::Stopped(format!("{error:?}")))?;
    Ok(tally.report())
}

/// Whether two evaluators differ only in their rules.
fn comparable(active: &Evaluator, candidate: &Evaluator) -> Result<(), DiffError> {
    let mismatch = |what| Err(DiffError::Mismatch { what });
    if !Arc::ptr_eq(active.campaign(), candidate.campaign())
        && active.campaign() != candidate.campaign()
    {
        return mismatch("campaign");
    }
    if active.now() != candidate.now() {
        return mismatch("now");
    }
    if active.limits() != candidate.limits() {
        return mismatch("limits");
    }
    Ok(())
}

/// Records per chunk: a multiple of both reuse counts when that stays
/// small, so batches start at the same input positions whatever the thread
/// count.
fn chunk_len(a: u64, b: u64) -> usize {
    let gcd = |mut x: u64, mut y: u64| {
        while y != 0 {
            (x, y) = (y, x % y);
        }
        x
    };
    let (a, b) = (a.max(1), b.max(1));
    let lcm = (a / gcd(a, b)).saturating_mul(b);
    let unit = if lcm as usize <= MAX_ALIGNED_CHUNK {
        lcm
    } else {
        a.max(b)
    } as usize;
    CHUNK.div_ceil(unit) * unit
}

/// Both sides of every record of a chunk starting at input position
/// `first`: the active rule over the whole chunk, then the candidate (one
/// rule at a time keeps each rule's instances warm).
fn compare_chunk(
    (active, candidate): (&Evaluator, &Evaluator),
    first: u64,
    chunk: Vec<ProfileRecord>,
) -> Vec<Compared> {
    let profiles: Vec<Option<Arc<Profile>>> = chunk
        .into_iter()
        .map(|record| record.profile.ok().map(Arc::new))
        .collect();
    let sides = |evaluator: &Evaluator| -> Vec<Option<Side>> {
        let mut session = evaluator.session();
        profiles
            .iter()
            .zip(first..)
            .map(|(profile, index)| {
                let profile = profile.as_ref()?;
                Some(side(&mut session, evaluator, index, profile))
            })
            .collect()
    };
    let (before, after) = (sides(active), sides(candidate));
    before
        .into_iter()
        .zip(after)
        .map(|pair| match pair {
            (Some(active), Some(candidate)) => Compared::Profile {
                active: Box::new(active),
                candidate: Box::new(candidate),
            },
            _ => Compared::Unreadable,
        })
        .collect()
}

/// One rule's outcome for one profile, as [`crate::run::process`] decides
/// it, with the code of the rule's failure (taken before a holdout can hide
/// it) and the fuel used.
fn side(
    session: &mut Session<'_>,
    evaluator: &Evaluator,
    index: u64,
    profile: &Arc<Profile>,
) -> Side {
    if let Some(outcome) = policy::consent_refused(profile) {
        return Side {
            outcome,
            failure: None,
            fuel: None,
        };
    }
    let evaluation = session.evaluate(index, profile.clone());
    let (campaign, limits) = (evaluator.campaign(), evaluator.limits());
    let failure = match &evaluation.result {
        Err(failure) => Some(failure.code()),
        Ok(decision) => policy::validate_decision(decision, campaign, limits)
            .err()
            .map(|failure| failure.code()),
    };
    let fuel = Some(evaluation.fuel_used);
    let mut outcome = policy::outcome(profile.id.clone(), evaluation, campaign, limits);
    outcome.log = None;
    outcome.reasons = None;
    Side {
        outcome,
        failure,
        fuel,
    }
}

#[cfg(test)]
mod tests;
