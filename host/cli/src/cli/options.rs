//! Options shared by every subcommand that runs rules: the operator's
//! ceilings and the compilation cache.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use mailrules::engine::RuleEngine;
use mailrules::limits::OperatorLimits;
use mailrules::rule::LoadedRule;

/// The operator's ceilings for every campaign and rule.
#[derive(Debug, Args)]
pub struct CeilingOptions {
    /// Highest fuel (instruction budget) a campaign may ask for per evaluation.
    #[arg(long, value_name = "UNITS", default_value_t = OperatorLimits::default().maximum.fuel)]
    pub max_fuel: u64,
    /// Longest deadline a campaign may ask for per evaluation, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = OperatorLimits::default().maximum.timeout.as_millis() as u64)]
    pub max_timeout_ms: u64,
    /// Most linear memory a campaign may ask for per evaluation, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = OperatorLimits::default().maximum.memory_bytes >> 20)]
    pub max_memory_mib: usize,
    /// Largest rule component accepted, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = OperatorLimits::default().max_component_bytes >> 20)]
    pub max_component_mib: usize,
    /// Longest time compiling a rule may take, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = OperatorLimits::default().compile.compile_timeout.as_millis() as u64)]
    pub max_compile_ms: u64,
    /// Most disk space the compilation cache may take, in MiB; the least
    /// recently used entries are removed past it.
    #[arg(long, value_name = "MIB", default_value_t = OperatorLimits::default().max_cache_bytes >> 20)]
    pub max_cache_mib: u64,
}

impl CeilingOptions {
    /// The operator limits these options describe.
    pub fn operator_limits(&self) -> OperatorLimits {
        let mut operator = OperatorLimits::default();
        operator.maximum.fuel = self.max_fuel;
        operator.maximum.timeout = Duration::from_millis(self.max_timeout_ms);
        operator.maximum.memory_bytes = self.max_memory_mib << 20;
        operator.max_component_bytes = self.max_component_mib << 20;
        operator.compile.compile_timeout = Duration::from_millis(self.max_compile_ms);
        operator.max_cache_bytes = self.max_cache_mib << 20;
        operator
    }
}

/// Operator settings: ceilings and the compilation cache.
#[derive(Debug, Args)]
pub struct EngineOptions {
    #[command(flatten)]
    pub ceilings: CeilingOptions,
    /// Where compiled rules are cached [default: $MAILRULES_CACHE_DIR, else
    /// $XDG_CACHE_HOME/mailrules, else ~/.cache/mailrules].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile rules every time; read and write no cache.
    #[arg(long)]
    pub no_cache: bool,
}

impl EngineOptions {
    /// The operator limits these options describe.
    pub fn operator_limits(&self) -> OperatorLimits {
        self.ceilings.operator_limits()
    }

    /// The cache directory in force, if any.
    pub fn cache_dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        if let Some(dir) = &self.cache_dir {
            return Some(dir.clone());
        }
        let env = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        env("MAILRULES_CACHE_DIR")
            .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("mailrules")))
            .or_else(|| env("HOME").map(|d| d.join(".cache").join("mailrules")))
    }

    /// Creates the engine, its instance pool sized for `threads`
    /// evaluation threads, and loads the rule at `path`.
    pub fn load(
        &self,
        path: &std::path::Path,
        threads: usize,
    ) -> anyhow::Result<(RuleEngine, LoadedRule)> {
        let engine = RuleEngine::builder()
            .operator_limits(self.operator_limits())
            .evaluation_threads(threads)
            .build()?;
        let rule = LoadedRule::load(&engine, path, self.cache_dir().as_deref())
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok((engine, rule))
    }
}

/// Evaluation threads: `requested` (`--jobs`), else one per CPU.
pub fn jobs(requested: Option<usize>) -> usize {
    requested
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

/// Message options shared by `preview` and `send`.
#[derive(Debug, Args)]
pub struct SendOptions {
    /// Sign messages with DKIM using this key: RSA (PKCS#1 or PKCS#8 PEM) or
    /// Ed25519 (PKCS#8 PEM, or the base64 of its seed).
    #[arg(long, value_name = "FILE", requires_all = ["dkim_selector", "dkim_domain"])]
    pub dkim_key: Option<PathBuf>,
    /// DKIM selector (s=).
    #[arg(long, value_name = "SELECTOR")]
    pub dkim_selector: Option<String>,
    /// DKIM signing domain (d=).
    #[arg(long, value_name = "DOMAIN")]
    pub dkim_domain: Option<String>,
}

impl SendOptions {
    /// The DKIM settings, when a key was given.
    pub fn dkim(&self) -> Option<mailrules::render::DkimSettings> {
        Some(mailrules::render::DkimSettings {
            key_file: self.dkim_key.clone()?,
            selector: self.dkim_selector.clone()?,
            domain: self.dkim_domain.clone()?,
        })
    }
}

/// The time rules see: `--now`, else the campaign's `now`, else the
/// current time (with a warning, since runs then differ).
pub fn campaign_time(now: Option<&str>, campaign: &mailrules::Campaign) -> anyhow::Result<i64> {
    Ok(match (now, campaign.now) {
        (Some(text), _) => {
            mailrules::profile::parse_time(text).map_err(|e| anyhow::anyhow!("--now: {e}"))?
        }
        (None, Some(now)) => now,
        (None, None) => {
            let now = chrono::Utc::now().timestamp();
            eprintln!(
                "mailrules: the campaign sets no `now`; using the current time ({now}), so runs will differ"
            );
            now
        }
    })
}

/// A progress bar over the bytes of the profile input, with rate and ETA,
/// on stderr when it is a terminal (hidden otherwise, and for stdin).
pub fn progress_bar(path: &std::path::Path) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let length = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(length),
        indicatif::ProgressDrawTarget::stderr_with_hz(10),
    );
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta}) {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}
