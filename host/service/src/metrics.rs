//! The service's Prometheus metrics. Labels are the tenant, the rule
//! version and codes from fixed sets — never ids a rule chooses — so the
//! number of series stays bounded by tenants × versions.

use std::sync::atomic::AtomicI64;

use mailrules::evaluate::Failure;
use mailrules::outcome::Outcome;
use mailrules::reserved::HOST_CODES;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a rule version.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    /// The tenant.
    pub tenant: String,
    /// The rule version.
    pub version: String,
}

/// Labels of one evaluation's result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EvaluationLabels {
    /// The tenant.
    pub tenant: String,
    /// The rule version.
    pub version: String,
    /// The outcome's status (`ok`, `fallback`, …).
    pub status: String,
    /// The host's reason code, `rule` for a reason the rule chose, `none`.
    pub reason: String,
}

/// Labels of a send's recipients.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FateLabels {
    /// The tenant.
    pub tenant: String,
    /// The recipient's fate.
    pub fate: String,
}

/// Labels of a followed feedback link.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LinkLabels {
    /// The tenant.
    pub tenant: String,
    /// `open`, `click` or `unsubscribe`.
    pub kind: String,
}

/// Labels of an HTTP response.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route's pattern (`/v1/tenants/{tenant}/rules`), not the path.
    pub route: String,
    /// The status code.
    pub status: String,
}

/// Every metric of the service.
pub struct Metrics {
    registry: Registry,
    /// Evaluations by tenant, version, status and reason.
    pub evaluations: Family<EvaluationLabels, Counter>,
    /// Fuel per evaluation.
    pub fuel: Family<RuleLabels, Histogram, fn() -> Histogram>,
    /// Seconds per evaluation.
    pub latency: Family<RuleLabels, Histogram, fn() -> Histogram>,
    /// Breaker state per rule version: 0 closed, 1 half-open, 2 open.
    pub breaker: Family<RuleLabels, Gauge<i64, AtomicI64>>,
    /// Breaker trips per rule version.
    pub breaker_trips: Family<RuleLabels, Counter>,
    /// Recipients of sends by fate.
    pub sends: Family<FateLabels, Counter>,
    /// Evaluation jobs running on the shared workers now.
    pub evaluations_in_flight: Gauge<i64, AtomicI64>,
    /// Evaluation jobs waiting for a worker now.
    pub evaluation_jobs_queued: Gauge<i64, AtomicI64>,
    /// Instance slots of the pool.
    pub pool_slots: Gauge<i64, AtomicI64>,
    /// HTTP responses by route and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Scheduler ticks run.
    pub ticks: Counter,
    /// Customer events stored.
    pub events_stored: Counter,
    /// Opens, clicks and unsubscribes recorded from signed links.
    pub links_followed: Family<LinkLabels, Counter>,
}

fn fuel_histogram() -> Histogram {
    // 1,000 to about 4 × 10^9 units of fuel.
    Histogram::new(exponential_buckets(1_000.0, 4.0, 12))
}

