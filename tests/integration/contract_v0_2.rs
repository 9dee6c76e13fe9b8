//! Contract 0.2 beside 0.1: both load in one engine and serve one campaign,
//! a 0.2 rule declares what it reads and gets nothing else, and batches
//! never change a decision, whatever fails inside them.

use std::collections::BTreeMap;
use std::sync::Arc;

use mailrules::contract::ContractVersion;
use mailrules::engine::RuleEngine;
use mailrules::evaluate::Evaluator;
use mailrules::limits::OperatorLimits;
use mailrules::outcome::{Outcome, Status};
use mailrules::profile_reader::{ProfileFormat, ProfileReader};
use mailrules::rule::LoadedRule;
use mailrules_integration::{generator, now, oracle, rule};

use crate::harness::{as_printed, evaluate_in_batches, example_campaign, jsonl, tagged};

/// The fields the reference pack declares, in the contract's order.
const PACK_FIELDS: [&str; 8] = [
    "subscribed-at",
    "orders",
    "order-categories",
    "engagement",
    "last-visit-at",
    "viewed-categories",
    "viewed-products",
    "cart",
];

#[test]
fn both_versions_load_in_one_engine_and_say_which_they_are() {
    let engine = RuleEngine::new(OperatorLimits::default()).expect("engine");
    let old = LoadedRule::load(&engine, &rule("seed-segments"), None).expect("0.1 loads");
    let new = LoadedRule::load(&engine, &rule("seed-segments-v0-2"), None).expect("0.2 loads");
    assert_eq!(old.info.contract, ContractVersion::V0_1);
    assert_eq!(old.info.world_version, "0.1.0");
    assert_eq!(old.info.declared_fields, None);
    assert_eq!(new.info.contract, ContractVersion::V0_2);
    assert_eq!(new.info.world_version, "0.2.0");
    assert_eq!(
        new.info.declared_fields,
        Some(PACK_FIELDS.map(String::from).to_vec())
    );
    assert_eq!(
        new.info.declared_segments.as_deref().map(<[String]>::len),
        Some(11)
    );
    // No WASI: the contract's own interfaces and nothing else.
    assert_eq!(
        new.info.imports,
        vec!["mailrules:rules/host@0.2.0", "mailrules:rules/types@0.2.0"]
    );
    assert!(old.info.imports.iter().any(|i| i.starts_with("wasi:")));
    assert!(
        new.info.size < old.info.size,
        "{} vs {}",
        new.info.size,
        old.info.size
    );
}

/// What an outcome says, without what it cost.
fn decided(outcomes: &[Outcome]) -> Vec<Outcome> {
    outcomes
        .iter()
        .map(|outcome| Outcome {
            fuel: None,
            ..outcome.clone()
        })
        .collect()
}

