//! Two tenants on one [`FairScheduler`]: a noisy one whose rule loops to
//! its deadline on every profile, and a quiet one running the reference
//! pack. Shared by the integration test and the `noisy-neighbour` bench.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use mailrules::fair_share::{CallUsage, FairScheduler, MapError};
use mailrules::profile_reader::{Position, ProfileRecord};
use mailrules::{Campaign, Evaluator, LoadedRule, OperatorLimits, Outcome, Profile, RuleEngine};

use crate::{root, rule};

/// Most profiles per job.
pub const CHUNK: usize = 16;

/// The noisy tenant.
pub const NOISY: &str = "noisy";

/// The quiet tenant.
pub const QUIET: &str = "quiet";

/// Fuel the noisy tenant's campaign asks for: far more than a `loop`
/// profile can burn in its 100 ms deadline.
pub const NOISY_FUEL: u64 = 100_000_000_000;

/// One engine for both tenants, as a hosting service has, whose operator
/// allows [`NOISY_FUEL`].
pub fn engine() -> RuleEngine {
    let mut limits = OperatorLimits::default();
    limits.maximum.fuel = NOISY_FUEL;
    RuleEngine::new(limits).expect("engine")
}

/// An evaluator of `rule_name` for the example campaign with `replace`
/// applied to its text.
fn evaluator(engine: &RuleEngine, rule_name: &str, replace: &[(&str, &str)]) -> Evaluator {
    let mut text =
        std::fs::read_to_string(root().join("examples/campaign.toml")).expect("readable");
    for (from, to) in replace {
        assert!(text.contains(from), "example campaign has no `{from}`");
        text = text.replace(from, to);
    }
    let campaign = Campaign::parse(&text, Path::new("campaign.toml")).expect("valid campaign");
    let loaded = LoadedRule::load(engine, &rule(rule_name), None).expect("rule loads");
    let (limits, _) = engine.operator_limits().resolve(&campaign.limits);
    let now = campaign.now.expect("the example campaign sets now");
    Evaluator::new(engine, &loaded, Arc::new(campaign), limits, now)
}

/// The quiet tenant's evaluator: the reference pack, example campaign.
pub fn quiet_evaluator(engine: &RuleEngine) -> Evaluator {
    evaluator(engine, "seed-segments", &[])
}

/// The noisy tenant's evaluator: `misbehaving` with [`NOISY_FUEL`], so a
/// `loop` profile runs to the campaign's 100 ms deadline (needs an
/// [`engine`] that allows it).
pub fn noisy_evaluator(engine: &RuleEngine) -> Evaluator {
    let fuel = format!("fuel = {NOISY_FUEL}");
    evaluator(engine, "misbehaving", &[("fuel = 10_000_000", &fuel)])
}

/// Profiles as the reader would hand them over, numbered from line 1.
pub fn records(profiles: &[serde_json::Value]) -> Vec<ProfileRecord> {
    profiles
        .iter()
        .zip(1..)
        .map(|(p, line)| ProfileRecord {
            position: Position::Line(line),
            profile: Ok(serde_json::from_value::<Profile>(p.clone()).expect("valid profile")),
        })
        .collect()
}

/// Evaluates `records` as jobs of `tenant`, as `mailrules eval` would
/// (`run::process` per record), handing the outcomes to `sink` in order.
pub fn evaluate<E>(
    scheduler: &FairScheduler,
    tenant: &str,
    evaluator: &Evaluator,
    records: impl IntoIterator<Item = ProfileRecord>,
    sink: impl FnMut(Outcome) -> Result<(), E>,
) -> Result<CallUsage, MapError<E>> {
    let evaluator = evaluator.clone();
    scheduler.map_ordered(
        tenant,
        records,
        CHUNK,
        move |first, chunk| {
            let mut session = evaluator.session();
            chunk
                .into_iter()
                .zip(first..)
                .map(|(record, index)| {
                    mailrules::run::process(&mut session, &evaluator, index, record).outcome
                })
                .collect()
        },
        sink,
    )
}

/// What the noisy tenant got.
#[derive(Debug, Default)]
pub struct NoisyReport {
    /// Outcomes.
    pub outcomes: usize,
    /// Those that were not a timeout fallback, as printed.
    pub not_timeouts: Vec<String>,
}

/// The noisy tenant, submitting `loop` profiles until stopped.
pub struct Noisy {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<NoisyReport>,
}

impl Noisy {
    /// Starts submitting on its own thread.
    pub fn start(scheduler: &Arc<FairScheduler>, evaluator: &Evaluator) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (scheduler, evaluator, stopped) = (scheduler.clone(), evaluator.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let looping = serde_json::json!({
                "id": "looper",
                "email": "looper@example.com",
                "consent": { "email_marketing": true },
                "tags": ["loop"],
            });
            let profile: Profile = serde_json::from_value(looping).expect("valid profile");
            let records = (1..)
                .take_while(|_| !stopped.load(Ordering::Relaxed))
                .map(|line| ProfileRecord {
                    position: Position::Line(line),
                    profile: Ok(profile.clone()),
                });
            let mut report = NoisyReport::default();
            evaluate(&scheduler, NOISY, &evaluator, records, |outcome| {
                report.outcomes += 1;
                let timed_out = outcome.status == mailrules::Status::Fallback
                    && outcome
                        .reason
                        .as_deref()
                        .is_some_and(|r| r.starts_with("timeout:"));
                if !timed_out {
                    report
                        .not_timeouts
                        .push(serde_json::to_string(&outcome).expect("serializes"));
                }
                Ok::<(), ()>(())
            })
            .expect("collecting never fails");
            report
        });
        Noisy { stop, thread }
    }

    /// Stops submitting, waits for the jobs in flight and reports.
    pub fn stop(self) -> NoisyReport {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the noisy tenant's thread")
    }
}
