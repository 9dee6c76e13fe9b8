//! Every misbehaving guest costs one recipient: the right status and reason
//! for it, and the recipients around it unaffected.

use mailrules::outcome::{Outcome, Status};
use mailrules_integration::rule;

use crate::harness::{campaign_with, evaluate, example_campaign, tagged};

/// Behaviour tag → expected status and the start of the reason.
const MISBEHAVIOURS: [(&str, &str); 10] = [
    ("loop", "out-of-fuel: used all 10000000 units of fuel"),
    ("recurse", "stack-overflow"),
    ("alloc", "out-of-memory: memory limit of 33554432 bytes"),
    (
        "huge",
        "invalid-decision: 1000 segments, more than the limit of 64",
    ),
    ("long-id", "invalid-decision: segment id of 10000 bytes"),
    ("panic", "trap: "),
    (
        "bad-id",
        "invalid-decision: subject `no-such-variant` is not a subject variant",
    ),
    (
        "rule-error",
        "rule-error: missing-data: profile has no loyalty tier",
    ),
    ("sleep", "trap: rules may not sleep or wait"),
    ("log-flood", ""),
];

fn well_behaved(outcome: &Outcome) {
    assert_eq!(outcome.status, Status::Ok, "{outcome:?}");
    assert_eq!(outcome.segments, vec!["well-behaved"]);
    assert_eq!(outcome.subject.as_deref(), Some("default"));
}

#[test]
fn every_misbehaving_guest_is_contained_to_its_recipient() {
    let mut profiles = Vec::new();
    for (i, (tag, _)) in MISBEHAVIOURS.iter().enumerate() {
        profiles.push(tagged(&format!("before-{i}"), "fine"));
        profiles.push(tagged(&format!("bad-{tag}"), tag));
    }
    profiles.push(tagged("last", "fine"));
    let outcomes = evaluate(&rule("misbehaving"), example_campaign(), &profiles, 2);
    assert_eq!(outcomes.len(), profiles.len());
    for (i, (tag, reason)) in MISBEHAVIOURS.iter().enumerate() {
        well_behaved(&outcomes[2 * i]);
        let bad = &outcomes[2 * i + 1];
        assert_eq!(bad.profile_id, format!("bad-{tag}"));
        if *tag == "log-flood" {
            well_behaved(bad);
            continue;
        }
        assert_eq!(bad.status, Status::Fallback, "{tag}: {bad:?}");
        let got = bad.reason.as_deref().unwrap_or_default();
        assert!(
            got.starts_with(reason),
            "{tag}: reason `{got}` does not start with `{reason}`"
        );
        // The fallback selection, and no segments from a failed rule.
        assert_eq!(bad.subject.as_deref(), Some("default"));
        assert_eq!(bad.preheader.as_deref(), Some("default"));
        let blocks = serde_json::to_value(&bad.blocks).unwrap();
        assert_eq!(
            blocks,
            serde_json::json!({"hero": "hero-default", "recommendations": "rec-bestsellers"})
        );
        assert!(bad.segments.is_empty());
    }
    well_behaved(outcomes.last().unwrap());
}

#[test]
fn a_panic_is_recorded_in_the_rule_log() {
    let outcomes = evaluate(
        &rule("misbehaving"),
        example_campaign(),
        &[tagged("p", "panic")],
        1,
    );
    let log = outcomes[0].log.as_deref().unwrap_or_default();
    assert!(log.contains("deliberate panic for profile p"), "{log}");
}

#[test]
fn the_log_is_capped() {
    let outcomes = evaluate(
        &rule("misbehaving"),
        example_campaign(),
        &[tagged("f", "log-flood")],
        1,
    );
    let log = outcomes[0].log.as_deref().unwrap_or_default();
    let (kept, note) = log
        .rsplit_once("[host] ")
        .expect("a note about dropped bytes");
    assert_eq!(kept.len(), 4096);
    assert!(note.contains("more bytes dropped"), "{note}");
}

