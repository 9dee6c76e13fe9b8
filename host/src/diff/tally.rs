//! Accumulates the two sides' results, profile by profile in input order,
//! into a [`DiffReport`], in memory bounded whatever the rules invent.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};

use hdrhistogram::Histogram;

use super::report::{
    DiffReport, FuelComparison, FuelStats, SegmentChange, StatusChange, VariantChange,
};
use super::{MAX_EXAMPLE_ID_BYTES, MAX_EXAMPLE_KINDS, MAX_EXAMPLES, MAX_SEGMENT_EXAMPLE_KINDS};
use crate::counts::{BoundedCounts, MAX_DISTINCT_KEYS, OTHER_KEY};
use crate::outcome::{Outcome, Status};

/// One rule's result for one profile, as the diff needs it.
#[derive(Debug)]
pub(super) struct Side {
    /// The outcome, exactly as `mailrules eval` decides it.
    pub outcome: Outcome,
    /// The code of the rule's failure, before any holdout hid it.
    pub failure: Option<&'static str>,
    /// `Some(fuel)` when the rule ran (fuel unknown after a timeout).
    pub fuel: Option<Option<u64>>,
}

/// The result of comparing one input record.
#[derive(Debug)]
pub(super) enum Compared {
    /// The record could not be read: nothing to compare.
    Unreadable,
    /// Both sides of one profile.
    Profile {
        /// With the active rule.
        active: Box<Side>,
        /// With the candidate rule.
        candidate: Box<Side>,
    },
}

/// A map keeping at most a fixed number of keys; later keys share one
/// value, reported under [`OTHER_KEY`].
struct Bounded<K, V> {
    rows: BTreeMap<K, V>,
    other: V,
    max_keys: usize,
}

impl<K: Ord, V: Default> Bounded<K, V> {
    fn new(max_keys: usize) -> Self {
        Bounded {
            rows: BTreeMap::new(),
            other: V::default(),
            max_keys,
        }
    }

    fn entry<Q>(&mut self, key: &Q) -> &mut V
    where
        K: Borrow<Q>,
        Q: Ord + ToOwned<Owned = K> + ?Sized,
    {
        if self.rows.contains_key(key) {
            return self.rows.get_mut(key).expect("the key is present");
        }
        if self.rows.len() < self.max_keys {
            return self.rows.entry(key.to_owned()).or_default();
        }
        &mut self.other
    }
}

type Choice = Option<String>;

/// Fuel figures of one side.
struct Fuel {
    histogram: Histogram<u64>,
    max: u64,
    runs: u64,
    unknown: u64,
}

impl Default for Fuel {
    fn default() -> Self {
        Fuel {
            histogram: Histogram::new_with_max(1_000_000_000_000, 3)
                .expect("valid histogram bounds"),
            max: 0,
            runs: 0,
            unknown: 0,
        }
    }
}

impl Fuel {
    fn record(&mut self, fuel: Option<Option<u64>>) {
        match fuel {
            None => {}
            Some(None) => {
                self.runs += 1;
                self.unknown += 1;
            }
            Some(Some(fuel)) => {
                self.runs += 1;
                self.histogram.saturating_record(fuel);
                self.max = self.max.max(fuel);
            }
        }
    }

    fn stats(&self) -> FuelStats {
        let known = !self.histogram.is_empty();
        let at = |q: f64| known.then(|| self.histogram.value_at_quantile(q).min(self.max));
        FuelStats {
            runs: self.runs,
            unknown: self.unknown,
            p50: at(0.5),
            p99: at(0.99),
            max: known.then_some(self.max),
        }
    }
}

/// Example profile ids per kind of change, bounded in kinds, ids per kind
/// and id length.
#[derive(Default)]
struct Examples {
    kinds: BTreeMap<String, Vec<String>>,
    segment_kinds: usize,
}

