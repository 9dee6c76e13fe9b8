//! The bounds of one evaluation: decisions that do not depend on how busy
//! the machine is, memory growth the rule can survive, randomness seeded per
//! recipient in batch mode, and the fuel reported for interrupted runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mailrules::engine::RuleEngine;
use mailrules::evaluate::{Evaluator, Failure};
use mailrules::limits::OperatorLimits;
use mailrules::outcome::Status;
use mailrules::profile::Profile;
use mailrules::profile_reader::ProfileFormat;
use mailrules::rule::LoadedRule;
use mailrules_integration::rule;

use crate::harness::{campaign_with, evaluate, evaluate_batched, jsonl, tagged};

fn profile(id: &str, tag: &str) -> Arc<Profile> {
    Arc::new(serde_json::from_value(tagged(id, tag)).expect("a valid profile"))
}

/// Pins the calling thread to one CPU.
fn pin_to_cpu(cpu: usize) {
    // SAFETY: `set` is a plain bit set owned by this frame; pid 0 is the
    // calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        let status = libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        assert_eq!(status, 0, "sched_setaffinity");
    }
}

/// Threads spinning on `cpu` until dropped: a machine busier than it has
/// CPUs for.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn on_cpu(cpu: usize, threads: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..threads)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    pin_to_cpu(cpu);
                    let mut counter = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        counter = std::hint::black_box(counter.wrapping_add(1));
                    }
                })
            })
            .collect();
        Load { stop, threads }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_rule_within_its_fuel_never_times_out_on_a_loaded_machine() {
    // `busy` needs about 270 million units of fuel (some 30 ms of CPU) and
    // gets 1,000 million and 100 ms; ten other threads share its CPU, so it
    // takes several times 100 ms of wall-clock time (but far less than the
    // 1 s backstop, after which the host would call itself unavailable).
    let _alone = crate::harness::cpu_heavy();
    let engine = RuleEngine::new(OperatorLimits::default()).unwrap();
    let loaded = LoadedRule::load(&engine, &rule("misbehaving"), None).unwrap();
    let campaign = campaign_with(&[("fuel = 10_000_000", "fuel = 1_000_000_000")]);
    let (limits, _) = engine.operator_limits().resolve(&campaign.limits);
    assert_eq!(limits.timeout, Duration::from_millis(100));
    let now = campaign.now.unwrap();
    let evaluator = Evaluator::new(&engine, &loaded, Arc::new(campaign), limits, now);

    pin_to_cpu(0);
    let _load = Load::on_cpu(0, 10);
    let mut slowest = Duration::ZERO;
    for i in 0..6 {
        let evaluation = evaluator.evaluate(profile(&format!("busy-{i}"), "busy"));
        slowest = slowest.max(evaluation.elapsed);
        let decision = evaluation
            .result
            .unwrap_or_else(|failure| panic!("recipient {i}: {failure}"));
        assert_eq!(decision.reasons, vec!["busy:21"]);
    }
    // The machine really was too busy for a wall-clock deadline.
    assert!(slowest > Duration::from_millis(100), "{slowest:?}");
}

#[test]
fn an_endless_loop_with_fuel_to_spare_still_times_out() {
    let _alone = crate::harness::cpu_heavy();
    let campaign = campaign_with(&[
        ("fuel = 10_000_000", "fuel = 1_000_000_000"),
        ("timeout_ms = 100", "timeout_ms = 20"),
    ]);
    let engine = RuleEngine::new(OperatorLimits::default()).unwrap();
    let loaded = LoadedRule::load(&engine, &rule("misbehaving"), None).unwrap();
    let (limits, _) = engine.operator_limits().resolve(&campaign.limits);
    let now = campaign.now.unwrap();
    let evaluator = Evaluator::new(&engine, &loaded, Arc::new(campaign), limits, now);
    let evaluation = evaluator.evaluate(profile("spinner", "loop"));
    assert_eq!(
        evaluation.result.unwrap_err(),
        Failure::Timeout {
            timeout: Duration::from_millis(20)
        }
    );
    assert_eq!(
        evaluation.fuel_used, None,
        "an interrupted rule's fuel is unknown"
    );
    assert!(evaluation.elapsed >= Duration::from_millis(20));
}

