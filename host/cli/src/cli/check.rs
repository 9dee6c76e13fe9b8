//! `mailrules check`: load a rule the way `eval` would and describe it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::EngineOptions;

/// Arguments of `mailrules check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The rule component (.wasm).
    #[arg(value_name = "RULE.wasm")]
    rule: PathBuf,
    /// Also measure the fuel the rule uses for this campaign on the largest
    /// and the smallest profile the host accepts.
    #[arg(long, value_name = "CAMPAIGN.toml")]
    campaign: Option<PathBuf>,
    /// The time rules see as `now` (RFC 3339) with `--campaign` [default:
    /// the campaign's `now`, else the current time].
    #[arg(long, value_name = "TIME", requires = "campaign")]
    now: Option<String>,
    #[command(flatten)]
    engine: EngineOptions,
}

/// Validates the rule and prints what it is.
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let campaign = match &args.campaign {
        Some(path) => Some(Arc::new(mailrules::Campaign::load(path)?)),
        None => None,
    };
    let (engine, rule) = args.engine.load(&args.rule, 1)?;
    let info = &rule.info;
    println!("rule     {}", info.path.display());
    println!("status   ok: a mailrules rule the host will run");
    println!("world    mailrules:rules@{}", info.world_version);
    println!("size     {} bytes", info.size);
    println!("sha256   {}", info.sha256);
    let how = if info.cached {
        "loaded from the compilation cache"
    } else {
        "compiled"
    };
    println!(
        "load     {how} in {:.1} ms",
        info.load_time.as_secs_f64() * 1000.0
    );
    println!("exports  {}", info.exports.join(", "));
    println!("imports  {}", info.imports.len());
    for import in &info.imports {
        println!("  {import}");
    }
    let fields = mailrules::rule_facts::profile_fields(&engine, &rule);
    let how = if info.declared_fields.is_some() {
        "declared"
    } else {
        "getters imported"
    };
    println!(
        "reads    {} profile fields ({how}): {}",
        fields.len(),
        fields.join(", ")
    );
    if let Some(segments) = &info.declared_segments {
        println!(
            "segments {} declared: {}",
            segments.len(),
            segments.join(", ")
        );
    }
    if let Some(campaign) = campaign {
        let now = super::campaign_time(args.now.as_deref(), &campaign)?;
        let (limits, _) = engine.operator_limits().resolve(&campaign.limits);
        let budget = limits.fuel;
        let facts = mailrules::rule_facts::fuel_on_extremes(&engine, &rule, campaign, limits, now);
        let fuel = |fuel: Option<u64>| match fuel {
            Some(fuel) => format!("{fuel} of {budget}"),
            None => "unknown (deadline)".to_string(),
        };
        println!(
            "fuel     largest profile ({}): {} units, {}",
            facts.max_profile_shape,
            fuel(facts.max_profile),
            facts.max_profile_outcome
        );
        println!(
            "fuel     smallest profile: {} units, {}",
            fuel(facts.min_profile),
            facts.min_profile_outcome
        );
    }
    Ok(ExitCode::SUCCESS)
}
