//! Evaluates a stream of profile records on several threads, keeping the
//! input order in the output and memory bounded by one batch.

use std::sync::Arc;
use std::time::Duration;

use crate::evaluate::Evaluator;
use crate::outcome::{Outcome, Status};
use crate::policy;
use crate::profile_reader::ProfileRecord;

/// Records evaluated per thread before results are handed on.
pub const BATCH_PER_THREAD: usize = 64;

/// One recipient's outcome and, when the rule ran, its cost.
#[derive(Debug)]
pub struct Processed {
    /// The outcome, with reasons, fuel and log filled in.
    pub outcome: Outcome,
    /// Wall time and fuel of the evaluation, when the rule ran.
    pub cost: Option<(Duration, u64)>,
}

/// Decides the outcome of one input record.
pub fn process(evaluator: &Evaluator<'_>, record: ProfileRecord) -> Processed {
    let profile = match record.profile {
        Ok(profile) => profile,
        Err(error) => {
            let mut outcome = Outcome::without_message(
                error.profile_id.clone().unwrap_or_default(),
                Status::Error,
                error.to_string(),
            );
            outcome.input = Some(error.position.to_string());
            return Processed {
                outcome,
                cost: None,
            };
        }
    };
    if let Some(outcome) = policy::consent_refused(&profile) {
        return Processed {
            outcome,
            cost: None,
        };
    }
    let id = profile.id.clone();
    let evaluation = evaluator.evaluate(Arc::new(profile));
    let cost = Some((evaluation.elapsed, evaluation.fuel_used));
    let outcome = policy::outcome(id, evaluation, evaluator.campaign(), evaluator.limits());
    Processed { outcome, cost }
}

/// Runs every record through `evaluator` on `jobs` threads and hands each
/// result to `sink` in input order. `sink` returning an error stops the run
/// (for example a closed output pipe).
pub fn run<E>(
    evaluator: &Evaluator<'_>,
    records: impl Iterator<Item = ProfileRecord>,
    jobs: usize,
    mut sink: impl FnMut(Processed) -> Result<(), E>,
) -> Result<(), E> {
    let jobs = jobs.max(1);
    let mut records = records.peekable();
    let mut batch: Vec<ProfileRecord> = Vec::with_capacity(jobs * BATCH_PER_THREAD);
    while records.peek().is_some() {
        batch.extend(records.by_ref().take(jobs * BATCH_PER_THREAD));
        let results: Vec<Processed> = if jobs == 1 || batch.len() < 2 {
            batch
                .drain(..)
                .map(|record| process(evaluator, record))
                .collect()
        } else {
            let per_thread = batch.len().div_ceil(jobs);
            let mut chunks: Vec<Vec<ProfileRecord>> = Vec::with_capacity(jobs);
            while !batch.is_empty() {
                let rest = batch.split_off(per_thread.min(batch.len()));
                chunks.push(std::mem::replace(&mut batch, rest));
            }
            std::thread::scope(|scope| {
                let handles: Vec<_> = chunks
                    .into_iter()
                    .map(|chunk| {
                        scope.spawn(move || {
                            chunk
                                .into_iter()
                                .map(|record| process(evaluator, record))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|handle| handle.join().expect("evaluation threads do not panic"))
                    .collect()
            })
        };
        for processed in results {
            sink(processed)?;
        }
    }
    Ok(())
}
