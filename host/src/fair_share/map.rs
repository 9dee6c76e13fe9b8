//! The ordered parallel map: a stream of items cut into chunks, each chunk
//! a job of the calling tenant, the results handed back in input order.
//!
//! # Lifetimes
//!
//! The workers outlive any call, so what they run must be `'static`: the
//! `work` closure (shared by the call's jobs through an `Arc`), the items
//! (moved into the jobs) and the results (moved back). Everything that
//! stays on the calling thread may borrow: the item iterator is read there
//! and `sink` is called there. Put what the work needs in owned or `Arc`ed
//! values (an [`Evaluator`](crate::Evaluator) is cheap to clone). The call
//! still behaves as if scoped: it returns only once every job it submitted
//! has ended or been withdrawn from the queue, so no work of a finished
//! call is left running or counted afterwards.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use super::scheduler::FairScheduler;
use super::state::After;

/// The CPU time a chunk should take at most: chunks start at one item and
/// grow (up to the caller's maximum) while the items measured so far say a
/// chunk stays under this, so a tenant whose items are slow holds a worker
/// for one item at a time.
pub const JOB_CPU_TARGET: Duration = Duration::from_millis(10);

/// Chunks in flight per call (queued, running or waiting for their turn to
/// be handed to the sink): two per worker and two more, so a tenant keeps
/// jobs queued (stays busy) while its calling thread catches up.
fn in_flight(workers: usize) -> u64 {
    (2 * workers + 2) as u64
}

/// What one call of [`FairScheduler::map_ordered`] used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallUsage {
    /// CPU time of its jobs on the workers.
    pub cpu: Duration,
    /// Jobs run.
    pub jobs: u64,
    /// Items handed to `work`.
    pub items: u64,
}

/// Why [`FairScheduler::map_ordered`] stopped before the end.
#[derive(Debug)]
pub enum MapError<E> {
    /// `sink` returned an error; no result after it was handed over.
    Sink(E),
    /// `work` panicked on the chunk starting at item `first`; every result
    /// of the items before it was handed to `sink`.
    Panicked {
        /// Index of the chunk's first item.
        first: u64,
        /// The panic message.
        message: String,
    },
    /// The scheduler discarded the chunk starting at item `first` unrun
    /// (it was shutting down).
    NotRun {
        /// Index of the chunk's first item.
        first: u64,
    },
}

impl<E: std::fmt::Display> std::fmt::Display for MapError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MapError::Sink(e) => write!(f, "the output failed: {e}"),
            MapError::Panicked { first, message } => {
                write!(
                    f,
                    "the work on the chunk from item {first} panicked: {message}"
                )
            }
            MapError::NotRun { first } => write!(
                f,
                "the chunk from item {first} was not run: the scheduler shut down"
            ),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for MapError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MapError::Sink(e) => Some(e),
            _ => None,
        }
    }
}

/// How a job ended.
enum Ended<R> {
    Done(Vec<R>),
    Panicked(String),
    NotRun,
}

/// A chunk's report to its call.
struct Report<R> {
    sequence: u64,
    first: u64,
    items: u64,
    cpu: Duration,
    ended: Ended<R>,
}

/// The job's way back to its call: sends exactly one report, a "not run"
/// one if the job is dropped without running.
struct Reply<R> {
    sequence: u64,
    first: u64,
    items: u64,
    tx: Option<mpsc::Sender<Report<R>>>,
}

impl<R> Reply<R> {
    fn send(mut self, cpu: Duration, ended: Ended<R>) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Report {
                sequence: self.sequence,
                first: self.first,
                items: self.items,
                cpu,
                ended,
            });
        }
    }
}

impl<R> Drop for Reply<R> {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Report {
                sequence: self.sequence,
                first: self.first,
                items: 0,
                cpu: Duration::ZERO,
                ended: Ended::NotRun,
            });
        }
    }
}

/// Withdraws a call's queued jobs when the call ends, however it ends.
struct Withdraw<'a> {
    scheduler: &'a FairScheduler,
    tenant: &'a str,
    call: u64,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        self.scheduler.cancel(self.tenant, self.call);
        self.scheduler.end_call(self.tenant);
    }
}

