//! `mailrules report`: totals of a campaign journal by fate, status,
//! segment and variant; with `--kpis`, what the messages did.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use mailrules::campaign::Campaign;
use mailrules::feedback::kpis;
use mailrules::journal::report::JournalReport;
use mailrules::lifecycle::events::{CustomerEvent, parse_lines};
use mailrules::summary::section;
use std::io::Write;

/// Arguments of `mailrules report`.
#[derive(Debug, Args)]
#[command(
    after_help = "With --kpis: opens, clicks, conversions, revenue and unsubscribes per \
segment, subject and preheader variant and A/B arm, the A/B verdicts (two-proportion test at \
the campaign's [feedback] ab_confidence, after ab_min_sample delivered messages per arm) and the \
holdout's lift, from the campaign's journals (several sends of it: give them all) and the events \
file (one JSON event a line, as POST /v1/tenants/{t}/events takes: email_opened, email_clicked, \
unsubscribed, order_placed). The README defines every KPI."
)]
pub struct ReportArgs {
    /// The campaign journal written by `mailrules send` (with --kpis, one
    /// or more journals of the same campaign, oldest first).
    #[arg(value_name = "JOURNAL", required = true)]
    journals: Vec<PathBuf>,
    /// Report KPIs instead of journal totals (needs --campaign and
    /// --events).
    #[arg(long, requires_all = ["campaign", "events"])]
    kpis: bool,
    /// The campaign file (its [split], [holdout] and [feedback] settings).
    #[arg(long, value_name = "TOML")]
    campaign: Option<PathBuf>,
    /// Customer events, one JSON object a line.
    #[arg(long, value_name = "JSONL")]
    events: Option<PathBuf>,
    /// Print the KPIs as JSON (the API's form) instead of tables.
    #[arg(long, requires = "kpis")]
    json: bool,
}

/// Reads an events file; a bad line is an error naming it.
fn read_events(path: &Path) -> anyhow::Result<Vec<CustomerEvent>> {
    let body = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let parsed = parse_lines(&body, usize::MAX);
    if let Some(first) = parsed.rejected.first() {
        bail!(
            "{}:{}: {} ({} bad lines in all)",
            path.display(),
            first.line,
            first.reason,
            parsed.rejected_count
        );
    }
    Ok(parsed.events.into_iter().map(|(_, event)| event).collect())
}

/// Prints the KPIs of a campaign.
fn run_kpis(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let (Some(campaign), Some(events)) = (&args.campaign, &args.events) else {
        bail!("--kpis needs --campaign and --events");
    };
    let campaign = Campaign::load(campaign)?;
    let mut recipients = Vec::new();
    for path in &args.journals {
        let (entries, _, _) = mailrules::journal::read(path)
            .with_context(|| format!("{}: cannot read the journal", path.display()))?;
        if let Some(mailrules::journal::Entry::Started { campaign_id, .. }) = entries.first()
            && campaign_id != &campaign.id
        {
            bail!(
                "{}: the journal is of campaign `{campaign_id}`, not `{}`",
                path.display(),
                campaign.id
            );
        }
        recipients.extend(kpis::recipients_of_journal(&entries));
    }
    let report = kpis::compute(&campaign, &recipients, &read_events(events)?);
    let text = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        report.to_string()
    };
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Prints the totals.
pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    if args.kpis {
        return run_kpis(&args);
    }
    let [journal] = args.journals.as_slice() else {
        bail!("give one journal (several only with --kpis)");
    };
    let report = JournalReport::read(journal)?;
    let mut out = String::new();
    out.push_str(&format!(
        "campaign    {}\n",
        report.campaign.as_deref().unwrap_or("(no header)")
    ));
    out.push_str(&format!("recipients  {}\n", report.recipients));
    if report.torn_bytes > 0 {
        out.push_str(&format!(
            "torn bytes  {} (an interrupted write at the end; `send` cuts it when resuming)\n",
            report.torn_bytes
        ));
    }
    for (title, counts) in [("fate", &report.fates), ("status", &report.statuses)] {
        section(&mut out, title, counts.iter().map(|(k, v)| (k.clone(), *v)));
    }
    for (title, counts) in [
        ("segment", &report.segments),
        ("subject", &report.subjects),
        ("preheader", &report.preheaders),
        ("reason", &report.reasons),
    ] {
        section(&mut out, title, counts.rows());
    }
    if !report.unreadable.is_empty() {
        out.push_str("\nunreadable input records\n");
        for r in &report.unreadable {
            match &r.input {
                Some(input) if !r.reason.starts_with(input.as_str()) => {
                    out.push_str(&format!("  {input}: {}\n", r.reason));
                }
                _ => out.push_str(&format!("  {}\n", r.reason)),
            }
        }
        let listed = report.unreadable.len() as u64;
        if report.unreadable_total > listed {
            out.push_str(&format!(
                "  … and {} more\n",
                report.unreadable_total - listed
            ));
        }
    }
    match std::io::stdout().lock().write_all(out.as_bytes()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}
