//! The data of one evaluation's `Store`.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::{CappedLog, Deadline, MemoryLimiter, deterministic_wasi};
use crate::campaign::Campaign;
use crate::profile::Profile;

/// What a rule can reach during one evaluation, and nothing more.
pub struct SandboxState {
    pub(crate) profile: Arc<Profile>,
    pub(crate) campaign: Arc<Campaign>,
    pub(crate) now: i64,
    pub(crate) log: CappedLog,
    pub(crate) limiter: MemoryLimiter,
    /// The current evaluation's CPU-time deadline.
    pub(crate) deadline: Deadline,
    /// Where a 0.2 `decide-batch` call is, during one.
    pub(crate) batch: Option<crate::contract::v0_2::host_api::BatchProgress>,
    /// Built on the first WASI call: most rules never make one, and building
    /// it (clocks, seeded generators, captured streams) is a large part of
    /// what a fresh sandbox would otherwise cost.
    wasi: Option<WasiCtx>,
    table: ResourceTable,
}

impl SandboxState {
    /// State for evaluating `profile` in `campaign` at time `now`.
    pub fn new(
        profile: Arc<Profile>,
        campaign: Arc<Campaign>,
        now: i64,
        memory_bytes: usize,
        log_bytes: usize,
    ) -> Self {
        let log = CappedLog::new(log_bytes);
        SandboxState {
            wasi: None,
            profile,
            campaign,
            now,
            log,
            limiter: MemoryLimiter::new(memory_bytes),
            deadline: Deadline::default(),
            batch: None,
            table: ResourceTable::new(),
        }
    }
}

impl SandboxState {
    /// Points a reused instance at the next recipient, with an empty log,
    /// no refused memory growth on record, and WASI randomness seeded for
    /// that recipient (the WASI context is built again on its next use).
    pub fn next_recipient(&mut self, profile: Arc<Profile>) {
        self.profile = profile;
        self.log.clear();
        self.limiter.reset();
        self.wasi = None;
    }
}

impl WasiView for SandboxState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let ctx = self.wasi.get_or_insert_with(|| {
            let seed = crate::bucket::seed(&self.campaign.id, &self.profile.id);
            deterministic_wasi(self.now, seed, &self.log)
        });
        WasiCtxView {
            ctx,
            table: &mut self.table,
        }
    }
}
