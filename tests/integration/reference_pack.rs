//! The reference pack, run as a real component, against decisions written
//! by hand from the specification (the examples) and against an independent
//! implementation of the specification (a large generated set).

use std::collections::BTreeMap;

use mailrules::outcome::Status;
use mailrules::profile_reader::ProfileFormat;
use mailrules_integration::{generator, now, oracle, read_jsonl, root, rule};

use crate::harness::{as_printed, evaluate, evaluate_bytes, example_campaign};

#[test]
fn example_profiles_get_the_hand_written_decisions() {
    example_profiles_get_the_hand_written_decisions_from("seed-segments");
}

#[test]
fn the_0_2_pack_gives_the_example_profiles_the_hand_written_decisions() {
    example_profiles_get_the_hand_written_decisions_from("seed-segments-v0-2");
}

fn example_profiles_get_the_hand_written_decisions_from(pack: &str) {
    let profiles = read_jsonl(&root().join("examples/profiles.jsonl"));
    let expected = read_jsonl(&root().join("tests/expected/example-decisions.jsonl"));
    let outcomes = evaluate(&rule(pack), example_campaign(), &profiles, 2);
    assert_eq!(outcomes.len(), expected.len());
    for (outcome, want) in outcomes.iter().zip(&expected) {
        assert_eq!(&as_printed(outcome), want, "profile {}", outcome.profile_id);
    }
}

#[test]
fn the_oracle_agrees_with_the_hand_written_decisions() {
    let profiles = read_jsonl(&root().join("examples/profiles.jsonl"));
    let expected = read_jsonl(&root().join("tests/expected/example-decisions.jsonl"));
    for (profile, want) in profiles.iter().zip(&expected) {
        assert_eq!(&oracle::expected(profile, now()), want);
    }
}

#[test]
fn a_large_varied_set_matches_the_specification_exactly() {
    a_large_varied_set_matches_the_specification_exactly_with("seed-segments");
}

#[test]
fn the_0_2_pack_matches_the_specification_on_the_large_varied_set() {
    a_large_varied_set_matches_the_specification_exactly_with("seed-segments-v0-2");
}

fn a_large_varied_set_matches_the_specification_exactly_with(pack: &str) {
    let profiles = generator::profiles(6_000, 20_261_124, now());
    let outcomes = evaluate(&rule(pack), example_campaign(), &profiles, 2);
    assert_eq!(outcomes.len(), profiles.len());
    let mut segment_sizes: BTreeMap<String, usize> = BTreeMap::new();
    let mut statuses: BTreeMap<Status, usize> = BTreeMap::new();
    let mut mismatches = Vec::new();
    for (profile, outcome) in profiles.iter().zip(&outcomes) {
        *statuses.entry(outcome.status).or_default() += 1;
        for segment in &outcome.segments {
            *segment_sizes.entry(segment.clone()).or_default() += 1;
        }
        let want = oracle::expected(profile, now());
        if as_printed(outcome) != want {
            mismatches.push(format!(
                "{profile}\n  got  {}\n  want {want}",
                as_printed(outcome)
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches, first:\n{}",
        mismatches.len(),
        mismatches[0]
    );
    for segment in [
        "new-subscriber",
        "recent-buyer",
        "repeat-buyer",
        "lapsed-customer",
        "high-value-loyal",
        "active",
        "inactive",
        "dormant",
        "cart-abandoner",
        "browser-at-risk",
        "bargain-hunter",
    ] {
        let size = segment_sizes.get(segment).copied().unwrap_or(0);
        assert!(
            size >= 10,
            "segment {segment} has only {size} members: the set is not varied enough"
        );
    }
    assert!(statuses[&Status::Ok] > 4_000, "{statuses:?}");
    assert!(statuses[&Status::Suppressed] > 300, "{statuses:?}");
    let sunset = outcomes
        .iter()
        .filter(|o| o.reason.as_deref() == Some("sunset"))
        .count();
    assert!(sunset > 10, "only {sunset} sunset suppressions");
}

#[test]
fn messagepack_input_gives_the_same_decisions_as_jsonl() {
    let profiles = read_jsonl(&root().join("examples/profiles.jsonl"));
    let mut packed = Vec::new();
    for p in &profiles {
        packed.extend(rmp_serde::to_vec_named(p).expect("encodes"));
    }
    let from_msgpack = evaluate_bytes(
        &rule("seed-segments"),
        example_campaign(),
        packed,
        ProfileFormat::MessagePack,
        1,
    );
    let from_jsonl = evaluate(&rule("seed-segments"), example_campaign(), &profiles, 1);
    assert_eq!(from_msgpack, from_jsonl);

    // The typed fast path and the JSON reader agree on every field of a
    // large varied set (attributes, carts, dates and all).
    let profiles = generator::profiles(3_000, 5_150, now());
    let mut packed = Vec::new();
    for p in &profiles {
        packed.extend(rmp_serde::to_vec_named(p).expect("encodes"));
    }
    let read = |bytes: Vec<u8>, format| {
        mailrules::profile_reader::ProfileReader::new(std::io::Cursor::new(bytes), format)
            .map(|record| record.profile.expect("every generated profile reads"))
            .collect::<Vec<_>>()
    };
    let from_msgpack = read(packed, ProfileFormat::MessagePack);
    let from_jsonl = read(crate::harness::jsonl(&profiles), ProfileFormat::JsonLines);
    assert_eq!(from_msgpack.len(), 3_000);
    assert!(from_msgpack == from_jsonl, "the two readers disagree");
}

#[test]
fn a_split_subject_and_a_holdout_are_assigned_per_recipient_and_reported() {
    use crate::harness::campaign_with;
    let extra = "\n[[subject]]\nid = \"default-b\"\ntext = \"Fresh Picks, Chosen for You\"\n\n[[split]]\nsubject = \"default\"\narms = [{ subject = \"default\", weight = 1 }, { subject = \"default-b\", weight = 1 }]\n\n[holdout]\npercent = 5\n";
    let campaign = || campaign_with(&[("[message]", &format!("{extra}\n[message]"))]);
    let profiles = generator::profiles(4_000, 5, now());
    let first = evaluate(&rule("seed-segments"), campaign(), &profiles, 2);
    let second = evaluate(&rule("seed-segments"), campaign(), &profiles, 1);
    assert_eq!(first, second, "assignments are deterministic");
    let held = first
        .iter()
        .filter(|o| o.reason.as_deref() == Some("holdout"))
        .count();
    let sent = first.iter().filter(|o| o.status.sends()).count();
    assert!(
        held > 0 && (held as f64) < 0.08 * (held + sent) as f64,
        "held {held} of {}",
        held + sent
    );
    let arms: Vec<&str> = first
        .iter()
        .filter_map(|o| o.ab.as_ref())
        .map(|ab| ab.arm.as_str())
        .collect();
    let b = arms.iter().filter(|a| **a == "default-b").count();
    assert!(
        arms.len() > 300 && b > arms.len() / 3 && b < 2 * arms.len() / 3,
        "{b} of {}",
        arms.len()
    );
    for o in first.iter().filter(|o| o.ab.is_some()) {
        assert_eq!(
            o.subject.as_deref(),
            Some(o.ab.as_ref().unwrap().arm.as_str())
        );
        assert_eq!(
            o.preheader.as_deref(),
            Some("default"),
            "only the subject is split"
        );
    }
}
