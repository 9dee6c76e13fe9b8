//! The real Postfix the mail-path tests send through: SMTP on
//! 127.0.0.1:2525, every `*.test` recipient delivered into one Maildir
//! (`scripts/postfix-loopback.sh` sets it up; `scripts/test.sh` runs it).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::root;

/// The relay URL.
pub const RELAY: &str = "smtp://127.0.0.1:2525";

/// Where Postfix delivers.
pub fn maildir() -> PathBuf {
    PathBuf::from("/var/mail/mailrules/catchall")
}

/// Fails the test with instructions when Postfix is not listening.
pub fn require() {
    if std::net::TcpStream::connect_timeout(
        &"127.0.0.1:2525".parse().unwrap(),
        Duration::from_secs(2),
    )
    .is_err()
    {
        panic!(
            "no Postfix on 127.0.0.1:2525: run scripts/postfix-loopback.sh as root (scripts/test.sh does)"
        );
    }
}

/// A recipient domain no other test run uses, so tests can share the
/// Maildir.
pub fn unique_domain(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{nanos}.test", std::process::id())
}

/// The messages delivered to `domain`, parsed by Python's strict email
/// parser (tests/tools/check_mail.py).
pub fn messages(domain: &str) -> Vec<serde_json::Value> {
    let output = std::process::Command::new("python3")
        .arg(root().join("tests/tools/check_mail.py"))
        .arg(maildir())
        .arg(domain)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "check_mail.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("check_mail.py prints JSON")
}

/// Counts files delivered to `domain` (cheap, for polling).
pub fn count(domain: &str) -> usize {
    let needle = format!("@{domain}").into_bytes();
    let mut n = 0;
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(maildir().join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(bytes) = std::fs::read(entry.path()) else {
                continue;
            };
            let head = &bytes[..bytes.len().min(4096)];
            if head
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(&needle))
            {
                n += 1;
            }
        }
    }
    n
}

/// Waits until at least `expected` messages for `domain` arrived and the
/// count stays put for a moment; returns the final count.
pub fn settle(domain: &str, expected: usize, timeout: Duration) -> usize {
    let started = Instant::now();
    let mut last = usize::MAX;
    let mut stable_since = Instant::now();
    loop {
        let now = count(domain);
        if now != last {
            last = now;
            stable_since = Instant::now();
        }
        if now >= expected && stable_since.elapsed() > Duration::from_millis(1500) {
            return now;
        }
        if started.elapsed() > timeout {
            return now;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
