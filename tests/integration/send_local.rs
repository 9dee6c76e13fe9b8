//! `mailrules send` without a relay: into the Maildir (the embedded
//! default) or a directory of .eml files; reruns send nothing twice; a
//! repeated profile id gets one message.

use std::process::{Command, Output};

use mailrules_integration::{mailrules_bin, read_jsonl, root, write_jsonl};

use crate::harness::send_command;

fn send(dir: &std::path::Path, profiles: &std::path::Path, extra: &[&str]) -> Output {
    send_command(profiles, &dir.join("journal"))
        .args(extra)
        .current_dir(dir)
        .output()
        .expect("mailrules runs")
}

fn files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn the_maildir_gets_one_message_per_sendable_recipient_and_reruns_add_none() {
    let dir = tempfile::tempdir().unwrap();
    let mut profiles = read_jsonl(&root().join("examples/profiles.jsonl"));
    profiles.push(profiles[0].clone()); // a repeated profile id
    let path = dir.path().join("profiles.jsonl");
    write_jsonl(&path, &profiles);
    let first = send(dir.path(), &path, &[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(
        stderr.contains("1 records repeated an earlier profile id"),
        "{stderr}"
    );
    assert_eq!(files(&dir.path().join("maildir/new")), 20);
    let again = send(dir.path(), &path, &[]);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("25 already done"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(files(&dir.path().join("maildir/new")), 20);
    // The report reads the journal.
    let report = Command::new(mailrules_bin())
        .arg("report")
        .arg(dir.path().join("journal"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(
        text.contains("recipients  24") && text.contains("delivered"),
        "{text}"
    );
}

#[test]
fn eml_files_parse_as_mail() {
    let dir = tempfile::tempdir().unwrap();
    let output = send(
        dir.path(),
        &root().join("examples/profiles.jsonl"),
        &["--eml-dir", "eml"],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let eml = dir.path().join("eml");
    assert_eq!(files(&eml), 20);
    for entry in std::fs::read_dir(&eml).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8(bytes).expect("messages are 7-bit/UTF-8 text");
        assert!(text.contains("\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));
        assert!(!text.contains("\r\nBcc:"), "{text}");
    }
}

#[test]
fn with_rules_off_every_consenting_recipient_gets_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let path = root().join("examples/profiles.jsonl");
    let output = send(dir.path(), &path, &["--fallback-only"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (entries, _, _) = mailrules::journal::read(&dir.path().join("journal")).unwrap();
    let recipients: Vec<_> = entries
        .into_iter()
        .filter_map(|e| match e {
            mailrules::journal::Entry::Recipient(r) => Some(r),
            mailrules::journal::Entry::Started { .. } => None,
        })
        .collect();
    let consenting = read_jsonl(&path)
        .iter()
        .filter(|p| p["consent"]["email_marketing"] == true)
        .count();
    let sent: Vec<_> = recipients
        .iter()
        .filter(|r| r.status == "fallback")
        .collect();
    // No rule ran, so nobody was suppressed by it (the reference pack
    // suppresses some): every consenting recipient got the fallback.
    assert_eq!(sent.len(), consenting);
    for r in &sent {
        assert_eq!(r.subject.as_deref(), Some("default"));
        assert!(r.segments.is_empty());
        assert!(
            r.reason
                .as_deref()
                .unwrap_or_default()
                .starts_with("rules-off"),
            "{:?}",
            r.reason
        );
    }
    assert_eq!(files(&dir.path().join("maildir/new")), consenting);
}

#[test]
fn an_unreadable_record_costs_that_record_and_the_exit_status_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = std::fs::read_to_string(root().join("examples/profiles.jsonl")).unwrap();
    text.push_str("{\"email\":\n");
    text.push_str("not json\n");
    let path = dir.path().join("profiles.jsonl");
    std::fs::write(&path, text).unwrap();
    let output = send(dir.path(), &path, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("2 input records could not be read"),
        "{stderr}"
    );
    // Each is named with its line and reason, as `eval` does.
    let named = |line: &str| format!("mailrules: {}: {line}: ", path.display());
    assert!(stderr.contains(&named("line 25")), "{stderr}");
    assert!(stderr.contains(&named("line 26")), "{stderr}");
    // Everyone else was still sent.
    assert_eq!(files(&dir.path().join("maildir/new")), 20);
    // The report lists both (neither has a profile id), once each even
    // after a second run recorded them again.
    send(dir.path(), &path, &[]);
    let report = Command::new(mailrules_bin())
        .arg("report")
        .arg(dir.path().join("journal"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(text.contains("recipients  26"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().eq(["error", "2"])),
        "{text}"
    );
    let listed = text
        .split("unreadable input records\n")
        .nth(1)
        .unwrap_or_default();
    assert_eq!(
        listed.lines().map(|l| &l[..9]).collect::<Vec<_>>(),
        ["  line 25", "  line 26"],
        "{text}"
    );
}
