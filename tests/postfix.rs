//! The real Postfix the mail-path tests send through: SMTP on
//! 127.0.0.1:2525, every `*.test` recipient delivered into one Maildir
//! (`scripts/postfix-loopback.sh` sets it up; `scripts/test.sh` runs it).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::root;

/// The relay URL.
pub const RELAY: &str = "smtp://127.0.0.1:2525";

/// The listener that requires STARTTLS and AUTH (same delivery).
pub const STARTTLS_AUTH_ADDRESS: &str = "127.0.0.1:2587";

/// The listener with implicit TLS that requires AUTH (same delivery).
pub const IMPLICIT_TLS_AUTH_ADDRESS: &str = "127.0.0.1:2465";

/// The test CA that signed those listeners' certificate (for 127.0.0.1).
pub const TEST_CA: &str = "/etc/postfix/mailrules-tls/ca.pem";

/// The SASL login those listeners accept: user and password.
pub const LOGIN: (&str, &str) = ("mailrules", "relay-secret");

/// Where Postfix delivers.
pub fn maildir() -> PathBuf {
    PathBuf::from("/var/mail/mailrules/catchall")
}

/// Fails the test with instructions when Postfix is not listening.
pub fn require() {
    for address in [
        "127.0.0.1:2525",
        STARTTLS_AUTH_ADDRESS,
        IMPLICIT_TLS_AUTH_ADDRESS,
    ] {
        if std::net::TcpStream::connect_timeout(&address.parse().unwrap(), Duration::from_secs(2))
            .is_err()
        {
            panic!(
                "no Postfix on {address}: run scripts/postfix-loopback.sh as root (scripts/test.sh does)"
            );
        }
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

/// The first 4 KiB of a file (where Postfix's Delivered-To and the message
/// headers are).
fn head(path: &std::path::Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut buffer = vec![0; 4096];
    let mut file = std::fs::File::open(path).ok()?;
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(_) => return None,
        }
    }
    buffer.truncate(filled);
    Some(buffer)
}

/// The files delivered to `domain`.
fn files(domain: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let needle = format!("@{domain}").to_ascii_lowercase().into_bytes();
    let mut found = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(maildir().join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let Some(head) = head(&entry.path()) else {
                continue;
            };
            if head
                .to_ascii_lowercase()
                .windows(needle.len())
                .any(|w| w == needle.as_slice())
            {
                found.push((entry.path(), head));
            }
        }
    }
    found
}

/// Deletes the messages delivered to `domain` (tests clean up after
/// themselves so the shared Maildir stays small).
pub fn remove(domain: &str) {
    for (path, _) in files(domain) {
        let _ = std::fs::remove_file(path);
    }
}

/// The first 4 KiB of every message delivered to `domain`, as text: the
/// headers Postfix added (Received, Delivered-To) and the message's own.
pub fn heads(domain: &str) -> Vec<String> {
    files(domain)
        .into_iter()
        .map(|(_, head)| String::from_utf8_lossy(&head).into_owned())
        .collect()
}

/// Counts files delivered to `domain` (cheap, for polling).
pub fn count(domain: &str) -> usize {
    files(domain).len()
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

/// The Message-ID of every message delivered to `domain` (duplicates kept).
pub fn message_ids(domain: &str) -> Vec<String> {
    files(domain)
        .into_iter()
        .filter_map(|(_, head)| {
            let text = String::from_utf8_lossy(&head).into_owned();
            text.lines()
                .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
                .map(|line| line["message-id:".len()..].trim().to_string())
        })
        .collect()
}

/// An `smtp-sink` on a free loopback port, killed on drop.
pub struct SmtpSink {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl SmtpSink {
    /// Starts `smtp-sink` with extra `flags` (see smtp-sink(1)) and waits
    /// until it accepts connections.
    pub fn start(flags: &[&str]) -> SmtpSink {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("/usr/sbin/smtp-sink")
            .args(["-u", "postfix"])
            .args(flags)
            .arg(format!("127.0.0.1:{port}"))
            .arg("100")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("smtp-sink (from the postfix package) runs");
        // From here on, dropping the sink kills and reaps the process.
        let sink = SmtpSink { child, port };
        for _ in 0..50 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return sink;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("smtp-sink did not start");
    }

    /// Its `smtp://` URL.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
