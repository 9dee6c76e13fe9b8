//! Evaluation capacity shared fairly between tenants: a fixed set of
//! worker threads (`mailrules-eval-N`) that run small jobs, each tagged with
//! the tenant it belongs to, and an ordered parallel map on top
//! ([`FairScheduler::map_ordered`]) that feeds a stream of items through
//! them in chunks.
//!
//! # Policy
//!
//! This is the product's stated policy for sharing the evaluation workers:
//!
//! 1. **A tenant's jobs run in submission order.** Each tenant has one
//!    queue; a worker always takes the job at its front.
//! 2. **The least-served busy tenant goes next.** A tenant is *busy* while
//!    it has jobs queued or running. Every tenant has a virtual time: the
//!    CPU time its jobs have used, charged after each job with the CPU time
//!    of the worker thread that ran it (`CLOCK_THREAD_CPUTIME_ID`, so time a
//!    worker waits for a CPU on a loaded machine is nobody's). When a worker
//!    frees up it takes the next job of the busy tenant with the smallest
//!    virtual time (ties: the one served least recently). A tenant that
//!    becomes busy after idling starts at the smallest virtual time among
//!    the busy tenants: idling banks no credit, and a newcomer is not
//!    penalised for the others' history either.
//! 3. **No tenant holds more than its share of workers while others wait.**
//!    While more than one tenant is busy, no tenant holds more than
//!    `ceil(workers / busy tenants)` workers at once, so a tenant whose jobs
//!    are long (a rule that loops to its deadline on every profile) cannot
//!    take every worker while another tenant has work queued. A tenant alone
//!    may use every worker. For this count a tenant is also busy while a
//!    call of [`FairScheduler::map_ordered`] of its is in progress: between
//!    two of its jobs, or while its calling thread waits for a CPU, its
//!    share is kept for it rather than handed to a neighbour's job that
//!    would hold it for a whole deadline. The cost: a call whose input or
//!    output stalls keeps its share of workers idle meanwhile.
//!
//! Jobs are not preempted: a tenant that becomes busy while another holds
//! every worker waits for one job of the other to end. That is why jobs are
//! kept small: [`FairScheduler::map_ordered`] starts with one-item chunks
//! and grows them only while jobs stay under [`JOB_CPU_TARGET`], so a job of
//! a rule that runs to its deadline holds a worker for one deadline, not
//! sixteen.
//!
//! # Accounting
//!
//! [`FairScheduler::usage`] reports, per tenant, the CPU time its jobs have
//! used (including the part of jobs still running), the jobs run, and the
//! jobs queued and running now; [`CallUsage`] is the same for one call of
//! `map_ordered`. Tenants idle for longer than the scheduler's idle memory
//! ([`DEFAULT_FORGET_AFTER`] by default) are forgotten, so the table stays
//! as small as the set of recently active tenants; a forgotten tenant's
//! counters start again from zero.

mod clock;
mod map;
mod scheduler;
mod state;
#[cfg(test)]
mod tests;

pub use map::{CallUsage, JOB_CPU_TARGET, MapError};
pub use scheduler::{DEFAULT_FORGET_AFTER, FairScheduler, TenantUsage};
