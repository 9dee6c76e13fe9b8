//! The shadow diff: the active and a candidate rule on the same profiles,
//! through the library and the `mailrules diff` command.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use mailrules::counts::{MAX_DISTINCT_KEYS, OTHER_KEY};
use mailrules::diff::{DiffError, DiffReport, MAX_SEGMENT_EXAMPLE_KINDS};
use mailrules::engine::RuleEngine;
use mailrules::evaluate::Evaluator;
use mailrules::limits::OperatorLimits;
use mailrules::outcome::Status;
use mailrules::profile_reader::{ProfileFormat, ProfileReader};
use mailrules::rule::LoadedRule;
use mailrules_integration::{mailrules_bin, root, rule, write_jsonl};

use crate::harness::{example_campaign, jsonl};

/// Runs the diff of two guest rules over JSONL `input` with the example
/// campaign.
fn diff(active: &Path, candidate: &Path, input: Vec<u8>, jobs: usize) -> DiffReport {
    let engine = RuleEngine::new(OperatorLimits::default()).expect("engine");
    let campaign = Arc::new(example_campaign());
    let (limits, _) = engine.operator_limits().resolve(&campaign.limits);
    let now = campaign.now.expect("the example campaign sets now");
    let evaluator = |path: &Path| {
        let loaded = LoadedRule::load(&engine, path, None).expect("rule loads");
        Evaluator::new(&engine, &loaded, campaign.clone(), limits.clone(), now)
    };
    let reader = ProfileReader::new(std::io::Cursor::new(input), ProfileFormat::JsonLines);
    mailrules::diff::run(&evaluator(active), &evaluator(candidate), reader, jobs)
        .expect("same campaign, time and limits")
}

/// The first example profile (the reference pack sends it `welcome`, in
/// segments `new-subscriber` and `active`) with a new id and one tag, which
/// picks the misbehaving rule's behaviour.
fn anna(id: &str, tag: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("examples/profiles.jsonl")).unwrap();
    let mut profile: serde_json::Value =
        serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(profile["id"], "new-sub-anna");
    profile["id"] = id.into();
    profile["tags"] = serde_json::json!([tag]);
    profile
}

/// Eight profiles with known fates under the misbehaving rule: three
/// panics, two normal decisions, a rule error, a loop, and one recipient
/// without consent (never evaluated).
fn hand_made() -> Vec<serde_json::Value> {
    let mut quiet = anna("quiet", "panic");
    quiet["consent"]["email_marketing"] = false.into();
    vec![
        anna("panic-0", "panic"),
        anna("plain-0", "plain"),
        anna("panic-1", "panic"),
        anna("erring", "rule-error"),
        quiet,
        anna("looping", "loop"),
        anna("plain-1", "plain"),
        anna("panic-2", "panic"),
    ]
}

fn statuses(report: &DiffReport) -> Vec<(Status, Status, u64)> {
    report
        .status
        .iter()
        .map(|c| (c.from, c.to, c.count))
        .collect()
}

fn segments(report: &DiffReport) -> Vec<(&str, u64, u64, u64, u64)> {
    report
        .segments
        .iter()
        .map(|s| {
            (
                s.segment.as_str(),
                s.active_members,
                s.candidate_members,
                s.gained,
                s.lost,
            )
        })
        .collect()
}

fn changes(changes: &[mailrules::diff::VariantChange]) -> Vec<(&str, &str, u64)> {
    changes
        .iter()
        .map(|c| {
            (
                c.from.as_deref().unwrap_or("-"),
                c.to.as_deref().unwrap_or("-"),
                c.count,
            )
        })
        .collect()
}

#[test]
fn the_same_rule_twice_changes_nothing() {
    let input = std::fs::read(root().join("examples/profiles.jsonl")).unwrap();
    let rule = rule("seed-segments");
    let report = diff(&rule, &rule, input, 2);
    assert_eq!(
        (
            report.profiles,
            report.changed,
            report.unchanged,
            report.unreadable
        ),
        (24, 0, 24, 0)
    );
    assert_eq!(
        statuses(&report),
        vec![
            (Status::Ok, Status::Ok, 20),
            (Status::Suppressed, Status::Suppressed, 4)
        ]
    );
    assert_eq!(report.segments.len(), 11);
    for s in &report.segments {
        assert_eq!((s.gained, s.lost), (0, 0), "{s:?}");
        assert_eq!(s.active_members, s.candidate_members, "{s:?}");
    }
    let active = report.segments.iter().find(|s| s.segment == "active");
    assert_eq!(active.map(|s| s.active_members), Some(11));
    assert!(report.subject.is_empty() && report.preheader.is_empty());
    assert!(report.blocks.is_empty());
    assert!(report.new_failures.is_empty() && report.fixed_failures.is_empty());
    assert!(report.examples.is_empty());
    assert_eq!(
        report.fuel.active.runs, 22,
        "two recipients have no consent"
    );
    assert_eq!(report.fuel.active.unknown, 0);
    assert_eq!(
        report.fuel.active, report.fuel.candidate,
        "fuel is deterministic"
    );
}

