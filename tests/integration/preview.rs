//! `mailrules preview`: one recipient's decision and the very message
//! `send` would deliver to them.

use std::process::{Command, Output};

use mailrules_integration::{mailrules_bin, root, rule};

use crate::harness::send_command;

fn preview(profile: &str, extra: &[&str]) -> Output {
    Command::new(mailrules_bin())
        .args(["preview", "--no-cache", "--rules"])
        .arg(rule("seed-segments"))
        .args(["--campaign", "examples/campaign.toml"])
        .args(["--profiles", "examples/profiles.jsonl"])
        .args(["--profile", profile])
        .args(extra)
        .current_dir(root())
        .output()
        .expect("mailrules runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The message with its MIME boundary (random per rendering) replaced.
fn without_boundary(message: &str) -> String {
    let start = message.find("boundary=\"").expect("a multipart message") + 10;
    let len = message[start..].find('"').expect("a closing quote");
    message.replace(&message[start..start + len], "BOUNDARY")
}

fn header<'a>(message: &'a str, name: &str) -> &'a str {
    message
        .split("\r\n")
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no {name} header in\n{message}"))
}

#[test]
fn preview_shows_the_decision_and_the_message_send_delivers() {
    let output = preview("vip-carla", &[]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    // The decision first, as pretty JSON, then the message.
    let (decision, message) = stdout
        .split_once("}\n\n")
        .expect("decision, blank line, message");
    let decision: serde_json::Value = serde_json::from_str(&format!("{decision}}}")).unwrap();
    assert_eq!(decision["profile_id"], "vip-carla");
    assert_eq!(decision["status"], "ok");
    assert_eq!(decision["subject"], "vip");
    assert_eq!(decision["blocks"]["hero"], "hero-vip");
    assert!(
        decision["segments"]
            .as_array()
            .unwrap()
            .contains(&"high-value-loyal".into()),
        "{decision}"
    );
    assert!(
        message.contains("Subject: Exclusive Deals Just for You, Carla\r\n"),
        "{message}"
    );
    assert!(
        message.contains("To: \"Carla Rossi\" <vip-carla@example.com>\r\n"),
        "{message}"
    );

    // --eml writes the same message that `send` writes for this recipient.
    let dir = tempfile::tempdir().unwrap();
    let previewed = dir.path().join("carla.eml");
    let written = preview("vip-carla", &["--eml", previewed.to_str().unwrap()]);
    assert!(written.status.success(), "{}", text(&written.stderr));
    let previewed = std::fs::read_to_string(&previewed).unwrap();
    let sent_dir = dir.path().join("sent");
    let sent = send_command(
        &root().join("examples/profiles.jsonl"),
        &dir.path().join("journal"),
    )
    .arg("--eml-dir")
    .arg(&sent_dir)
    .output()
    .unwrap();
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    let message_id = header(&previewed, "Message-ID");
    let sent: Vec<String> = std::fs::read_dir(&sent_dir)
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .filter(|message| header(message, "Message-ID") == message_id)
        .collect();
    assert_eq!(sent.len(), 1, "send wrote one message with {message_id}");
    let sent = &sent[0];
    assert_eq!(without_boundary(&previewed), without_boundary(sent));
}

#[test]
fn a_recipient_without_consent_gets_a_decision_and_no_message() {
    let output = preview("no-consent-kim", &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let decision: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(decision["status"], "suppressed");
    assert_eq!(decision["reason"], "no-consent");
    assert!(
        text(&output.stderr).contains("no message: status suppressed"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn an_unknown_profile_id_is_an_error_naming_the_file() {
    let output = preview("nobody", &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("examples/profiles.jsonl: no profile with id `nobody`"),
        "{stderr}"
    );
}