impl Examples {
    fn add(&mut self, kind: impl FnOnce() -> String, id: &str, about_a_segment: bool) {
        if id.len() > MAX_EXAMPLE_ID_BYTES {
            return;
        }
        let kind = kind();
        if let Some(ids) = self.kinds.get_mut(&kind) {
            if ids.len() < MAX_EXAMPLES {
                ids.push(id.to_string());
            }
            return;
        }
        if self.kinds.len() >= MAX_EXAMPLE_KINDS
            || (about_a_segment && self.segment_kinds >= MAX_SEGMENT_EXAMPLE_KINDS)
        {
            return;
        }
        self.segment_kinds += usize::from(about_a_segment);
        self.kinds.insert(kind, vec![id.to_string()]);
    }
}

/// The running totals of a diff.
pub(super) struct Tally {
    profiles: u64,
    changed: u64,
    unreadable: u64,
    status: BTreeMap<(Status, Status), u64>,
    segments: Bounded<String, SegmentChange>,
    subject: Bounded<(Choice, Choice), u64>,
    preheader: Bounded<(Choice, Choice), u64>,
    blocks: Bounded<(String, Choice, Choice), u64>,
    new_failures: BoundedCounts,
    fixed_failures: BoundedCounts,
    fuel: [Fuel; 2],
    examples: Examples,
}

impl Default for Tally {
    fn default() -> Self {
        Tally::new(MAX_DISTINCT_KEYS)
    }
}

impl Tally {
    /// Empty totals keeping at most `max_keys` distinct keys per table.
    pub(super) fn new(max_keys: usize) -> Self {
        Tally {
            profiles: 0,
            changed: 0,
            unreadable: 0,
            status: BTreeMap::new(),
            segments: Bounded::new(max_keys),
            subject: Bounded::new(max_keys),
            preheader: Bounded::new(max_keys),
            blocks: Bounded::new(max_keys),
            new_failures: BoundedCounts::new(max_keys),
            fixed_failures: BoundedCounts::new(max_keys),
            fuel: [Fuel::default(), Fuel::default()],
            examples: Examples::default(),
        }
    }

    /// Counts one input record.
    pub(super) fn record(&mut self, compared: Compared) {
        let (active, candidate) = match compared {
            Compared::Unreadable => {
                self.unreadable += 1;
                return;
            }
            Compared::Profile { active, candidate } => (active, candidate),
        };
        self.profiles += 1;
        self.fuel[0].record(active.fuel);
        self.fuel[1].record(candidate.fuel);
        let (a, b) = (&active.outcome, &candidate.outcome);
        let id = a.profile_id.as_str();
        let mut changed = false;

        *self.status.entry((a.status, b.status)).or_default() += 1;
        if a.status != b.status {
            changed = true;
            self.examples.add(
                || format!("status {} → {}", a.status.as_str(), b.status.as_str()),
                id,
                false,
            );
        }
        changed |= self.segments(a, b);
        for (title, table, from, to) in [
            ("subject", &mut self.subject, &a.subject, &b.subject),
            ("preheader", &mut self.preheader, &a.preheader, &b.preheader),
        ] {
            if from != to {
                changed = true;
                *table.entry(&(from.clone(), to.clone())) += 1;
                self.examples.add(
                    || format!("{title} {} → {}", shown(from), shown(to)),
                    id,
                    false,
                );
            }
        }
        changed |= self.blocks(a, b);
        self.failures(active.failure, candidate.failure, id);
        if changed {
            self.changed += 1;
        }
    }

    /// Counts segment membership on both sides; whether the sets differ.
    fn segments(&mut self, a: &Outcome, b: &Outcome) -> bool {
        let before: BTreeSet<&str> = a.segments.iter().map(String::as_str).collect();
        let after: BTreeSet<&str> = b.segments.iter().map(String::as_str).collect();
        let id = a.profile_id.as_str();
        for segment in &before {
            let row = self.segments.entry(*segment);
            row.active_members += 1;
            if !after.contains(segment) {
                row.lost += 1;
                self.examples
                    .add(|| format!("segment lost {segment}"), id, true);
            }
        }
        for segment in &after {
            let row = self.segments.entry(*segment);
            row.candidate_members += 1;
            if !before.contains(segment) {
                row.gained += 1;
                self.examples
                    .add(|| format!("segment gained {segment}"), id, true);
            }
        }
        before != after
    }

