//! The diff report: what would change for the recipients if the candidate
//! rule replaced the active one, as data (serializable to JSON) and as an
//! aligned text table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::outcome::Status;

/// What would change if the candidate rule replaced the active one, over
/// every profile of a run. Every table is bounded: keys a rule invents
/// (segment ids) are kept up to
/// [`MAX_DISTINCT_KEYS`](crate::counts::MAX_DISTINCT_KEYS), the rest counted
/// under [`OTHER_KEY`](crate::counts::OTHER_KEY).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiffReport {
    /// Profiles compared (readable records).
    pub profiles: u64,
    /// Profiles whose outcome differs in status, segments (as a set),
    /// subject, preheader or blocks.
    pub changed: u64,
    /// Profiles whose outcome is the same on both sides.
    pub unchanged: u64,
    /// Input records that could not be read as profiles (not compared).
    pub unreadable: u64,
    /// Recipients per (active status, candidate status), every non-zero
    /// cell, unchanged ones (`ok → ok`) included; in status order.
    pub status: Vec<StatusChange>,
    /// Membership per segment id on both sides, in id order (then the
    /// [`OTHER_KEY`](crate::counts::OTHER_KEY) row when ids overflowed).
    pub segments: Vec<SegmentChange>,
    /// Subject variant changes (only rows where the variant differs).
    pub subject: Vec<VariantChange>,
    /// Preheader variant changes (only rows where the variant differs).
    pub preheader: Vec<VariantChange>,
    /// Block changes per slot (only rows where the block differs).
    pub blocks: BTreeMap<String, Vec<VariantChange>>,
    /// Rule failures the candidate has and the active did not (none, or a
    /// different one), per failure code (`trap`, `out-of-fuel`, …).
    pub new_failures: BTreeMap<String, u64>,
    /// Rule failures the active has and the candidate does not, per code.
    pub fixed_failures: BTreeMap<String, u64>,
    /// Fuel used by each rule.
    pub fuel: FuelComparison,
    /// Up to [`MAX_EXAMPLES`](super::MAX_EXAMPLES) profile ids per kind of
    /// change (`status ok → fallback`, `new failure trap`, `segment gained
    /// vip`, `subject default → vip`, `block hero`, …), the first seen in
    /// input order, for `mailrules preview`.
    pub examples: BTreeMap<String, Vec<String>>,
}

/// Recipients that had one status with the active rule and another (or
/// the same) with the candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusChange {
    /// Status with the active rule.
    pub from: Status,
    /// Status with the candidate rule.
    pub to: Status,
    /// Recipients.
    pub count: u64,
}

/// One segment on both sides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SegmentChange {
    /// The segment id ([`OTHER_KEY`](crate::counts::OTHER_KEY) for ids
    /// beyond the bound, counted together).
    pub segment: String,
    /// Members with the active rule.
    pub active_members: u64,
    /// Members with the candidate rule.
    pub candidate_members: u64,
    /// Recipients in it with the candidate, not with the active rule.
    pub gained: u64,
    /// Recipients in it with the active, not with the candidate rule.
    pub lost: u64,
}

/// Recipients whose variant (or block) went from one choice to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VariantChange {
    /// The active rule's choice; `None` when no message goes out.
    pub from: Option<String>,
    /// The candidate rule's choice; `None` when no message goes out.
    pub to: Option<String>,
    /// Recipients.
    pub count: u64,
}

/// Fuel used by each side.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FuelComparison {
    /// The active rule.
    pub active: FuelStats,
    /// The candidate rule.
    pub candidate: FuelStats,
}

/// Fuel used by one rule over the evaluations that ran (recipients
/// without consent are never evaluated).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FuelStats {
    /// Evaluations.
    pub runs: u64,
    /// Evaluations whose fuel is not known (timeouts); not in the
    /// percentiles.
    pub unknown: u64,
    /// Median fuel, when any evaluation's fuel is known.
    pub p50: Option<u64>,
    /// 99th percentile.
    pub p99: Option<u64>,
    /// The most any evaluation used, exactly.
    pub max: Option<u64>,
}

/// How a missing choice (no message) is shown in text.
const NONE: &str = "(none)";

impl DiffReport {
    /// The report as aligned text tables.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "profiles  {}  changed {}  unchanged {}  unreadable {}",
            self.profiles, self.changed, self.unchanged, self.unreadable
        );
        let arrow = |from: &str, to: &str| format!("{from} → {to}");
        let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| NONE.into());
        crate::summary::section(
            &mut out,
            "status (active → candidate)",
            self.status
                .iter()
                .map(|c| (arrow(c.from.as_str(), c.to.as_str()), c.count)),
        );
        segments(&mut out, &self.segments);
        let variants = |changes: &[VariantChange]| -> Vec<(String, u64)> {
            changes
                .iter()
                .map(|c| (arrow(&shown(&c.from), &shown(&c.to)), c.count))
                .collect()
        };
        crate::summary::section(&mut out, "subject", variants(&self.subject).into_iter());
        crate::summary::section(&mut out, "preheader", variants(&self.preheader).into_iter());
        for (slot, changes) in &self.blocks {
            crate::summary::section(
                &mut out,
                &format!("block {slot}"),
                variants(changes).into_iter(),
            );
        }
        let counts = |m: &BTreeMap<String, u64>| -> Vec<(String, u64)> {
            m.iter().map(|(k, v)| (k.clone(), *v)).collect()
        };
        crate::summary::section(
            &mut out,
            "new failures",
            counts(&self.new_failures).into_iter(),
        );
        crate::summary::section(
            &mut out,
            "fixed failures",
            counts(&self.fixed_failures).into_iter(),
        );
        for (side, fuel) in [
            ("active", &self.fuel.active),
            ("candidate", &self.fuel.candidate),
        ] {
            if fuel.runs == 0 {
                continue;
            }
            let figure = |v: Option<u64>| v.map_or_else(|| "-".into(), |v| v.to_string());
            let _ = writeln!(
                out,
                "fuel {side:<9}  {} runs  p50 {}  p99 {}  max {}  unknown {}",
                fuel.runs,
                figure(fuel.p50),
                figure(fuel.p99),
                figure(fuel.max),
                fuel.unknown
            );
        }
        if !self.examples.is_empty() {
            let _ = writeln!(out, "examples");
            for (kind, ids) in &self.examples {
                let _ = writeln!(out, "  {kind}: {}", ids.join(" "));
            }
        }
        out
    }
}

impl std::fmt::Display for DiffReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.table())
    }
}

/// The segment table: members on each side, gained and lost.
fn segments(out: &mut String, rows: &[SegmentChange]) {
    if rows.is_empty() {
        return;
    }
    let width = rows
        .iter()
        .map(|r| r.segment.chars().count() + 2)
        .max()
        .unwrap_or(0)
        .max("segment".len());
    let _ = writeln!(
        out,
        "{:<width$}  {:>9}  {:>9}  {:>9}  {:>9}",
        "segment", "active", "candidate", "gained", "lost"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "  {:<inner$}  {:>9}  {:>9}  {:>9}  {:>9}",
            r.segment,
            r.active_members,
            r.candidate_members,
            r.gained,
            r.lost,
            inner = width - 2
        );
    }
}
