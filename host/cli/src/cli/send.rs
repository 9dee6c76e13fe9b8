//! `mailrules send`: deliver the campaign, one personalized message per
//! recipient, to an SMTP relay or (by default) a local Maildir, recording
//! every fate in the journal so an interrupted run resumes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use mailrules::campaign::Campaign;
use mailrules::deliver::{EmlDirTransport, MaildirTransport, SmtpRelay, Transport};
use mailrules::evaluate::Evaluator;
use mailrules::feedback::suppressions::SuppressionList;
use mailrules::journal::{Entry, Fate, JournalWriter, RecipientEntry};
use mailrules::lifecycle::pacing::{CampaignPacer, Pacer};
use mailrules::profile_reader::ProfileReader;
use mailrules::render::Renderer;
use mailrules::run::Threads;
use mailrules::send::{DeliveryOptions, send};
use sha2::{Digest, Sha256};

use super::{EngineOptions, SendOptions, campaign_time};

/// Arguments of `mailrules send`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 the run completed (permanent 5xx failures are per recipient, in the journal); \
2 unusable input or options, or a journal that is damaged, in use by another run, or was started with another rule, campaign file or `now`; \
3 some recipients are deferred (a relay problem, or a template that fails for their data): run the same command again; \
4 none deferred, but some input records could not be read."
)]
pub struct SendArgs {
    /// The tenant's rule component (.wasm).
    #[arg(long, value_name = "RULE.wasm")]
    rules: PathBuf,
    /// The campaign file (TOML), with a [message] table.
    #[arg(long, value_name = "CAMPAIGN.toml")]
    campaign: PathBuf,
    /// Profiles: JSON Lines or MessagePack; `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    profiles: PathBuf,
    /// The time rules see as `now` (RFC 3339) [default: the campaign's].
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// SMTP relay URL: smtp://host:port (`?tls=required` for STARTTLS),
    /// smtps://host:465, with user:password@ for AUTH (or just user@, with
    /// the password in $MAILRULES_RELAY_PASSWORD, out of the process list).
    /// Without it (and without --eml-dir) messages go to the Maildir.
    #[arg(long, value_name = "URL", conflicts_with = "eml_dir")]
    relay: Option<String>,
    /// Also trust the certificate authorities in this PEM file for the
    /// relay's TLS certificate (a private relay with an internal CA); the
    /// built-in web roots stay trusted. Needs a TLS relay URL.
    #[arg(long, value_name = "CA.pem", requires = "relay")]
    relay_ca: Option<PathBuf>,
    /// The Maildir used when no relay is given.
    #[arg(long, value_name = "DIR", default_value = "maildir")]
    maildir: PathBuf,
    /// Write one .eml file per message into this directory instead.
    #[arg(long, value_name = "DIR")]
    eml_dir: Option<PathBuf>,
    /// The campaign journal [default: <campaign id>.journal]. Running again
    /// with the same journal resumes: recipients already recorded are not
    /// sent again (deferred ones are retried).
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
    /// Resume a journal that was started with another rule, campaign file
    /// or `now` (the differences are printed and a new journal header
    /// records this run's). Without it such a resume is refused (exit 2):
    /// it would mix two campaigns' decisions.
    #[arg(long)]
    allow_changed: bool,
    /// Delivery threads (relay connections in use at once).
    #[arg(long, value_name = "N", default_value_t = 16)]
    connections: usize,
    /// Extra attempts after a temporary failure (4xx, dropped connection, timeout).
    #[arg(long, value_name = "N", default_value_t = 3)]
    retries: u32,
    /// Wait before the first retry, in milliseconds; doubles after each.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    retry_delay_ms: u64,
    /// Stop trying after this many recipients in a row were deferred (relay
    /// down): the rest are recorded as deferred for a later run.
    #[arg(long, value_name = "N", default_value_t = 50)]
    give_up_after: usize,
    /// When the first N recipients of the run are all refused permanently
    /// with the same reply (`550 relay access denied`: the relay refuses
    /// everyone), stop: they and the rest are recorded as deferred, not
    /// failed. 0 turns this off.
    #[arg(long, value_name = "N", default_value_t = 20)]
    stop_after_same_refusals: usize,
    /// SMTP timeout per command, in seconds.
    #[arg(long, value_name = "S", default_value_t = 30)]
    smtp_timeout: u64,
    /// Evaluation threads [default: the number of CPUs].
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Batch mode for rule instances (see `eval --help`).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=4096))]
    reuse: u64,
    /// Contract 0.2 rules: profiles per call (see `eval --help`).
    #[arg(long, value_name = "N", default_value_t = mailrules::evaluate::DEFAULT_BATCH, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=4096))]
    batch: usize,
    /// Do not run the rule: every consenting recipient gets the campaign's
    /// fallback subject, preheader and blocks (journal reason `rules-off`).
    /// For sending when the rule cannot be trusted.
    #[arg(long)]
    fallback_only: bool,
    /// A journal of an earlier send to count against the campaign's
    /// [frequency] caps (repeat for several): every recipient it records as
    /// delivered counts as one message at that journal's `now`. A recipient
    /// a cap holds back is journaled `suppressed` with reason
    /// `frequency-cap` (or `deferred` until the cap lifts, with
    /// `on_cap = "postpone"` in [schedule]).
    #[arg(long, value_name = "JOURNAL")]
    history: Vec<PathBuf>,
    /// The time zone of recipients whose profile has no `timezone` (or an
    /// unknown one), for the campaign's [schedule]: send_at and quiet_hours
    /// are local times in each recipient's zone. An IANA name, e.g.
    /// Europe/Berlin.
    #[arg(long, value_name = "IANA", default_value = "UTC")]
    timezone: String,
    /// A suppression list: one customer id or email address a line (`#`
    /// comments; addresses match without regard to case). Everyone on it
    /// is suppressed before the rule runs, journal reason `unsubscribed`.
    #[arg(long, value_name = "FILE")]
    suppressions: Option<PathBuf>,
    #[command(flatten)]
    send: SendOptions,
    #[command(flatten)]
    engine: EngineOptions,
}

