//! `native-eval`: what `mailrules eval` does, with the reference pack
//! compiled in instead of run in a sandbox. It reads the same profiles
//! (JSON Lines or MessagePack, with the host's reader) and the same
//! campaign, and prints the lines `mailrules eval` prints by default, byte
//! for byte (see `mailrules_bench::peers::native_lines`), on one thread.
//! The benchmarks' native denominator for the whole command.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use mailrules::profile_reader::{ProfileFormat, ProfileReader};
use mailrules::{Campaign, OperatorLimits, Status};
use mailrules_bench::peers::native_lines::NativeEval;

/// Runs the reference pack natively over every profile and prints one JSON
/// object per profile, as `mailrules eval --rules seed-segments.wasm` does
/// without `--explain`.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Exit status: 0 every profile was read and evaluated; \
2 unusable input (campaign, profile file); \
4 some records could not be read (their lines have status `error`)."
)]
struct Args {
    /// The campaign file (TOML).
    #[arg(long, value_name = "CAMPAIGN.toml")]
    campaign: PathBuf,
    /// Profiles: JSON Lines or MessagePack; `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    profiles: PathBuf,
    /// Profile format [default: from the extension, else jsonl].
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// The time the rule sees as `now` (RFC 3339) [default: the campaign's
    /// `now`, else the current time].
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// Only read and parse the profiles: no rule, no policy, no output (to
    /// measure what parsing costs).
    #[arg(long)]
    parse_only: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    /// One JSON object per line.
    Jsonl,
    /// A stream of MessagePack maps.
    Msgpack,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("native-eval: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let campaign = Campaign::load(&args.campaign)?;
    let now = match (args.now.as_deref(), campaign.now) {
        (Some(text), _) => {
            mailrules::profile::parse_time(text).map_err(|e| anyhow::anyhow!("--now: {e}"))?
        }
        (None, Some(now)) => now,
        (None, None) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs() as i64,
    };
    let format = args.format.map(|f| match f {
        FormatArg::Jsonl => ProfileFormat::JsonLines,
        FormatArg::Msgpack => ProfileFormat::MessagePack,
    });
    let mut reader = ProfileReader::open(&args.profiles, format)?;
    if args.parse_only {
        let parsed = reader.filter(|r| r.profile.is_ok()).count();
        std::hint::black_box(parsed);
        return Ok(ExitCode::SUCCESS);
    }
    let (limits, _) = OperatorLimits::default().resolve(&campaign.limits);
    let eval = NativeEval::new(&campaign, now, limits);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 << 10, stdout.lock());
    let mut unreadable = 0u64;
    let written = reader.try_for_each(|record| {
        if eval.write_line(&mut out, record)? == Status::Error {
            unreadable += 1;
        }
        Ok::<(), std::io::Error>(())
    });
    if let Err(error) = written.and_then(|()| out.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(error).context("writing results");
    }
    if unreadable > 0 {
        eprintln!("native-eval: {unreadable} input records could not be read (status `error`)");
        return Ok(ExitCode::from(4));
    }
    Ok(ExitCode::SUCCESS)
}
