//! Relays that need TLS and a login, through the real Postfix listeners
//! `scripts/postfix-loopback.sh` sets up: STARTTLS + AUTH on 2587, implicit
//! TLS + AUTH on 2465, a certificate from a test CA. Postfix marks mail it
//! took over TLS from an authenticated client `with ESMTPSA`.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use mailrules_integration::postfix::{
    self, IMPLICIT_TLS_AUTH_ADDRESS, LOGIN, STARTTLS_AUTH_ADDRESS, TEST_CA,
};
use mailrules_integration::{read_jsonl, root};

use crate::harness::{addressed_to, send_command};

/// The example profiles that get a message.
const SENDABLE: usize = 20;

fn profiles(dir: &Path, domain: &str) -> std::path::PathBuf {
    addressed_to(
        dir,
        domain,
        read_jsonl(&root().join("examples/profiles.jsonl")),
    )
}

fn send(
    profiles: &Path,
    journal: &Path,
    relay: &str,
    extra: &[&str],
    password: Option<&str>,
) -> Output {
    let mut command = send_command(profiles, journal);
    command
        .args(["--relay", relay, "--retries", "0"])
        .args(extra);
    command.env_remove("MAILRULES_RELAY_PASSWORD");
    if let Some(password) = password {
        command.env("MAILRULES_RELAY_PASSWORD", password);
    }
    command.output().expect("mailrules runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Fates and replies recorded in the journal.
fn journal(path: &Path) -> Vec<(String, String)> {
    let (entries, _, _) = mailrules::journal::read(path).unwrap();
    entries
        .into_iter()
        .filter_map(|e| match e {
            mailrules::journal::Entry::Recipient(r) if r.message_id.is_some() => {
                Some((r.fate.as_str().to_owned(), r.reply.unwrap_or_default()))
            }
            _ => None,
        })
        .collect()
}

/// Waits for `domain`'s messages and checks each came over TLS from an
/// authenticated client.
fn assert_arrived_authenticated(domain: &str) {
    assert_eq!(
        postfix::settle(domain, SENDABLE, Duration::from_secs(60)),
        SENDABLE
    );
    for head in postfix::heads(domain) {
        assert!(head.contains(" with ESMTPSA id "), "{head}");
    }
    postfix::remove(domain);
}

#[test]
fn starttls_with_a_login_in_the_url_delivers_everyone() {
    postfix::require();
    let domain = postfix::unique_domain("starttls");
    let dir = tempfile::tempdir().unwrap();
    let (user, password) = LOGIN;
    let relay = format!("smtp://{user}:{password}@{STARTTLS_AUTH_ADDRESS}?tls=required");
    let output = send(
        &profiles(dir.path(), &domain),
        &dir.path().join("journal"),
        &relay,
        &["--relay-ca", TEST_CA],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        !stderr(&output).contains(password),
        "the password is not shown: {}",
        stderr(&output)
    );
    assert_arrived_authenticated(&domain);
}

#[test]
fn implicit_tls_with_the_password_from_the_environment_delivers_everyone() {
    postfix::require();
    let domain = postfix::unique_domain("smtps");
    let dir = tempfile::tempdir().unwrap();
    let relay = format!("smtps://{}@{IMPLICIT_TLS_AUTH_ADDRESS}", LOGIN.0);
    let output = send(
        &profiles(dir.path(), &domain),
        &dir.path().join("journal"),
        &relay,
        &["--relay-ca", TEST_CA],
        Some(LOGIN.1),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_arrived_authenticated(&domain);
}

#[test]
fn a_wrong_password_stops_sending_and_loses_no_one() {
    postfix::require();
    let domain = postfix::unique_domain("badlogin");
    let dir = tempfile::tempdir().unwrap();
    let path = profiles(dir.path(), &domain);
    let journal_path = dir.path().join("journal");
    let relay = format!("smtps://{}@{IMPLICIT_TLS_AUTH_ADDRESS}", LOGIN.0);
    let refused = send(
        &path,
        &journal_path,
        &relay,
        &["--relay-ca", TEST_CA],
        Some("not-the-password"),
    );
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("the relay refused the sender"),
        "{}",
        stderr(&refused)
    );
    let fates = journal(&journal_path);
    assert_eq!(fates.len(), SENDABLE);
    assert!(
        fates.iter().all(|(fate, _)| fate == "deferred"),
        "{fates:?}"
    );
    // At least one attempt got the server's answer; the rest were not tried.
    assert!(
        fates.iter().any(|(_, reply)| reply.contains("535")),
        "{fates:?}"
    );
    assert!(
        fates
            .iter()
            .filter(|(_, reply)| reply.starts_with("not attempted"))
            .count()
            >= SENDABLE - 16,
        "{fates:?}"
    );
    assert_eq!(postfix::count(&domain), 0);

    // With the right password the same command delivers every one of them.
    let fixed = send(
        &path,
        &journal_path,
        &relay,
        &["--relay-ca", TEST_CA],
        Some(LOGIN.1),
    );
    assert!(fixed.status.success(), "{}", stderr(&fixed));
    assert_arrived_authenticated(&domain);
}

#[test]
fn an_untrusted_certificate_defers_and_names_the_problem() {
    postfix::require();
    let domain = postfix::unique_domain("untrusted");
    let dir = tempfile::tempdir().unwrap();
    let journal_path = dir.path().join("journal");
    let (user, password) = LOGIN;
    let relay = format!("smtps://{user}:{password}@{IMPLICIT_TLS_AUTH_ADDRESS}");
    let output = send(
        &profiles(dir.path(), &domain),
        &journal_path,
        &relay,
        &[],
        None,
    );
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let fates = journal(&journal_path);
    assert!(
        fates.iter().all(|(fate, _)| fate == "deferred"),
        "{fates:?}"
    );
    assert!(
        fates
            .iter()
            .any(|(_, reply)| reply.to_lowercase().contains("certificate")
                || reply.contains("UnknownIssuer")),
        "{fates:?}"
    );
    assert_eq!(postfix::count(&domain), 0);
}

#[test]
fn a_ca_for_a_relay_without_tls_or_a_file_without_certificates_is_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let path = profiles(dir.path(), "unused.test");
    let plain = send(
        &path,
        &dir.path().join("j1"),
        "smtp://127.0.0.1:2525",
        &["--relay-ca", TEST_CA],
        None,
    );
    assert_eq!(plain.status.code(), Some(2));
    assert!(
        stderr(&plain).contains("does not use TLS"),
        "{}",
        stderr(&plain)
    );
    let not_pem = root().join("README.md");
    let garbage = send(
        &path,
        &dir.path().join("j2"),
        "smtps://127.0.0.1:2465",
        &["--relay-ca", not_pem.to_str().unwrap()],
        None,
    );
    assert_eq!(garbage.status.code(), Some(2));
    assert!(
        stderr(&garbage).contains("README.md: no PEM certificate"),
        "{}",
        stderr(&garbage)
    );
}
