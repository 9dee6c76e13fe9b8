//! `mailrules preview`: one recipient's decision, its reasons and the
//! rendered message.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use mailrules::campaign::Campaign;
use mailrules::evaluate::Evaluator;
use mailrules::profile_reader::ProfileReader;
use mailrules::render::Renderer;

use super::{EngineOptions, SendOptions, campaign_time};

/// Arguments of `mailrules preview`.
#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// The tenant's rule component (.wasm).
    #[arg(long, value_name = "RULE.wasm")]
    rules: PathBuf,
    /// The campaign file (TOML), with a [message] table.
    #[arg(long, value_name = "CAMPAIGN.toml")]
    campaign: PathBuf,
    /// Profiles to look the recipient up in (JSONL or MessagePack).
    #[arg(long, value_name = "FILE")]
    profiles: PathBuf,
    /// The id of the profile to preview.
    #[arg(long, value_name = "ID")]
    profile: String,
    /// The time rules see as `now` (RFC 3339) [default: the campaign's].
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// Write the message to this .eml file instead of printing it.
    #[arg(long, value_name = "FILE")]
    eml: Option<PathBuf>,
    #[command(flatten)]
    send: SendOptions,
    #[command(flatten)]
    engine: EngineOptions,
}

/// Prints the decision and the message.
pub fn run(args: PreviewArgs) -> anyhow::Result<ExitCode> {
    let campaign = Arc::new(Campaign::load(&args.campaign)?);
    let now = campaign_time(args.now.as_deref(), &campaign)?;
    let renderer = Renderer::new(&campaign, now, args.send.dkim().as_ref())?;
    let record = ProfileReader::open(&args.profiles, None)?
        .find(|r| match &r.profile {
            Ok(p) => p.id == args.profile,
            Err(e) => e.profile_id.as_deref() == Some(args.profile.as_str()),
        })
        .with_context(|| {
            format!(
                "{}: no profile with id `{}`",
                args.profiles.display(),
                args.profile
            )
        })?;
    let position = record.position;
    let profile = match record.profile {
        Ok(profile) => profile,
        Err(error) => bail!("{}: {error}", args.profiles.display()),
    };
    let (engine, rule) = args.engine.load(&args.rules, 1)?;
    let (limits, _) = engine.operator_limits().resolve(&campaign.limits);
    let evaluator = Evaluator::new(&engine, &rule, campaign.clone(), limits, now);
    let processed = mailrules::run::process(
        &mut evaluator.session(),
        &evaluator,
        0,
        mailrules::profile_reader::ProfileRecord {
            position,
            profile: Ok(profile.clone()),
        },
    );
    println!("{}", serde_json::to_string_pretty(&processed.outcome)?);
    if !processed.outcome.status.sends() {
        eprintln!(
            "mailrules: no message: status {}",
            processed.outcome.status.as_str()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let message = renderer.render_message(&profile, &processed.outcome)?;
    match &args.eml {
        Some(path) => {
            std::fs::write(path, &message.bytes)
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "mailrules: wrote {} ({} bytes)",
                path.display(),
                message.bytes.len()
            );
        }
        None => {
            println!();
            print!("{}", String::from_utf8_lossy(&message.bytes));
        }
    }
    Ok(ExitCode::SUCCESS)
}
