//! The embeddable library: rules of several tenants in one registry,
//! activation that leaves evaluations in flight on their version, canaries
//! by stable bucket, and prepared campaigns that report lowered limits.

use std::sync::Arc;

use mailrules::engine::RuleEngine;
use mailrules::limits::{Limits, OperatorLimits};
use mailrules::outcome::Status;
use mailrules::prepared::PreparedCampaign;
use mailrules::profile::Profile;
use mailrules::registry::{RuleRegistry, in_canary};
use mailrules::rule::LoadedRule;
use mailrules_integration::rule;

use crate::harness::{campaign_with, example_campaign, tagged};

fn profile(id: &str, tag: &str) -> Arc<Profile> {
    Arc::new(serde_json::from_value(tagged(id, tag)).expect("a valid profile"))
}

fn registry(engine: &RuleEngine) -> RuleRegistry {
    let registry = RuleRegistry::new();
    let seed = LoadedRule::load(engine, &rule("seed-segments"), None).unwrap();
    let misbehaving = LoadedRule::load(engine, &rule("misbehaving"), None).unwrap();
    registry.insert("acme", "v1", seed.clone());
    registry.insert("acme", "v2", misbehaving);
    registry.insert("globex", "v1", seed);
    registry
}

fn decide(engine: &RuleEngine, rule: &LoadedRule, profile: Arc<Profile>) -> mailrules::Outcome {
    PreparedCampaign::prepare(
        engine,
        rule,
        Arc::new(example_campaign()),
        &OperatorLimits::default().maximum,
        1_767_225_600,
    )
    .campaign
    .decide(profile)
}

#[test]
fn an_evaluation_in_flight_keeps_the_version_it_began_with() {
    let engine = RuleEngine::new(OperatorLimits::default()).unwrap();
    let registry = registry(&engine);
    registry.activate("acme", "v1").unwrap();
    let before = registry.routing("acme");
    registry.activate("acme", "v2").unwrap();
    let after = registry.routing("acme");

    let in_flight = before.version_for("spring", "p-1").unwrap();
    assert_eq!(in_flight.name, "v1");
    assert_eq!(after.version_for("spring", "p-1").unwrap().name, "v2");
    // v1 (the reference pack) decides (it sunsets a profile that never
    // engaged); v2 (misbehaving) traps on `panic`.
    let old = decide(&engine, &in_flight.rule, profile("p-1", "panic"));
    assert_eq!(old.status, Status::Suppressed, "{old:?}");
    assert_eq!(old.reason.as_deref(), Some("sunset"));
    let new = decide(
        &engine,
        &after.version_for("spring", "p-1").unwrap().rule,
        profile("p-1", "panic"),
    );
    assert_eq!(new.status, Status::Fallback, "{new:?}");
    assert_eq!(new.reason.as_deref().map(|r| &r[..4]), Some("trap"));

    // Rolling back is activating the earlier version again; other tenants
    // never see acme's versions.
    registry.activate("acme", "v1").unwrap();
    assert_eq!(registry.routing("acme").active.as_ref().unwrap().name, "v1");
    assert!(registry.routing("initech").active.is_none());
    assert!(registry.activate("globex", "v2").is_err());
}

#[test]
fn a_canary_serves_its_bucket_and_activation_ends_it() {
    let engine = RuleEngine::new(OperatorLimits::default()).unwrap();
    let registry = registry(&engine);
    registry.activate("acme", "v1").unwrap();
    registry.set_canary("acme", "v2", 25).unwrap();
    let routing = registry.routing("acme");
    let mut served_by_canary = 0;
    for i in 0..400 {
        let id = format!("p-{i}");
        let version = &routing.version_for("spring", &id).unwrap().name;
        assert_eq!(version == "v2", in_canary("spring", &id, 25), "{id}");
        served_by_canary += usize::from(version == "v2");
    }
    assert!((70..=130).contains(&served_by_canary), "{served_by_canary}");
    registry.activate("acme", "v2").unwrap();
    assert!(registry.routing("acme").canary.is_none());
}

#[test]
fn a_prepared_campaign_reports_the_limits_it_lowered() {
    let engine = RuleEngine::new(OperatorLimits::default()).unwrap();
    let rule = LoadedRule::load(&engine, &rule("seed-segments"), None).unwrap();
    let campaign = Arc::new(campaign_with(&[("fuel = 10_000_000", "fuel = 50_000_000")]));
    let ceiling = Limits {
        fuel: 20_000_000,
        ..OperatorLimits::default().maximum
    };
    let prepared = PreparedCampaign::prepare(&engine, &rule, campaign, &ceiling, 1_767_225_600);
    assert_eq!(prepared.clamped.len(), 1);
    assert_eq!(prepared.clamped[0].name, "fuel");
    assert_eq!(prepared.clamped[0].requested, 50_000_000);
    assert_eq!(prepared.clamped[0].granted, 20_000_000);
    assert_eq!(prepared.campaign.limits().fuel, 20_000_000);
}
