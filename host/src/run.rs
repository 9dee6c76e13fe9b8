//! Evaluates a stream of profile records on several threads, keeping the
//! input order in the output and memory bounded by one batch.

use std::sync::Arc;
use std::time::Duration;

use crate::evaluate::{Evaluator, Session};
use crate::outcome::{Outcome, Status};
use crate::policy;
use crate::profile::Profile;
use crate::profile_reader::ProfileRecord;

/// Records per chunk handed to an evaluation thread (rounded up to a
/// multiple of the reuse count in batch mode).
pub const BATCH_PER_THREAD: usize = 64;

/// One recipient's outcome and, when the rule ran, its cost.
#[derive(Debug)]
pub struct Processed {
    /// The outcome, with reasons, fuel and log filled in.
    pub outcome: Outcome,
    /// Wall time and fuel of the evaluation, when the rule ran.
    pub cost: Option<(Duration, Option<u64>)>,
    /// The profile, when the record was one.
    pub profile: Option<Arc<Profile>>,
    /// Whether the evaluator's canary rule decided (see
    /// [`Evaluator::with_canary`]).
    pub canary: bool,
}

/// Decides the outcome of the input record at position `index` (0-based).
pub fn process(
    session: &mut Session<'_>,
    evaluator: &Evaluator,
    index: u64,
    record: ProfileRecord,
) -> Processed {
    let mut processed = process_chunk(session, evaluator, index, vec![record]);
    processed.pop().expect("one record in, one out")
}

/// Decides the outcomes of consecutive input records, the first at
/// position `first`: unreadable and refused records at once, the rest
/// through [`Session::evaluate_many`] (in batches, for 0.2 rules).
pub fn process_chunk(
    session: &mut Session<'_>,
    evaluator: &Evaluator,
    first: u64,
    records: Vec<ProfileRecord>,
) -> Vec<Processed> {
    let mut processed: Vec<Option<Processed>> = Vec::with_capacity(records.len());
    let mut to_evaluate: Vec<(u64, Arc<Profile>)> = Vec::new();
    let mut positions = Vec::new();
    for (record, index) in records.into_iter().zip(first..) {
        match admit(evaluator, record) {
            Ok(profile) => {
                positions.push(processed.len());
                to_evaluate.push((index, profile));
                processed.push(None);
            }
            Err(done) => processed.push(Some(*done)),
        }
    }
    let evaluations = session.evaluate_many(&to_evaluate);
    for ((position, (_, profile)), evaluation) in
        positions.into_iter().zip(to_evaluate).zip(evaluations)
    {
        let cost = Some((evaluation.elapsed, evaluation.fuel_used));
        let canary = evaluation.canary;
        let outcome = policy::outcome(
            profile.id.clone(),
            evaluation,
            evaluator.campaign(),
            evaluator.limits(),
        );
        processed[position] = Some(Processed {
            outcome,
            cost,
            profile: Some(profile),
            canary,
        });
    }
    processed.into_iter().flatten().collect()
}

/// The profile of a record the rule should see, or what becomes of a
/// record it should not (unreadable, suppressed, no consent).
fn admit(evaluator: &Evaluator, record: ProfileRecord) -> Result<Arc<Profile>, Box<Processed>> {
    let profile = match record.profile {
        Ok(profile) => profile,
        Err(error) => {
            let mut outcome = Outcome::without_message(
                error.profile_id.clone().unwrap_or_default(),
                Status::Error,
                error.to_string(),
            );
            outcome.input = Some(error.position.to_string());
            return Err(Box::new(Processed {
                outcome,
                cost: None,
                profile: None,
                canary: false,
            }));
        }
    };
    let profile = Arc::new(profile);
    if let Some(outcome) = evaluator.refused(&profile) {
        return Err(Box::new(Processed {
            outcome,
            cost: None,
            profile: Some(profile),
            canary: false,
        }));
    }
    Ok(profile)
}

/// Runs every record through `evaluator` and hands each result to `sink`
/// in input order. `sink` returning an error stops the run (for example a
/// closed output pipe).
///
/// Three stages overlap: one thread reads and
/// parses records into chunks, `jobs` threads evaluate chunks, and the
/// calling thread puts results back in order and calls `sink`. At most
/// `4 × jobs` chunks are in flight, so memory stays bounded however long
/// the input. Chunks start at multiples of the evaluator's reuse count, so
/// in batch mode the recipients sharing an instance do not depend on the
/// thread count.
pub fn run<E>(
    evaluator: &Evaluator,
    records: impl Iterator<Item = ProfileRecord> + Send,
    jobs: usize,
    sink: impl FnMut(Processed) -> Result<(), E>,
) -> Result<(), E> {
    let unit = evaluator.reuse() as usize;
    let chunk_len = BATCH_PER_THREAD.div_ceil(unit) * unit;
    crate::ordered::ordered(
        records,
        jobs,
        chunk_len,
        "evaluate",
        |first, chunk| process_chunk(&mut evaluator.session(), evaluator, first, chunk),
        sink,
    )
}

/// The sink of an [`EvaluationStage`] stopped the run (say, the client or
/// the journal went away).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

/// Where the evaluations of a run happen: on threads of its own
/// ([`Threads`]), or on workers shared with others (a service's fair
/// scheduler). [`crate::send::send`] takes one.
pub trait EvaluationStage: Sync {
    /// Runs every record through `evaluator` and hands each result to
    /// `sink` in input order, as [`run`] does; `sink` returning an error
    /// stops the run.
    fn evaluate(
        &self,
        evaluator: &Evaluator,
        records: Box<dyn Iterator<Item = ProfileRecord> + Send + '_>,
        sink: &mut dyn FnMut(Processed) -> Result<(), Stopped>,
    ) -> Result<(), Stopped>;
}

/// Evaluation on this many threads of the run's own ([`run`]).
#[derive(Debug, Clone, Copy)]
pub struct Threads(pub usize);

impl EvaluationStage for Threads {
    fn evaluate(
        &self,
        evaluator: &Evaluator,
        records: Box<dyn Iterator<Item = ProfileRecord> + Send + '_>,
        sink: &mut dyn FnMut(Processed) -> Result<(), Stopped>,
    ) -> Result<(), Stopped> {
        run(evaluator, records, self.0, sink)
    }
}
