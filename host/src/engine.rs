//! The one wasmtime `Engine` of a process, set up for untrusted rules: fuel,
//! epoch interruption and the pooling allocator always on, and a background
//! thread that advances the epoch so deadlines are checked.
//!
//! [`RuleEngine::builder`] sets it up; every setting has a documented
//! default. A [`RuleEngine`] is a cheap handle (an `Arc` inside): clone it
//! into every thread and every evaluator that needs it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::EngineError;
use crate::limits::OperatorLimits;
use crate::sandbox::SandboxState;

/// How often the epoch advances by default; deadlines are whole ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// Rule instances that may be alive at once across all threads, by default.
pub const MAX_CONCURRENT_INSTANCES: u32 = 64;

/// Instance slots the pool keeps per evaluation thread: one for the fresh
/// instance of the evaluation in flight and one for an instance kept alive
/// in batch mode.
pub const INSTANCES_PER_THREAD: u32 = 2;

/// Bytes of each pooled memory and table reset with memset rather than
/// returned to the kernel between evaluations (the first 256 KiB, which
/// holds the stack, data and early heap of a rule built with a 128 KiB
/// stack): saves a page fault for every such page on the next instance.
pub const KEEP_RESIDENT: usize = 256 << 10;

/// The layers of isolation an engine applies. Everything is on by default
/// and the CLI never turns anything off: the switches exist so that the
/// benchmarks can measure what each layer costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Isolation {
    /// Pre-reserved, reused instance slots (the pooling allocator) rather
    /// than a fresh mmap per instance.
    pub pooling: bool,
    /// The deterministic instruction budget.
    pub fuel: bool,
    /// The deadline, in CPU time of the evaluating thread, checked by epoch
    /// interruption (see [`crate::sandbox::Deadline`]).
    pub epochs: bool,
}

impl Default for Isolation {
    fn default() -> Self {
        Isolation {
            pooling: true,
            fuel: true,
            epochs: true,
        }
    }
}

/// Settings of a [`RuleEngine`], each with a documented default.
#[derive(Debug, Clone)]
pub struct EngineBuilder {
    operator: OperatorLimits,
    isolation: Isolation,
    max_instances: u32,
    epoch_tick: Duration,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            operator: OperatorLimits::default(),
            isolation: Isolation::default(),
            max_instances: MAX_CONCURRENT_INSTANCES,
            epoch_tick: EPOCH_TICK,
        }
    }
}

impl EngineBuilder {
    /// The operator's ceilings (default [`OperatorLimits::default`]); the
    /// pool's memory slots are sized for its largest memory limit.
    pub fn operator_limits(mut self, operator: OperatorLimits) -> Self {
        self.operator = operator;
        self
    }

    /// The layers of isolation (default: all on). Turning fuel or epochs
    /// off removes a limit: for measuring their cost only.
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    /// Rule instances that may be alive at once (default
    /// [`MAX_CONCURRENT_INSTANCES`]): the size of the instance pool, whose
    /// address space is reserved up front.
    pub fn max_instances(mut self, instances: u32) -> Self {
        self.max_instances = instances.max(1);
        self
    }

    /// Sizes the instance pool for `threads` evaluation threads:
    /// [`INSTANCES_PER_THREAD`] slots each, and never fewer than 8.
    pub fn evaluation_threads(self, threads: usize) -> Self {
        let threads = u32::try_from(threads).unwrap_or(u32::MAX / INSTANCES_PER_THREAD);
        self.max_instances(threads.saturating_mul(INSTANCES_PER_THREAD).max(8))
    }

    /// How often the epoch advances (default [`EPOCH_TICK`]): how often a
    /// running rule's deadline is checked. Shorter ends runaway rules closer
    /// to their deadline at the cost of more checks.
    pub fn epoch_tick(mut self, tick: Duration) -> Self {
        self.epoch_tick = tick.max(Duration::from_micros(100));
        self
    }

    /// Creates the engine, its linker and (with epochs on) the thread that
    /// advances the epoch.
    pub fn build(self) -> Result<RuleEngine, EngineError> {
        let engine = Engine::new(&engine_config(
            &self.operator,
            self.isolation,
            self.max_instances,
        ))
        .map_err(|e| EngineError(format!("{e:?}")))?;
        let mut linker = Linker::new(&engine);
        crate::contract::add_to_linker(&mut linker).map_err(|e| EngineError(format!("{e:?}")))?;
        forbid_waiting(&mut linker).map_err(|e| EngineError(format!("{e:?}")))?;
        let ticker = self
            .isolation
            .epochs
            .then(|| EpochTicker::start(engine.clone(), self.epoch_tick));
        Ok(RuleEngine {
            inner: Arc::new(Shared {
                engine,
                linker,
                operator: self.operator,
                isolation: self.isolation,
                max_instances: self.max_instances,
                epoch_tick: self.epoch_tick,
                _ticker: ticker,
            }),
        })
    }
}

/// The shared engine, linker and limits for every rule of a process. A
/// cheap handle: clones share one engine.
#[derive(Clone)]
pub struct RuleEngine {
    inner: Arc<Shared>,
}

struct Shared {
    engine: Engine,
    linker: Linker<SandboxState>,
    operator: OperatorLimits,
    isolation: Isolation,
    max_instances: u32,
    epoch_tick: Duration,
    _ticker: Option<EpochTicker>,
}

impl std::fmt::Debug for RuleEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleEngine")
            .field("isolation", &self.inner.isolation)
            .field("max_instances", &self.inner.max_instances)
            .field("epoch_tick", &self.inner.epoch_tick)
            .finish_non_exhaustive()
    }
}

