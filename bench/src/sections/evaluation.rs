//! Rule evaluation per profile: the reference pack natively (through the
//! SDK's views, cloning what it reads, and by reference, allocating nothing),
//! as the WASM component through the host (fresh sandbox each, and batched),
//! and as the scripts a user might write instead (Rhai, Lua).

use std::sync::Arc;

use mailrules::{Evaluator, LoadedRule, RuleEngine};

use crate::fixture::Fixture;
use crate::measure::{Path, best_per_item, count, ratio};
use crate::peers::PlainDecision;
use crate::peers::lua::LuaRule;
use crate::peers::native::{Native, NativeCampaign};
use crate::peers::native_borrowed::{CampaignLookup, decide};
use crate::peers::rhai::RhaiRule;
use crate::report::Table;

/// Instances per batch in the batched WASM path (`--reuse 64`).
pub const BATCH: u64 = 64;

/// Profiles per `decide-batch` call in the batched 0.2 path (the default).
pub const BATCH_V0_2: usize = mailrules::evaluate::DEFAULT_BATCH;

/// Every engine's decision for one profile, native first.
pub struct Deciders<'a> {
    fixture: &'a Fixture,
    view: NativeCampaign<'a>,
    lookup: CampaignLookup<'a>,
    fresh: Evaluator,
    batched: Evaluator,
    fresh_v0_2: Evaluator,
    batched_v0_2: Evaluator,
    rhai: RhaiRule,
    lua: LuaRule,
}

impl<'a> Deciders<'a> {
    /// Sets every engine up for the fixture's campaign.
    pub fn new(
        fixture: &'a Fixture,
        engine: &'a RuleEngine,
        rule: &'a LoadedRule,
    ) -> anyhow::Result<Self> {
        let campaign = fixture.campaign.clone();
        let (limits, _) = engine.operator_limits().resolve(&campaign.limits);
        let fresh = Evaluator::new(engine, rule, campaign.clone(), limits.clone(), fixture.now);
        let batched = Evaluator::new(engine, rule, campaign.clone(), limits.clone(), fixture.now)
            .with_reuse(BATCH);
        let rule_v0_2 = LoadedRule::load(engine, &fixture.rule_v0_2_path, None)?;
        let fresh_v0_2 = Evaluator::new(
            engine,
            &rule_v0_2,
            campaign.clone(),
            limits.clone(),
            fixture.now,
        )
        .with_batch(1);
        let batched_v0_2 =
            Evaluator::new(engine, &rule_v0_2, campaign.clone(), limits, fixture.now)
                .with_batch(BATCH_V0_2);
        Ok(Deciders {
            fixture,
            view: NativeCampaign {
                campaign: &fixture.campaign,
                now: fixture.now,
            },
            lookup: CampaignLookup::new(&fixture.campaign, fixture.now),
            fresh,
            batched,
            fresh_v0_2,
            batched_v0_2,
            rhai: RhaiRule::new(campaign.clone(), fixture.now)?,
            lua: LuaRule::new(&campaign, fixture.now)?,
        })
    }

    /// The native decision.
    pub fn native(&self, profile: &mailrules::Profile) -> PlainDecision {
        seed_segments::decide(&Native(profile), &self.view)
            .expect("the reference pack never reports an error")
            .into()
    }

    /// The decision of the native code that reads by reference and
    /// allocates nothing, spelled out.
    pub fn borrowed(&self, profile: &mailrules::Profile) -> PlainDecision {
        decide(profile, &self.lookup).to_plain(&self.lookup)
    }

    /// The component's decision in a fresh sandbox.
    pub fn wasm(&self, profile: &Arc<mailrules::Profile>) -> anyhow::Result<PlainDecision> {
        let evaluation = self.fresh.evaluate(profile.clone());
        Ok(evaluation
            .result
            .map_err(|f| anyhow::anyhow!("{f}"))?
            .into())
    }

    /// The 0.2 component's decision in a fresh sandbox (a batch of one).
    pub fn wasm_v0_2(&self, profile: &Arc<mailrules::Profile>) -> anyhow::Result<PlainDecision> {
        let evaluation = self.fresh_v0_2.evaluate(profile.clone());
        Ok(evaluation
            .result
            .map_err(|f| anyhow::anyhow!("{f}"))?
            .into())
    }