    /// Counts block changes per slot; whether any block differs.
    fn blocks(&mut self, a: &Outcome, b: &Outcome) -> bool {
        if a.blocks == b.blocks {
            return false;
        }
        let find = |outcome: &Outcome, slot: &str| -> Choice {
            outcome
                .blocks
                .as_ref()
                .and_then(|blocks| blocks.0.iter().find(|(s, _)| s == slot))
                .map(|(_, block)| block.clone())
        };
        let slots = a.blocks.iter().chain(&b.blocks).flat_map(|b| &b.0);
        let mut seen = BTreeSet::new();
        for (slot, _) in slots {
            if !seen.insert(slot.as_str()) {
                continue;
            }
            let (from, to) = (find(a, slot), find(b, slot));
            if from != to {
                self.examples
                    .add(|| format!("block {slot}"), &a.profile_id, false);
                *self.blocks.entry(&(slot.clone(), from, to)) += 1;
            }
        }
        true
    }

    fn failures(&mut self, active: Option<&str>, candidate: Option<&str>, id: &str) {
        if active == candidate {
            return;
        }
        if let Some(code) = candidate {
            self.new_failures.add(code);
            self.examples
                .add(|| format!("new failure {code}"), id, false);
        }
        if let Some(code) = active {
            self.fixed_failures.add(code);
            self.examples
                .add(|| format!("fixed failure {code}"), id, false);
        }
    }

    /// The report of everything counted.
    pub(super) fn report(self) -> DiffReport {
        let transitions = |table: Bounded<(Choice, Choice), u64>| -> Vec<VariantChange> {
            let other = table.other;
            table
                .rows
                .into_iter()
                .map(|((from, to), count)| VariantChange { from, to, count })
                .chain((other > 0).then(|| other_change(other)))
                .collect()
        };
        let mut blocks: BTreeMap<String, Vec<VariantChange>> = BTreeMap::new();
        for ((slot, from, to), count) in self.blocks.rows {
            blocks
                .entry(slot)
                .or_default()
                .push(VariantChange { from, to, count });
        }
        if self.blocks.other > 0 {
            blocks.insert(OTHER_KEY.into(), vec![other_change(self.blocks.other)]);
        }
        let mut segments: Vec<SegmentChange> = self
            .segments
            .rows
            .into_iter()
            .map(|(segment, row)| SegmentChange { segment, ..row })
            .collect();
        if self.segments.other != SegmentChange::default() {
            segments.push(SegmentChange {
                segment: OTHER_KEY.into(),
                ..self.segments.other
            });
        }
        let [active, candidate] = self.fuel;
        DiffReport {
            profiles: self.profiles,
            changed: self.changed,
            unchanged: self.profiles - self.changed,
            unreadable: self.unreadable,
            status: self
                .status
                .into_iter()
                .map(|((from, to), count)| StatusChange { from, to, count })
                .collect(),
            segments,
            subject: transitions(self.subject),
            preheader: transitions(self.preheader),
            blocks,
            new_failures: self.new_failures.rows().collect(),
            fixed_failures: self.fixed_failures.rows().collect(),
            fuel: FuelComparison {
                active: active.stats(),
                candidate: candidate.stats(),
            },
            examples: self.examples.kinds,
        }
    }
}

fn shown(choice: &Choice) -> &str {
    choice.as_deref().unwrap_or("(none)")
}

fn other_change(count: u64) -> VariantChange {
    VariantChange {
        from: Some(OTHER_KEY.into()),
        to: Some(OTHER_KEY.into()),
        count,
    }
}
