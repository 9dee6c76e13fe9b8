//! The circuit breaker in front of a real rule that fails every time.

use std::sync::Arc;
use std::time::Instant;

use mailrules::breaker::{Admission, Breaker, BreakerConfig, State, counts_against_rule};
use mailrules::engine::RuleEngine;
use mailrules::evaluate::Evaluator;
use mailrules::limits::OperatorLimits;
use mailrules::outcome::Status;
use mailrules::profile::Profile;
use mailrules::rule::LoadedRule;
use mailrules::{Campaign, Limits, Outcome, policy};
use mailrules_integration::{now, rule};

use crate::harness::{example_campaign, tagged};

/// An evaluator of the misbehaving guest on the example campaign, with
/// the campaign and the limits it runs under.
fn misbehaving_evaluator() -> (Evaluator, Arc<Campaign>, Limits) {
    let engine = RuleEngine::new(OperatorLimits::default()).unwrap();
    let misbehaving = LoadedRule::load(&engine, &rule("misbehaving"), None).unwrap();
    let campaign = example_campaign();
    let (limits, _) = engine.operator_limits().resolve(&campaign.limits);
    let campaign = Arc::new(campaign);
    let evaluator = Evaluator::new(
        &engine,
        &misbehaving,
        campaign.clone(),
        limits.clone(),
        now(),
    );
    (evaluator, campaign, limits)
}

#[test]
fn a_failing_rule_trips_its_breaker_after_twenty_and_is_not_run_after() {
    let (evaluator, campaign, limits) = misbehaving_evaluator();
    let breaker = Breaker::new(BreakerConfig::default());
    // One instant for all: the test is about counts, not time.
    let at = Instant::now();

    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut runs = 0;
    let mut opened_after = None;
    for i in 0..30 {
        let tag = if i % 2 == 0 { "loop" } else { "panic" };
        let profile: Profile = serde_json::from_value(tagged(&format!("r{i}"), tag)).unwrap();
        let outcome = match breaker.admit(at) {
            Admission::Run | Admission::Probe => {
                runs += 1;
                let evaluation = evaluator.evaluate(Arc::new(profile.clone()));
                let failed = evaluation
                    .result
                    .as_ref()
                    .err()
                    .is_some_and(counts_against_rule);
                if let Some(transition) = breaker.record(at, failed) {
                    assert_eq!(
                        (transition.from, transition.to),
                        (State::Closed, State::Open)
                    );
                    assert_eq!(transition.evaluations, 20);
                    opened_after = Some(i + 1);
                }
                policy::outcome(profile.id.clone(), evaluation, &campaign, &limits)
            }
            Admission::Open => policy::breaker_open(&profile, &campaign, &limits),
        };
        outcomes.push(outcome);
    }

    assert_eq!(opened_after, Some(20));
    assert_eq!(runs, 20);
    for (i, outcome) in outcomes.iter().enumerate() {
        let reason = outcome.reason.as_deref().unwrap_or("");
        assert_eq!(outcome.status, Status::Fallback, "{i}: {outcome:?}");
        assert_eq!(outcome.subject.as_deref(), Some("default"));
        if i < 20 {
            let code = if i % 2 == 0 { "out-of-fuel" } else { "trap" };
            assert!(reason.starts_with(code), "{i}: {reason}");
            assert!(outcome.fuel.unwrap() > 0, "{i}: {outcome:?}");
        } else {
            assert!(reason.starts_with("breaker-open:"), "{i}: {reason}");
            assert_eq!(outcome.fuel, Some(0), "{i}: not run");
        }
    }
    let state = breaker.state();
    assert_eq!(state.state, State::Open);
    assert_eq!(state.opened_at, Some(at));
}

#[test]
fn decisions_the_host_refuses_count_against_the_breaker() {
    use mailrules::evaluate::Breakers;
    let (evaluator, campaign, limits) = misbehaving_evaluator();
    let evaluator = evaluator.with_breakers(Breakers {
        main: Arc::new(Breaker::new(BreakerConfig::default())),
        canary: None,
        on_transition: None,
    });
    let reasons: Vec<String> = (0..25)
        .map(|i| {
            // `bad-id` chooses a subject the campaign does not have: the
            // call succeeds, the host refuses the decision.
            let profile: Profile =
                serde_json::from_value(tagged(&format!("r{i}"), "bad-id")).unwrap();
            let evaluation = evaluator.evaluate(Arc::new(profile.clone()));
            policy::outcome(profile.id.clone(), evaluation, &campaign, &limits)
                .reason
                .unwrap_or_default()
        })
        .collect();
    for (i, reason) in reasons.iter().enumerate() {
        let expected = if i < 20 {
            "invalid-decision"
        } else {
            "breaker-open"
        };
        assert!(reason.starts_with(expected), "{i}: {reason}");
    }
}
