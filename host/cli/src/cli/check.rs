//! `mailrules check`: load a rule the way `eval` would and describe it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::EngineOptions;

/// Arguments of `mailrules check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The rule component (.wasm).
    #[arg(value_name = "RULE.wasm")]
    rule: PathBuf,
    #[command(flatten)]
    engine: EngineOptions,
}

/// Validates the rule and prints what it is.
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let (_engine, rule) = args.engine.load(&args.rule)?;
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
    Ok(ExitCode::SUCCESS)
}