#[test]
fn a_misbehaving_candidate_shows_every_change() {
    let report = diff(
        &rule("seed-segments"),
        &rule("misbehaving"),
        jsonl(&hand_made()),
        3,
    );
    assert_eq!(
        (report.profiles, report.changed, report.unchanged),
        (8, 7, 1)
    );
    assert_eq!(
        statuses(&report),
        vec![
            (Status::Ok, Status::Ok, 2),
            (Status::Ok, Status::Fallback, 5),
            (Status::Suppressed, Status::Suppressed, 1)
        ]
    );
    assert_eq!(
        segments(&report),
        vec![
            ("active", 7, 0, 0, 7),
            ("new-subscriber", 7, 0, 0, 7),
            ("well-behaved", 0, 2, 2, 0)
        ]
    );
    assert_eq!(changes(&report.subject), vec![("welcome", "default", 7)]);
    assert_eq!(changes(&report.preheader), vec![("welcome", "default", 7)]);
    assert_eq!(
        changes(&report.blocks["hero"]),
        vec![
            ("hero-welcome", "hero-cart-reminder", 2),
            ("hero-welcome", "hero-default", 5)
        ]
    );
    assert_eq!(
        changes(&report.blocks["recommendations"]),
        vec![
            ("rec-beauty", "rec-bestsellers", 5),
            ("rec-beauty", "rec-outdoor", 2)
        ]
    );
    let failures: Vec<_> = report
        .new_failures
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        failures,
        vec![("out-of-fuel", 1), ("rule-error", 1), ("trap", 3)]
    );
    assert!(report.fixed_failures.is_empty());
    assert_eq!(report.fuel.active.runs, 7);
    assert_eq!(report.fuel.candidate.runs, 7);
    assert_eq!(
        report.fuel.candidate.max,
        Some(10_000_000),
        "the loop used the campaign's whole budget"
    );
    assert_eq!(
        report.examples["new failure trap"],
        vec!["panic-0", "panic-1", "panic-2"]
    );
    assert_eq!(
        report.examples["status ok → fallback"],
        vec!["panic-0", "panic-1", "erring", "looping", "panic-2"]
    );
    assert_eq!(
        report.examples["segment gained well-behaved"],
        vec!["plain-0", "plain-1"]
    );
    assert!(!report.examples.values().flatten().any(|id| id == "quiet"));
    let table = report.table();
    assert!(table.contains("  ok → fallback"), "{table}");
    assert!(table.contains("  trap  "), "{table}");
}

#[test]
fn swapping_the_rules_mirrors_the_report() {
    let (seed, misbehaving) = (rule("seed-segments"), rule("misbehaving"));
    let forward = diff(&seed, &misbehaving, jsonl(&hand_made()), 2);
    let back = diff(&misbehaving, &seed, jsonl(&hand_made()), 2);
    assert_eq!(back.changed, forward.changed);
    assert_eq!(back.fixed_failures, forward.new_failures);
    assert!(back.new_failures.is_empty());
    let mut transposed: Vec<_> = statuses(&forward)
        .into_iter()
        .map(|(from, to, n)| (to, from, n))
        .collect();
    transposed.sort();
    assert_eq!(statuses(&back), transposed);
    let mirrored: Vec<_> = segments(&forward)
        .into_iter()
        .map(|(s, a, c, g, l)| (s, c, a, l, g))
        .collect();
    assert_eq!(segments(&back), mirrored);
    assert_eq!(back.fuel.active, forward.fuel.candidate);
}

#[test]
fn the_report_does_not_depend_on_the_thread_count() {
    let mut input = std::fs::read(root().join("examples/profiles.jsonl")).unwrap();
    for round in 0..20 {
        let profiles: Vec<_> = hand_made()
            .into_iter()
            .map(|mut p| {
                p["id"] = format!("{}-{round}", p["id"].as_str().unwrap()).into();
                p
            })
            .collect();
        input.extend(jsonl(&profiles));
    }
    let (seed, misbehaving) = (rule("seed-segments"), rule("misbehaving"));
    let one = diff(&seed, &misbehaving, input.clone(), 1);
    let four = diff(&seed, &misbehaving, input, 4);
    assert_eq!(one.profiles, 24 + 160);
    assert_eq!(one.new_failures["trap"], 60);
    assert_eq!(one, four);
}

