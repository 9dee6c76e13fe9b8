//! The worker threads and the public face of the scheduler.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::clock::ThreadClock;
use super::state::{Queued, Running, State};
use crate::sandbox::thread_cpu_time;

/// How long a tenant with no work is remembered by default.
pub const DEFAULT_FORGET_AFTER: Duration = Duration::from_secs(600);

/// One tenant's share of the workers, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantUsage {
    /// The tenant.
    pub tenant: String,
    /// CPU time its jobs have used, including the part of jobs running now.
    pub cpu: Duration,
    /// Wall time its jobs have held a worker, including jobs running now:
    /// what policy 3 shares out. The CPU time a held worker gets is up to
    /// the operating system (on a machine busy with other processes, one
    /// worker thread may get less of a CPU than another).
    pub worker_time: Duration,
    /// Jobs finished (panicked ones included).
    pub jobs_run: u64,
    /// Jobs that panicked.
    pub panicked: u64,
    /// Jobs waiting for a worker.
    pub queued: usize,
    /// Jobs running now.
    pub running: usize,
}

/// Worker threads shared by every tenant, handing out work by the policy
/// in the [module docs](super). Dropping it discards the jobs that have not
/// started, waits for the running ones and stops the threads.
pub struct FairScheduler {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    calls: AtomicU64,
}

/// What the workers and the scheduler share.
pub(super) struct Shared {
    state: Mutex<State>,
    work_ready: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned lock still
        // holds consistent books.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for FairScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FairScheduler")
            .field("workers", &self.threads.len())
            .finish_non_exhaustive()
    }
}

impl FairScheduler {
    /// A scheduler with `workers` threads (at least one), remembering idle
    /// tenants for [`DEFAULT_FORGET_AFTER`].
    pub fn new(workers: usize) -> Arc<Self> {
        Self::with_idle_memory(workers, DEFAULT_FORGET_AFTER)
    }

