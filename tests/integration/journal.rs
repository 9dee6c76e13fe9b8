//! The journal against damage and misuse, through the real binary: one
//! corrupt byte in the middle stops `send` (and `mailrules journal repair`
//! keeps everything else), a second `send` on a journal in use is refused,
//! and a resume with another rule, campaign file or `now` is refused unless
//! allowed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mailrules_integration::{mailrules_bin, read_jsonl, root, rule, write_jsonl};

use crate::harness::send_command;

/// The example profiles in `dir/profiles.jsonl`.
fn example_profiles(dir: &Path) -> PathBuf {
    let path = dir.join("profiles.jsonl");
    write_jsonl(&path, &read_jsonl(&root().join("examples/profiles.jsonl")));
    path
}

/// `send` of the example into `dir/maildir`, journaling to `dir/journal`.
fn send(dir: &Path, extra: &[&str]) -> Output {
    send_command(&dir.join("profiles.jsonl"), &dir.join("journal"))
        .args(extra)
        .current_dir(dir)
        .output()
        .expect("mailrules runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_corrupt_byte_mid_journal_stops_send_and_repair_keeps_every_other_record() {
    let dir = tempfile::tempdir().unwrap();
    example_profiles(dir.path());
    let journal = dir.path().join("journal");
    let first = send(dir.path(), &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    // Damage the 12th recipient's record, in its profile id.
    let mut bytes = std::fs::read(&journal).unwrap();
    let key = b"profile_id";
    let at = bytes
        .windows(key.len())
        .enumerate()
        .filter(|(_, w)| w == key)
        .nth(11)
        .map(|(i, _)| i)
        .unwrap();
    bytes[at + key.len() + 2] ^= 0x20;
    std::fs::write(&journal, &bytes).unwrap();

    let again = send(dir.path(), &[]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    let message = stderr(&again);
    assert!(
        message.contains("record 13 at byte") && message.contains("is damaged"),
        "{message}"
    );
    assert!(message.contains("mailrules journal repair"), "{message}");
    assert_eq!(std::fs::read(&journal).unwrap(), bytes, "nothing was cut");

    let repair = Command::new(mailrules_bin())
        .args(["journal", "repair"])
        .arg(&journal)
        .output()
        .unwrap();
    assert!(repair.status.success(), "{}", stderr(&repair));
    let said = String::from_utf8_lossy(&repair.stdout);
    assert!(said.contains("kept 24 records"), "{said}");
    assert!(said.contains("1 damaged stretch"), "{said}");
    assert!(dir.path().join("journal.damaged").exists());
    assert!(dir.path().join("journal.before-repair").exists());

    // Only the recipient whose record was lost is handled again.
    let resumed = send(dir.path(), &[]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(
        stderr(&resumed).contains("1 recipients in")
            && stderr(&resumed).contains("23 already done"),
        "{}",
        stderr(&resumed)
    );
}

#[test]
fn a_second_send_on_a_journal_in_use_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = example_profiles(dir.path());
    let journal = dir.path().join("journal");
    // A relay that accepts connections and never answers: the first run
    // waits in its greeting.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let relay = format!("smtp://{}", silent.local_addr().unwrap());
    let mut first = send_command(&profiles, &journal)
        .args(["--relay", &relay, "--smtp-timeout", "60", "--retries", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::fs::metadata(&journal).map_or(0, |m| m.len()) == 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "no journal");
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = send_command(&profiles, &journal)
        .args(["--relay", &relay, "--smtp-timeout", "1", "--retries", "0"])
        .output()
        .unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("the journal is in use by another `mailrules send`"),
        "{}",
        stderr(&second)
    );
    // Once the first run is gone, the journal can be used again.
    let third = send_command(&profiles, &journal)
        .args(["--eml-dir"])
        .arg(dir.path().join("eml"))
        .output()
        .unwrap();
    assert!(third.status.success(), "{}", stderr(&third));
}

#[test]
fn a_resume_with_another_rule_campaign_file_or_now_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    example_profiles(dir.path());
    let first = send(dir.path(), &[]);
    assert!(first.status.success(), "{}", stderr(&first));

    let changed_now = send(dir.path(), &["--now", "2026-11-25T09:00:00Z"]);
    assert_eq!(
        changed_now.status.code(),
        Some(2),
        "{}",
        stderr(&changed_now)
    );
    assert!(
        stderr(&changed_now).contains("`now` (1795510800 in the journal, 1795597200 now)"),
        "{}",
        stderr(&changed_now)
    );

    let edited = dir.path().join("campaign.toml");
    let mut text = std::fs::read_to_string(root().join("examples/campaign.toml")).unwrap();
    text.push_str("\n# edited after the run started\n");
    std::fs::write(&edited, text).unwrap();
    let example = root().join("examples/campaign.toml");
    let send_with = |rules: &str, campaign: &Path, extra: &[&str]| {
        Command::new(mailrules_bin())
            .args(["send", "--no-cache", "--rules"])
            .arg(rule(rules))
            .arg("--campaign")
            .arg(campaign)
            .args(["--profiles", "profiles.jsonl", "--journal", "journal"])
            .args(extra)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let with_edited = |extra: &[&str]| send_with("seed-segments", &edited, extra);
    let refused = with_edited(&[]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("campaign file (SHA-256 "),
        "{}",
        stderr(&refused)
    );
    assert!(
        stderr(&refused).contains("--allow-changed"),
        "{}",
        stderr(&refused)
    );

    let other_rule = send_with("misbehaving", &example, &[]);
    assert_eq!(other_rule.status.code(), Some(2), "{}", stderr(&other_rule));
    assert!(
        stderr(&other_rule).contains("rule (SHA-256 "),
        "{}",
        stderr(&other_rule)
    );

    let allowed = with_edited(&["--allow-changed"]);
    assert!(allowed.status.success(), "{}", stderr(&allowed));
    assert!(
        stderr(&allowed).contains("24 already done"),
        "{}",
        stderr(&allowed)
    );
    // The journal now records the edited campaign: no flag needed any more.
    let again = with_edited(&[]);
    assert!(again.status.success(), "{}", stderr(&again));
}
