//! Loading a rule: compiling the component with Cranelift against loading
//! the precompiled code from the cache by content hash.

use mailrules::{LoadedRule, OperatorLimits, RuleEngine};

use crate::fixture::Fixture;
use crate::measure::{best_of, ratio};
use crate::report::Table;

/// Times both ways of loading the reference pack.
pub fn run(fixture: &Fixture, rounds: usize) -> anyhow::Result<Table> {
    let engine = RuleEngine::new(OperatorLimits::default())?;
    let cache = tempfile::tempdir()?;
    let size = std::fs::metadata(&fixture.rule_path)?.len();
    let mut failed = None;
    let compile = best_of(rounds, || {
        if let Err(e) = LoadedRule::load(&engine, &fixture.rule_path, None) {
            failed = Some(e);
        }
    });
    let filled = LoadedRule::load(&engine, &fixture.rule_path, Some(cache.path()))?;
    anyhow::ensure!(!filled.info.cached, "the cache was not empty");
    let mut cached_hits = 0;
    let cached = best_of(rounds * 3, || {
        match LoadedRule::load(&engine, &fixture.rule_path, Some(cache.path())) {
            Ok(rule) => cached_hits += usize::from(rule.info.cached),
            Err(e) => failed = Some(e),
        }
    });
    if let Some(e) = failed {
        return Err(e.into());
    }
    anyhow::ensure!(cached_hits == rounds * 3, "a cached load compiled again");
    let mut table = Table::new(
        "3. Loading a rule",
        &format!(
            "The reference pack component ({} KiB), validated and ready to instantiate \
             (`InstancePre`), best of {rounds} compilations and {} cached loads.",
            size >> 10,
            rounds * 3
        ),
        &["how", "ms", "× cached"],
    );
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    table.row(vec![
        "compile with Cranelift".into(),
        format!("{:.1}", ms(compile)),
        ratio(ms(compile), ms(cached)),
    ]);
    table.row(vec![
        "load precompiled from the cache (by SHA-256 + engine hash)".into(),
        format!("{:.2}", ms(cached)),
        ratio(1.0, 1.0),
    ]);
    Ok(table)
}
