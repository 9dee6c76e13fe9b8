//! The host side of `mailrules:rules/host@0.2.0`. `begin` is what keeps a
//! batch's budgets per recipient: it closes the previous profile's account
//! (fuel used, log, time) and gives the next one a fresh fuel budget and
//! deadline, refusing any index but the next.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::StoreContextMut;
use wasmtime::component::Linker;

use super::generated::mailrules::rules::host::LogLevel;
use crate::profile::Profile;
use crate::sandbox::SandboxState;

/// The interface name rules import.
const HOST_INTERFACE: &str = "mailrules:rules/host@0.2.0";

/// What one profile of a batch cost, and what it logged.
#[derive(Debug, Clone, Default)]
pub(crate) struct Account {
    /// Fuel used, when fuel is on.
    pub(crate) fuel_used: Option<u64>,
    /// Wall time from its `begin` to the next.
    pub(crate) elapsed: Duration,
    /// Its log.
    pub(crate) log: String,
    /// Log bytes dropped past the cap.
    pub(crate) log_dropped: usize,
}

/// Where a `decide-batch` call is: the batch's profiles, the budgets each
/// gets, and the accounts of those done.
pub(crate) struct BatchProgress {
    profiles: Vec<Arc<Profile>>,
    /// Profiles begun so far.
    begun: usize,
    fuel: Option<u64>,
    /// The CPU-time limit per profile and the epoch ticks to its first
    /// check, when epochs are on.
    deadline: Option<(Duration, u64)>,
    started: Instant,
    accounts: Vec<Account>,
}

impl BatchProgress {
    /// A batch of `profiles`, each with `fuel` (when fuel is on) and a
    /// deadline of `timeout`, first checked after `ticks` epochs (when
    /// epochs are on).
    pub(crate) fn new(
        profiles: Vec<Arc<Profile>>,
        fuel: Option<u64>,
        deadline: Option<(Duration, u64)>,
    ) -> Self {
        BatchProgress {
            accounts: Vec::with_capacity(profiles.len()),
            profiles,
            begun: 0,
            fuel,
            deadline,
            started: Instant::now(),
        }
    }

    /// The accounts of every profile begun, closing the last one's.
    pub(crate) fn finish(store: &mut wasmtime::Store<SandboxState>) -> Vec<Account> {
        let fuel_left = store.get_fuel().ok();
        let state = store.data_mut();
        let Some(mut progress) = state.batch.take() else {
            return Vec::new();
        };
        if progress.begun > progress.accounts.len() {
            let account = progress.close(fuel_left, state);
            progress.accounts.push(account);
        }
        progress.accounts
    }

    fn close(&mut self, fuel_left: Option<u64>, state: &SandboxState) -> Account {
        let (log, log_dropped) = state.log.contents();
        let now = Instant::now();
        let account = Account {
            fuel_used: self
                .fuel
                .zip(fuel_left)
                .map(|(budget, left)| budget.saturating_sub(left)),
            elapsed: now - self.started,
            log,
            log_dropped,
        };
        self.started = now;
        account
    }
}

fn begin(mut store: StoreContextMut<'_, SandboxState>, index: u32) -> wasmtime::Result<()> {
    let fuel_left = store.get_fuel().ok();
    let state = store.data_mut();
    let Some(mut progress) = state.batch.take() else {
        wasmtime::bail!("host.begin called outside decide-batch");
    };
    let expected = progress.begun;
    if index as usize != expected || expected >= progress.profiles.len() {
        wasmtime::bail!(
            "host.begin({index}) out of order: the next profile is {expected} of {}",
            progress.profiles.len()
        );
    }
    if expected > 0 {
        let account = progress.close(fuel_left, state);
        progress.accounts.push(account);
    } else {
        progress.started = Instant::now();
    }
    progress.begun += 1;
    state.profile = progress.profiles[expected].clone();
    state.log.clear();
    let (fuel, deadline) = (progress.fuel, progress.deadline);
    if deadline.is_some() {
        // The first profile's deadline started when the batch was armed.
        if expected > 0 {
            state.deadline.restart();
        }
    }
    state.batch = Some(progress);
    if let Some(fuel) = fuel {
        store.set_fuel(fuel)?;
    }
    if let Some((_, ticks)) = deadline {
        store.set_epoch_deadline(ticks);
    }
    Ok(())
}

/// Adds `begin`, `log` and `ab-bucket` to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    let mut host = linker.instance(HOST_INTERFACE)?;
    host.func_wrap("begin", |store, (index,): (u32,)| begin(store, index))?;
    host.func_wrap(
        "log",
        |store: StoreContextMut<'_, SandboxState>, (level, message): (LogLevel, String)| {
            let level = match level {
                LogLevel::Debug => "debug",
                LogLevel::Info => "info",
                LogLevel::Warn => "warn",
            };
            store.data().log.guest_line(level, &message);
            Ok(())
        },
    )?;
    host.func_wrap(
        "ab-bucket",
        |store: StoreContextMut<'_, SandboxState>, (salt,): (String,)| {
            let state = store.data();
            Ok((crate::bucket::ab_bucket(
                &state.campaign.id,
                &state.profile.id,
                &salt,
            ),))
        },
    )?;
    Ok(())
}