#[test]
fn decisions_do_not_depend_on_the_batch_size_whatever_fails_in_a_batch() {
    // Every ninth recipient misbehaves, in one of nine ways.
    let behaviours = [
        "loop",
        "panic",
        "alloc",
        "recurse",
        "rule-error",
        "bad-id",
        "huge",
        "undeclared",
        "invent-ids",
    ];
    let profiles: Vec<_> = (0..1_200)
        .map(|i| {
            let tag = if i % 9 == 4 {
                behaviours[(i / 9) % behaviours.len()]
            } else {
                "fine"
            };
            tagged(&format!("p{i:04}"), tag)
        })
        .collect();
    let run = |batch| {
        evaluate_in_batches(
            &rule("misbehaving-v0-2"),
            example_campaign(),
            jsonl(&profiles),
            2,
            batch,
        )
    };
    let one_by_one = run(1);
    assert_eq!(one_by_one.len(), profiles.len());
    for batch in [7, 64, 1_000] {
        let batched = run(batch);
        assert_eq!(
            decided(&batched),
            decided(&one_by_one),
            "batches of {batch} decide otherwise"
        );
    }
    // What each behaviour costs its recipient, and no one else.
    let mut by_tag: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for (i, outcome) in one_by_one.iter().enumerate() {
        let tag = if i % 9 == 4 {
            behaviours[(i / 9) % behaviours.len()]
        } else {
            "fine"
        };
        let code = outcome
            .reason
            .as_deref()
            .map(|reason| reason.split(':').next().unwrap_or_default().to_string())
            .unwrap_or_else(|| outcome.status.as_str().to_string());
        *by_tag.entry(tag).or_default().entry(code).or_default() += 1;
    }
    let only = |tag: &str| -> String {
        let codes = &by_tag[tag];
        assert_eq!(codes.len(), 1, "{tag}: {codes:?}");
        codes.keys().next().cloned().unwrap_or_default()
    };
    assert_eq!(only("fine"), "ok");
    // 133 of the 1,200 misbehave.
    assert_eq!(by_tag["fine"]["ok"], 1_067);
    assert_eq!(only("loop"), "out-of-fuel");
    assert_eq!(only("panic"), "trap");
    assert_eq!(only("alloc"), "out-of-memory");
    assert_eq!(only("recurse"), "stack-overflow");
    assert_eq!(only("rule-error"), "rule-error");
    assert_eq!(only("undeclared"), "trap");
    // Names the campaign or the declaration lacks are the rule's error.
    assert_eq!(only("bad-id"), "rule-error");
    assert_eq!(only("huge"), "rule-error");
    assert_eq!(only("invent-ids"), "rule-error");
}

#[test]
fn the_0_1_rule_reads_what_0_2_does_not_send() {
    let profiles = [tagged("reader", "undeclared")];
    let old = evaluate_in_batches(
        &rule("misbehaving"),
        example_campaign(),
        jsonl(&profiles),
        1,
        1,
    );
    assert_eq!(old[0].status, Status::Ok);
    assert_eq!(
        old[0].reasons.as_deref(),
        Some(&["email-length:18".to_string()][..])
    );
    let new = evaluate_in_batches(
        &rule("misbehaving-v0-2"),
        example_campaign(),
        jsonl(&profiles),
        1,
        64,
    );
    assert_eq!(new[0].status, Status::Fallback);
    assert!(
        new[0]
            .reason
            .as_deref()
            .unwrap_or_default()
            .starts_with("trap:"),
        "{:?}",
        new[0].reason
    );
}

#[test]
fn a_0_1_rule_and_a_0_2_canary_serve_one_campaign_in_one_run() {
    let engine = RuleEngine::new(OperatorLimits::default()).expect("engine");
    let old = LoadedRule::load(&engine, &rule("seed-segments"), None).expect("0.1 loads");
    let new = LoadedRule::load(&engine, &rule("seed-segments-v0-2"), None).expect("0.2 loads");
    let campaign = example_campaign();
    let (limits, _) = engine.operator_limits().resolve(&campaign.limits);
    let evaluator =
        Evaluator::new(&engine, &old, Arc::new(campaign), limits, now()).with_canary(&new, 50);
    let profiles = generator::profiles(1_000, 77, now());
    let reader = ProfileReader::new(
        std::io::Cursor::new(jsonl(&profiles)),
        ProfileFormat::JsonLines,
    );
    let mut served = [0usize; 2];
    let mut mismatches = Vec::new();
    let mut index = 0;
    mailrules::run::run(&evaluator, reader, 2, |processed| {
        served[usize::from(processed.canary)] += 1;
        let want = oracle::expected(&profiles[index], now());
        if as_printed(&processed.outcome) != want {
            mismatches.push(processed.outcome.profile_id.clone());
        }
        index += 1;
        Ok::<(), ()>(())
    })
    .expect("collecting never fails");
    assert!(
        mismatches.is_empty(),
        "{} mismatches: {mismatches:?}",
        mismatches.len()
    );
    assert_eq!(served[0] + served[1], 1_000);
    // Refused recipients are served by neither; both rules decided many.
    assert!(served[1] > 300, "{served:?}");
}
