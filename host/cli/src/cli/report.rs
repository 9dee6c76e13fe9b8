//! `mailrules report`: totals of a campaign journal by fate, status,
//! segment and variant.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use mailrules::journal::report::JournalReport;
use mailrules::summary::section;
use std::io::Write;

/// Arguments of `mailrules report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The campaign journal written by `mailrules send`.
    #[arg(value_name = "JOURNAL")]
    journal: PathBuf,
}

/// Prints the totals.
pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let report = JournalReport::read(&args.journal)?;
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
