//! `mailrules tick`: runs the service's scheduler once, at a given time.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use mailrules_service::{Hosting, ServiceConfig};

use super::options::CeilingOptions;

/// Arguments of `mailrules tick`.
#[derive(Debug, Args)]
#[command(
    after_help = "Does, once, what `mailrules serve` does every minute: reconciles finished \
flow sends, turns new events and segment entries into flow runs, and sends every run due at \
--now (after exit events, frequency caps, send times and quiet hours), waiting for those sends \
to finish. Time is explicit, so cron jobs and tests drive the schedule without sleeping. \
Each (flow, customer, trigger) is sent at most once, however often this runs and wherever it \
is interrupted.\n\n\
The data directory must not be in use by a running `serve` (that one ticks on its own; \
the operator can also POST /v1/tick).\n\n\
Prints what the tick did as JSON on stdout. Exit status: 0 done; 3 done, but part of a \
tenant's tick failed (see `errors`); 2 could not run."
)]
pub struct TickArgs {
    /// The service's data directory.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// The time to run for (RFC 3339) [default: now].
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    #[command(flatten)]
    ceilings: CeilingOptions,
}

/// Runs one tick.
pub fn run(args: TickArgs) -> anyhow::Result<ExitCode> {
    let now = match &args.now {
        Some(text) => {
            mailrules::profile::parse_time(text).map_err(|e| anyhow::anyhow!("--now: {e}"))?
        }
        None => chrono::Utc::now().timestamp(),
    };
    if !args
        .data_dir
        .join(mailrules_service::store::DATABASE_FILE)
        .exists()
    {
        anyhow::bail!(
            "{}: no mailrules data directory here (no {})",
            args.data_dir.display(),
            mailrules_service::store::DATABASE_FILE
        );
    }
    let mut config = ServiceConfig::new(args.data_dir.clone());
    config.operator = args.ceilings.operator_limits();
    let hosting = Hosting::open(config).with_context(|| format!("{}", args.data_dir.display()))?;
    // Sends a previous run left unfinished resume first, so their runs are
    // reconciled by this tick.
    hosting.wait_for_sends();
    let report = hosting.tick(now).context("tick")?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}
