//! The same pack on both contract versions, side by side: what the
//! component is, what loading it costs, the fuel a profile takes, and
//! instantiation, a fresh sandbox and the batched path per profile, with
//! every time also as a multiple of the no-alloc native code.

use std::sync::Arc;

use mailrules::evaluate::{DEFAULT_BATCH, Evaluator};
use mailrules::{LoadedRule, OperatorLimits, RuleEngine};

use crate::fixture::Fixture;
use crate::measure::{Path, best_of, best_per_item, count, ratio};
use crate::peers::native_borrowed::{CampaignLookup, decide};
use crate::report::Table;

/// Instances per batch of the 0.1 batched path (`--reuse`).
const REUSE: u64 = 64;

/// Compiles, loads from the cache, and measures both versions.
pub fn run(fixture: &Fixture, rounds: usize) -> anyhow::Result<Table> {
    let engine = RuleEngine::new(OperatorLimits::default())?;
    let cache = tempfile::tempdir()?;
    let paths = [&fixture.rule_path, &fixture.rule_v0_2_path];
    let rules = paths
        .iter()
        .map(|path| LoadedRule::load(&engine, path, Some(cache.path())))
        .collect::<Result<Vec<_>, _>>()?;
    let compile: Vec<f64> = paths
        .iter()
        .map(|path| {
            best_of(rounds, || {
                let _ = LoadedRule::load(&engine, path, None);
            })
            .as_secs_f64()
                * 1e3
        })
        .collect();
    let cached: Vec<f64> = paths
        .iter()
        .map(|path| {
            best_of(rounds * 3, || {
                let _ = LoadedRule::load(&engine, path, Some(cache.path()));
            })
            .as_secs_f64()
                * 1e3
        })
        .collect();
    let campaign = fixture.campaign.clone();
    let (limits, _) = engine.operator_limits().resolve(&campaign.limits);
    let evaluator = |rule: &LoadedRule| {
        Evaluator::new(&engine, rule, campaign.clone(), limits.clone(), fixture.now)
    };
    let fresh = [evaluator(&rules[0]), evaluator(&rules[1]).with_batch(1)];
    let batched = [
        evaluator(&rules[0]).with_reuse(REUSE),
        evaluator(&rules[1]).with_batch(DEFAULT_BATCH),
    ];
    let profiles = &fixture.profiles;
    let n = profiles.len();
    let items: Vec<(u64, Arc<mailrules::Profile>)> = profiles
        .iter()
        .enumerate()
        .map(|(i, p)| (i as u64, p.clone()))
        .collect();
    let fuel = |evaluator: &Evaluator| -> anyhow::Result<(u64, u64)> {
        let mut used = profiles
            .iter()
            .map(|p| {
                evaluator
                    .evaluate(p.clone())
                    .fuel_used
                    .ok_or_else(|| anyhow::anyhow!("an evaluation ran into its deadline"))
            })
            .collect::<anyhow::Result<Vec<u64>>>()?;
        used.sort_unstable();
        Ok((used[used.len() / 2], used[used.len() - 1]))
    };
    let fuel = [fuel(&fresh[0])?, fuel(&fresh[1])?];
    let lookup = CampaignLookup::new(&fixture.campaign, fixture.now);
    let segments = |e: mailrules::evaluate::Evaluation| e.result.map_or(0, |d| d.segments.len());
    let mut timed = vec![Path::new("native", || {
        let sum = profiles
            .iter()
            .map(|p| decide(p, &lookup).segments.len())
            .sum();
        (n, sum)
    })];
    // Then per measure, 0.1 and 0.2 side by side.
    for v in 0..2 {
        let fresh = &fresh[v];
        timed.push(Path::new(format!("{v}: instantiate"), move || {
            let ok = profiles
                .iter()
                .filter(|p| fresh.instantiate_only((*p).clone()).is_ok())
                .count();
            (n, ok)
        }));
    }
    for v in 0..2 {
        let fresh = &fresh[v];
        timed.push(Path::new(format!("{v}: fresh"), move || {
            let sum = profiles
                .iter()
                .map(|p| segments(fresh.evaluate(p.clone())))
                .sum();
            (n, sum)
        }));
    }
    for v in 0..2 {
        let (batched, items) = (&batched[v], &items);
        timed.push(Path::new(format!("{v}: batched"), move || {
            let sum = batched
                .session()
                .evaluate_many(items)
                .into_iter()
                .map(segments)
                .sum();
            (n, sum)
        }));
    }
    let ns = best_per_item(&mut timed, rounds);
    let native = ns[0];
    let mut table = Table::new(
        "12. The same pack on contract 0.1 and 0.2",
        &format!(
            "`seed-segments.wasm` (0.1, `wasm32-wasip2`) and `seed-segments-v0-2.wasm` (the \
             same source built for 0.2, `wasm32-unknown-unknown`, made a component), on the \
             {} profiles of table 1; best of {rounds} interleaved rounds ({} for cached \
             loads). *Fresh* is a new sandbox per profile: store, limits, instantiation, the \
             call and the decision (for 0.2 a batch of one, laid out, lowered, its row \
             read back). *Batched* is 0.1 with `--reuse {REUSE}` and 0.2 with its default \
             of {DEFAULT_BATCH} profiles per `decide-batch` call (each with its own fuel \
             budget and deadline). *÷ native* is against the no-alloc native code of \
             table 1 ({native:.0} ns per profile in this run). Fuel is per profile, on the \
             fresh path.",
            count(n as f64),
            rounds * 3
        ),
        &[
            "measure",
            "0.1",
            "0.2",
            "0.2 ÷ 0.1",
            "0.1 ÷ native",
            "0.2 ÷ native",
        ],
    );
    let sizes = rules.iter().map(|r| r.info.size as f64 / 1024.0);
    let sizes: Vec<f64> = sizes.collect();
    table.row(vec![
        "component size, KiB".into(),
        format!("{:.1}", sizes[0]),
        format!("{:.1}", sizes[1]),
        ratio(sizes[1], sizes[0]),
        "—".into(),
        "—".into(),
    ]);
    table.row(vec![
        "imports".into(),
        rules[0].info.imports.len().to_string(),
        rules[1].info.imports.len().to_string(),
        "—".into(),
        "—".into(),
        "—".into(),
    ]);
    for (name, values) in [("compile, ms", &compile), ("cached load, ms", &cached)] {
        table.row(vec![
            name.into(),
            format!("{:.2}", values[0]),
            format!("{:.2}", values[1]),
            ratio(values[1], values[0]),
            "—".into(),
            "—".into(),
        ]);
    }
    for (name, pick) in [
        ("fuel per profile, median", 0usize),
        ("fuel per profile, most", 1),
    ] {
        let of = |f: (u64, u64)| if pick == 0 { f.0 } else { f.1 } as f64;
        table.row(vec![
            name.into(),
            count(of(fuel[0])),
            count(of(fuel[1])),
            ratio(of(fuel[1]), of(fuel[0])),
            "—".into(),
            "—".into(),
        ]);
    }
    for (name, first) in [
        ("instantiate only, ns/profile", 1),
        ("fresh sandbox, ns/profile", 3),
        ("batched, ns/profile", 5),
    ] {
        let (old, new) = (ns[first], ns[first + 1]);
        table.row(vec![
            name.into(),
            count(old),
            count(new),
            ratio(new, old),
            ratio(old, native),
            ratio(new, native),
        ]);
    }
    Ok(table)
}
