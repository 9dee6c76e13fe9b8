//! What isolation costs: the same rule on engines with the pooling
//! allocator, fuel and epoch deadlines switched on and off, instantiated
//! fresh for every profile or once per batch.

use mailrules::{Evaluator, Isolation, LoadedRule, OperatorLimits, RuleEngine};

use crate::fixture::Fixture;
use crate::measure::{Path, best_per_item, count, ratio};
use crate::report::Table;
use crate::sections::evaluation::BATCH;

/// The settings compared, the default first.
const SETUPS: &[(&str, Isolation)] = &[
    (
        "pooling + fuel + epochs (default)",
        Isolation {
            pooling: true,
            fuel: true,
            epochs: true,
        },
    ),
    (
        "on-demand allocation + fuel + epochs",
        Isolation {
            pooling: false,
            fuel: true,
            epochs: true,
        },
    ),
    (
        "pooling + fuel, no epochs",
        Isolation {
            pooling: true,
            fuel: true,
            epochs: false,
        },
    ),
    (
        "pooling + epochs, no fuel",
        Isolation {
            pooling: true,
            fuel: false,
            epochs: true,
        },
    ),
    (
        "pooling, no fuel, no epochs",
        Isolation {
            pooling: true,
            fuel: false,
            epochs: false,
        },
    ),
];

/// Times every setup over the fixture's profiles.
pub fn run(fixture: &Fixture, rounds: usize) -> anyhow::Result<Table> {
    let profiles = &fixture.profiles;
    let n = profiles.len();
    let mut table = Table::new(
        "2. Isolation cost",
        &format!(
            "Per profile over {} profiles, best of {rounds} interleaved rounds. \
             *instantiate*: a new store and an instance from `InstancePre`, no call; \
             *fresh*: that plus the call and its result (what every recipient costs by \
             default); *batched*: one instance serves {BATCH} profiles in a row.",
            count(n as f64)
        ),
        &[
            "isolation",
            "instantiate ns",
            "fresh ns/profile",
            "batched ns/profile",
            "fresh ÷ default fresh",
        ],
    );
    let engines = SETUPS
        .iter()
        .map(|(_, isolation)| RuleEngine::with_isolation(OperatorLimits::default(), *isolation))
        .collect::<Result<Vec<_>, _>>()?;
    let rules = engines
        .iter()
        .map(|engine| LoadedRule::load(engine, &fixture.rule_path, None))
        .collect::<Result<Vec<_>, _>>()?;
    let evaluators: Vec<_> = engines
        .iter()
        .zip(&rules)
        .map(|(engine, rule)| {
            let (limits, _) = engine.operator_limits().resolve(&fixture.campaign.limits);
            Evaluator::new(engine, rule, fixture.campaign.clone(), limits, fixture.now)
        })
        .collect();
    let batched: Vec<_> = engines
        .iter()
        .zip(&rules)
        .map(|(engine, rule)| {
            let (limits, _) = engine.operator_limits().resolve(&fixture.campaign.limits);
            Evaluator::new(engine, rule, fixture.campaign.clone(), limits, fixture.now)
                .with_reuse(BATCH)
        })
        .collect();
    let mut paths = Vec::new();
    for (evaluator, batch) in evaluators.iter().zip(&batched) {
        paths.push(Path::new("instantiate", move || {
            let ok = profiles
                .iter()
                .filter(|p| evaluator.instantiate_only((*p).clone()).is_ok())
                .count();
            (n, ok)
        }));
        paths.push(Path::new("fresh", move || {
            let sum = profiles
                .iter()
                .map(|p| {
                    let e = evaluator.evaluate(p.clone());
                    e.result.map_or(0, |d| d.segments.len())
                })
                .sum();
            (n, sum)
        }));
        paths.push(Path::new("batched", move || {
            let mut session = batch.session();
            let sum = profiles
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let e = session.evaluate(i as u64, p.clone());
                    e.result.map_or(0, |d| d.segments.len())
                })
                .sum();
            (n, sum)
        }));
    }
    let best = best_per_item(&mut paths, rounds);
    let default_fresh = best[1];
    for ((name, _), times) in SETUPS.iter().zip(best.chunks(3)) {
        table.row(vec![
            name.to_string(),
            count(times[0]),
            count(times[1]),
            count(times[2]),
            ratio(times[1], default_fresh),
        ]);
    }
    Ok(table)
}