#[test]
fn evaluators_of_different_campaigns_are_refused() {
    let engine = RuleEngine::new(OperatorLimits::default()).expect("engine");
    let loaded = LoadedRule::load(&engine, &rule("seed-segments"), None).unwrap();
    let campaign = example_campaign();
    let (limits, _) = engine.operator_limits().resolve(&campaign.limits);
    let now = campaign.now.unwrap();
    let mut other = campaign.clone();
    other.id = "another".into();
    let a = Evaluator::new(&engine, &loaded, Arc::new(campaign), limits.clone(), now);
    let b = Evaluator::new(&engine, &loaded, Arc::new(other), limits.clone(), now);
    let error = mailrules::diff::run(&a, &b, std::iter::empty(), 1).unwrap_err();
    assert!(matches!(error, DiffError::Mismatch { what: "campaign" }));
    let later = Evaluator::new(&engine, &loaded, a.campaign().clone(), limits, now + 1);
    let error = mailrules::diff::run(&a, &later, std::iter::empty(), 1).unwrap_err();
    assert!(matches!(error, DiffError::Mismatch { what: "now" }));
}

/// Recipients for whom the candidate invents 32 new segment ids each.
const INVENTORS: usize = 160;

#[test]
fn invented_segment_ids_keep_the_report_bounded() {
    let profiles: Vec<_> = (0..INVENTORS)
        .map(|i| anna(&format!("inventor-{i}"), "invent-ids"))
        .collect();
    let report = diff(
        &rule("seed-segments"),
        &rule("misbehaving"),
        jsonl(&profiles),
        2,
    );
    let invented = (INVENTORS * 32) as u64;
    assert!(invented > 5_000);
    assert_eq!(
        statuses(&report),
        vec![(Status::Ok, Status::Suppressed, INVENTORS as u64)]
    );
    assert_eq!(report.segments.len(), MAX_DISTINCT_KEYS + 1);
    let other = report.segments.last().unwrap();
    assert_eq!(other.segment, OTHER_KEY);
    // `active` and `new-subscriber` come first, then 998 invented ids.
    assert_eq!(other.gained, invented - (MAX_DISTINCT_KEYS as u64 - 2));
    assert_eq!(other.candidate_members, other.gained);
    let gained: u64 = report.segments.iter().map(|s| s.gained).sum();
    assert_eq!(gained, invented);
    let segment_kinds = report
        .examples
        .keys()
        .filter(|k| k.starts_with("segment "))
        .count();
    assert_eq!(segment_kinds, MAX_SEGMENT_EXAMPLE_KINDS);
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.len() < 150_000, "{} bytes", json.len());
}

fn diff_command(candidate: &str, profiles: &Path) -> Command {
    let mut command = Command::new(mailrules_bin());
    command
        .current_dir(root())
        .args(["diff", "--no-cache", "--rules"])
        .arg(rule("seed-segments"))
        .arg("--candidate")
        .arg(rule(candidate))
        .args(["--campaign", "examples/campaign.toml", "--profiles"])
        .arg(profiles);
    command
}

#[test]
fn the_command_prints_the_json_report_and_exits_4_on_unreadable_records() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = dir.path().join("profiles.jsonl");
    let mut values = hand_made();
    values.insert(2, serde_json::json!({"id": "broken", "email": "nope"}));
    write_jsonl(&profiles, &values);
    let output = diff_command("misbehaving", &profiles)
        .args(["--json", "--jobs", "2"])
        .output()
        .expect("mailrules runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("line 3"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(report["profiles"], 8);
    assert_eq!(report["unreadable"], 1);
    assert_eq!(report["changed"], 7);
    assert_eq!(report["new_failures"]["trap"], 3);
    assert_eq!(
        report["status"][1],
        serde_json::json!({"from": "ok", "to": "fallback", "count": 5})
    );
    assert_eq!(
        report["examples"]["new failure trap"],
        serde_json::json!(["panic-0", "panic-1", "panic-2"])
    );
}

#[test]
fn the_command_prints_text_by_default_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = dir.path().join("profiles.jsonl");
    write_jsonl(&profiles, &hand_made());
    let output = diff_command("misbehaving", &profiles)
        .output()
        .expect("mailrules runs");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.starts_with("profiles  8  changed 7  unchanged 1  unreadable 0\n"),
        "{text}"
    );
    assert!(
        text.contains("  new failure trap: panic-0 panic-1 panic-2\n"),
        "{text}"
    );

    let missing = diff_command("misbehaving", &dir.path().join("absent.jsonl"))
        .output()
        .expect("mailrules runs");
    assert_eq!(missing.status.code(), Some(2));
}