    /// The 0.2 component's decisions for every fixture profile, in batches.
    pub fn wasm_v0_2_batched(&self) -> Vec<mailrules::evaluate::Evaluation> {
        self.batched_v0_2
            .session()
            .evaluate_many(&indexed(&self.fixture.profiles))
    }

    /// The Rhai script's decision.
    pub fn rhai(&self, profile: &Arc<mailrules::Profile>) -> anyhow::Result<PlainDecision> {
        self.rhai.decide(profile)
    }

    /// The Lua script's decision.
    pub fn lua(&self, profile: &mailrules::Profile) -> anyhow::Result<PlainDecision> {
        self.lua.decide(profile)
    }

    /// Checks that every engine decides exactly as the native code on the
    /// fixture's profiles: a comparison of unequal work would mean nothing.
    pub fn check_agreement(&self, limit: usize) -> anyhow::Result<()> {
        let batched = self.wasm_v0_2_batched();
        for (profile, batched) in self.fixture.profiles.iter().zip(batched).take(limit) {
            let expected = self.native(profile);
            let batched = batched.result.map_err(|f| anyhow::anyhow!("{f}"))?.into();
            for (engine, got) in [
                ("native borrowed", self.borrowed(profile)),
                ("wasm", self.wasm(profile)?),
                ("wasm 0.2", self.wasm_v0_2(profile)?),
                ("wasm 0.2 batched", batched),
                ("rhai", self.rhai(profile)?),
                ("lua", self.lua(profile)?),
            ] {
                anyhow::ensure!(
                    got == expected,
                    "{engine} disagrees with native on {}:\n  {engine}: {got:?}\n  native: {expected:?}",
                    profile.id
                );
            }
        }
        Ok(())
    }
}

/// Profiles with their input positions, as [`mailrules::evaluate::Session::evaluate_many`]
/// takes them.
fn indexed(profiles: &[Arc<mailrules::Profile>]) -> Vec<(u64, Arc<mailrules::Profile>)> {
    profiles
        .iter()
        .enumerate()
        .map(|(i, p)| (i as u64, p.clone()))
        .collect()
}