impl RuleEngine {
    /// The settings, at their defaults, to build an engine from.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// An engine whose pool fits the operator's largest memory limit, with
    /// every layer of isolation on and the other settings at their defaults.
    pub fn new(operator: OperatorLimits) -> Result<Self, EngineError> {
        Self::builder().operator_limits(operator).build()
    }

    /// An engine with only the given layers of isolation: for measuring
    /// their cost. Turning fuel or epochs off removes a limit, so nothing
    /// that runs untrusted rules for real should do it.
    pub fn with_isolation(
        operator: OperatorLimits,
        isolation: Isolation,
    ) -> Result<Self, EngineError> {
        Self::builder()
            .operator_limits(operator)
            .isolation(isolation)
            .build()
    }

    /// The layers of isolation this engine applies.
    pub fn isolation(&self) -> Isolation {
        self.inner.isolation
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The linker with WASI and the `mailrules:rules` imports.
    pub fn linker(&self) -> &Linker<SandboxState> {
        &self.inner.linker
    }

    /// The operator's limits.
    pub fn operator_limits(&self) -> &OperatorLimits {
        &self.inner.operator
    }

    /// Rule instances that may be alive at once.
    pub fn max_instances(&self) -> u32 {
        self.inner.max_instances
    }

    /// How often the epoch advances.
    pub fn epoch_tick(&self) -> Duration {
        self.inner.epoch_tick
    }

    /// Epoch ticks that make up `timeout` (at least one, plus one for the
    /// partial tick already running).
    pub fn deadline_ticks(&self, timeout: Duration) -> u64 {
        self.ticks(timeout) + 1
    }

    /// Whole epoch ticks covering `duration`, at least one.
    pub fn ticks(&self, duration: Duration) -> u64 {
        (duration
            .as_micros()
            .div_ceil(self.inner.epoch_tick.as_micros()) as u64)
            .max(1)
    }

    /// A stable text that changes whenever compiled code from this engine
    /// would not load into another: part of the compilation cache key.
    pub fn compatibility_key(&self) -> String {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.inner
            .engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }
}

/// The WASI version whose clock functions are replaced; it is the one
/// `wasmtime-wasi` serves, and guests built for any 0.2.x resolve to it.
const WASI_CLOCKS: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// The message a rule gets when it tries to sleep or wait for a time.
pub const NO_WAITING: &str =
    "rules may not sleep or wait: the clock is frozen at the campaign's `now`";

/// Replaces the monotonic clock's `subscribe-*` functions with ones that
/// trap: a wait blocks in the host, where neither fuel nor the epoch
/// deadline can interrupt it, and with a frozen clock it has no use.
fn forbid_waiting(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    use wasmtime::StoreContextMut;
    use wasmtime::component::Resource;
    use wasmtime_wasi::p2::DynPollable;
    type Subscribed = wasmtime::Result<(Resource<DynPollable>,)>;
    linker.allow_shadowing(true);
    let mut clock = linker.instance(WASI_CLOCKS)?;
    clock.func_wrap(
        "subscribe-duration",
        |_: StoreContextMut<'_, SandboxState>, _: (u64,)| -> Subscribed {
            Err(wasmtime::format_err!("{NO_WAITING}"))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |_: StoreContextMut<'_, SandboxState>, _: (u64,)| -> Subscribed {
            Err(wasmtime::format_err!("{NO_WAITING}"))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

fn engine_config(operator: &OperatorLimits, isolation: Isolation, instances: u32) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.consume_fuel(isolation.fuel);
    config.epoch_interruption(isolation.epochs);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    if !isolation.pooling {
        return config;
    }
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(instances);
    pool.total_core_instances(instances.saturating_mul(8));
    pool.total_memories(instances.saturating_mul(2));
    pool.total_tables(instances.saturating_mul(8));
    pool.max_memory_size(operator.maximum.memory_bytes);
    pool.linear_memory_keep_resident(KEEP_RESIDENT);
    pool.table_keep_resident(KEEP_RESIDENT);
    pool.pagemap_scan(wasmtime::Enabled::Auto);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// Advances the engine's epoch every tick until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine, tick: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("mailrules-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        EpochTicker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_to_whole_ticks_plus_one() {
        let engine = RuleEngine::new(OperatorLimits::default()).unwrap();
        assert_eq!(engine.deadline_ticks(Duration::from_millis(100)), 51);
        assert_eq!(engine.deadline_ticks(Duration::from_millis(3)), 3);
        assert_eq!(engine.deadline_ticks(Duration::ZERO), 2);
    }

    #[test]
    fn the_builder_sizes_the_pool_for_its_threads() {
        let engine = RuleEngine::builder()
            .evaluation_threads(3)
            .epoch_tick(Duration::from_millis(5))
            .build()
            .unwrap();
        assert_eq!(engine.max_instances(), 8);
        let engine = RuleEngine::builder()
            .evaluation_threads(16)
            .build()
            .unwrap();
        assert_eq!(engine.max_instances(), 32);
        assert_eq!(RuleEngine::builder().build().unwrap().max_instances(), 64);
    }

    #[test]
    fn a_longer_tick_gives_fewer_deadline_ticks() {
        let engine = RuleEngine::builder()
            .epoch_tick(Duration::from_millis(10))
            .build()
            .unwrap();
        assert_eq!(engine.deadline_ticks(Duration::from_millis(100)), 11);
        assert_eq!(engine.deadline_ticks(Duration::from_millis(101)), 12);
    }

    #[test]
    fn the_compatibility_key_is_stable_for_one_configuration() {
        let a = RuleEngine::new(OperatorLimits::default()).unwrap();
        let b = RuleEngine::new(OperatorLimits::default()).unwrap();
        assert_eq!(a.compatibility_key(), b.compatibility_key());
        assert_eq!(a.compatibility_key().len(), 16);
    }
}