#[test]
fn the_deadline_stops_a_loop_that_fuel_would_allow() {
    let _alone = crate::harness::cpu_heavy();
    let campaign = campaign_with(&[
        ("fuel = 10_000_000", "fuel = 1_000_000_000"),
        ("timeout_ms = 100", "timeout_ms = 20"),
    ]);
    let started = std::time::Instant::now();
    let outcomes = evaluate(
        &rule("misbehaving"),
        campaign,
        &[tagged("l", "loop"), tagged("ok", "fine")],
        1,
    );
    assert_eq!(outcomes[0].status, Status::Fallback);
    assert_eq!(
        outcomes[0].reason.as_deref(),
        Some("timeout: still running after 20 ms")
    );
    well_behaved(&outcomes[1]);
    // Not a timing assertion on the rule: only that the host did not wait
    // for the 1e9-instruction budget to run out many times over.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn a_smaller_memory_limit_is_enforced() {
    let campaign = campaign_with(&[("memory_mib = 32", "memory_mib = 4")]);
    let outcomes = evaluate(
        &rule("misbehaving"),
        campaign,
        &[tagged("a", "alloc"), tagged("ok", "fine")],
        1,
    );
    assert_eq!(
        outcomes[0].reason.as_deref(),
        Some("out-of-memory: memory limit of 4194304 bytes reached")
    );
    well_behaved(&outcomes[1]);
}

#[test]
fn the_skip_policy_sends_nothing_on_failure() {
    let campaign = campaign_with(&[("policy = \"fallback\"", "policy = \"skip\"")]);
    let outcomes = evaluate(
        &rule("misbehaving"),
        campaign,
        &[tagged("p", "panic"), tagged("ok", "fine")],
        1,
    );
    assert_eq!(outcomes[0].status, Status::Skipped);
    assert!(outcomes[0].subject.is_none() && outcomes[0].blocks.is_none());
    assert!(outcomes[0].reason.as_deref().unwrap().starts_with("trap: "));
    well_behaved(&outcomes[1]);
}

#[test]
fn consent_is_enforced_before_the_rule_runs() {
    let mut profile = tagged("no", "panic");
    profile["consent"]["email_marketing"] = serde_json::json!(false);
    let outcomes = evaluate(&rule("misbehaving"), example_campaign(), &[profile], 1);
    assert_eq!(outcomes[0].status, Status::Suppressed);
    assert_eq!(outcomes[0].reason.as_deref(), Some("no-consent"));
    assert!(outcomes[0].fuel.is_none(), "the rule must not have run");
}

#[test]
fn rules_see_only_the_campaign_clock_and_seeded_randomness() {
    let campaign = example_campaign();
    let now = campaign.now.unwrap();
    let outcomes = evaluate(
        &rule("misbehaving"),
        campaign,
        &[tagged("amb", "ambient"), tagged("amb2", "ambient")],
        1,
    );
    let reasons = |o: &Outcome| o.reasons.clone().unwrap_or_default();
    let first = reasons(&outcomes[0]);
    assert!(first.contains(&format!("clock:{now}")), "{first:?}");
    let bucket = mailrules::bucket::ab_bucket("autumn-picks-2026", "amb", "subject-test");
    assert!(first.contains(&format!("bucket:{bucket}")), "{first:?}");
    let random = |r: &[String]| {
        r.iter()
            .find(|s| s.starts_with("random:"))
            .cloned()
            .unwrap()
    };
    // Another recipient draws other random numbers …
    assert_ne!(random(&first), random(&reasons(&outcomes[1])));
    // … and the same recipient the same ones, run after run.
    let again = evaluate(
        &rule("misbehaving"),
        example_campaign(),
        &[tagged("amb", "ambient")],
        1,
    );
    assert_eq!(random(&first), random(&reasons(&again[0])));
}

#[test]
fn custom_attributes_reach_the_rule_as_messagepack() {
    let mut gold = tagged("gold", "attributes");
    gold["attributes"] =
        serde_json::json!({"tier": "gold", "points": 1200, "nested": {"a": [1, 2]}});
    let mut none = tagged("none", "attributes");
    none["attributes"] = serde_json::json!({"points": 3});
    let outcomes = evaluate(&rule("misbehaving"), example_campaign(), &[gold, none], 1);
    assert_eq!(outcomes[0].status, Status::Ok);
    assert!(
        outcomes[0]
            .reasons
            .as_ref()
            .unwrap()
            .contains(&"tier:gold".to_string())
    );
    assert_eq!(outcomes[1].status, Status::Fallback);
    let reason = outcomes[1].reason.as_deref().unwrap();
    assert!(
        reason.starts_with("rule-error: invalid-attributes: custom attributes:"),
        "{reason}"
    );
    assert!(reason.contains("tier"), "{reason}");
}
