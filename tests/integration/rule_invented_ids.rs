//! What a rule invents cannot grow the host without bound, nor pass for
//! the host's own notes.

use std::process::Command;

use mailrules::outcome::Status;
use mailrules_integration::{mailrules_bin, root, rule, write_jsonl};

use crate::harness::{evaluate, example_campaign, tagged};

/// Recipients whose every segment id and suppression code is new.
const RECIPIENTS: usize = 5_000;

fn inventing_profiles() -> Vec<serde_json::Value> {
    (0..RECIPIENTS)
        .map(|i| tagged(&format!("inventor-{i}"), "invent-ids"))
        .collect()
}

#[test]
fn eval_summary_keeps_a_bounded_number_of_invented_ids() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = dir.path().join("inventors.jsonl");
    write_jsonl(&profiles, &inventing_profiles());
    let output = Command::new(mailrules_bin())
        .current_dir(root())
        .args(["eval", "--no-cache", "--rules"])
        .arg(rule("misbehaving"))
        .args(["--campaign", "examples/campaign.toml", "--profiles"])
        .arg(&profiles)
        .output()
        .expect("mailrules runs");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().count(), RECIPIENTS, "every decision printed");
    let summary = String::from_utf8_lossy(&output.stderr);
    let rows = |title: &str| -> Vec<&str> {
        summary
            .lines()
            .skip_while(|line| !line.starts_with(title))
            .skip(1)
            .take_while(|line| line.starts_with("  "))
            .collect()
    };
    // 160,000 distinct segment ids and 5,000 codes: the first 1,000 of each
    // are kept, the rest counted together.
    let segments = rows("segment");
    assert_eq!(segments.len(), 1_001, "{}", &summary[..2000]);
    let other = segments.last().unwrap();
    assert!(other.trim_start().starts_with("(other)"), "{other}");
    assert!(
        other.ends_with(&format!("{}", RECIPIENTS * 32 - 1_000)),
        "{other}"
    );
    let reasons = rows("reason");
    assert_eq!(reasons.len(), 1_001);
    assert!(
        reasons
            .last()
            .unwrap()
            .ends_with(&format!("{}", RECIPIENTS - 1_000))
    );
    assert!(
        summary.lines().count() < 2_100,
        "{} lines",
        summary.lines().count()
    );
}

#[test]
fn report_keeps_a_bounded_number_of_invented_ids() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = dir.path().join("inventors.jsonl");
    write_jsonl(&profiles, &inventing_profiles());
    let journal = dir.path().join("inventors.journal");
    let sent = Command::new(mailrules_bin())
        .current_dir(root())
        .args(["send", "--no-cache", "--rules"])
        .arg(rule("misbehaving"))
        .args(["--campaign", "examples/campaign.toml", "--profiles"])
        .arg(&profiles)
        .arg("--journal")
        .arg(&journal)
        .arg("--maildir")
        .arg(dir.path().join("maildir"))
        .output()
        .expect("mailrules send runs");
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let report = Command::new(mailrules_bin())
        .arg("report")
        .arg(&journal)
        .output()
        .expect("mailrules report runs");
    assert!(report.status.success());
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(
        text.contains(&format!("recipients  {RECIPIENTS}")),
        "{text}"
    );
    assert!(
        text.contains("(other)"),
        "{}",
        &text[..2000.min(text.len())]
    );
    assert!(
        text.lines().count() < 2_100,
        "{} lines",
        text.lines().count()
    );
}

#[test]
fn a_rule_cannot_pass_for_the_host() {
    let outcomes = evaluate(
        &rule("misbehaving"),
        example_campaign(),
        &[
            tagged("consent", "impersonate"),
            tagged("note", "host-note"),
            tagged("fine", "fine"),
        ],
        1,
    );
    assert_eq!(outcomes[0].status, Status::Fallback);
    assert_eq!(
        outcomes[0].reason.as_deref(),
        Some("invalid-decision: suppression code `no-consent` is reserved for the host")
    );
    assert_eq!(outcomes[1].status, Status::Fallback);
    assert_eq!(
        outcomes[1].reason.as_deref(),
        Some("invalid-decision: reason `fallback-block:hero` is reserved for the host")
    );
    assert_eq!(outcomes[2].status, Status::Ok);
}
