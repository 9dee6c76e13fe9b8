//! Nothing lost, nothing twice: `mailrules send` killed with SIGKILL in the
//! middle of a campaign and run again delivers every recipient through
//! Postfix exactly once, but for at most the documented in-flight window.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mailrules::journal::{Entry, Fate, SYNC_EVERY, read};
use mailrules_integration::{generator, now, postfix};

use crate::harness;

const CONNECTIONS: usize = 16;

fn send_command(
    profiles: &std::path::Path,
    journal: &std::path::Path,
    fsync_delay_ms: u64,
) -> Command {
    let mut command = harness::send_command(profiles, journal);
    command
        .env("MAILRULES_TEST_FSYNC_DELAY_MS", fsync_delay_ms.to_string())
        .args([
            "--relay",
            postfix::RELAY,
            "--connections",
            &CONNECTIONS.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

#[test]
fn a_killed_send_resumes_and_delivers_everyone_exactly_once() {
    kill_and_resume("crash", 0);
}

/// On a slow disk (every journal sync takes 200 ms more) deliveries outrun
/// the journal; the window still holds, because a delivery thread waits for
/// the journal to sync before it hands more messages to the relay.
#[test]
fn a_killed_send_on_a_slow_disk_sends_at_most_the_window_twice() {
    kill_and_resume("crash-slow-disk", 200);
}

/// Runs `send` through Postfix, kills it with SIGKILL after 200 messages
/// arrived, runs it again, and checks that every recipient arrived, at most
/// the in-flight window twice.
fn kill_and_resume(name: &str, fsync_delay_ms: u64) {
    postfix::require();
    let domain = postfix::unique_domain(name);
    let dir = tempfile::tempdir().unwrap();
    let profiles = generator::profiles(3_000, 77, now());
    let path = harness::addressed_to(dir.path(), &domain, profiles.clone());
    let journal = dir.path().join("journal");

    // Start, and kill -9 once a few hundred messages are through.
    let mut child = send_command(&path, &journal, fsync_delay_ms)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while postfix::count(&domain) < 200 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no progress before the kill"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (entries, _, _) = read(&journal).unwrap();
    let recorded_before = entries
        .iter()
        .filter(|e| matches!(e, Entry::Recipient(_)))
        .count();
    assert!(
        recorded_before < profiles.len(),
        "the kill came too late to test anything"
    );

    // Resume.
    let output = send_command(&path, &journal, fsync_delay_ms)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("resuming"));

    // Every recipient has a final fate; the delivered ones are in Postfix.
    let (entries, _, torn) = read(&journal).unwrap();
    assert_eq!(torn, 0);
    let mut fates: HashMap<String, (Fate, Option<String>)> = HashMap::new();
    for entry in entries {
        if let Entry::Recipient(r) = entry {
            fates.insert(r.profile_id, (r.fate, r.message_id));
        }
    }
    assert_eq!(
        fates.len(),
        profiles.len(),
        "every recipient is in the journal"
    );
    let delivered: Vec<&String> = fates
        .values()
        .filter(|(fate, _)| *fate == Fate::Delivered)
        .filter_map(|(_, id)| id.as_ref())
        .collect();
    assert!(
        fates
            .values()
            .all(|(fate, _)| matches!(fate, Fate::Delivered | Fate::Suppressed)),
        "nothing failed or deferred"
    );
    assert!(delivered.len() > 2_000, "{} delivered", delivered.len());

    postfix::settle(&domain, delivered.len(), Duration::from_secs(180));
    let mut received: HashMap<String, usize> = HashMap::new();
    for id in postfix::message_ids(&domain) {
        *received.entry(id).or_default() += 1;
    }
    for id in &delivered {
        assert!(
            received.contains_key(*id),
            "{id} was recorded as delivered but never arrived"
        );
    }
    assert_eq!(
        received.len(),
        delivered.len(),
        "messages arrived that the journal does not know"
    );
    let duplicates: usize = received.values().map(|n| n - 1).sum();
    let window = SYNC_EVERY + CONNECTIONS;
    postfix::remove(&domain);
    assert!(
        duplicates <= window,
        "{duplicates} duplicates, more than the in-flight window of {window}"
    );
    eprintln!(
        "fsync delay {fsync_delay_ms} ms: killed after {recorded_before} journal records; {duplicates} duplicates (window {window})"
    );
}
