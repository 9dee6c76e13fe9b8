//! Profile text that reaches headers, through a real Postfix and Python's
//! strict parser: a name that looks like an RFC 2047 encoded word shows as
//! that literal text (no injected Bcc, no fake alert), bidi overrides are
//! dropped, and a recipient address that is not ASCII goes out with
//! SMTPUTF8, or, to a relay without it, is refused with the reason.

use std::collections::HashMap;
use std::time::Duration;

use mailrules::journal::{Entry, Fate, RecipientEntry, read};
use mailrules_integration::postfix::{self, SmtpSink};
use mailrules_integration::root;

use crate::harness::send_campaign_command;

const INJECTION: &str = "=?utf-8?q?a=0D=0ABcc:_victim@example.org?=";
const FAKE_ALERT: &str = "=?utf-8?b?WU9VUiBBQ0NPVU5UIElTIFNVU1BFTkRFRA==?=";

/// The example campaign whose fallback subject carries the first name.
fn campaign(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(root().join("examples/campaign.toml")).unwrap();
    let from = "text = \"This Week's Picks for You\"";
    assert!(text.contains(from));
    let text = text.replace(
        from,
        "text = \"Hi {{ first_name | default('there') }}, this week's picks\"",
    );
    let path = dir.join("campaign.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn profiles(dir: &std::path::Path, domain: &str) -> std::path::PathBuf {
    let consent = serde_json::json!({ "email_marketing": true });
    let profiles = [
        serde_json::json!({ "id": "injection", "email": format!("injection@{domain}"),
            "first_name": INJECTION, "consent": consent }),
        serde_json::json!({ "id": "alert", "email": format!("alert@{domain}"),
            "first_name": FAKE_ALERT, "last_name": "Smith\u{202E}gnp.exe\u{202C}",
            "consent": consent }),
        serde_json::json!({ "id": "jose", "email": format!("josé@{domain}"),
            "first_name": "José", "consent": consent }),
    ];
    let path = dir.join("profiles.jsonl");
    mailrules_integration::write_jsonl(&path, &profiles);
    path
}

fn journal(path: &std::path::Path) -> HashMap<String, RecipientEntry> {
    let (entries, _, _) = read(path).unwrap();
    entries
        .into_iter()
        .filter_map(|e| match e {
            Entry::Recipient(r) => Some((r.profile_id.clone(), r)),
            Entry::Started { .. } => None,
        })
        .collect()
}

#[test]
fn header_text_from_profiles_shows_literally_and_utf8_addresses_use_smtputf8() {
    postfix::require();
    let dir = tempfile::tempdir().unwrap();
    let domain = postfix::unique_domain("headers");
    let journal_path = dir.path().join("journal");
    let output = send_campaign_command(
        &campaign(dir.path()),
        &profiles(dir.path(), &domain),
        &journal_path,
    )
    .args(["--relay", postfix::RELAY, "--fallback-only"])
    .output()
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(postfix::settle(&domain, 3, Duration::from_secs(60)), 3);
    let messages = postfix::messages(&domain);
    let by_id: HashMap<String, &serde_json::Value> = messages
        .iter()
        .map(|m| {
            assert!(m.get("error").is_none(), "strict parse failed: {m}");
            assert_eq!(m["defects"], serde_json::json!([]), "{m}");
            let names = m["header_names"].as_array().unwrap();
            assert!(!names.contains(&serde_json::json!("bcc")), "{m}");
            assert_eq!(m["to_addresses"].as_array().unwrap().len(), 1, "{m}");
            let to = m["to_addresses"][0].as_str().unwrap();
            (to.split('@').next().unwrap().to_string(), m)
        })
        .collect();

    let injection = by_id["injection"];
    assert_eq!(
        injection["subject"],
        format!("Hi {INJECTION}, this week's picks")
    );
    assert_eq!(injection["to_names"], serde_json::json!([INJECTION]));

    let alert = by_id["alert"];
    assert_eq!(
        alert["subject"],
        format!("Hi {FAKE_ALERT}, this week's picks")
    );
    // A long name takes two encoded words; Python keeps the folding
    // white space between them in a display name (RFC 2047 section 6.2 says
    // to drop it), so compare without white space.
    let name = alert["to_names"][0].as_str().unwrap();
    assert!(!name.contains("YOUR ACCOUNT"), "{name}");
    assert_eq!(
        name.split_whitespace().collect::<String>(),
        format!("{FAKE_ALERT}Smithgnp.exe")
    );

    let jose = by_id["josé"];
    assert_eq!(
        jose["to_addresses"],
        serde_json::json!([format!("josé@{domain}")])
    );
    assert_eq!(jose["to_names"], serde_json::json!(["José"]));
    assert_eq!(jose["subject"], "Hi José, this week's picks");

    let fates = journal(&journal_path);
    assert!(
        fates.values().all(|r| r.fate == Fate::Delivered),
        "{fates:?}"
    );
    postfix::remove(&domain);
}

#[test]
fn a_utf8_address_is_refused_per_recipient_by_a_relay_without_smtputf8() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(&[]);
    let journal_path = dir.path().join("journal");
    let output = send_campaign_command(
        &campaign(dir.path()),
        &profiles(dir.path(), "nowhere.test"),
        &journal_path,
    )
    .args(["--relay", &sink.url(), "--fallback-only", "--retries", "0"])
    .output()
    .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let fates = journal(&journal_path);
    assert_eq!(fates["injection"].fate, Fate::Delivered);
    assert_eq!(fates["alert"].fate, Fate::Delivered);
    assert_eq!(fates["jose"].fate, Fate::Failed);
    assert_eq!(
        fates["jose"].reply.as_deref(),
        Some(
            "recipient address `josé@nowhere.test` is not ASCII and the relay does not offer SMTPUTF8 (RFC 6531)"
        )
    );
}
