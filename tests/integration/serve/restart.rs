//! `kill -9` of the service in the middle of a send: the next start
//! resumes it, and every recipient gets the message.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use mailrules_integration::{generator, now};

use super::walkthrough::wait_for_send;
use super::{CAMPAIGN, Server};

#[test]
fn a_send_killed_mid_way_resumes_after_a_restart_with_nobody_lost() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let acme = server.tenant_with_rule("acme", "seed-segments");
    let mut profiles = Vec::new();
    generator::write_jsonl(&mut profiles, 3_000, 7, now()).unwrap();
    let started = server.call(
        "POST",
        &format!("/v1/tenants/acme/campaigns/{CAMPAIGN}/sends"),
        Some(&acme),
        Some(("application/x-ndjson", profiles.clone())),
    );
    assert_eq!(started.status, 202, "{}", started.text());
    let id = started.json()["id"].as_str().unwrap().to_string();

    // Kill it once some recipients are handled and before all are.
    let maildir = data.path().join("tenants/acme/maildir/new");
    let waiting = Instant::now();
    loop {
        let delivered = std::fs::read_dir(&maildir).map_or(0, |d| d.count());
        if delivered >= 200 {
            break;
        }
        assert!(waiting.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill();
    let before = std::fs::read_dir(&maildir).unwrap().count();

    let server = Server::start(data.path(), &[]);
    let send = wait_for_send(&server, "acme", &acme, &id);
    assert_eq!(send["state"], "done", "{send}");
    let report = &send["report"];
    assert_eq!(report["recipients"], 3_000, "{send}");
    let delivered = report["fates"]["delivered"].as_u64().unwrap();
    let suppressed = report["fates"]["suppressed"].as_u64().unwrap_or(0);
    assert_eq!(delivered + suppressed, 3_000, "{send}");
    assert!(
        send["summary"]["already_done"].as_u64().unwrap() > 0,
        "{send}"
    );
    assert!(before < 3_000, "the kill came too late to test anything");

    // Every delivered recipient has a message in the Maildir (the
    // Message-ID is made from the recipient's profile id).
    let mut recipients = BTreeSet::new();
    for entry in std::fs::read_dir(&maildir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .expect("a Message-ID header")
            .to_string();
        recipients.insert(id);
    }
    assert_eq!(recipients.len() as u64, delivered);
}
