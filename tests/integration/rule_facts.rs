//! Facts about a rule known at upload time, on the real guests.

use std::sync::Arc;

use mailrules::engine::RuleEngine;
use mailrules::limits::OperatorLimits;
use mailrules::rule::LoadedRule;
use mailrules::rule_facts::{FuelFacts, fuel_on_extremes, profile_fields};
use mailrules_integration::{now, rule};

use crate::harness::example_campaign;

fn load(name: &str) -> (RuleEngine, LoadedRule) {
    let engine = RuleEngine::new(OperatorLimits::default()).unwrap();
    let loaded = LoadedRule::load(&engine, &rule(name), None).unwrap();
    (engine, loaded)
}

#[test]
fn the_fields_a_rule_reads_are_the_getters_it_imports() {
    let (engine, seed) = load("seed-segments");
    assert_eq!(
        profile_fields(&engine, &seed),
        [
            "cart",
            "engagement",
            "has-viewed-category",
            "last-visit-at",
            "order-categories",
            "orders",
            "subscribed-at",
            "viewed-categories",
            "viewed-products",
        ]
    );
    let (engine, misbehaving) = load("misbehaving");
    assert_eq!(
        profile_fields(&engine, &misbehaving),
        ["attributes", "email", "id", "tags"]
    );
    // A 0.2 rule: what it declares, not what it could call.
    let (engine, declared) = load("seed-segments-v0-2");
    assert_eq!(
        profile_fields(&engine, &declared),
        [
            "subscribed-at",
            "orders",
            "order-categories",
            "engagement",
            "last-visit-at",
            "viewed-categories",
            "viewed-products",
            "cart",
        ]
    );
}

#[test]
fn fuel_on_the_largest_and_smallest_profile_is_pinned() {
    let (engine, seed) = load("seed-segments");
    let campaign = example_campaign();
    let (limits, _) = engine.operator_limits().resolve(&campaign.limits);
    let campaign = Arc::new(campaign);
    let facts = fuel_on_extremes(&engine, &seed, campaign.clone(), limits.clone(), now());
    assert_eq!(
        facts,
        FuelFacts {
            // 95,241 purchased categories, none with a block: the rule
            // formats and looks up every one and runs out of the
            // campaign's 10,000,000 units.
            max_profile: Some(10_000_000),
            max_profile_outcome: "out-of-fuel".into(),
            max_profile_shape: "order-categories",
            // No engagement, no subscription time: sunset.
            min_profile: Some(5_344),
            min_profile_outcome: "suppressed".into(),
        }
    );
    let again = fuel_on_extremes(&engine, &seed, campaign, limits, now());
    assert_eq!(again, facts, "fuel is an instruction count");
}
