//! Evaluates a stream of profile records on several threads, keeping the
//! input order in the output and memory bounded by one batch.

use std::sync::Arc;
use std::time::Duration;

use crate::evaluate::{Evaluator, Session};
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

/// Decides the outcome of the input record at position `index` (0-based).
pub fn process(
    session: &mut Session<'_, '_>,
    evaluator: &Evaluator<'_>,
    index: u64,
    record: ProfileRecord,
) -> Processed {
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
    let evaluation = session.evaluate(index, Arc::new(profile));
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
    // Chunks start at multiples of the reuse count, so in batch mode the
    // recipients sharing an instance do not depend on the thread count.
    let unit = evaluator.reuse() as usize;
    let per_thread_max = BATCH_PER_THREAD.div_ceil(unit) * unit;
    let mut batch: Vec<ProfileRecord> = Vec::with_capacity(jobs * per_thread_max);
    let mut next_index = 0u64;
    let evaluate_chunk = |first: u64, chunk: Vec<ProfileRecord>| {
        let mut session = evaluator.session();
        chunk
            .into_iter()
            .zip(first..)
            .map(|(record, index)| process(&mut session, evaluator, index, record))
            .collect::<Vec<_>>()
    };
    while records.peek().is_some() {
        batch.extend(records.by_ref().take(jobs * per_thread_max));
        let first = next_index;
        next_index += batch.len() as u64;
        let results: Vec<Processed> = if jobs == 1 || batch.len() < 2 {
            evaluate_chunk(first, std::mem::take(&mut batch))
        } else {
            let per_thread = batch.len().div_ceil(jobs).div_ceil(unit) * unit;
            let mut chunks: Vec<(u64, Vec<ProfileRecord>)> = Vec::with_capacity(jobs);
            let mut start = first;
            while !batch.is_empty() {
                let rest = batch.split_off(per_thread.min(batch.len()));
                let chunk = std::mem::replace(&mut batch, rest);
                let len = chunk.len() as u64;
                chunks.push((start, chunk));
                start += len;
            }
            std::thread::scope(|scope| {
                let handles: Vec<_> = chunks
                    .into_iter()
                    .map(|(start, chunk)| scope.spawn(move || evaluate_chunk(start, chunk)))
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
