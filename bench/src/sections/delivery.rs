//! End to end: `mailrules send` to Postfix's `smtp-sink` on loopback, next
//! to the same transport sending one pre-rendered message (the delivery
//! side's limit), the campaign with rules off, and external clients for
//! scale (Python's smtplib, Postfix's smtp-source).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mailrules::deliver::{SmtpRelay, Transport};
use mailrules::render::{RenderedMessage, Renderer};
use mailrules::{Evaluator, LoadedRule, OperatorLimits, RuleEngine, Status};
use mailrules_integration::postfix::SmtpSink;

use crate::child::run_measured;
use crate::fixture::Fixture;
use crate::measure::{best_of, count, ratio};
use crate::report::Table;

/// Relay connections, as `mailrules send` uses by default.
const CONNECTIONS: usize = 16;

/// The fixture's recipients that get a message, with their outcomes.
fn sendable(
    fixture: &Fixture,
) -> anyhow::Result<Vec<(Arc<mailrules::Profile>, mailrules::Outcome)>> {
    let engine = RuleEngine::new(OperatorLimits::default())?;
    let rule = LoadedRule::load(&engine, &fixture.rule_path, None)?;
    let (limits, _) = engine.operator_limits().resolve(&fixture.campaign.limits);
    let evaluator = Evaluator::new(
        &engine,
        &rule,
        fixture.campaign.clone(),
        limits.clone(),
        fixture.now,
    );
    Ok(fixture
        .profiles
        .iter()
        .map(|profile| {
            let evaluation = evaluator.evaluate(profile.clone());
            let outcome = mailrules::policy::outcome(
                profile.id.clone(),
                evaluation,
                &fixture.campaign,
                &limits,
            );
            (profile.clone(), outcome)
        })
        .filter(|(_, outcome)| outcome.status == Status::Ok)
        .collect())
}

/// Renders every sendable recipient's message on one thread, best of 3:
/// messages per second, and one of the messages.
fn rendering(fixture: &Fixture) -> anyhow::Result<(f64, RenderedMessage)> {
    let recipients = sendable(fixture)?;
    anyhow::ensure!(
        !recipients.is_empty(),
        "no generated profile gets a message"
    );
    let renderer = Renderer::new(&fixture.campaign, fixture.now, None)?;
    let mut failed = None;
    let best = best_of(3, || {
        for (profile, outcome) in &recipients {
            if let Err(e) = renderer.render_message(profile, outcome) {
                failed = Some(e);
            }
        }
    });
    if let Some(e) = failed {
        return Err(e.into());
    }
    let (profile, outcome) = &recipients[0];
    let sample = renderer.render_message(profile, outcome)?;
    Ok((recipients.len() as f64 / best.as_secs_f64(), sample))
}

