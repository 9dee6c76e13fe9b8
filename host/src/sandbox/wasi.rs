//! The deterministic, empty WASI every rule gets: no preopened directories,
//! no sockets, no environment, no arguments, stdin closed, both clocks
//! frozen at the campaign's `now`, randomness seeded from the campaign and the
//! recipient, stdout and stderr captured into the capped log.

use std::time::Duration;

use rand::SeedableRng;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

use super::CappedLog;

/// A clock that always reads the same instant.
struct FrozenClock {
    since_epoch: Duration,
}

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        self.since_epoch
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        u64::try_from(self.since_epoch.as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Builds the WASI context for one evaluation. `now` is the campaign time in
/// seconds since the epoch (times before 1970 read as the epoch); `seed`
/// makes randomness repeatable per recipient.
pub fn deterministic_wasi(now: i64, seed: u64, log: &CappedLog) -> WasiCtx {
    let since_epoch = Duration::from_secs(u64::try_from(now).unwrap_or(0));
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(log.clone())
        .stderr(log.clone())
        .wall_clock(FrozenClock { since_epoch })
        .monotonic_clock(FrozenClock { since_epoch })
        .secure_random(rand::rngs::StdRng::seed_from_u64(seed))
        .insecure_random(rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed))
        .insecure_random_seed(u128::from(seed))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    builder.build()
}