/// Sends the campaign and prints a summary.
pub fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    let campaign = Arc::new(Campaign::load(&args.campaign)?);
    let journal_path = args
        .journal
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.journal", campaign.id)));
    let now = match (&args.now, campaign.now, started_now(&journal_path)) {
        // A resumed run of a campaign without `now` keeps the first run's.
        (None, None, Some(now)) => now,
        _ => campaign_time(args.now.as_deref(), &campaign)?,
    };
    let renderer = Renderer::new(&campaign, now, args.send.dkim().as_ref())?;
    let jobs = super::options::jobs(args.jobs);
    let (engine, rule) = args.engine.load(&args.rules, jobs)?;
    let (limits, _) = engine.operator_limits().resolve(&campaign.limits);
    let transport: Box<dyn Transport> = match (&args.relay, &args.eml_dir) {
        (Some(url), _) => Box::new(relay(
            url,
            args.relay_ca.as_deref(),
            args.connections as u32,
            Duration::from_secs(args.smtp_timeout),
        )?),
        (None, Some(dir)) => Box::new(EmlDirTransport::create(dir.clone())?),
        (None, None) => Box::new(MaildirTransport::create(args.maildir.clone())?),
    };
    let campaign_bytes = std::fs::read(&args.campaign)
        .with_context(|| format!("{}: cannot read the campaign", args.campaign.display()))?;
    let header = Entry::Started {
        campaign_id: campaign.id.clone(),
        rule_sha256: rule.info.sha256.clone(),
        now,
        campaign_sha256: Some(hex::encode(Sha256::digest(&campaign_bytes))),
    };
    let (journal, history) = JournalWriter::open_with(&journal_path, header, args.allow_changed)?;
    for difference in &history.changed {
        eprintln!("mailrules: resuming with a different {difference} (--allow-changed)");
    }
    let journal = journal.with_sync_delay(test_fsync_delay()?);
    if history.truncated_bytes > 0 {
        eprintln!(
            "mailrules: {}: cut {} bytes of a record torn by a crash",
            journal_path.display(),
            history.truncated_bytes
        );
    }
    if !history.recipients.is_empty() {
        eprintln!(
            "mailrules: resuming: {} recipients already in {}",
            history.recipients.len(),
            journal_path.display()
        );
    }
    let pacer = pacer(&args, &campaign, now)?;
    let reader = ProfileReader::open(&args.profiles, None)?;
    let mut evaluator = Evaluator::new(&engine, &rule, campaign.clone(), limits, now)
        .with_reuse(args.reuse)
        .with_batch(args.batch);
    if let Some(path) = &args.suppressions {
        let list = SuppressionList::read(path)?;
        eprintln!(
            "mailrules: {} entries on the suppression list {}",
            list.len(),
            path.display()
        );
        evaluator = evaluator.with_suppressions(Arc::new(list));
    }
    if args.fallback_only {
        evaluator = evaluator.with_rules_off();
    }
    let options = DeliveryOptions {
        connections: args.connections,
        retries: args.retries,
        retry_delay: Duration::from_millis(args.retry_delay_ms),
        give_up_after: args.give_up_after,
        same_refusals_limit: args.stop_after_same_refusals,
    };
    let progress = super::progress_bar(&args.profiles);
    let bytes_read = reader.bytes_read();
    let handled = std::sync::atomic::AtomicU64::new(0);
    eprintln!(
        "mailrules: sending campaign `{}` via {}",
        campaign.id,
        transport.describe()
    );
    let unreadable = std::sync::atomic::AtomicU64::new(0);
    let on_recipient = |recipient: &RecipientEntry| {
        if recipient.fate == Fate::Error {
            let n = unreadable.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n <= super::ERRORS_SHOWN {
                progress.suspend(|| {
                    eprintln!(
                        "mailrules: {}: {}",
                        args.profiles.display(),
                        recipient.reason.as_deref().unwrap_or("unreadable record")
                    )
                });
            }
        }
        let n = handled.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        progress.set_position(bytes_read.load(std::sync::atomic::Ordering::Relaxed));
        if n.is_multiple_of(64) {
            progress.set_message(format!("{n} recipients"));
        }
    };
    let summary = send(
        &evaluator,
        &renderer,
        transport.as_ref(),
        journal,
        &history,
        reader,
        &Threads(jobs),
        &options,
        pacer.as_ref().map(|p| p as &dyn Pacer),
        &on_recipient,
    )?;
    progress.finish_and_clear();
    let unreadable = unreadable.into_inner();
    if unreadable > super::ERRORS_SHOWN {
        eprintln!(
            "mailrules: … and {} more unreadable records",
            unreadable - super::ERRORS_SHOWN
        );
    }
    let seconds = summary.elapsed.as_secs_f64();
    eprintln!(
        "mailrules: {} recipients in {:.1} s ({:.0}/s); {} already done before this run",
        summary.handled(),
        seconds,
        summary.handled() as f64 / seconds.max(1e-9),
        summary.already_done
    );
    if summary.duplicates > 0 {
        eprintln!(
            "mailrules: {} records repeated an earlier profile id and were not sent again",
            summary.duplicates
        );
    }
    for fate in [
        Fate::Delivered,
        Fate::Deferred,
        Fate::Failed,
        Fate::Suppressed,
        Fate::Skipped,
        Fate::Error,
    ] {
        eprintln!("  {:<10} {:>9}", fate.as_str(), summary.count(fate));
    }
    eprintln!("journal: {}", journal_path.display());
    if let Some(reply) = &summary.refused {
        eprintln!(
            "mailrules: the relay refused the sender, so sending stopped: {reply}\n  fix the relay's credentials (user:password@ in --relay or ${RELAY_PASSWORD_VARIABLE}) and run the same command again"
        );
    }
    if let Some(reply) = &summary.refused_everyone {
        eprintln!(
            "mailrules: the relay refused the first {} recipients with the same reply, so it is refusing everyone and sending stopped: {reply}\n  fix the relay (or, if those recipients really are all bad, pass --stop-after-same-refusals 0) and run the same command again",
            args.stop_after_same_refusals
        );
    }
    if let Some(error) = &summary.campaign_error {
        eprintln!(
            "mailrules: a template of the campaign fails for some recipients' data, so they are deferred (everyone else was sent): {error}\n  fix the campaign and run the same command again with --allow-changed (the journal records the campaign it started with)"
        );
    }
    if summary.held_back > 0 {
        eprintln!(
            "mailrules: {} recipients held back by the campaign's [frequency] caps or [schedule] (fate `suppressed`; the journal says which rule)",
            summary.held_back
        );
    }
    if let Some(due) = summary.next_due {
        let due = chrono::DateTime::from_timestamp(due, 0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_else(|| due.to_string());
        eprintln!(
            "mailrules: {} recipients postponed by the campaign's [schedule] (fate `deferred`; the journal says until when and why); the first is due at {due}: run again then with --now {due} --allow-changed",
            summary.postponed
        );
    }
    if summary.count(Fate::Deferred) > summary.postponed {
        eprintln!(
            "mailrules: {} recipients deferred: run the same command again to retry them",
            summary.count(Fate::Deferred) - summary.postponed
        );
    }
    if summary.count(Fate::Deferred) > 0 {
        return Ok(ExitCode::from(3));
    }
    if summary.count(Fate::Error) > 0 {
        eprintln!(
            "mailrules: {} input records could not be read (fate `error` in the journal); every other recipient was handled",
            summary.count(Fate::Error)
        );
        return Ok(ExitCode::from(super::EXIT_UNREADABLE_RECORDS));
    }
    Ok(ExitCode::SUCCESS)
}

