//! Relay faults, injected by Postfix's `smtp-sink`: temporary refusals are
//! retried and then deferred (and a later run delivers them), permanent ones
//! are recorded with the server's reply, a dropped connection is temporary,
//! and a dead relay stops the run quickly instead of retrying forever.

use std::collections::HashMap;
use std::process::Output;
use std::time::Duration;

use mailrules::journal::{Entry, Fate, RecipientEntry, read};
use mailrules_integration::postfix::SmtpSink as Sink;
use mailrules_integration::{postfix, read_jsonl, root};

use crate::harness::{addressed_to, send_command};

fn send(
    relay: &str,
    profiles: &std::path::Path,
    journal: &std::path::Path,
    extra: &[&str],
) -> Output {
    send_command(profiles, journal)
        .args(["--relay", relay, "--retries", "1", "--retry-delay-ms", "10"])
        .args(extra)
        .output()
        .expect("mailrules runs")
}

fn latest(journal: &std::path::Path) -> HashMap<String, RecipientEntry> {
    let (entries, _, _) = read(journal).unwrap();
    entries
        .into_iter()
        .filter_map(|e| match e {
            Entry::Recipient(r) => Some((r.profile_id.clone(), r)),
            Entry::Started { .. } => None,
        })
        .collect()
}

fn example_profiles(dir: &std::path::Path, domain: &str) -> std::path::PathBuf {
    addressed_to(
        dir,
        domain,
        read_jsonl(&root().join("examples/profiles.jsonl")),
    )
}

const SENDABLE: usize = 20;

#[test]
fn temporary_refusals_are_deferred_and_a_later_run_delivers_them() {
    postfix::require();
    let dir = tempfile::tempdir().unwrap();
    let domain = postfix::unique_domain("deferred");
    let profiles = example_profiles(dir.path(), &domain);
    let journal = dir.path().join("journal");
    let sink = Sink::start(&["-r", "rcpt"]);
    let output = send(&sink.url(), &profiles, &journal, &["--connections", "2"]);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let fates = latest(&journal);
    let deferred: Vec<&RecipientEntry> = fates
        .values()
        .filter(|r| r.fate == Fate::Deferred)
        .collect();
    assert_eq!(deferred.len(), SENDABLE);
    assert!(
        deferred
            .iter()
            .all(|r| r.reply.as_deref().unwrap_or_default().contains("4")),
        "{deferred:?}"
    );
    drop(sink);

    // The relay is back: the same command delivers exactly the deferred ones.
    let output = send(postfix::RELAY, &profiles, &journal, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        latest(&journal)
            .values()
            .filter(|r| r.fate == Fate::Delivered)
            .count()
            == SENDABLE
    );
    assert_eq!(
        postfix::settle(&domain, SENDABLE, Duration::from_secs(60)),
        SENDABLE
    );
    postfix::remove(&domain);
}