    /// A scheduler with one worker per CPU available to the process.
    pub fn with_available_parallelism() -> Arc<Self> {
        Self::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// A scheduler with `workers` threads (at least one) that forgets a
    /// tenant once it has had no work for `forget_after`.
    ///
    /// # Panics
    ///
    /// When the operating system cannot start a thread.
    pub fn with_idle_memory(workers: usize, forget_after: Duration) -> Arc<Self> {
        let workers = workers.max(1);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(workers, forget_after)),
            work_ready: Condvar::new(),
        });
        let threads = (0..workers)
            .map(|index| {
                let shared = shared.clone();
                let name = format!("mailrules-eval-{index}");
                std::thread::Builder::new()
                    .name(name.clone())
                    .spawn(move || work(&shared, index))
                    .unwrap_or_else(|e| panic!("cannot start the {name} thread: {e}"))
            })
            .collect();
        Arc::new(FairScheduler {
            shared,
            threads,
            calls: AtomicU64::new(1),
        })
    }

    /// How many worker threads there are.
    pub fn workers(&self) -> usize {
        self.threads.len()
    }

    /// Queues `job` for `tenant`. It runs after the tenant's earlier jobs,
    /// when the policy gives the tenant a worker; a panic in it is caught
    /// and counted in [`TenantUsage::panicked`].
    pub fn submit(&self, tenant: &str, job: impl FnOnce() + Send + 'static) {
        self.enqueue(
            tenant,
            0,
            Box::new(move || {
                job();
                None
            }),
        );
    }

    /// A new call number, for [`FairScheduler::cancel`].
    pub(super) fn new_call(&self) -> u64 {
        self.calls.fetch_add(1, Ordering::Relaxed)
    }

    pub(super) fn enqueue(&self, tenant: &str, call: u64, job: super::state::Job) {
        let mut state = self.shared.lock();
        if state.shutdown {
            drop(state);
            drop(job);
            return;
        }
        state.enqueue(tenant, Queued { call, job });
        drop(state);
        self.shared.work_ready.notify_one();
    }

    /// Counts a call of `tenant` in progress (see [`State::begin_call`]).
    pub(super) fn begin_call(&self, tenant: &str) {
        self.shared.lock().begin_call(tenant);
    }

    /// Counts a call of `tenant` as ended.
    pub(super) fn end_call(&self, tenant: &str) {
        self.shared.lock().end_call(tenant);
        self.shared.work_ready.notify_all();
    }

    /// Drops the jobs of `call` that have not started.
    pub(super) fn cancel(&self, tenant: &str, call: u64) {
        let cancelled = self.shared.lock().cancel(tenant, call);
        // Dropped outside the lock: dropping a job may report it as not run.
        drop(cancelled);
        self.shared.work_ready.notify_all();
    }

    /// Per tenant, sorted by name: CPU time used (including jobs running
    /// now), jobs run, queued and running. Tenants idle for longer than the
    /// idle memory are forgotten first.
    pub fn usage(&self) -> Vec<TenantUsage> {
        let mut state = self.shared.lock();
        state.forget_idle(Instant::now());
        let mut usage: Vec<TenantUsage> = state
            .tenants
            .iter()
            .map(|(name, t)| {
                let (mut running_cpu, mut running_held) = (Duration::ZERO, Duration::ZERO);
                for slot in &state.slots {
                    if let Some(job) = slot.current.as_ref().filter(|j| &j.tenant == name) {
                        running_held += job.started.elapsed();
                        if let Some(clock) = slot.clock {
                            running_cpu += clock.read().saturating_sub(job.cpu_start);
                        }
                    }
                }
                TenantUsage {
                    tenant: name.to_string(),
                    cpu: t.cpu + running_cpu,
                    worker_time: t.held + running_held,
                    jobs_run: t.jobs_run,
                    panicked: t.panicked,
                    queued: t.queue.len(),
                    running: t.running,
                }
            })
            .collect();
        drop(state);
        usage.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        usage
    }

    /// One tenant's line of [`FairScheduler::usage`], if it is remembered.
    pub fn tenant_usage(&self, tenant: &str) -> Option<TenantUsage> {
        self.usage().into_iter().find(|u| u.tenant == tenant)
    }
}

impl Drop for FairScheduler {
    fn drop(&mut self) {
        let discarded = {
            let mut state = self.shared.lock();
            state.shutdown = true;
            state.drain()
        };
        drop(discarded);
        self.shared.work_ready.notify_all();
        let me = std::thread::current().id();
        for thread in self.threads.drain(..) {
            // The last handle may be dropped by a job on a worker; that
            // thread ends by itself once the job returns.
            if thread.thread().id() != me {
                let _ = thread.join();
            }
        }
    }
}

/// A worker: takes jobs by the policy until the scheduler shuts down.
fn work(shared: &Shared, index: usize) {
    let mut state = shared.lock();
    state.slots[index].clock = ThreadClock::of_current_thread();
    loop {
        if state.shutdown {
            return;
        }
        let Some((tenant, job)) = state.pick() else {
            state = shared
                .work_ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            continue;
        };
        let start = thread_cpu_time();
        state.slots[index].current = Some(Running {
            tenant,
            cpu_start: start,
            started: Instant::now(),
        });
        drop(state);
        let ran = catch_unwind(AssertUnwindSafe(job));
        let used = thread_cpu_time().saturating_sub(start);
        state = shared.lock();
        let Some(running) = state.slots[index].current.take() else {
            continue;
        };
        state.finish(&running, used, ran.is_err());
        shared.work_ready.notify_all();
        if let Ok(Some(after)) = ran {
            // Told only once charged, so a call that has heard from all
            // its jobs finds them all in the books.
            drop(state);
            after(used);
            state = shared.lock();
        }
        state.charge_held(&running.tenant, running.started.elapsed());
    }
}