/// Sends `message` to `recipients` addresses over `connections` threads
/// sharing one relay; the messages per second.
fn transport_only(
    url: &str,
    message: &RenderedMessage,
    recipients: usize,
    connections: usize,
) -> anyhow::Result<f64> {
    let relay = SmtpRelay::new(url, connections as u32, Duration::from_secs(30))
        .map_err(anyhow::Error::msg)?;
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..connections {
            scope.spawn(|| {
                let mut copy = message.clone();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= recipients {
                        break;
                    }
                    copy.envelope_to = format!("r{i}@example.com");
                    if relay.deliver(&copy).is_err() {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed();
    anyhow::ensure!(
        failed.load(Ordering::Relaxed) == 0,
        "{} deliveries failed",
        failed.load(Ordering::Relaxed)
    );
    Ok(recipients as f64 / elapsed.as_secs_f64())
}

/// Runs `mailrules send` and returns (messages delivered, seconds).
fn send(
    fixture: &Fixture,
    profiles: &Path,
    url: &str,
    journal: &Path,
    extra: &[&str],
) -> anyhow::Result<(u64, f64)> {
    let _ = std::fs::remove_file(journal);
    let stderr = journal.with_extension("log");
    let finished = run_measured(
        Command::new(Fixture::mailrules_bin())
            .arg("send")
            .arg("--rules")
            .arg(&fixture.rule_path)
            .arg("--campaign")
            .arg(&fixture.campaign_path)
            .arg("--profiles")
            .arg(profiles)
            .arg("--journal")
            .arg(journal)
            .args(["--relay", url])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr)?),
    )?;
    let log = std::fs::read_to_string(&stderr)?;
    anyhow::ensure!(finished.success, "mailrules send failed:\n{log}");
    let delivered = log
        .lines()
        .find_map(|l| l.trim().strip_prefix("delivered"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no delivered count in:\n{log}"))?;
    Ok((delivered, finished.elapsed.as_secs_f64()))
}

/// Python's smtplib over one connection: messages per second.
fn smtplib(port: u16, message: &Path, recipients: usize) -> anyhow::Result<f64> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/smtplib_client.py");
    let output = Command::new("python3")
        .arg(script)
        .args(["127.0.0.1", &port.to_string()])
        .arg(message)
        .arg(recipients.to_string())
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "smtplib client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seconds: f64 = String::from_utf8_lossy(&output.stdout).trim().parse()?;
    Ok(recipients as f64 / seconds)
}

/// Postfix's smtp-source with `sessions` parallel sessions: messages per
/// second.
fn smtp_source(port: u16, size: usize, recipients: usize, sessions: usize) -> anyhow::Result<f64> {
    let finished = run_measured(
        Command::new("/usr/sbin/smtp-source")
            .args(["-s", &sessions.to_string()])
            .args(["-m", &recipients.to_string()])
            .args(["-l", &size.to_string()])
            .args(["-f", "news@shop.example", "-t", "r@example.com"])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null()),
    )?;
    anyhow::ensure!(finished.success, "smtp-source failed");
    Ok(recipients as f64 / finished.elapsed.as_secs_f64())
}

/// Measures every delivery path against one `smtp-sink`.
pub fn run(fixture: &Fixture, recipients: usize, work: &Path) -> anyhow::Result<Table> {
    anyhow::ensure!(
        recipients >= 100,
        "--recipients {recipients}: the delivery section needs at least 100 to measure a rate"
    );
    std::fs::create_dir_all(work)?;
    let sink = SmtpSink::start(&[]);
    let url = sink.url();
    let (render_rate, message) = rendering(fixture)?;
    let message_file = work.join("sample.eml");
    std::fs::write(&message_file, &message.bytes)?;
    let size = message.bytes.len();

    let profiles = work.join(format!("send-{recipients}.jsonl"));
    if !profiles.is_file() {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&profiles)?);
        mailrules_integration::generator::write_jsonl(&mut out, recipients, 11, fixture.now)?;
    }
    let journal = work.join("send.journal");
    let (full_messages, full_seconds) = send(fixture, &profiles, &url, &journal, &[])?;
    let (off_messages, off_seconds) =
        send(fixture, &profiles, &url, &journal, &["--fallback-only"])?;
    let full = full_messages as f64 / full_seconds;
    let off = off_messages as f64 / off_seconds;
    let transport = transport_only(&url, &message, full_messages as usize, CONNECTIONS)?;
    let transport_one = transport_only(&url, &message, full_messages as usize / 4, 1)?;
    let python = smtplib(sink.port, &message_file, full_messages as usize / 4)?;
    let source_one = smtp_source(sink.port, size, full_messages as usize / 4, 1)?;
    let source_many = smtp_source(sink.port, size, full_messages as usize, CONNECTIONS)?;

    let rules_share = (full_seconds / full_messages as f64 - off_seconds / off_messages as f64)
        / (full_seconds / full_messages as f64);
    let mut table = Table::new(
        "5. Delivery end to end",
        &format!(
            "{} generated recipients through `mailrules send --relay` to Postfix's \
             `smtp-sink` on loopback ({} messages: the rest lack consent or are \
             suppressed), {CONNECTIONS} connections; timings of the whole process, \
             start-up, journal and fsyncs included. Transport-only sends one \
             pre-rendered message of {size} bytes with the same SMTP client. The \
             external clients send the same size. Rules account for {:.0}% of the \
             end-to-end time per message (with rules vs rules off).",
            count(recipients as f64),
            count(full_messages as f64),
            rules_share.max(0.0) * 100.0
        ),
        &["path", "messages/s", "× transport-only"],
    );
    let mut row = |name: &str, rate: f64| {
        table.row(vec![name.to_string(), count(rate), ratio(rate, transport)]);
    };
    row(
        "`mailrules send`: rules, rendering, journal, SMTP (full personalization)",
        full,
    );
    row(
        "`mailrules send --fallback-only`: rules off, fallback selections",
        off,
    );
    row(
        &format!("transport only: pre-rendered message, {CONNECTIONS} connections"),
        transport,
    );
    row(
        "transport only: pre-rendered message, 1 connection",
        transport_one,
    );
    row(
        "rendering only: templates, MIME, headers (1 thread, in process, no delivery)",
        render_rate,
    );
    row("Python smtplib, 1 connection", python);
    row("Postfix smtp-source, 1 session", source_one);
    row(
        &format!("Postfix smtp-source, {CONNECTIONS} sessions"),
        source_many,
    );
    Ok(table)
}
