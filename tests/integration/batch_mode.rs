//! Batch mode (`--reuse N`): one instance serves several recipients, with
//! the same decisions as fresh sandboxes and failures still contained.

use mailrules::outcome::Status;
use mailrules::profile_reader::ProfileFormat;
use mailrules_integration::{generator, now, rule};

use crate::harness::{evaluate_batched, example_campaign, jsonl, tagged};

#[test]
fn reused_instances_decide_exactly_like_fresh_ones() {
    let input = jsonl(&generator::profiles(1_500, 99, now()));
    let fresh = evaluate_batched(
        &rule("seed-segments"),
        example_campaign(),
        input.clone(),
        ProfileFormat::JsonLines,
        2,
        1,
    );
    let one_thread = evaluate_batched(
        &rule("seed-segments"),
        example_campaign(),
        input.clone(),
        ProfileFormat::JsonLines,
        1,
        16,
    );
    let two_threads = evaluate_batched(
        &rule("seed-segments"),
        example_campaign(),
        input,
        ProfileFormat::JsonLines,
        2,
        16,
    );
    let decisions = |outcomes: &[mailrules::Outcome]| {
        outcomes
            .iter()
            .map(|o| {
                (
                    o.status,
                    o.segments.clone(),
                    o.subject.clone(),
                    o.blocks.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(decisions(&fresh), decisions(&one_thread));
    // Fuel too: batches are cut by input position, not by thread.
    assert_eq!(one_thread, two_threads);
}

#[test]
fn a_trap_inside_a_batch_costs_only_its_recipient() {
    let mut profiles = Vec::new();
    for (i, tag) in [
        "fine", "panic", "fine", "loop", "fine", "alloc", "fine", "bad-id", "fine",
    ]
    .iter()
    .enumerate()
    {
        profiles.push(tagged(&format!("p{i}"), tag));
    }
    let outcomes = evaluate_batched(
        &rule("misbehaving"),
        example_campaign(),
        jsonl(&profiles),
        ProfileFormat::JsonLines,
        1,
        64,
    );
    let statuses: Vec<Status> = outcomes.iter().map(|o| o.status).collect();
    use Status::{Fallback, Ok};
    assert_eq!(
        statuses,
        vec![Ok, Fallback, Ok, Fallback, Ok, Fallback, Ok, Fallback, Ok]
    );
    for well in outcomes.iter().step_by(2) {
        assert_eq!(well.segments, vec!["well-behaved"]);
        assert!(
            well.fuel.unwrap() < 1_000_000,
            "fuel is reset per recipient: {:?}",
            well.fuel
        );
    }
}