fn latency_histogram() -> Histogram {
    // 10 µs to about 40 s.
    Histogram::new(exponential_buckets(0.000_01, 4.0, 12))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric, registered, at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mailrules");
        let metrics = Metrics {
            evaluations: Family::default(),
            fuel: Family::new_with_constructor(fuel_histogram as fn() -> Histogram),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            breaker: Family::default(),
            breaker_trips: Family::default(),
            sends: Family::default(),
            evaluations_in_flight: Gauge::default(),
            evaluation_jobs_queued: Gauge::default(),
            pool_slots: Gauge::default(),
            requests: Family::default(),
            ticks: Counter::default(),
            events_stored: Counter::default(),
            links_followed: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "evaluations",
            "Rule evaluations by tenant, rule version, status and reason",
            metrics.evaluations.clone(),
        );
        registry.register(
            "evaluation_fuel",
            "Fuel used per evaluation",
            metrics.fuel.clone(),
        );
        registry.register(
            "evaluation_seconds",
            "Wall time per evaluation",
            metrics.latency.clone(),
        );
        registry.register(
            "breaker_state",
            "Circuit breaker per rule version: 0 closed, 1 half-open, 2 open",
            metrics.breaker.clone(),
        );
        registry.register(
            "breaker_trips",
            "Times a rule version's breaker opened",
            metrics.breaker_trips.clone(),
        );
        registry.register(
            "send_recipients",
            "Recipients of sends by fate",
            metrics.sends.clone(),
        );
        registry.register(
            "evaluation_jobs_running",
            "Evaluation jobs running on the shared workers",
            metrics.evaluations_in_flight.clone(),
        );
        registry.register(
            "evaluation_jobs_queued",
            "Evaluation jobs waiting for a worker",
            metrics.evaluation_jobs_queued.clone(),
        );
        registry.register(
            "pool_instance_slots",
            "Rule instances the engine's pool holds at most",
            metrics.pool_slots.clone(),
        );
        registry.register(
            "http_responses",
            "HTTP responses by route and status",
            metrics.requests.clone(),
        );
        registry.register("ticks", "Scheduler ticks run", metrics.ticks.clone());
        registry.register(
            "customer_events",
            "Customer events stored",
            metrics.events_stored.clone(),
        );
        registry.register(
            "links_followed",
            "Opens, clicks and unsubscribes recorded from signed links",
            metrics.links_followed.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// The metrics in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// One tenant's evaluation metrics for the length of a run: each series is
/// looked up in its family once and its handle kept, so recording a
/// recipient allocates nothing and takes no lock on the family.
pub struct RunMetrics<'a> {
    metrics: &'a Metrics,
    tenant: &'a str,
    /// (version, status, reason) → its counter; a run sees a handful.
    outcomes: Vec<(String, &'static str, &'static str, Counter)>,
    /// version → (latency, fuel).
    costs: Vec<(String, Histogram, Histogram)>,
}

impl<'a> RunMetrics<'a> {
    /// Handles of `tenant`'s series, found as they are first needed.
    pub fn new(metrics: &'a Metrics, tenant: &'a str) -> Self {
        RunMetrics {
            metrics,
            tenant,
            outcomes: Vec::new(),
            costs: Vec::new(),
        }
    }

    /// Counts one evaluation by status and reason.
    pub fn record_outcome(&mut self, version: &str, outcome: &Outcome) {
        let status = outcome.status.as_str();
        let reason = reason_label(outcome.reason.as_deref());
        let found = self
            .outcomes
            .iter()
            .find(|(v, s, r, _)| v == version && *s == status && *r == reason);
        let counter = match found {
            Some((_, _, _, counter)) => counter,
            None => {
                let counter = self
                    .metrics
                    .evaluations
                    .get_or_create(&EvaluationLabels {
                        tenant: self.tenant.to_string(),
                        version: version.to_string(),
                        status: status.to_string(),
                        reason: reason.to_string(),
                    })
                    .clone();
                self.outcomes
                    .push((version.to_string(), status, reason, counter));
                &self.outcomes.last().expect("just pushed").3
            }
        };
        counter.inc();
    }

    /// Records one evaluation's cost.
    pub fn record_cost(&mut self, version: &str, seconds: f64, fuel: Option<u64>) {
        let index = match self.costs.iter().position(|(v, _, _)| v == version) {
            Some(index) => index,
            None => {
                let labels = RuleLabels {
                    tenant: self.tenant.to_string(),
                    version: version.to_string(),
                };
                let latency = self.metrics.latency.get_or_create(&labels).clone();
                let fuel = self.metrics.fuel.get_or_create(&labels).clone();
                self.costs.push((version.to_string(), latency, fuel));
                self.costs.len() - 1
            }
        };
        let (_, latency, fuel_histogram) = &self.costs[index];
        latency.observe(seconds);
        if let Some(fuel) = fuel {
            fuel_histogram.observe(fuel as f64);
        }
    }
}

/// The reason label of an outcome: the host's code (`trap`, `no-consent`,
/// `breaker-open`, …), `rule` for a code the rule chose, `none` without a
/// reason.
pub fn reason_label(reason: Option<&str>) -> &'static str {
    let Some(reason) = reason else {
        return "none";
    };
    let head = reason.split(':').next().unwrap_or(reason).trim();
    HOST_CODES
        .iter()
        .chain(&[Failure::HOST_UNAVAILABLE])
        .find(|code| **code == head)
        .copied()
        .unwrap_or("rule")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_a_rule_invents_share_one_label() {
        assert_eq!(reason_label(None), "none");
        assert_eq!(reason_label(Some("trap: unreachable")), "trap");
        assert_eq!(reason_label(Some("breaker-open")), "breaker-open");
        assert_eq!(reason_label(Some("sunset")), "rule");
        assert_eq!(
            reason_label(Some("host-unavailable: no instance slot")),
            "host-unavailable"
        );
        assert_eq!(reason_label(Some("host-anything-else")), "rule");
        assert_eq!(reason_label(Some("x-1234567")), "rule");
    }

    #[test]
    fn the_text_format_names_every_family() {
        let metrics = Metrics::new();
        {
            let mut run = RunMetrics::new(&metrics, "acme");
            run.record_cost("v1", 0.002, Some(5_000));
            let ok = Outcome::without_message("c1".into(), mailrules::Status::Ok, String::new());
            let ok = Outcome { reason: None, ..ok };
            let trapped = Outcome::without_message(
                "c2".into(),
                mailrules::Status::Fallback,
                "trap: x".into(),
            );
            // Three recipients, two series: the handles are kept and reused.
            run.record_outcome("v1", &ok);
            run.record_outcome("v1", &ok);
            run.record_outcome("v1", &trapped);
            assert_eq!(run.outcomes.len(), 2);
        }
        metrics
            .breaker
            .get_or_create(&RuleLabels {
                tenant: "acme".into(),
                version: "v1".into(),
            })
            .set(2);
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"mailrules_evaluations_total{tenant="acme",version="v1",status="ok",reason="none"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"mailrules_evaluations_total{tenant="acme",version="v1",status="fallback",reason="trap"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"mailrules_evaluation_fuel_count{tenant="acme",version="v1"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("# TYPE mailrules_breaker_state gauge"),
            "{text}"
        );
    }
}
