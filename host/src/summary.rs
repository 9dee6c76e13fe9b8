//! The run summary: statuses, segment sizes, variants chosen, and the cost
//! of evaluations (latency and fuel percentiles). Memory stays constant
//! however many profiles go through (histograms, not lists, and at most
//! [`MAX_DISTINCT_KEYS`](crate::counts::MAX_DISTINCT_KEYS) distinct segment
//! ids, variants and reason codes per table, whatever the rule invents).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::counts::BoundedCounts;
use crate::outcome::{Outcome, Status};

/// Totals over a run.
pub struct Summary {
    statuses: BTreeMap<Status, u64>,
    segments: BoundedCounts,
    subjects: BoundedCounts,
    preheaders: BoundedCounts,
    reasons: BoundedCounts,
    latency_ns: Histogram<u64>,
    fuel: Histogram<u64>,
    /// The most fuel one evaluation used, exactly: percentiles are capped at
    /// it, since the histogram rounds recorded values up to its precision.
    max_fuel: u64,
    total: u64,
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            statuses: BTreeMap::new(),
            segments: BoundedCounts::default(),
            subjects: BoundedCounts::default(),
            preheaders: BoundedCounts::default(),
            reasons: BoundedCounts::default(),
            latency_ns: Histogram::new_with_max(3_600_000_000_000, 3)
                .expect("valid histogram bounds"),
            fuel: Histogram::new_with_max(1_000_000_000_000, 3).expect("valid histogram bounds"),
            max_fuel: 0,
            total: 0,
        }
    }
}

impl Summary {
    /// Counts one recipient; `cost` is the evaluation's wall time and fuel
    /// (unknown after a timeout) when the rule ran.
    pub fn record(&mut self, outcome: &Outcome, cost: Option<(Duration, Option<u64>)>) {
        self.total += 1;
        *self.statuses.entry(outcome.status).or_default() += 1;
        for segment in &outcome.segments {
            self.segments.add(segment);
        }
        if let Some(subject) = &outcome.subject {
            self.subjects.add(subject);
        }
        if let Some(preheader) = &outcome.preheader {
            self.preheaders.add(preheader);
        }
        if let Some(reason) = &outcome.reason {
            let code = reason.split(':').next().unwrap_or(reason);
            let code = if outcome.status == Status::Error
                && code != crate::evaluate::Failure::HOST_UNAVAILABLE
            {
                "input-error"
            } else {
                code
            };
            self.reasons
                .add(&format!("{}: {code}", outcome.status.as_str()));
        }
        if let Some((elapsed, fuel)) = cost {
            self.latency_ns
                .saturating_record(elapsed.as_nanos().min(u64::MAX as u128) as u64);
            if let Some(fuel) = fuel {
                self.fuel.saturating_record(fuel);
                self.max_fuel = self.max_fuel.max(fuel);
            }
        }
    }

    /// Recipients counted.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Recipients with `status`.
    pub fn count(&self, status: Status) -> u64 {
        self.statuses.get(&status).copied().unwrap_or(0)
    }

    /// Members per segment (the first
    /// [`MAX_DISTINCT_KEYS`](crate::counts::MAX_DISTINCT_KEYS) segment ids
    /// seen; later ones are counted as other).
    pub fn segments(&self) -> &BoundedCounts {
        &self.segments
    }

    /// Evaluation latency at quantile `q` (0.0–1.0), when any rule ran.
    pub fn latency(&self, q: f64) -> Option<Duration> {
        (!self.latency_ns.is_empty())
            .then(|| Duration::from_nanos(self.latency_ns.value_at_quantile(q)))
    }

    /// Fuel used at quantile `q`, when any rule ran.
    pub fn fuel(&self, q: f64) -> Option<u64> {
        (!self.fuel.is_empty()).then(|| self.fuel.value_at_quantile(q).min(self.max_fuel))
    }

    /// The summary as an aligned text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "recipients  {}", self.total);
        section(
            &mut out,
            "status",
            Status::ALL
                .iter()
                .map(|s| (s.as_str().to_string(), self.count(*s))),
        );
        section(&mut out, "segment", self.segments.rows());
        section(&mut out, "subject", self.subjects.rows());
        section(&mut out, "preheader", self.preheaders.rows());
        section(&mut out, "reason", self.reasons.rows());
        if let (Some(p50), Some(p99)) = (self.latency(0.5), self.latency(0.99)) {
            let _ = writeln!(
                out,
                "evaluation  {} runs  latency p50 {:.1} µs  p99 {:.1} µs  fuel p50 {}  p99 {}",
                self.latency_ns.len(),
                p50.as_nanos() as f64 / 1000.0,
                p99.as_nanos() as f64 / 1000.0,
                self.fuel(0.5).unwrap_or(0),
                self.fuel(0.99).unwrap_or(0),
            );
        }
        out
    }
}

/// Appends a titled two-column table of counts to `out` (nothing when
/// there are no rows).
pub fn section(out: &mut String, title: &str, rows: impl Iterator<Item = (String, u64)>) {
    let rows: Vec<_> = rows.collect();
    if rows.is_empty() {
        return;
    }
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count() + 2)
        .max()
        .unwrap_or(0)
        .max(title.len());
    let _ = writeln!(out, "{title:<width$}  {:>9}", "count");
    for (key, count) in rows {
        let _ = writeln!(out, "  {key:<inner$}  {count:>9}", inner = width - 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_statuses_segments_and_costs() {
        let mut summary = Summary::default();
        let mut ok = Outcome::without_message("a".into(), Status::Ok, String::new());
        ok.reason = None;
        ok.segments = vec!["active".into(), "vip".into()];
        ok.subject = Some("vip".into());
        summary.record(&ok, Some((Duration::from_micros(10), Some(1000))));
        summary.record(
            &Outcome::without_message("b".into(), Status::Suppressed, "no-consent".into()),
            None,
        );
        assert_eq!(summary.total(), 2);
        assert_eq!(summary.count(Status::Ok), 1);
        assert_eq!(summary.count(Status::Suppressed), 1);
        assert_eq!(summary.segments().get("vip"), Some(1));
        assert_eq!(summary.fuel(0.5), Some(1000));
        let table = summary.table();
        assert!(table.contains("suppressed: no-consent"), "{table}");
        assert!(table.contains("latency p50 10.0 µs"), "{table}");
    }

    #[test]
    fn fuel_percentiles_never_exceed_the_fuel_actually_used() {
        let mut summary = Summary::default();
        let ok = Outcome::without_message("a".into(), Status::Ok, String::new());
        for _ in 0..100 {
            summary.record(&ok, Some((Duration::from_micros(10), Some(10_000_000))));
        }
        summary.record(&ok, Some((Duration::from_micros(10), Some(18_219))));
        assert_eq!(summary.fuel(0.99), Some(10_000_000));
        assert_eq!(summary.fuel(0.5), Some(10_000_000));
    }
}
