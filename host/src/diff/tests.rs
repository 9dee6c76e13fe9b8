use super::tally::{Compared, Side, Tally};
use super::*;
use crate::counts::OTHER_KEY;
use crate::outcome::{Blocks, Outcome, Status};

fn sent(id: &str, segments: &[&str], subject: &str, hero: &str) -> Outcome {
    Outcome {
        segments: segments.iter().map(|s| s.to_string()).collect(),
        subject: Some(subject.into()),
        preheader: Some("p".into()),
        blocks: Some(Blocks(vec![
            ("hero".into(), hero.into()),
            ("footer".into(), "f1".into()),
        ])),
        reason: None,
        ..Outcome::without_message(id.into(), Status::Ok, String::new())
    }
}

fn fallback(id: &str) -> Outcome {
    Outcome {
        status: Status::Fallback,
        reason: Some("trap: unreachable".into()),
        segments: Vec::new(),
        ..sent(id, &[], "default", "h1")
    }
}

fn pair(active: Outcome, a_failure: Option<&'static str>, candidate: Outcome) -> Compared {
    let failure = (candidate.status == Status::Fallback).then_some("trap");
    Compared::Profile {
        active: Box::new(Side {
            outcome: active,
            failure: a_failure,
            fuel: Some(Some(1_000)),
        }),
        candidate: Box::new(Side {
            outcome: candidate,
            failure,
            fuel: Some(if failure.is_some() { None } else { Some(3_000) }),
        }),
    }
}

#[test]
fn counts_every_kind_of_change() {
    let mut tally = Tally::default();
    tally.record(pair(
        sent("same", &["vip", "active"], "vip", "h1"),
        None,
        sent("same", &["active", "vip"], "vip", "h1"),
    ));
    tally.record(pair(
        sent("moved", &["vip"], "vip", "h1"),
        None,
        sent("moved", &["lapsed"], "default", "h2"),
    ));
    tally.record(pair(
        sent("broke", &["vip"], "vip", "h1"),
        None,
        fallback("broke"),
    ));
    tally.record(pair(
        fallback("fixed"),
        Some("out-of-fuel"),
        sent("fixed", &["vip"], "default", "h1"),
    ));
    tally.record(Compared::Unreadable);
    let report = tally.report();

    assert_eq!(
        (
            report.profiles,
            report.changed,
            report.unchanged,
            report.unreadable
        ),
        (4, 3, 1, 1),
        "segment order alone is no change"
    );
    let status: Vec<_> = report
        .status
        .iter()
        .map(|c| (c.from, c.to, c.count))
        .collect();
    assert_eq!(
        status,
        vec![
            (Status::Ok, Status::Ok, 2),
            (Status::Ok, Status::Fallback, 1),
            (Status::Fallback, Status::Ok, 1)
        ]
    );
    let vip = report.segments.iter().find(|s| s.segment == "vip").unwrap();
    assert_eq!(
        (
            vip.active_members,
            vip.candidate_members,
            vip.gained,
            vip.lost
        ),
        (3, 2, 1, 2)
    );
    let lapsed = report
        .segments
        .iter()
        .find(|s| s.segment == "lapsed")
        .unwrap();
    assert_eq!((lapsed.gained, lapsed.lost), (1, 0));
    let subject: Vec<_> = report
        .subject
        .iter()
        .map(|c| (c.from.as_deref(), c.to.as_deref(), c.count))
        .collect();
    assert_eq!(
        subject,
        vec![(Some("vip"), Some("default"), 2)],
        "broke: vip → default (the fallback); moved: vip → default"
    );
    assert!(report.preheader.is_empty());
    let hero: Vec<_> = report.blocks["hero"]
        .iter()
        .map(|c| (c.from.as_deref(), c.to.as_deref(), c.count))
        .collect();
    assert_eq!(hero, vec![(Some("h1"), Some("h2"), 1)]);
    assert!(!report.blocks.contains_key("footer"));
    assert_eq!(report.new_failures.get("trap"), Some(&1));
    assert_eq!(report.fixed_failures.get("out-of-fuel"), Some(&1));
    assert_eq!(report.fuel.active.runs, 4);
    assert_eq!(report.fuel.active.p50, Some(1_000));
    assert_eq!(report.fuel.candidate.runs, 4);
    assert_eq!(report.fuel.candidate.unknown, 1);
    assert_eq!(report.fuel.candidate.max, Some(3_000));
    assert_eq!(report.examples["status ok → fallback"], vec!["broke"]);
    assert_eq!(report.examples["new failure trap"], vec!["broke"]);
    assert_eq!(report.examples["segment gained lapsed"], vec!["moved"]);
    assert_eq!(
        report.examples["subject vip → default"],
        vec!["moved", "broke"]
    );
    assert!(!report.examples.values().flatten().any(|id| id == "same"));

    let table = report.table();
    assert!(table.starts_with("profiles  4  changed 3  unchanged 1  unreadable 1\n"));
    assert!(table.contains("  ok → fallback"), "{table}");
    assert!(table.contains("new failures"), "{table}");
    assert!(table.contains("  status ok → fallback: broke\n"), "{table}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["status"][1]["to"], "fallback");
    assert_eq!(json["fuel"]["candidate"]["unknown"], 1);
}

#[test]
fn invented_ids_stay_within_the_bounds() {
    let mut tally = Tally::new(10);
    for i in 0..500 {
        let id = format!("r{i}");
        let invented = [format!("a-{i}"), format!("b-{i}")];
        let invented: Vec<&str> = invented.iter().map(String::as_str).collect();
        tally.record(pair(
            sent(&id, &["kept"], "s", "h1"),
            None,
            sent(&id, &invented, "s", "h1"),
        ));
    }
    let report = tally.report();
    assert_eq!(report.changed, 500);
    assert_eq!(report.segments.len(), 11, "10 ids, then (other)");
    let other = report.segments.last().unwrap();
    assert_eq!(other.segment, OTHER_KEY);
    // `kept` and 9 invented ids were admitted: a-0..a-4 and b-0..b-3.
    assert_eq!(other.gained, 1_000 - 9);
    let segment_kinds = report
        .examples
        .keys()
        .filter(|k| k.starts_with("segment "))
        .count();
    assert_eq!(segment_kinds, MAX_SEGMENT_EXAMPLE_KINDS);
    assert_eq!(report.examples["segment lost kept"].len(), MAX_EXAMPLES);
}

#[test]
fn long_ids_are_not_kept_as_examples() {
    let mut tally = Tally::default();
    let long = "x".repeat(MAX_EXAMPLE_ID_BYTES + 1);
    tally.record(pair(sent(&long, &[], "s", "h1"), None, fallback(&long)));
    let report = tally.report();
    assert_eq!(report.changed, 1);
    assert!(report.examples.is_empty());
}

#[test]
fn chunks_align_with_both_batch_sizes() {
    assert_eq!(chunk_len(1, 1), 64);
    assert_eq!(chunk_len(4, 6), 72);
    assert_eq!(chunk_len(100, 1), 100);
    assert_eq!(chunk_len(4093, 4091), 4093, "lcm too large: the larger");
}