impl FairScheduler {
    /// Runs `work` over `items` as jobs of `tenant` and hands every result
    /// to `sink`, in input order.
    ///
    /// Items are cut into chunks of consecutive items (at most `chunk`
    /// each, see [`JOB_CPU_TARGET`]); `work` gets the index of a chunk's
    /// first item and the chunk, and returns that chunk's results. At most
    /// two chunks per worker (and two more) are in flight, so memory stays bounded however
    /// long the input. The first failure in input order ends the call: an
    /// error from `sink`, or a panic in `work` (reported after the results
    /// of every earlier item). Jobs not yet started are then withdrawn, and
    /// the call returns once its running jobs have ended. See the module
    /// docs for why `work`, `T` and `R` are `'static` while `items` and
    /// `sink` may borrow.
    pub fn map_ordered<T, R, E>(
        &self,
        tenant: &str,
        items: impl IntoIterator<Item = T>,
        chunk: usize,
        work: impl Fn(u64, Vec<T>) -> Vec<R> + Send + Sync + 'static,
        mut sink: impl FnMut(R) -> Result<(), E>,
    ) -> Result<CallUsage, MapError<E>>
    where
        T: Send + 'static,
        R: Send + 'static,
    {
        let max_chunk = chunk.max(1);
        let in_flight = in_flight(self.workers());
        let call = self.new_call();
        self.begin_call(tenant);
        let _withdraw = Withdraw {
            scheduler: self,
            tenant,
            call,
        };
        let work = Arc::new(work);
        let (tx, rx) = mpsc::channel::<Report<R>>();
        let mut items = items.into_iter();
        let mut usage = CallUsage::default();
        let (mut submitted, mut handed, mut pending, mut first) = (0u64, 0u64, 0usize, 0u64);
        let mut exhausted = false;
        let mut ready: BTreeMap<u64, Report<R>> = BTreeMap::new();
        let mut failure: Option<MapError<E>> = None;
        loop {
            while failure.is_none() && !exhausted && submitted - handed < in_flight {
                let len = chunk_len(&usage, max_chunk);
                let chunk: Vec<T> = items.by_ref().take(len).collect();
                if chunk.is_empty() {
                    exhausted = true;
                    break;
                }
                let len = chunk.len() as u64;
                let reply = Reply {
                    sequence: submitted,
                    first,
                    items: len,
                    tx: Some(tx.clone()),
                };
                let work = work.clone();
                let job = move || -> Option<After> {
                    let ended = match catch_unwind(AssertUnwindSafe(|| work(reply.first, chunk))) {
                        Ok(results) => Ended::Done(results),
                        Err(panic) => Ended::Panicked(panic_message(&*panic)),
                    };
                    Some(Box::new(move |cpu| reply.send(cpu, ended)))
                };
                self.enqueue(tenant, call, Box::new(job));
                submitted += 1;
                pending += 1;
                first += len;
            }
            if pending == 0 {
                break;
            }
            let report = rx
                .recv()
                .expect("every job reports once and the call holds a sender");
            pending -= 1;
            if !matches!(report.ended, Ended::NotRun) {
                usage.cpu += report.cpu;
                usage.jobs += 1;
                usage.items += report.items;
            }
            if failure.is_some() {
                continue;
            }
            ready.insert(report.sequence, report);
            while let Some(report) = ready.remove(&handed) {
                handed += 1;
                let stop = match report.ended {
                    Ended::Done(results) => results
                        .into_iter()
                        .try_for_each(&mut sink)
                        .err()
                        .map(MapError::Sink),
                    Ended::Panicked(message) => Some(MapError::Panicked {
                        first: report.first,
                        message,
                    }),
                    Ended::NotRun => Some(MapError::NotRun {
                        first: report.first,
                    }),
                };
                if let Some(stop) = stop {
                    failure = Some(stop);
                    ready.clear();
                    self.cancel(tenant, call);
                    break;
                }
            }
        }
        match failure {
            Some(failure) => Err(failure),
            None => Ok(usage),
        }
    }
}

/// The length of the next chunk: one item until something was measured,
/// then as many as fit in [`JOB_CPU_TARGET`] at the mean CPU time per item
/// so far, between one and `max`.
fn chunk_len(usage: &CallUsage, max: usize) -> usize {
    if usage.items == 0 {
        return 1;
    }
    let per_item = usage.cpu.as_nanos() / u128::from(usage.items);
    let fit = JOB_CPU_TARGET.as_nanos() / per_item.max(1);
    usize::try_from(fit).unwrap_or(max).clamp(1, max)
}

/// The text of a panic payload.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_string()
    }
}
