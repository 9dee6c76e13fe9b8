//! `mailrules diff`: run the active rule and a candidate rule on the same
//! profiles and report what would change if the candidate were shipped.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use clap::Args;
use mailrules::campaign::Campaign;
use mailrules::evaluate::Evaluator;
use mailrules::profile_reader::ProfileReader;
use mailrules::rule::LoadedRule;

use super::EngineOptions;
use super::eval::FormatArg;

/// Arguments of `mailrules diff`.
#[derive(Debug, Args)]
#[command(
    long_about = "Runs the active rule and a candidate rule (a new version) on the same \
profiles, for the same campaign, time and limits, and reports what would change for the \
recipients if the candidate replaced the active rule: status changes (ok → fallback …), \
segments gained and lost, subject, preheader and block changes, failures the candidate \
adds or fixes, the fuel each rule uses, and example profile ids for each kind of change \
(look at them with `mailrules preview`). Nothing is sent.",
    after_help = "Exit status: 0 the diff ran over every profile; \
2 unusable input (campaign, rules, profile file); \
4 the diff ran but some records could not be read (counted as `unreadable`, not compared)."
)]
pub struct DiffArgs {
    /// The active rule component (.wasm): what recipients get today.
    #[arg(long, value_name = "ACTIVE.wasm")]
    rules: PathBuf,
    /// The candidate rule component (.wasm): the version to try.
    #[arg(long, value_name = "CANDIDATE.wasm")]
    candidate: PathBuf,
    /// The campaign file (TOML).
    #[arg(long, value_name = "CAMPAIGN.toml")]
    campaign: PathBuf,
    /// Profiles: JSON Lines or MessagePack; `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    profiles: PathBuf,
    /// Profile format [default: from the extension, else jsonl].
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// The time rules see as `now` (RFC 3339) [default: the campaign's `now`,
    /// else the current time].
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// Evaluation threads [default: the number of CPUs].
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Print the report as one JSON object instead of text tables.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    engine: EngineOptions,
}

/// Runs the diff; exit code 0 when every record was readable,
/// [`super::EXIT_UNREADABLE_RECORDS`] when some were not.
pub fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let campaign = Arc::new(Campaign::load(&args.campaign)?);
    let now = super::campaign_time(args.now.as_deref(), &campaign)?;
    let jobs = super::options::jobs(args.jobs);
    let (engine, active) = args.engine.load(&args.rules, jobs)?;
    let candidate = LoadedRule::load(&engine, &args.candidate, args.engine.cache_dir().as_deref())
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.candidate.display()))?;
    let (limits, clamped) = engine.operator_limits().resolve(&campaign.limits);
    for c in clamped {
        eprintln!(
            "mailrules: {}: [limits] {} = {} is above the operator's maximum; using {}",
            args.campaign.display(),
            c.name,
            c.requested,
            c.granted
        );
    }
    let reader = ProfileReader::open(&args.profiles, args.format.map(FormatArg::format))?;
    let bytes_read = reader.bytes_read();
    let progress = super::progress_bar(&args.profiles);
    let active = Evaluator::new(&engine, &active, campaign.clone(), limits.clone(), now);
    let candidate = Evaluator::new(&engine, &candidate, campaign, limits, now);

    let mut shown = 0;
    let records = {
        let (progress, profiles) = (progress.clone(), args.profiles.display().to_string());
        reader.inspect(move |record| {
            if let Err(error) = &record.profile {
                shown += 1;
                if shown <= super::ERRORS_SHOWN {
                    progress.suspend(|| eprintln!("mailrules: {profiles}: {error}"));
                }
            }
            progress.set_position(bytes_read.load(Ordering::Relaxed));
        })
    };
    let report = mailrules::diff::run(&active, &candidate, records, jobs)?;
    progress.finish_and_clear();
    if report.unreadable > super::ERRORS_SHOWN {
        eprintln!(
            "mailrules: … and {} more unreadable records",
            report.unreadable - super::ERRORS_SHOWN
        );
    }

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = if args.json {
        serde_json::to_writer(&mut out, &report)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
    } else {
        out.write_all(report.table().as_bytes())
    };
    match written.and_then(|()| out.flush()) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.context("writing the report")?,
    }
    if report.unreadable > 0 {
        eprintln!(
            "mailrules: {} input records could not be read; every other profile was compared",
            report.unreadable
        );
        return Ok(ExitCode::from(super::EXIT_UNREADABLE_RECORDS));
    }
    Ok(ExitCode::SUCCESS)
}
