//! [`Hosting`]: the service's operations, each scoped to one tenant —
//! tenants, rule versions (upload, activate, canary), campaigns, evaluation,
//! shadow diffs and sends — over the [`Store`], one [`RuleEngine`] and the
//! [`RuleRegistry`]. The HTTP API is a thin layer over it, and a provider
//! can embed it without HTTP.

mod breakers;
mod campaigns;
mod diff;
mod error;
mod evaluate;
mod feedback;
mod lifecycle;
mod rules;
mod sends;
mod tenants;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use mailrules::campaign::Campaign;
use mailrules::engine::RuleEngine;
use mailrules::fair_share::FairScheduler;
use mailrules::registry::RuleRegistry;

pub use campaigns::CampaignView;
pub use error::HostingError;
pub use evaluate::{EvalOptions, FairStage, Served};
pub use feedback::{Followed, LinkAction, MAX_LISTED_SUPPRESSIONS};
pub use lifecycle::{EventsPosted, FlowView, ProfilesPosted, RfmScores, TickReport};
pub use rules::{RuleFacts, RulesView, UploadedRule};
pub use sends::{SendProgress, SendView};
pub use tenants::{CreatedTenant, TenantSettings};

use crate::config::ServiceConfig;
use crate::guest_logs::GuestLogs;
use crate::metrics::Metrics;
use crate::store::Store;

/// The service: storage, engine, loaded rules, metrics and running sends.
/// Share it as an `Arc<Hosting>`; every method takes `&self`.
pub struct Hosting {
    config: ServiceConfig,
    store: Store,
    engine: RuleEngine,
    registry: RuleRegistry,
    /// Parsed campaigns by (tenant, campaign id); replaced on upload.
    campaigns: Mutex<HashMap<(String, String), Arc<Campaign>>>,
    /// Each tenant's settings, read once from the store.
    tenants: Mutex<HashMap<String, TenantSettings>>,
    /// Requests in progress per tenant.
    in_progress: Mutex<HashMap<String, usize>>,
    /// Each tenant's RFM scores as of its last tick.
    rfm: lifecycle::RfmCache,
    sends: sends::Running,
    breakers: breakers::BreakerBoard,
    /// The evaluation workers every tenant shares.
    scheduler: Arc<FairScheduler>,
    metrics: Metrics,
    logs: GuestLogs,
    /// Held by a tick: one at a time.
    tick_lock: Mutex<()>,
    /// The data directory's lock file, held (locked) while open.
    _data_dir_lock: std::fs::File,
}

impl Hosting {
    /// Opens (or creates) the data directory, builds the engine, loads
    /// every tenant's active and canary rule versions, and resumes the
    /// sends a previous process left running.
    pub fn open(config: ServiceConfig) -> Result<Arc<Hosting>, HostingError> {
        let store = Store::open(&config.data_dir)?;
        let data_dir_lock = lock_data_dir(&config.data_dir)?;
        let engine = RuleEngine::builder()
            .operator_limits(config.operator.clone())
            .evaluation_threads(config.evaluation_threads + config.caps.max_running_sends * 4)
            .build()
            .map_err(|e| HostingError::Internal(format!("engine: {e}")))?;
        let metrics = Metrics::new();
        metrics.pool_slots.set(i64::from(engine.max_instances()));
        let hosting = Arc::new(Hosting {
            store,
            engine,
            registry: RuleRegistry::new(),
            campaigns: Mutex::new(HashMap::new()),
            tenants: Mutex::new(HashMap::new()),
            in_progress: Mutex::new(HashMap::new()),
            rfm: lifecycle::RfmCache::default(),
            sends: sends::Running::default(),
            breakers: breakers::BreakerBoard::new(config.breaker.clone()),
            scheduler: FairScheduler::new(config.evaluation_threads),
            metrics,
            logs: GuestLogs::default(),
            tick_lock: Mutex::new(()),
            _data_dir_lock: data_dir_lock,
            config,
        });
        hosting.start_breaker_events();
        hosting.load_routing()?;
        hosting.resume_sends()?;
        Ok(hosting)
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The engine every evaluation runs on.
    pub fn engine(&self) -> &RuleEngine {
        &self.engine
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The metrics in Prometheus' text format, with the gauges of the
    /// evaluation workers brought up to date.
    pub fn metrics_text(&self) -> String {
        let usage = self.scheduler.usage();
        let running: usize = usage.iter().map(|u| u.running).sum();
        let queued: usize = usage.iter().map(|u| u.queued).sum();
        self.metrics.evaluations_in_flight.set(running as i64);
        self.metrics.evaluation_jobs_queued.set(queued as i64);
        self.metrics.encode()
    }

    /// Where a tenant's files live: sends (profiles, journal) and the
    /// default Maildir.
    pub fn tenant_dir(&self, tenant: &str) -> PathBuf {
        self.config.data_dir.join("tenants").join(tenant)
    }

    /// The compilation cache shared by every tenant (keyed by the
    /// component's hash, so one tenant's upload never changes another's
    /// rule).
    fn cache_dir(&self) -> PathBuf {
        self.config.data_dir.join("compile-cache")
    }

    /// Counts a request of `tenant` as in progress until the guard drops;
    /// refuses it when the tenant already has the most allowed.
    pub fn begin_request(self: &Arc<Self>, tenant: &str) -> Result<RequestGuard, HostingError> {
        let mut in_progress = self.in_progress.lock().unwrap_or_else(|p| p.into_inner());
        let count = in_progress.entry(tenant.to_string()).or_insert(0);
        if *count >= self.config.caps.max_concurrent_per_tenant {
            return Err(HostingError::Busy(format!(
                "tenant `{tenant}` already has {count} requests in progress (at most {}); retry when one finishes",
                self.config.caps.max_concurrent_per_tenant
            )));
        }
        *count += 1;
        Ok(RequestGuard {
            hosting: self.clone(),
            tenant: tenant.to_string(),
        })
    }
}

/// The lock file that keeps a second process (a `serve`, a `tick`) off a
/// data directory in use: two would both resume the same sends.
pub const LOCK_FILE: &str = "mailrules.lock";

fn lock_data_dir(data_dir: &std::path::Path) -> Result<std::fs::File, HostingError> {
    let path = data_dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| HostingError::Internal(format!("{}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(HostingError::Conflict {
            code: "data-dir-in-use",
            message: format!(
                "{} is in use by another mailrules process (a running `serve`? tick it with POST /v1/tick instead)",
                data_dir.display()
            ),
        }),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(HostingError::Internal(format!("{}: {e}", path.display())))
        }
    }
}

/// A request in progress; ends when dropped.
pub struct RequestGuard {
    hosting: Arc<Hosting>,
    tenant: String,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut in_progress = self
            .hosting
            .in_progress
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(count) = in_progress.get_mut(&self.tenant) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                in_progress.remove(&self.tenant);
            }
        }
    }
}

/// Locks a mutex, taking over a poisoned one (the maps it guards stay
/// consistent: every change is a single insert or remove).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