#[test]
fn a_refused_memory_grow_returns_minus_one_and_the_rule_goes_on() {
    let outcomes = evaluate(
        &rule("misbehaving"),
        campaign_with(&[]),
        &[tagged("grower", "grow"), tagged("after", "fine")],
        1,
    );
    assert_eq!(outcomes[0].status, Status::Ok, "{:?}", outcomes[0]);
    assert_eq!(
        outcomes[0].reasons.as_deref(),
        Some(&["grow:-1".to_string()][..])
    );
    assert_eq!(outcomes[0].segments, vec!["well-behaved"]);
    assert_eq!(outcomes[1].status, Status::Ok);
}

#[test]
fn batch_mode_seeds_randomness_per_recipient() {
    let profiles: Vec<_> = ["r-1", "r-2", "r-3", "r-4"]
        .iter()
        .map(|id| tagged(id, "random"))
        .collect();
    let random_reasons = |reuse| -> Vec<String> {
        evaluate_batched(
            &rule("misbehaving"),
            campaign_with(&[]),
            jsonl(&profiles),
            ProfileFormat::JsonLines,
            1,
            reuse,
        )
        .into_iter()
        .map(|outcome| {
            assert_eq!(outcome.status, Status::Ok, "{outcome:?}");
            outcome.reasons.expect("reasons")[0].clone()
        })
        .collect()
    };
    let fresh = random_reasons(1);
    let batched = random_reasons(4);
    assert_eq!(batched, fresh);
    for (i, reason) in fresh.iter().enumerate() {
        assert!(reason.starts_with("random:"), "{reason}");
        assert!(!fresh[..i].contains(reason), "{fresh:?}");
    }
}

/// Sessions in batch mode, each keeping its instance for a next recipient,
/// until every component instance slot of the pool is taken.
fn hold_every_instance(evaluator: &Evaluator) -> Vec<mailrules::evaluate::Session<'_>> {
    (0..mailrules::engine::MAX_CONCURRENT_INSTANCES)
        .map(|i| {
            let mut session = evaluator.session();
            let evaluation = session.evaluate(0, profile(&format!("holder-{i}"), "fine"));
            assert!(
                evaluation.result.is_ok(),
                "holder {i}: {:?}",
                evaluation.result
            );
            session
        })
        .collect()
}

#[test]
fn a_full_instance_pool_delays_an_evaluation_instead_of_failing_the_rule() {
    let engine = RuleEngine::new(OperatorLimits::default()).unwrap();
    let loaded = LoadedRule::load(&engine, &rule("misbehaving"), None).unwrap();
    let campaign = campaign_with(&[]);
    let (limits, _) = engine.operator_limits().resolve(&campaign.limits);
    let now = campaign.now.unwrap();
    let evaluator = Evaluator::new(&engine, &loaded, Arc::new(campaign), limits, now).with_reuse(2);
    let mut holders = hold_every_instance(&evaluator);
    std::thread::scope(|scope| {
        let waiting = scope.spawn(|| evaluator.evaluate(profile("waiting", "fine")));
        std::thread::sleep(Duration::from_millis(300));
        holders.pop();
        let evaluation = waiting.join().unwrap();
        let decision = evaluation.result.expect("evaluated once a slot was free");
        assert_eq!(decision.segments, vec!["well-behaved"]);
        assert!(evaluation.elapsed >= Duration::from_millis(250));
    });
}

#[test]
fn a_pool_full_for_longer_than_the_wait_is_the_hosts_error_not_the_rules() {
    let engine = RuleEngine::new(OperatorLimits::default()).unwrap();
    let loaded = LoadedRule::load(&engine, &rule("misbehaving"), None).unwrap();
    let campaign = Arc::new(campaign_with(&[]));
    let (limits, _) = engine.operator_limits().resolve(&campaign.limits);
    let now = campaign.now.unwrap();
    let evaluator = Evaluator::new(&engine, &loaded, campaign.clone(), limits.clone(), now)
        .with_reuse(2)
        .with_capacity_wait(Duration::from_millis(100));
    let _holders = hold_every_instance(&evaluator);
    let evaluation = evaluator.evaluate(profile("late", "fine"));
    assert!(evaluation.elapsed >= Duration::from_millis(100));
    let failure = evaluation.result.as_ref().unwrap_err().clone();
    assert_eq!(failure.code(), "host-unavailable");
    let outcome = mailrules::policy::outcome("late".into(), evaluation, &campaign, &limits);
    assert_eq!(outcome.status, Status::Error);
    assert!(
        outcome
            .reason
            .as_deref()
            .unwrap()
            .starts_with("host-unavailable: the host had no room to run the rule: "),
        "{outcome:?}"
    );
    assert!(
        outcome.subject.is_none(),
        "no fallback for the host's failure"
    );
}