#[test]
fn permanent_refusals_are_failures_with_the_server_reply() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = example_profiles(dir.path(), "failed.test");
    let journal = dir.path().join("journal");
    let sink = Sink::start(&["-f", "rcpt"]);
    // Every recipient is refused alike: without the stop on refusals
    // alike, each is a failure of its own.
    let output = send(
        &sink.url(),
        &profiles,
        &journal,
        &["--stop-after-same-refusals", "0"],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let fates = latest(&journal);
    let failed: Vec<&RecipientEntry> = fates.values().filter(|r| r.fate == Fate::Failed).collect();
    assert_eq!(failed.len(), SENDABLE);
    for r in failed {
        let reply = r.reply.as_deref().unwrap_or_default();
        assert!(reply.contains("5"), "{reply}");
        assert!(r.message_id.is_some());
    }
    // A failure is final: running again sends nothing more.
    let again = send(
        &sink.url(),
        &profiles,
        &journal,
        &["--stop-after-same-refusals", "0"],
    );
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("0 recipients in"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn a_relay_refusing_the_first_recipients_alike_stops_and_defers_everyone() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = example_profiles(dir.path(), "refused-alike.test");
    let sink = Sink::start(&["-f", "rcpt"]);
    // By default the first 20 refusals alike stop the run: here that is
    // every sendable recipient, each deferred with the relay's reply.
    let journal = dir.path().join("journal");
    let output = send(&sink.url(), &profiles, &journal, &[]);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the relay refused the first 20 recipients with the same reply")
            && stderr.contains("500 5.3.0 Error: command failed"),
        "{stderr}"
    );
    let fates = latest(&journal);
    assert_eq!(fates.values().filter(|r| r.fate == Fate::Failed).count(), 0);
    let deferred: Vec<&RecipientEntry> = fates
        .values()
        .filter(|r| r.fate == Fate::Deferred)
        .collect();
    assert_eq!(deferred.len(), SENDABLE);
    assert!(
        deferred
            .iter()
            .all(|r| r.reply.as_deref() == Some("RCPT TO: 500 5.3.0 Error: command failed")),
        "{deferred:?}"
    );

    // With a lower limit and one connection: 5 refused, the other 15 not
    // attempted, all deferred.
    let journal = dir.path().join("journal-5");
    let output = send(
        &sink.url(),
        &profiles,
        &journal,
        &["--stop-after-same-refusals", "5", "--connections", "1"],
    );
    assert_eq!(output.status.code(), Some(3));
    let fates = latest(&journal);
    let replies = |prefix: &str| {
        fates
            .values()
            .filter(|r| r.fate == Fate::Deferred)
            .filter(|r| r.reply.as_deref().unwrap_or_default().starts_with(prefix))
            .count()
    };
    assert_eq!(replies("RCPT TO: 500 5.3.0"), 5);
    assert_eq!(
        replies(
            "not attempted: the relay refused the first 5 recipients alike: RCPT TO: 500 5.3.0"
        ),
        SENDABLE - 5
    );
}

#[test]
fn a_dropped_connection_is_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = example_profiles(dir.path(), "dropped.test");
    let journal = dir.path().join("journal");
    let sink = Sink::start(&["-q", "data"]);
    let output = send(&sink.url(), &profiles, &journal, &["--connections", "2"]);
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(
        latest(&journal)
            .values()
            .filter(|r| r.fate == Fate::Deferred)
            .count(),
        SENDABLE
    );
}

#[test]
fn a_dead_relay_stops_the_run_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = example_profiles(dir.path(), "dead.test");
    let journal = dir.path().join("journal");
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = std::time::Instant::now();
    let output = send(
        &format!("smtp://127.0.0.1:{port}"),
        &profiles,
        &journal,
        &["--connections", "1", "--give-up-after", "3"],
    );
    assert_eq!(output.status.code(), Some(3));
    let fates = latest(&journal);
    let not_attempted = fates
        .values()
        .filter(|r| {
            r.reply
                .as_deref()
                .unwrap_or_default()
                .starts_with("not attempted")
        })
        .count();
    assert_eq!(not_attempted, SENDABLE - 3, "{fates:?}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// A relay that answers every envelope with 421 and hangs up at once (its
/// thread is left waiting for connections when the test ends).
fn hanging_up_relay() -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        loop {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            let _ = writer.write_all(b"220 test ready\r\n");
            let _ = reader.read_line(&mut line); // EHLO
            let _ = writer.write_all(b"250-test\r\n250 PIPELINING\r\n");
            line.clear();
            let _ = reader.read_line(&mut line); // MAIL FROM
            let _ = writer.write_all(b"421 4.3.2 Service shutting down, closing\r\n");
            let _ = writer.shutdown(std::net::Shutdown::Both);
        }
    });
    url
}

#[test]
fn a_421_reply_before_the_relay_hangs_up_is_kept_in_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = example_profiles(dir.path(), "hung-up.test");
    let journal = dir.path().join("journal");
    let url = hanging_up_relay();
    let output = send(&url, &profiles, &journal, &["--connections", "1"]);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let fates = latest(&journal);
    let deferred: Vec<&RecipientEntry> = fates
        .values()
        .filter(|r| r.fate == Fate::Deferred)
        .collect();
    assert_eq!(deferred.len(), SENDABLE);
    assert!(
        deferred
            .iter()
            .all(|r| r.reply.as_deref()
                == Some("MAIL FROM: 421 4.3.2 Service shutting down, closing")),
        "{deferred:?}"
    );
}
