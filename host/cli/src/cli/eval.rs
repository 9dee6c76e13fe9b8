//! `mailrules eval`: run a rule over every profile and print one JSON object
//! per profile, with a summary on stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use clap::{Args, ValueEnum};
use mailrules::campaign::Campaign;
use mailrules::evaluate::Evaluator;
use mailrules::outcome::Status;
use mailrules::profile_reader::{ProfileFormat, ProfileReader};
use mailrules::run::{Processed, run as run_all};
use mailrules::summary::Summary;

use super::EngineOptions;

/// Arguments of `mailrules eval`.
#[derive(Debug, Args)]
#[command(after_help = "Exit status: 0 every profile was read and evaluated; \
2 unusable input (campaign, rule, profile file); \
4 the run completed but some records could not be read (their lines have status `error`).")]
pub struct EvalArgs {
    /// The tenant's rule component (.wasm).
    #[arg(long, value_name = "RULE.wasm")]
    rules: PathBuf,
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
    /// Add `reasons`, `fuel` and the rule's `log` to every line.
    #[arg(long)]
    explain: bool,
    /// Evaluation threads [default: the number of CPUs].
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Batch mode: let one rule instance serve up to N consecutive
    /// recipients (fuel, deadline and log still reset per recipient; an
    /// instance that fails is discarded). Faster, but the rule's memory
    /// carries over between those recipients: use only for rules you trust
    /// to keep no state. 1 = a fresh sandbox per recipient.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=4096))]
    reuse: u64,
    /// Contract 0.2 rules: profiles per `decide-batch` call. Each recipient
    /// still gets the full fuel budget and deadline, a batch that fails is
    /// run again one recipient at a time in fresh sandboxes, and decisions
    /// never depend on N. 1 = a fresh sandbox per recipient. 0.1 rules
    /// ignore it (see `--reuse`).
    #[arg(long, value_name = "N", default_value_t = mailrules::evaluate::DEFAULT_BATCH, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=4096))]
    batch: usize,
    /// Print no summary on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
    #[command(flatten)]
    engine: EngineOptions,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum FormatArg {
    /// One JSON object per line.
    Jsonl,
    /// A stream of MessagePack maps.
    Msgpack,
}

impl FormatArg {
    /// The library's name for the format.
    pub(super) fn format(self) -> ProfileFormat {
        match self {
            FormatArg::Jsonl => ProfileFormat::JsonLines,
            FormatArg::Msgpack => ProfileFormat::MessagePack,
        }
    }
}

/// Evaluates every profile; exit code 0 when the run completed and every
/// record was readable, [`super::EXIT_UNREADABLE_RECORDS`] when it completed
/// but some records were not.
pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let campaign = Arc::new(Campaign::load(&args.campaign)?);
    let now = super::campaign_time(args.now.as_deref(), &campaign)?;
    let jobs = super::options::jobs(args.jobs);
    let (engine, rule) = args.engine.load(&args.rules, jobs)?;
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
    let format = args.format.map(FormatArg::format);
    let reader = ProfileReader::open(&args.profiles, format)?;
    let bytes_read = reader.bytes_read();
    let progress = super::progress_bar(&args.profiles);
    let evaluator = Evaluator::new(&engine, &rule, campaign, limits, now)
        .with_reuse(args.reuse)
        .with_batch(args.batch);

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 << 10, stdout.lock());
    let mut summary = Summary::default();
    let mut errors_shown = 0;
    let result = run_all(&evaluator, reader, jobs, |processed: Processed| {
        let Processed {
            mut outcome, cost, ..
        } = processed;
        summary.record(&outcome, cost);
        if outcome.status == Status::Error {
            errors_shown += 1;
            if errors_shown <= super::ERRORS_SHOWN {
                progress.suspend(|| {
                    eprintln!(
                        "mailrules: {}: {}",
                        args.profiles.display(),
                        outcome.reason.as_deref().unwrap_or("unreadable record")
                    )
                });
            }
        }
        if !args.explain {
            outcome.reasons = None;
            outcome.fuel = None;
            outcome.log = None;
        }
        serde_json::to_writer(&mut out, &outcome)?;
        out.write_all(b"\n")?;
        progress.set_position(bytes_read.load(Ordering::Relaxed));
        Ok::<(), std::io::Error>(())
    });
    progress.finish_and_clear();
    let flushed = result.and_then(|()| out.flush());
    if let Err(error) = flushed {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(error).context("writing results");
    }
    if errors_shown > super::ERRORS_SHOWN {
        eprintln!(
            "mailrules: … and {} more unreadable records",
            errors_shown - super::ERRORS_SHOWN
        );
    }
    if !args.quiet {
        eprint!("{}", summary.table());
    }
    if errors_shown > 0 {
        eprintln!(
            "mailrules: {errors_shown} input records could not be read (status `error`); every other profile was evaluated"
        );
        return Ok(ExitCode::from(super::EXIT_UNREADABLE_RECORDS));
    }
    Ok(ExitCode::SUCCESS)
}