/// Times every engine over the fixture's profiles.
pub fn run(fixture: &Fixture, rounds: usize, filter: Option<&str>) -> anyhow::Result<Table> {
    let engine = RuleEngine::new(mailrules::OperatorLimits::default())?;
    let rule = LoadedRule::load(&engine, &fixture.rule_path, None)?;
    let deciders = Deciders::new(fixture, &engine, &rule)?;
    if filter.is_none() {
        deciders.check_agreement(fixture.profiles.len())?;
    }
    let profiles = &fixture.profiles;
    let n = profiles.len();
    let segments = |d: PlainDecision| d.segments.len();
    let d = &deciders;
    let items = indexed(profiles);
    let mut paths = vec![
        Path::new("native Rust, same logic compiled into the host", || {
            (n, profiles.iter().map(|p| segments(d.native(p))).sum())
        }),
        Path::new(
            "native Rust, reads by reference, allocates nothing (compact decision)",
            || {
                let sum = profiles
                    .iter()
                    .map(|p| decide(p, &d.lookup).segments.len())
                    .sum();
                (n, sum)
            },
        ),
        Path::new(
            "WASM component, typed WIT, fresh sandbox per profile (default)",
            || {
                let sum = profiles
                    .iter()
                    .map(|p| {
                        let e = d.fresh.evaluate(p.clone());
                        e.result.map_or(0, |d| d.segments.len())
                    })
                    .sum();
                (n, sum)
            },
        ),
        Path::new(
            format!(
                "WASM component, typed WIT, one instance per {BATCH} profiles (`--reuse {BATCH}`)"
            ),
            || {
                let mut session = d.batched.session();
                let sum = profiles
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let e = session.evaluate(i as u64, p.clone());
                        e.result.map_or(0, |d| d.segments.len())
                    })
                    .sum();
                (n, sum)
            },
        ),
        Path::new(
            "WASM component, contract 0.2, fresh sandbox per profile (batch of 1)",
            || {
                let sum = profiles
                    .iter()
                    .map(|p| {
                        let e = d.fresh_v0_2.evaluate(p.clone());
                        e.result.map_or(0, |d| d.segments.len())
                    })
                    .sum();
                (n, sum)
            },
        ),
        Path::new(
            format!("WASM component, contract 0.2, {BATCH_V0_2} profiles per call (default)"),
            || {
                let sum = d
                    .batched_v0_2
                    .session()
                    .evaluate_many(&items)
                    .into_iter()
                    .map(|e| e.result.map_or(0, |d| d.segments.len()))
                    .sum();
                (n, sum)
            },
        ),
        Path::new("Rhai script (one engine, compiled AST, getters)", || {
            (
                n,
                profiles.iter().map(|p| d.rhai(p).map_or(0, segments)).sum(),
            )
        }),
        Path::new("Lua 5.4 via mlua (one state, a table per profile)", || {
            (
                n,
                profiles.iter().map(|p| d.lua(p).map_or(0, segments)).sum(),
            )
        }),
    ];
    if let Some(filter) = filter {
        paths.retain(|p| p.name.contains(filter) || p.name.starts_with("native"));
    }
    let best = best_per_item(&mut paths, rounds);
    let mut table = Table::new(
        "1. Rule evaluation per profile",
        &format!(
            "The reference pack (`seed-segments`) on {} generated consenting profiles, \
             best of {rounds} interleaved rounds. Every engine was first checked to make \
             exactly the native decision on every one of these profiles. The WASM paths \
             include everything the host does per profile: store, limits, instantiation \
             (fresh path), the call, lifting the decision. Two native baselines: *× native* \
             is against the pack's own code compiled in, reading the profile through the \
             SDK's views (each getter clones, as the component's getters copy) and \
             building the same string decision; *× no-alloc native* is against the same \
             rules reading the host's profile and campaign by reference and returning a \
             segment bitset and indices into the campaign (campaign lookups made once): \
             the rules' own cost on the host's parsed profile, nothing copied.",
            count(n as f64)
        ),
        &[
            "path",
            "ns/profile",
            "× native",
            "× no-alloc native",
            "profiles/s per core",
        ],
    );
    for (path, ns) in paths.iter().zip(&best) {
        table.row(vec![
            path.name.clone(),
            count(*ns),
            ratio(*ns, best[0]),
            ratio(*ns, best[1]),
            count(1e9 / ns),
        ]);
    }
    table.row(vec![
        "MessagePack path".into(),
        "—".into(),
        "—".into(),
        "—".into(),
        "neither contract has one: 0.1 reads profiles through typed getters, 0.2 sends them as flat typed lists; only custom attributes travel as one MessagePack map (MessagePack as an input format: table 11)".into(),
    ]);
    table.row(vec![
        "Extism plugin".into(),
        "—".into(),
        "—".into(),
        "—".into(),
        "not built: Extism embeds its own wasmtime major, a second copy of the runtime in the build".into(),
    ]);
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_decides_as_the_native_code() {
        let fixture = Fixture::new(600).unwrap();
        let engine = RuleEngine::new(mailrules::OperatorLimits::default()).unwrap();
        let rule = LoadedRule::load(&engine, &fixture.rule_path, None).unwrap();
        let deciders = Deciders::new(&fixture, &engine, &rule).unwrap();
        deciders.check_agreement(fixture.profiles.len()).unwrap();
        // The comparison covers the interesting cases, not only defaults.
        let suppressed = fixture
            .profiles
            .iter()
            .filter(|p| deciders.native(p).suppress.is_some())
            .count();
        assert!(suppressed > 0 && suppressed < fixture.profiles.len());
    }

    #[test]
    fn a_wrong_peer_is_caught() {
        let fixture = Fixture::new(50).unwrap();
        let engine = RuleEngine::new(mailrules::OperatorLimits::default()).unwrap();
        let rule = LoadedRule::load(&engine, &fixture.rule_path, None).unwrap();
        let mut deciders = Deciders::new(&fixture, &engine, &rule).unwrap();
        deciders.lua = LuaRule::new(&fixture.campaign, fixture.now + 400 * 86_400).unwrap();
        assert!(deciders.check_agreement(fixture.profiles.len()).is_err());
    }
}
