//! The scheduler's books: one queue and one virtual time per tenant, and
//! the choice of the next job (the policy in the module docs).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::clock::ThreadClock;

/// What runs once a job's CPU time is charged, with that CPU time.
pub(super) type After = Box<dyn FnOnce(Duration) + Send>;

/// A unit of work, and what to do once it is charged.
pub(super) type Job = Box<dyn FnOnce() -> Option<After> + Send>;

/// A queued job and the call it belongs to (0: none).
pub(super) struct Queued {
    pub(super) call: u64,
    pub(super) job: Job,
}

/// One tenant's queue and counters.
#[derive(Default)]
pub(super) struct Tenant {
    /// CPU time charged, as compared between busy tenants.
    pub(super) vtime: Duration,
    pub(super) queue: VecDeque<Queued>,
    pub(super) running: usize,
    /// CPU time of finished jobs.
    pub(super) cpu: Duration,
    /// Wall time finished jobs held a worker.
    pub(super) held: Duration,
    pub(super) jobs_run: u64,
    pub(super) panicked: u64,
    /// When it was last picked (a serial number, for ties).
    pub(super) last_pick: u64,
    /// Since when it has had no job queued or running.
    pub(super) idle_since: Option<Instant>,
    /// Calls of `map_ordered` in progress.
    pub(super) calls: usize,
}

impl Tenant {
    /// Whether it has jobs queued or running.
    fn busy(&self) -> bool {
        !self.queue.is_empty() || self.running > 0
    }

    /// Whether it counts for the worker cap: busy, or in the middle of a
    /// call (whose calling thread may be a moment late with the next job).
    fn active(&self) -> bool {
        self.busy() || self.calls > 0
    }
}

/// What one worker is doing.
#[derive(Default)]
pub(super) struct Slot {
    pub(super) clock: Option<ThreadClock>,
    /// The job it runs now.
    pub(super) current: Option<Running>,
}

/// A job in progress on a worker.
pub(super) struct Running {
    pub(super) tenant: Arc<str>,
    /// The worker's CPU time when the job started.
    pub(super) cpu_start: Duration,
    pub(super) started: Instant,
}

/// Everything behind the scheduler's lock.
pub(super) struct State {
    pub(super) tenants: HashMap<Arc<str>, Tenant>,
    /// The smallest virtual time among busy tenants when last looked at;
    /// never decreases.
    floor: Duration,
    picks: u64,
    pub(super) shutdown: bool,
    pub(super) slots: Vec<Slot>,
    forget_after: Duration,
}

impl State {
    pub(super) fn new(workers: usize, forget_after: Duration) -> Self {
        State {
            tenants: HashMap::new(),
            floor: Duration::ZERO,
            picks: 0,
            shutdown: false,
            slots: (0..workers).map(|_| Slot::default()).collect(),
            forget_after,
        }
    }

    /// Queues `job` at the back of `tenant`'s queue.
    pub(super) fn enqueue(&mut self, tenant: &str, queued: Queued) {
        let becomes_busy = self.tenants.get(tenant).is_none_or(|t| !t.busy());
        if becomes_busy {
            self.forget_idle(Instant::now());
            let floor = self.floor();
            let entry = match self.tenants.get_mut(tenant) {
                Some(entry) => entry,
                None => self.tenants.entry(Arc::from(tenant)).or_default(),
            };
            entry.vtime = floor;
            entry.idle_since = None;
        }
        let entry = self
            .tenants
            .get_mut(tenant)
            .expect("the tenant was just entered");
        entry.queue.push_back(queued);
    }

    /// The smallest virtual time among busy tenants (or the last one seen
    /// when none is busy).
    fn floor(&mut self) -> Duration {
        let least = self
            .tenants
            .values()
            .filter(|t| t.busy())
            .map(|t| t.vtime)
            .min();
        if let Some(least) = least {
            self.floor = self.floor.max(least);
        }
        self.floor
    }

