//! A tenant configured with an SMTP relay: its sends go through the real
//! Postfix on loopback, not into a Maildir.

use mailrules_integration::{postfix, read_jsonl, root};

use super::walkthrough::wait_for_send;
use super::{CAMPAIGN, OPERATOR, Server};
use crate::harness::addressed_to;

#[test]
fn a_tenant_with_a_relay_sends_through_it() {
    postfix::require();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let created = server.call(
        "POST",
        "/v1/tenants",
        Some(OPERATOR),
        Some((
            "application/json",
            br#"{"id": "acme", "relay": "smtp://127.0.0.1:2525"}"#.to_vec(),
        )),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let acme = created.json()["token"].as_str().unwrap().to_string();
    server.ready_tenant("acme", &acme, "seed-segments");
    let domain = postfix::unique_domain("serve-relay");
    let dir = tempfile::tempdir().unwrap();
    let profiles = addressed_to(
        dir.path(),
        &domain,
        read_jsonl(&root().join("examples/profiles.jsonl")),
    );
    let started = server.call(
        "POST",
        &format!("/v1/tenants/acme/campaigns/{CAMPAIGN}/sends"),
        Some(&acme),
        Some(("application/x-ndjson", std::fs::read(&profiles).unwrap())),
    );
    assert_eq!(started.status, 202, "{}", started.text());
    let id = started.json()["id"].as_str().unwrap().to_string();
    let send = wait_for_send(&server, "acme", &acme, &id);
    assert_eq!(send["state"], "done", "{send}");
    let delivered = send["report"]["fates"]["delivered"].as_u64().unwrap();
    assert_eq!(delivered, 20, "{send}");
    let messages = postfix::messages(&domain);
    assert_eq!(messages.len() as u64, delivered);
    assert!(!data.path().join("tenants/acme/maildir").exists());
    postfix::remove(&domain);
}
