//! The mail path through a real Postfix: every recipient's message arrives
//! once, standards-correct (Python's strict parser), personalized as
//! decided, with the list headers; hostile names make no header; recipients
//! without consent get nothing.

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::Duration;

use mailrules_integration::{postfix, read_jsonl, root};

use crate::harness::{addressed_to, send_command};

/// Headers a message may carry (Postfix adds the first five).
const ALLOWED_HEADERS: [&str; 17] = [
    "return-path",
    "x-original-to",
    "delivered-to",
    "received",
    "received",
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "reply-to",
    "feedback-id",
    "mime-version",
    "content-type",
    "dkim-signature",
];

fn send(
    profiles: &std::path::Path,
    journal: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    send_command(profiles, journal)
        .args(["--relay", postfix::RELAY])
        .args(extra)
        .output()
        .expect("mailrules runs")
}

#[test]
fn the_example_campaign_arrives_through_postfix_correct_and_personalized() {
    postfix::require();
    let domain = postfix::unique_domain("examples");
    let dir = tempfile::tempdir().unwrap();
    let path = addressed_to(
        dir.path(),
        &domain,
        read_jsonl(&root().join("examples/profiles.jsonl")),
    );
    let output = send(&path, &dir.path().join("journal"), &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let expected: Vec<serde_json::Value> =
        read_jsonl(&root().join("tests/expected/example-decisions.jsonl"));
    let sendable: HashMap<String, &serde_json::Value> = expected
        .iter()
        .filter(|e| e["status"] == "ok")
        .map(|e| (e["profile_id"].as_str().unwrap().to_string(), e))
        .collect();
    assert_eq!(
        postfix::settle(&domain, sendable.len(), Duration::from_secs(60)),
        sendable.len()
    );
    let messages = postfix::messages(&domain);
    assert_eq!(messages.len(), sendable.len());
    let mut seen = HashSet::new();
    for m in &messages {
        assert!(m.get("error").is_none(), "strict parse failed: {m}");
        assert_eq!(m["defects"], serde_json::json!([]), "{m}");
        let to = m["to_addresses"][0].as_str().unwrap();
        let id = to.split('@').next().unwrap();
        assert!(seen.insert(id.to_string()), "{id} received twice");
        let want = sendable
            .get(id)
            .unwrap_or_else(|| panic!("{id} should have received nothing"));
        let variant = want["subject"].as_str().unwrap();
        // Headers: only the expected ones, each once (no injected Bcc or X-Injected).
        for name in m["header_names"].as_array().unwrap() {
            assert!(
                ALLOWED_HEADERS.contains(&name.as_str().unwrap()),
                "{id}: unexpected header {name}"
            );
        }
        assert_eq!(m["list_unsubscribe_post"], "List-Unsubscribe=One-Click");
        let unsubscribe = m["list_unsubscribe"].as_str().unwrap();
        assert!(
            unsubscribe.contains(&format!(
                "<https://northwind.example/unsubscribe?c=autumn-picks-2026&r={id}>"
            )),
            "{unsubscribe}"
        );
        assert!(
            unsubscribe.contains(&format!("<mailto:unsubscribe+{id}@northwind.example>")),
            "{unsubscribe}"
        );
        assert_eq!(
            m["feedback_id"],
            format!("autumn-picks-2026:{variant}:northwind:mailrules")
        );
        assert!(
            m["message_id"]
                .as_str()
                .unwrap()
                .ends_with(".autumn-picks-2026@northwind.example>")
        );
        assert_eq!(m["content_type"], "multipart/alternative");
        let parts = m["parts"].as_array().unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (
                parts[0]["content_type"].as_str(),
                parts[1]["content_type"].as_str()
            ),
            (Some("text/plain"), Some("text/html"))
        );
        assert_eq!(parts[1]["charset"], "utf-8");
        let html = parts[1]["body"].as_str().unwrap();
        let text = parts[0]["body"].as_str().unwrap();
        // The chosen hero and recommendation blocks, and the hidden preheader.
        let rec = want["blocks"]["recommendations"]
            .as_str()
            .unwrap()
            .trim_start_matches("rec-");
        let rec_title = if rec == "bestsellers" {
            "Bestsellers".to_string()
        } else {
            format!("Top picks in {rec}")
        };
        assert!(
            html.contains(&format!("<h2>{rec_title}</h2>")),
            "{id}: {html}"
        );
        assert!(text.contains(&rec_title), "{id}: {text}");
        assert!(
            html.contains("<div style=\"display:none;"),
            "{id}: no hidden preheader"
        );
        let subject = m["subject"].as_str().unwrap();
        match variant {
            "vip" => assert_eq!(subject, "Exclusive Deals Just for You, Carla"),
            "welcome" => assert_eq!(subject, "Welcome! Discover Your Personalized Picks"),
            "cart-reminder" => {
                assert_eq!(subject, "Still Thinking It Over? Here's a Special Offer")
            }
            "thank-you" => assert_eq!(subject, "Thanks for Your Order! Here's What Goes With It"),
            _ => assert!(!subject.is_empty()),
        }
    }
    // The hostile profile: its name is in the To display name, harmlessly.
    let mallory = messages
        .iter()
        .find(|m| m["to"].as_str().unwrap().contains("hostile-mallory"))
        .unwrap();
    assert!(
        mallory["to"]
            .as_str()
            .unwrap()
            .contains("Mallory Bcc: victim@example.com"),
        "{}",
        mallory["to"]
    );
    assert_eq!(mallory["to_addresses"].as_array().unwrap().len(), 1);
    // Unicode names survive (RFC 2047) and decode back.
    let zoe = messages
        .iter()
        .find(|m| m["to"].as_str().unwrap().contains("attrs-unicode"))
        .unwrap();
    assert!(
        zoe["to"].as_str().unwrap().contains("Zoë Ångström"),
        "{}",
        zoe["to"]
    );
}