/// The pacer for the campaign's [schedule] and [frequency], with the
/// sends recorded in the --history journals; none when the campaign has
/// neither table.
fn pacer(args: &SendArgs, campaign: &Campaign, now: i64) -> anyhow::Result<Option<CampaignPacer>> {
    let default_zone: mailrules::lifecycle::timing::Tz = args.timezone.parse().map_err(|_| {
        anyhow::anyhow!(
            "--timezone: `{}` is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)",
            args.timezone
        )
    })?;
    if campaign.schedule.is_empty() && campaign.frequency.is_empty() {
        if !args.history.is_empty() {
            eprintln!(
                "mailrules: --history has no effect: {} has no [frequency] caps",
                args.campaign.display()
            );
        }
        return Ok(None);
    }
    let mut history: std::collections::HashMap<String, Vec<i64>> = std::collections::HashMap::new();
    for path in &args.history {
        let sends = mailrules::journal::delivered(path)
            .with_context(|| format!("--history {}", path.display()))?;
        for (profile_id, at) in sends {
            history.entry(profile_id).or_default().push(at);
        }
    }
    Ok(Some(CampaignPacer {
        schedule: campaign.schedule.clone(),
        caps: campaign.frequency.clone(),
        history,
        default_zone,
        now,
    }))
}

