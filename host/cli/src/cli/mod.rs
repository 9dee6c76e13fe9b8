//! Command-line parsing and the subcommands.

mod check;
mod diff;
mod eval;
mod journal;
mod options;
mod preview;
mod report;
mod send;
mod serve;
mod tick;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status of `eval` and `send` when the run completed but some input
/// records could not be read (each has status `error` with its line).
pub const EXIT_UNREADABLE_RECORDS: u8 = 4;

/// Input errors `eval` and `send` echo to stderr before the rest are only
/// counted.
pub const ERRORS_SHOWN: u64 = 10;

pub use options::{EngineOptions, SendOptions, campaign_time, progress_bar};

/// Runs tenants' email segmentation and personalization rules (WebAssembly
/// components) over customer profiles, each evaluation sandboxed and bounded.
#[derive(Debug, Parser)]
#[command(name = "mailrules", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a rule component: world version, imports, size, compile time.
    Check(check::CheckArgs),
    /// Evaluate a rule for every profile; one JSON object per profile on stdout.
    Eval(eval::EvalArgs),
    /// Compare a candidate rule with the active one on the same profiles:
    /// what would change for the recipients.
    Diff(diff::DiffArgs),
    /// Show one recipient's decision, its reasons and the rendered message.
    Preview(preview::PreviewArgs),
    /// Deliver the campaign (SMTP relay, Maildir or .eml files), resumable.
    Send(Box<send::SendArgs>),
    /// Totals of a campaign journal by fate, status, segment and variant;
    /// with --kpis, opens, clicks, conversions and A/B verdicts.
    Report(report::ReportArgs),
    /// Journal maintenance: `repair` a damaged journal.
    Journal(journal::JournalArgs),
    /// Run the multi-tenant rules service (HTTP API, SQLite under --data-dir).
    Serve(serve::ServeArgs),
    /// Run the service's scheduler once at a given time: flows, caps, send times.
    Tick(tick::TickArgs),
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Preview(args) => preview::run(args),
        Command::Send(args) => send::run(*args),
        Command::Report(args) => report::run(args),
        Command::Journal(args) => journal::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Tick(args) => tick::run(args),
    }
}