/// Runs openssl with `args`; its stdout.
fn openssl(args: &[&str]) -> Vec<u8> {
    let made = Command::new("openssl").args(args).output().unwrap();
    assert!(
        made.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    made.stdout
}

/// Sends the example campaign signed with the private key `key` (PEM) and
/// checks every message with dkimpy against `public` (the DNS record's
/// base64) of `key_type`; returns the `a=` of the signatures.
fn send_signed_and_verify(key: &[u8], public: &str, key_type: &str) -> String {
    postfix::require();
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("dkim.pem");
    std::fs::write(&key_path, key).unwrap();
    let public_path = dir.path().join("dkim.pub");
    std::fs::write(&public_path, public).unwrap();

    let domain = postfix::unique_domain("dkim");
    let path = addressed_to(
        dir.path(),
        &domain,
        read_jsonl(&root().join("examples/profiles.jsonl")),
    );
    let output = send(
        &path,
        &dir.path().join("journal"),
        &[
            "--dkim-key",
            key_path.to_str().unwrap(),
            "--dkim-selector",
            "s2026",
            "--dkim-domain",
            "northwind.example",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(postfix::settle(&domain, 20, Duration::from_secs(60)), 20);
    let verified = Command::new("python3")
        .arg(root().join("tests/tools/verify_dkim.py"))
        .arg(postfix::maildir())
        .args([domain.as_str(), "s2026", "northwind.example"])
        .arg(&public_path)
        .arg(key_type)
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let results: Vec<serde_json::Value> = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(results.len(), 20);
    for r in &results {
        assert_eq!(r["verified"], true, "{r}");
        let signed = r["signed_headers"].as_str().unwrap();
        assert!(
            signed.contains("list-unsubscribe:list-unsubscribe-post"),
            "{signed}"
        );
        assert_eq!(r["algorithm"], results[0]["algorithm"]);
    }
    postfix::remove(&domain);
    results[0]["algorithm"].as_str().unwrap().to_string()
}

/// The base64 of a PEM public key (what an RSA DNS record holds).
fn pem_body(pem: &[u8]) -> String {
    String::from_utf8(pem.to_vec())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect()
}

#[test]
fn dkim_signed_messages_verify_with_an_independent_verifier() {
    // PKCS#1 (`BEGIN RSA PRIVATE KEY`), as `openssl genrsa -traditional` writes.
    let key = openssl(&["genrsa", "-traditional", "2048"]);
    let public = openssl_with_input(&["rsa", "-pubout"], &key);
    assert_eq!(
        send_signed_and_verify(&key, &pem_body(&public), "rsa"),
        "rsa-sha256"
    );
}

#[test]
fn dkim_keys_in_openssl_3_default_pkcs8_format_sign_verifiable_mail() {
    // PKCS#8 RSA (`BEGIN PRIVATE KEY`): OpenSSL 3's default.
    let key = openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
    ]);
    assert!(String::from_utf8_lossy(&key).contains("BEGIN PRIVATE KEY"));
    let public = openssl_with_input(&["pkey", "-pubout"], &key);
    assert_eq!(
        send_signed_and_verify(&key, &pem_body(&public), "rsa"),
        "rsa-sha256"
    );
    // PKCS#8 Ed25519; the DNS record holds the raw 32-byte public key,
    // the last 32 bytes of its DER SubjectPublicKeyInfo.
    let key = openssl(&["genpkey", "-algorithm", "ed25519"]);
    let der = openssl_with_input(&["pkey", "-pubout", "-outform", "DER"], &key);
    assert_eq!(der.len(), 44);
    let raw = openssl_with_input(&["base64", "-A"], &der[12..]);
    assert_eq!(
        send_signed_and_verify(&key, String::from_utf8(raw).unwrap().trim(), "ed25519"),
        "ed25519-sha256"
    );
}

/// Runs openssl with `args` and `input` on stdin; its stdout.
fn openssl_with_input(args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
fn ten_thousand_generated_recipients_arrive_once_correct_and_personalized() {
    use mailrules_integration::{generator, now, oracle};
    postfix::require();
    let dir = tempfile::tempdir().unwrap();
    let domain = postfix::unique_domain("tenk");
    let profiles = generator::profiles(10_000, 2026, now());
    let path = addressed_to(dir.path(), &domain, profiles.clone());
    let output = send(&path, &dir.path().join("journal"), &["--connections", "16"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // What the specification says each recipient gets.
    let expected: HashMap<String, serde_json::Value> = profiles
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                oracle::expected(p, now()),
            )
        })
        .filter(|(_, e)| e["status"] == "ok")
        .collect();
    assert!(expected.len() > 8_000, "{} sendable", expected.len());
    assert_eq!(
        postfix::settle(&domain, expected.len(), Duration::from_secs(300)),
        expected.len()
    );

    let messages = postfix::messages(&domain);
    assert_eq!(messages.len(), expected.len());
    let mut seen = HashSet::new();
    for m in &messages {
        assert!(m.get("error").is_none(), "strict parse failed: {m}");
        assert_eq!(m["defects"], serde_json::json!([]), "{m}");
        let addresses = m["to_addresses"].as_array().unwrap();
        assert_eq!(addresses.len(), 1, "{m}");
        let id = addresses[0]
            .as_str()
            .unwrap()
            .split('@')
            .next()
            .unwrap()
            .to_string();
        let want = expected
            .get(&id)
            .unwrap_or_else(|| panic!("{id} should have received nothing"));
        assert!(seen.insert(id.clone()), "{id} received twice");
        for name in m["header_names"].as_array().unwrap() {
            assert!(
                ALLOWED_HEADERS.contains(&name.as_str().unwrap()),
                "{id}: unexpected header {name}"
            );
        }
        let variant = want["subject"].as_str().unwrap();
        assert_eq!(
            m["feedback_id"],
            format!("autumn-picks-2026:{variant}:northwind:mailrules"),
            "{id}"
        );
        let rec = want["blocks"]["recommendations"]
            .as_str()
            .unwrap()
            .trim_start_matches("rec-");
        let rec_title = if rec == "bestsellers" {
            "Bestsellers".to_string()
        } else {
            format!("Top picks in {rec}")
        };
        let html = m["parts"][1]["body"].as_str().unwrap();
        assert!(
            html.contains(&format!("<h2>{rec_title}</h2>")),
            "{id}: wrong recommendation block"
        );
    }
    postfix::remove(&domain);
}