/// The `now` of the journal's latest header, if the journal exists and
/// has one.
fn started_now(journal: &std::path::Path) -> Option<i64> {
    let (entries, _, _) = mailrules::journal::read(journal).ok()?;
    entries.into_iter().rev().find_map(|entry| match entry {
        Entry::Started { now, .. } => Some(now),
        Entry::Recipient(_) => None,
    })
}

/// Environment variable that slows every journal sync by this many
/// milliseconds, as a slow disk would. For tests of the crash window only.
const TEST_FSYNC_DELAY_VARIABLE: &str = "MAILRULES_TEST_FSYNC_DELAY_MS";

/// The journal sync delay tests ask for (zero unless set).
fn test_fsync_delay() -> anyhow::Result<Duration> {
    match std::env::var(TEST_FSYNC_DELAY_VARIABLE) {
        Ok(ms) => {
            let ms: u64 = ms
                .parse()
                .with_context(|| format!("${TEST_FSYNC_DELAY_VARIABLE}: `{ms}` is not a number"))?;
            Ok(Duration::from_millis(ms))
        }
        Err(_) => Ok(Duration::ZERO),
    }
}

/// Environment variable with the relay password, for a URL with a user
/// and no password.
const RELAY_PASSWORD_VARIABLE: &str = "MAILRULES_RELAY_PASSWORD";

/// The relay, with the password from the environment and the extra CA.
fn relay(
    url: &str,
    ca: Option<&std::path::Path>,
    connections: u32,
    timeout: Duration,
) -> anyhow::Result<SmtpRelay> {
    let url = with_password_from_environment(url, std::env::var(RELAY_PASSWORD_VARIABLE).ok())?;
    let relay = match ca {
        Some(path) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("{}: cannot read the CA certificate", path.display()))?;
            if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                bail!(
                    "{}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it",
                    path.display()
                );
            }
            SmtpRelay::with_trusted_ca(&url, connections, timeout, &pem)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => SmtpRelay::new(&url, connections, timeout).map_err(anyhow::Error::msg)?,
    };
    Ok(relay)
}

/// `url` with `password` filled in when it names a user but no password.
fn with_password_from_environment(url: &str, password: Option<String>) -> anyhow::Result<String> {
    let Some(password) = password else {
        return Ok(url.to_owned());
    };
    let mut parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("--relay: {e}"))?;
    if parsed.username().is_empty() || parsed.password().is_some() {
        return Ok(url.to_owned());
    }
    parsed
        .set_password(Some(&password))
        .map_err(|()| anyhow::anyhow!("--relay: this URL cannot carry a password"))?;
    Ok(parsed.into())
}

#[cfg(test)]
mod tests {
    use super::with_password_from_environment;

    #[test]
    fn the_environment_password_fills_a_url_with_a_user_only() {
        let filled = |url: &str, password: Option<&str>| {
            with_password_from_environment(url, password.map(str::to_owned)).unwrap()
        };
        assert_eq!(
            filled("smtp://bob@mx.example:587?tls=required", Some("p@ss:w/rd")),
            "smtp://bob:p%40ss%3Aw%2Frd@mx.example:587?tls=required"
        );
        // A password in the URL wins; no user, no password; no variable, no change.
        assert_eq!(
            filled("smtp://bob:mine@mx.example", Some("x")),
            "smtp://bob:mine@mx.example"
        );
        assert_eq!(
            filled("smtp://mx.example:25", Some("x")),
            "smtp://mx.example:25"
        );
        assert_eq!(
            filled("smtps://bob@mx.example", None),
            "smtps://bob@mx.example"
        );
    }
}