    /// Most workers one tenant may hold now.
    fn cap(&self) -> usize {
        let workers = self.slots.len();
        let active = self.tenants.values().filter(|t| t.active()).count();
        if active > 1 {
            workers.div_ceil(active)
        } else {
            workers
        }
    }

    /// Counts a call of `tenant` in progress.
    pub(super) fn begin_call(&mut self, tenant: &str) {
        match self.tenants.get_mut(tenant) {
            Some(entry) => entry.calls += 1,
            None => {
                let entry = self.tenants.entry(Arc::from(tenant)).or_default();
                entry.calls = 1;
                entry.idle_since = Some(Instant::now());
            }
        }
    }

    /// Counts a call of `tenant` as ended.
    pub(super) fn end_call(&mut self, tenant: &str) {
        if let Some(entry) = self.tenants.get_mut(tenant) {
            entry.calls = entry.calls.saturating_sub(1);
            if !entry.active() && entry.jobs_run == 0 {
                // Nothing to report: a call without items.
                self.tenants.remove(tenant);
            }
        }
    }

    /// Takes the next job to run, if any tenant may run one now, and counts
    /// it as running.
    pub(super) fn pick(&mut self) -> Option<(Arc<str>, Job)> {
        let cap = self.cap();
        let name = self
            .tenants
            .iter()
            .filter(|(_, t)| !t.queue.is_empty() && t.running < cap)
            .min_by_key(|(_, t)| (t.vtime, t.last_pick))
            .map(|(name, _)| name.clone())?;
        self.picks += 1;
        let tenant = self.tenants.get_mut(&name).expect("just found");
        tenant.running += 1;
        tenant.last_pick = self.picks;
        let queued = tenant.queue.pop_front().expect("has a job queued");
        Some((name, queued.job))
    }

    /// Charges a finished job's CPU time to `tenant`.
    pub(super) fn finish(&mut self, job: &Running, cpu: Duration, panicked: bool) {
        let tenant: &str = &job.tenant;
        let Some(entry) = self.tenants.get_mut(tenant) else {
            return;
        };
        entry.running -= 1;
        entry.cpu += cpu;
        entry.vtime += cpu;
        entry.jobs_run += 1;
        entry.panicked += u64::from(panicked);
        if !entry.busy() {
            entry.idle_since = Some(Instant::now());
        }
    }

    /// Charges `tenant` for holding a worker for `held`: from the pick of
    /// its job until the worker was ready to pick again.
    pub(super) fn charge_held(&mut self, tenant: &str, held: Duration) {
        if let Some(entry) = self.tenants.get_mut(tenant) {
            entry.held += held;
        }
    }

    /// Takes `call`'s queued jobs off `tenant`'s queue (the caller drops
    /// them outside the lock).
    pub(super) fn cancel(&mut self, tenant: &str, call: u64) -> Vec<Queued> {
        let Some(entry) = self.tenants.get_mut(tenant) else {
            return Vec::new();
        };
        let was_busy = entry.busy();
        let (cancelled, kept): (Vec<Queued>, Vec<Queued>) =
            entry.queue.drain(..).partition(|q| q.call == call);
        entry.queue = kept.into();
        if was_busy && !entry.busy() {
            entry.idle_since = Some(Instant::now());
        }
        cancelled
    }

    /// Takes every queued job (at shutdown).
    pub(super) fn drain(&mut self) -> Vec<Queued> {
        let mut all = Vec::new();
        for tenant in self.tenants.values_mut() {
            all.extend(tenant.queue.drain(..));
            if tenant.running == 0 && tenant.idle_since.is_none() {
                tenant.idle_since = Some(Instant::now());
            }
        }
        all
    }

    /// Drops the tenants idle for longer than the idle memory.
    pub(super) fn forget_idle(&mut self, now: Instant) {
        let forget_after = self.forget_after;
        self.tenants.retain(|_, t| {
            t.calls > 0
                || t.idle_since
                    .is_none_or(|since| now.saturating_duration_since(since) < forget_after)
        });
    }
}
